#!/usr/bin/env python3
"""Makes testdata/large/p00_interlaced.png: the synthetic scene base/p00 enlarged (nearest
neighbour) to 1203x917 and written as an Adam7-interlaced PNG with PyPI `pypng` (Pillow writes
no interlaced PNGs). The streaming reduction of large PNGs must place every pass's pixels where
a plain PNG's rows put them. Run by hand; the output is committed.
"""
import os

import png
from PIL import Image

ROOT = os.path.dirname(os.path.abspath(__file__))
W, H = 1203, 917

src = Image.open(os.path.join(ROOT, "images", "base", "p00_480x360.png")).convert("RGB")
big = src.resize((W, H), Image.NEAREST)
rows = [list(big.crop((0, y, W, y + 1)).tobytes()) for y in range(H)]
out = os.path.join(ROOT, "large", "p00_interlaced.png")
with open(out, "wb") as f:
    png.Writer(W, H, greyscale=False, interlace=True, compression=9).write(f, rows)
print(out, os.path.getsize(out))

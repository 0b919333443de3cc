#!/usr/bin/env python3
"""Reference PDQ vectors for the synthetic test images, from Meta's reference implementation.

Hashes every image in testdata/images/manifest.csv with PyPI `pdqhash` (the Python binding of
Meta's C++ PDQ reference), decoding with Pillow `Image.open(p).convert("RGB")` as the reference
pipeline does, and writes testdata/pdq_reference.tsv:

    path  pdq  quality  dihedral(8 hashes, comma-separated)  decode

`decode` is "pillow" for every file except 16-bit grey PNGs: Pillow clips those to 255 when
converting to RGB (whitening the image), so for them the reference hash is computed on the high
byte of each sample instead, which is what hashguard does for every 16-bit image (README).
Files that do not decode (the broken/ set) are skipped.

Run by hand or with `make refvectors` (which makes a venv from testdata/ref-requirements.txt);
never by `make test`. The output is committed data; the tests compare hashguard against it.
"""
import csv
import os
import sys
from importlib.metadata import version

import numpy as np
import pdqhash
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def hexbits(vec):
    return np.packbits(np.asarray(vec, dtype=np.uint8)).tobytes().hex()


def rgb_array(path):
    with Image.open(path) as im:
        if im.mode == "I;16":
            # Pillow's I;16 -> RGB conversion clips at 255; hashguard keeps the high byte.
            grey = (np.asarray(im, dtype=np.uint16) >> 8).astype(np.uint8)
            return np.stack([grey] * 3, axis=-1), "highbyte16"
        return np.asarray(im.convert("RGB")), "pillow"


def main():
    root = os.path.join(HERE, "images")
    out_path = os.path.join(HERE, "pdq_reference.tsv")
    rows = []
    with open(os.path.join(root, "manifest.csv")) as f:
        for entry in csv.DictReader(f):
            if entry["expect_error"]:
                continue
            arr, how = rgb_array(os.path.join(root, entry["path"]))
            arr = np.ascontiguousarray(arr)
            vec, quality = pdqhash.compute(arr)
            dihedral, _ = pdqhash.compute_dihedral(arr)
            rows.append((entry["path"], hexbits(vec), quality, ",".join(hexbits(v) for v in dihedral), how))
    with open(out_path, "w") as f:
        f.write(f"# pdqhash {version('pdqhash')}, pillow {version('pillow')}, numpy {version('numpy')}\n")
        f.write("# path\tpdq\tquality\tdihedral\tdecode\n")
        for r in rows:
            f.write("\t".join(str(x) for x in r) + "\n")
    print(f"wrote {len(rows)} reference vectors to {out_path}", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""bench-heif-peer.py [N] [DIR] — the peer's HEIF/AVIF hashing throughput, for comparing with
hashguard's: decodes every .heic/.heif/.avif file in DIR (default testdata/heif) with
pillow-heif (HEIC) or Pillow's AVIF plugin (AVIF), `convert("RGB")`, and hashes it with
`pdqhash.compute` (Meta's C++ PDQ), N times over (default 5), in one thread. Prints files/s and
ms per file, overall and per file (best of the N passes for the per-file figures).

Run with the reference venv (`make refvectors` makes it from testdata/ref-requirements.txt):
    ~/.cache/hashguard/ref-venv/bin/python scripts/bench-heif-peer.py 20
"""
import os
import sys
import time

import numpy as np
import pdqhash
import pillow_heif
from PIL import AvifImagePlugin, Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def hash_file(path):
    with Image.open(path) as im:
        arr = np.ascontiguousarray(np.asarray(im.convert("RGB")))
    return pdqhash.compute(arr)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    folder = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "testdata", "heif")
    pillow_heif.register_heif_opener()
    # One decoding thread each, like one worker per file (both default to several).
    pillow_heif.options.DECODE_THREADS = 1
    AvifImagePlugin.DEFAULT_MAX_THREADS = 1
    names = sorted(f for f in os.listdir(folder) if f.lower().endswith((".heic", ".heif", ".avif")))
    if not names:
        sys.exit(f"no HEIF/AVIF files in {folder}")
    paths = [os.path.join(folder, f) for f in names]
    for p in paths:  # warm-up: load the codecs, fill the page cache
        hash_file(p)
    best = {p: float("inf") for p in paths}
    pixels = sum(Image.open(p).size[0] * Image.open(p).size[1] for p in paths)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        for p in paths:
            t = time.perf_counter()
            hash_file(p)
            best[p] = min(best[p], time.perf_counter() - t)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    files = n * len(paths)
    print(f"pillow-heif {pillow_heif.__version__} (libheif {pillow_heif.libheif_version()}), "
          f"pdqhash, {len(paths)} files x {n} passes, 1 thread")
    for p in paths:
        w, h = Image.open(p).size
        print(f"  {os.path.basename(p):18} {w:5}x{h:<5} {best[p] * 1000:8.2f} ms")
    print(f"{files / wall:.1f} files/s, {wall / files * 1000:.2f} ms per file "
          f"(CPU {cpu / files * 1000:.2f} ms), {pixels * n / wall / 1e6:.1f} Mpixel/s")


if __name__ == "__main__":
    main()

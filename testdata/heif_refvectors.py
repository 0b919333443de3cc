#!/usr/bin/env python3
"""Reference PDQ vectors for the synthetic HEIF/AVIF files in testdata/heif/ (made by
make_heif.py), from a decoder independent of the libheif that hashguard links.

Pixels come from PyPI `pillow-heif` (its own bundled libheif 1.2x with libde265) for HEIC and,
because pillow-heif no longer reads AVIF, from Pillow's own AVIF plugin (libavif with dav1d) for
AVIF; either way `Image.open(p).convert("RGB")`, as testdata/refvectors.py does. For the file
with alpha, convert("RGB") drops the alpha channel and keeps the stored colour of every pixel
(no compositing over a background), even where alpha is 0; hashguard ignores alpha the same way.
10-bit files are reduced to 8 bits by the decoder (pillow-heif asks libheif for 8-bit RGB,
libavif likewise). The hash is `pdqhash.compute` (Meta's C++ PDQ, PyPI pdqhash 0.2.8), with the
hash bits turned to hex exactly as refvectors.py does. Writes testdata/heif/reference.tsv:

    file  width  height  pdq_hex  quality

For comparison, each file is also decoded by Debian's `heif-convert` (libheif 1.15, what
hashguard links; package libheif-examples) to PNG and hashed the same way; the Hamming distance
between the two hashes of each file is printed, not stored. `heif-info` and `heif-convert` must
succeed on every file; the script fails otherwise. Skipped (with a note) where heif-convert is
not installed.

Run by hand or with `make refvectors`; never by `make test`.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version

import numpy as np
import pdqhash
import pillow_heif
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
HEIF = os.path.join(HERE, "heif")
SUFFIXES = (".heic", ".heif", ".avif")


def hexbits(vec):
    return np.packbits(np.asarray(vec, dtype=np.uint8)).tobytes().hex()


def hamming(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def decode(path):
    """The RGB pixels and the decoder (Pillow format name) of the image at path."""
    with Image.open(path) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB"))), im.format


def pdq_of(arr):
    vec, quality = pdqhash.compute(arr)
    return hexbits(vec), quality


def source_pdq():
    """PDQ of each base scene (p00, j01, ...) from testdata/pdq_reference.tsv."""
    out = {}
    with open(os.path.join(HERE, "pdq_reference.tsv")) as f:
        for line in f:
            if line.startswith("base/"):
                path, pdq = line.split("\t")[:2]
                out[os.path.basename(path).split("_")[0]] = pdq
    return out


def files():
    return sorted(f for f in os.listdir(HEIF) if f.lower().endswith(SUFFIXES))


def debian_decode(name, tmp):
    """The file decoded by Debian's heif-convert (libheif 1.15) to PNG, read as RGB."""
    path = os.path.join(HEIF, name)
    subprocess.run(["heif-info", path], check=True, stdout=subprocess.DEVNULL)
    png = os.path.join(tmp, name + ".png")
    subprocess.run(["heif-convert", "--quiet", path, png], check=True, stdout=subprocess.DEVNULL)
    return decode(png)[0]


def main():
    pillow_heif.register_heif_opener()
    rows, pixels = [], {}
    for name in files():
        arr, fmt = decode(os.path.join(HEIF, name))
        want = "AVIF" if name.lower().endswith(".avif") else "HEIF"
        if fmt != want:
            sys.exit(f"{name}: opened by the {fmt} plugin, expected {want}")
        pdq, quality = pdq_of(arr)
        rows.append((name, arr.shape[1], arr.shape[0], pdq, quality))
        pixels[name] = arr
    out_path = os.path.join(HEIF, "reference.tsv")
    with open(out_path, "w") as f:
        f.write(f"# pdqhash {version('pdqhash')}, pillow {version('pillow')}, "
                f"pillow-heif {version('pillow-heif')} (libheif {pillow_heif.libheif_version()}), "
                f"numpy {version('numpy')}\n")
        f.write("# decode: HEIC by pillow-heif, AVIF by Pillow's AVIF plugin; convert(\"RGB\")\n")
        f.write("# file\twidth\theight\tpdq_hex\tquality\n")
        for r in rows:
            f.write("\t".join(str(x) for x in r) + "\n")
    print(f"wrote {len(rows)} reference vectors to {out_path}", file=sys.stderr)

    if not shutil.which("heif-convert"):
        print("heif-convert not installed (apt-get install libheif-examples): "
              "no comparison with Debian's libheif", file=sys.stderr)
        return
    ver = subprocess.run(["heif-convert", "--help"], capture_output=True, text=True)
    first = (ver.stdout + ver.stderr).strip().splitlines()[0].strip()
    sources = source_pdq()
    print(f"pillow-heif / Pillow AVIF vs Debian heif-convert ({first}); pixel differences are"
          " per RGB sample; 'vs source' is the reference hash against the base scene's PDQ:")
    print(f"{'file':16} {'q ref':>5} {'q deb':>5} {'hamming':>7} {'max|d|':>6} {'mean|d|':>7}"
          f" {'vs source':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, w, h, pdq, quality in rows:
            darr = debian_decode(name, tmp)
            if darr.shape != pixels[name].shape:
                sys.exit(f"{name}: heif-convert gives {darr.shape[1]}x{darr.shape[0]}, "
                         f"reference {w}x{h}")
            dpdq, dq = pdq_of(darr)
            diff = np.abs(darr.astype(np.int16) - pixels[name].astype(np.int16))
            src = sources.get(name.split("_")[0].split(".")[0])
            vs = hamming(pdq, src) if src else "-"
            print(f"{name:16} {quality:5} {dq:5} {hamming(pdq, dpdq):7} {diff.max():6}"
                  f" {diff.mean():7.3f} {vs:>9}")


if __name__ == "__main__":
    main()

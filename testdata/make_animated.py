#!/usr/bin/env python3
"""Makes the animated-image test files in testdata/animated/ and their reference PDQ vectors.

Every frame is one of the project's own synthetic images (testdata/images/, drawn by
src/synth.rs; no photographs, no people). Run by hand with the reference venv (Pillow and
PyPI `pdqhash`, pinned in ref-requirements.txt); the outputs are committed:

    known3.gif   animated GIF, 5 frames of 320x240, 500 ms each (palette-quantised, so lossy)
    known3.webp  animated WebP, the same frames, lossless
    known3.png   APNG, the same frames (lossless)
    still.gif    a one-frame GIF of the known scene, to be treated as a still image

Frame 3 (index 2, starting at 1000 ms) of each animation is the known scene
images/base/p03_320x240.png, already 320x240, so it is used unscaled; the other frames are
other scenes and one pattern image resized to the canvas.

reference.tsv lists every frame as Pillow decodes it (ImageSequence, the full composited frame
converted to RGB), hashed with pdqhash.compute:

    file  frame_index  start_ms  width  height  pdq_hex  quality

start_ms is the sum of the durations Pillow reads for the frames before. Comment lines (#) give
the versions, the PDQ of the source scene and each frame's Hamming distance to it.
"""
import os
import sys
from importlib.metadata import version

import numpy as np
import pdqhash
from PIL import Image, ImageSequence

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "animated")
IMAGES = os.path.join(HERE, "images")
CANVAS = (320, 240)
DELAY_MS = 500
KNOWN = "base/p03_320x240.png"
# Frame order; index 2 is the known scene.
FRAMES = ["base/p09_320x240.png", "pattern/mixed_320x200.png", KNOWN, "base/p15_320x240.png",
          "base/p21_320x240.png"]


def hexbits(vec):
    return np.packbits(np.asarray(vec, dtype=np.uint8)).tobytes().hex()


def pdq(im):
    vec, quality = pdqhash.compute(np.ascontiguousarray(np.asarray(im.convert("RGB"))))
    return hexbits(vec), quality


def distance(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def load(rel):
    with Image.open(os.path.join(IMAGES, rel)) as im:
        im = im.convert("RGB")
        if im.size != CANVAS:
            im = im.resize(CANVAS, Image.Resampling.BICUBIC)
        return im


def main():
    os.makedirs(OUT, exist_ok=True)
    frames = [load(rel) for rel in FRAMES]
    first, rest = frames[0], frames[1:]
    anim = dict(save_all=True, append_images=rest, duration=DELAY_MS, loop=0)
    first.save(os.path.join(OUT, "known3.gif"), **anim)
    first.save(os.path.join(OUT, "known3.webp"), lossless=True, quality=100, method=6, **anim)
    first.save(os.path.join(OUT, "known3.png"), **anim)
    frames[2].save(os.path.join(OUT, "still.gif"))

    source_hex, source_q = pdq(frames[2])
    rows, notes = [], []
    for name in ("known3.gif", "known3.webp", "known3.png", "still.gif"):
        with Image.open(os.path.join(OUT, name)) as im:
            start = 0
            n = getattr(im, "n_frames", 1)
            for i, frame in enumerate(ImageSequence.Iterator(im)):
                rgb = frame.convert("RGB")
                h, q = pdq(rgb)
                rows.append((name, i, start, rgb.width, rgb.height, h, q))
                notes.append(f"# {name} frame {i}: distance to source {distance(h, source_hex)}")
                if name.startswith("known3") and i == 2:
                    exact = np.array_equal(np.asarray(rgb), np.asarray(frames[2]))
                    notes[-1] += f", pixels equal to source: {'yes' if exact else 'no'}"
                start += int(round(frame.info.get("duration", 0))) if n > 1 else 0
            assert n == (1 if name == "still.gif" else len(FRAMES)), (name, n)
    with open(os.path.join(OUT, "reference.tsv"), "w") as f:
        f.write(f"# pdqhash {version('pdqhash')}, pillow {version('pillow')}, "
                f"numpy {version('numpy')}; made by testdata/make_animated.py\n")
        f.write(f"# source images/{KNOWN} at {CANVAS[0]}x{CANVAS[1]} (unscaled): "
                f"pdq {source_hex} quality {source_q}\n")
        f.write(f"# frames: {' | '.join(FRAMES)} (resized to {CANVAS[0]}x{CANVAS[1]} with "
                f"bicubic where needed), {DELAY_MS} ms each\n")
        for n in notes:
            f.write(n + "\n")
        f.write("# file\tframe_index\tstart_ms\twidth\theight\tpdq_hex\tquality\n")
        for r in rows:
            f.write("\t".join(str(x) for x in r) + "\n")
    for name in sorted(os.listdir(OUT)):
        print(f"{os.path.getsize(os.path.join(OUT, name)):>9}  {name}", file=sys.stderr)


if __name__ == "__main__":
    main()

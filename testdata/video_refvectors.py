#!/usr/bin/env python3
"""Computes vPDQ reference vectors for the synthetic clips with Meta's `vpdq` (PyPI, the Python
binding of the reference C++ implementation, with its own FFmpeg). Writes
testdata/video/vpdq_reference.csv: clip,frame_number,quality,pdq,timestamp (1 hash per second,
vPDQ's default). Run by `make refvectors`, never by `make test`.
"""
import os

import vpdq

HERE = os.path.dirname(os.path.abspath(__file__))
VIDEO = os.path.join(HERE, "video")
CLIPS = ["mandelbrot.mp4", "mandelbrot_reencoded.mp4", "spliced.mp4", "cellauto.mp4",
         "life.webm", "testsrc2.avi"]


def main():
    rows = ["clip,frame_number,quality,pdq,timestamp"]
    for clip in CLIPS:
        features = vpdq.computeHash(os.path.join(VIDEO, clip), seconds_per_hash=1.0,
                                    thread_count=1)
        for f in features:
            rows.append(f"{clip},{f.frame_number},{f.quality},{f.hex},{f.timestamp:.3f}")
    with open(os.path.join(VIDEO, "vpdq_reference.csv"), "w") as out:
        out.write("\n".join(rows) + "\n")
    print(f"{len(rows) - 1} frames from {len(CLIPS)} clips")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Makes the synthetic test videos in testdata/video/ with the ffmpeg CLI (lavfi sources only:
fractals, cellular automata, test patterns; no people), plus the broken files the video
hardening tests need. Run by hand (`make testvideos`); the outputs are committed.

Container byte layouts differ between FFmpeg builds, so rerunning may change the bytes; then
rerun `make refvectors` too.
"""
import os
import struct
import subprocess
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "video")
# Fixed encoder settings: one thread so x264 output does not depend on the core count.
X264 = ["-c:v", "libx264", "-preset", "medium", "-pix_fmt", "yuv420p", "-threads", "1",
        "-bitexact", "-map_metadata", "-1"]


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def path(name):
    return os.path.join(OUT, name)


def boxes(data, start, end):
    """Yields (type, offset, size) of the ISO-BMFF boxes in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size < 8:
            raise ValueError("unsupported box size")
        yield kind, pos, size
        pos += size


def find_box(data, route, start=0, end=None):
    """Offset and size of the box reached by following `route` (a list of 4-byte types)."""
    end = len(data) if end is None else end
    kind, rest = route[0], route[1:]
    for k, off, size in boxes(data, start, end):
        if k == kind:
            if not rest:
                return off, size
            # Container boxes: children start after the 8-byte header (stsd/dref have 8 more).
            skip = 16 if k in (b"stsd", b"dref") else 8
            return find_box(data, rest, off + skip, off + size)
    raise KeyError(kind)


def grow(data, route, delta):
    """Adds delta to the size field of every box along route (after a child grew)."""
    data = bytearray(data)
    start, end = 0, len(data)
    for i in range(len(route)):
        off, size = find_box(bytes(data), route[i:i + 1], start, end)
        struct.pack_into(">I", data, off, size + delta)
        skip = 16 if route[i] in (b"stsd", b"dref") else 8
        start, end = off + skip, off + size + delta
    return bytes(data)


def replace_box(data, route, new_box):
    """Replaces the box at route with new_box (a whole box, header included), fixing the sizes
    of its parents and, when the moov sits before the media data (faststart), the track's chunk
    offsets, which move by the change in size."""
    off, size = find_box(data, route)
    delta = len(new_box) - size
    data = grow(data[:off] + new_box + data[off + size:], route[:-1], delta)
    if delta == 0:
        return data
    moov, _ = find_box(data, [b"moov"])
    mdat, _ = find_box(data, [b"mdat"])
    if moov < mdat:
        data = bytearray(data)
        stbl = [b"moov", b"trak", b"mdia", b"minf", b"stbl"]
        stco, _ = find_box(bytes(data), stbl + [b"stco"])
        count = struct.unpack_from(">I", data, stco + 12)[0]
        for i in range(count):
            p = stco + 16 + 4 * i
            struct.pack_into(">I", data, p, struct.unpack_from(">I", data, p)[0] + delta)
        data = bytes(data)
    return data


def make_lying(mp4):
    """Files whose headers lie about time while the sample tables (and so every timestamp) stay
    the honest ones of cellauto.mp4 (200 frames, 20 fps, mdhd timescale 10240, 512 per frame)."""
    # lying_1000h.mp4: mvhd, tkhd (both in the movie timescale, 1000) and mdhd (the media
    # timescale) claim 1000 hours. 3.6e6 s x 10240 does not fit mdhd's 32-bit duration, so
    # the mdhd is rewritten as version 1 (64-bit times), 12 bytes longer.
    hours = 1000
    data = bytearray(mp4)
    off, _ = find_box(mp4, [b"moov", b"mvhd"])
    assert data[off + 8] == 0, "expected version-0 mvhd"
    movie_scale = struct.unpack_from(">I", data, off + 20)[0]
    struct.pack_into(">I", data, off + 24, hours * 3600 * movie_scale)
    off, _ = find_box(mp4, [b"moov", b"trak", b"tkhd"])
    assert data[off + 8] == 0, "expected version-0 tkhd"
    # version/flags(4) creation(4) modification(4) track_ID(4) reserved(4) duration(4)
    struct.pack_into(">I", data, off + 8 + 20, hours * 3600 * movie_scale)
    data = bytes(data)
    mdhd_route = [b"moov", b"trak", b"mdia", b"mdhd"]
    off, size = find_box(data, mdhd_route)
    assert size == 32 and data[off + 8] == 0, "expected version-0 mdhd"
    created, modified, scale, _ = struct.unpack_from(">IIII", data, off + 12)
    language_etc = data[off + 28:off + 32]
    mdhd = struct.pack(">I4sI QQIQ", 44, b"mdhd", 1 << 24, created, modified, scale,
                       hours * 3600 * scale) + language_etc
    data = replace_box(data, mdhd_route, mdhd)
    open(path("lying_1000h.mp4"), "wb").write(data)

    # lying_1000fps.mp4: FFmpeg's mov demuxer sets avg_frame_rate to
    # timescale x (samples counted in stts) / (sum of the stts durations); the mdhd duration
    # plays no part (the stream duration is the smaller of it and the stts sum). The
    # honest stts entry (200 samples x 512) is kept and followed by 9800 zero-duration
    # entries for samples that do not exist (stsz lists 200), so the sum stays 102400 (10 s)
    # while the count becomes 10000: avg_frame_rate = 10240 x 10000 / 102400 = 1000, and
    # nb_frames says 10000. The demuxer builds its index from stsz/stsc/stco and reads only the
    # first stts entry for the 200 real samples, so their timestamps stay 0.05 s apart.
    stts_route = [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stts"]
    off, size = find_box(mp4, stts_route)
    entries = struct.unpack_from(">I", mp4, off + 12)[0]
    table = [struct.unpack_from(">II", mp4, off + 16 + 8 * i) for i in range(entries)]
    assert table == [(200, 512)], table
    scale = struct.unpack_from(">I", mp4, find_box(mp4, mdhd_route)[0] + 20)[0]
    fps = 1000
    total = sum(c * d for c, d in table)
    ghosts = total * fps // scale - sum(c for c, _ in table)
    table.append((ghosts, 0))
    stts = struct.pack(">I4sII", 16 + 8 * len(table), b"stts", 0, len(table)) + b"".join(
        struct.pack(">II", c, d) for c, d in table)
    open(path("lying_1000fps.mp4"), "wb").write(replace_box(mp4, stts_route, stts))


def make_mjpeg_bomb(avi):
    """bomb_mjpeg_65535.avi: testsrc2.avi with every frame's JPEG header (SOF0) declaring
    65535x65535 pixels (4.3 gigapixels) while the AVI header still says 320x240; decoding such
    a frame as declared would need 12 GB."""
    data = bytearray(avi)
    count = 0
    pos = data.find(b"\xff\xc0")
    while pos >= 0:
        # FF C0, length (2), precision (1), height (2), width (2)
        struct.pack_into(">HH", data, pos + 5, 0xFFFF, 0xFFFF)
        count += 1
        pos = data.find(b"\xff\xc0", pos + 9)
    assert count > 0, "no SOF0 marker found"
    open(path("bomb_mjpeg_65535.avi"), "wb").write(bytes(data))


LISTS = ("mandelbrot_resized.mp4", "mandelbrot_15fps.mp4", "splice60.mp4", "flat_listed.mp4",
         "flat_query.mp4")


def make_lists():
    """Clips for matching whole listed videos: two copies of mandelbrot.mp4 (resized, other
    frame rate), a long query with a 10 s mandelbrot excerpt in the middle, and two clips whose
    only common part is black (PDQ quality 0) frames. Made from lavfi sources and the committed
    mandelbrot.mp4, leaving every other file as it is."""
    src = path("mandelbrot.mp4")
    ffmpeg("-i", src, "-vf", "scale=480:270", *X264, "-crf", "30",
           path("mandelbrot_resized.mp4"))
    ffmpeg("-i", src, "-vf", "fps=15", *X264, "-crf", "30", path("mandelbrot_15fps.mp4"))
    # 25 s of a rule-30 automaton (80x45 cells drawn 4x4, cheaper to encode than one cell per
    # pixel), mandelbrot 1-11 s, 25 s of a Sierpinski carpet: the excerpt is at 25-35 s.
    ffmpeg("-f", "lavfi", "-i", "cellauto=size=80x45:rate=10:rule=30:seed=5,"
           "scale=320:180:flags=neighbor", "-f", "lavfi", "-i",
           "sierpinski=size=320x180:rate=10:type=carpet:seed=9:jump=1", "-i", src,
           "-filter_complex",
           "[0:v]trim=0:25,setpts=PTS-STARTPTS,setsar=1[a];"
           "[1:v]trim=0:25,setpts=PTS-STARTPTS,setsar=1[b];"
           "[2:v]trim=1:11,setpts=PTS-STARTPTS,setsar=1,fps=10[m];"
           "[a][m][b]concat=n=3:v=1:a=0[v]", "-map", "[v]", *X264, "-crf", "32",
           path("splice60.mp4"))
    # 8 s of black, then 4 s of pattern A (flat_listed) or of an unrelated pattern B
    # (flat_query): the clips share only frames too flat to hash.
    for name, busy in (("flat_listed.mp4", "cellauto=size=80x45:rate=10:rule=150:seed=21,"
                                            "scale=320:180:flags=neighbor"),
                       ("flat_query.mp4", "sierpinski=size=320x180:rate=10:type=triangle:"
                                           "seed=9")):
        ffmpeg("-f", "lavfi", "-i", "color=c=black:size=320x180:rate=10", "-f", "lavfi", "-i",
               busy, "-filter_complex",
               "[0:v]trim=0:8,setpts=PTS-STARTPTS,setsar=1[k];"
               "[1:v]trim=0:4,setpts=PTS-STARTPTS,setsar=1[p];"
               "[k][p]concat=n=2:v=1:a=0[v]", "-map", "[v]", *X264, "-crf", "30",
               path(name))
    return LISTS


def main():
    # `make_videos.py bomb` makes only bomb_mjpeg_65535.avi from the committed testsrc2.avi.
    if sys.argv[1:] == ["bomb"]:
        make_mjpeg_bomb(open(path("testsrc2.avi"), "rb").read())
        print(f"{os.path.getsize(path('bomb_mjpeg_65535.avi')):>9}  bomb_mjpeg_65535.avi")
        return
    # `make_videos.py lying` makes only the lying_*.mp4 files from the committed cellauto.mp4,
    # leaving every other file as it is.
    if sys.argv[1:] == ["lying"]:
        make_lying(open(path("cellauto.mp4"), "rb").read())
        for name in ("lying_1000h.mp4", "lying_1000fps.mp4"):
            print(f"{os.path.getsize(path(name)):>9}  {name}")
        return
    # `make_videos.py lists` makes only the clips for whole-video list matching (make_lists),
    # from lavfi sources and the committed mandelbrot.mp4.
    if sys.argv[1:] == ["lists"]:
        for name in make_lists():
            print(f"{os.path.getsize(path(name)):>9}  {name}")
        return
    os.makedirs(OUT, exist_ok=True)
    # Originals: three codecs and containers.
    ffmpeg("-f", "lavfi", "-i", "mandelbrot=size=320x180:rate=25", "-t", "12", *X264,
           "-crf", "30", "-movflags", "+faststart", path("mandelbrot.mp4"))
    ffmpeg("-f", "lavfi", "-i", "life=size=320x240:rate=15:seed=7:mold=10:life_color=#c0ffc0"
           ":death_color=#203040:mold_color=#806020", "-t", "10", "-c:v", "libvpx-vp9",
           "-b:v", "120k", "-deadline", "good", "-cpu-used", "4", "-threads", "1",
           "-pix_fmt", "yuv420p", "-map_metadata", "-1", path("life.webm"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-t", "6", "-c:v", "mjpeg",
           "-q:v", "12", "-pix_fmt", "yuvj420p", "-map_metadata", "-1", path("testsrc2.avi"))
    ffmpeg("-f", "lavfi", "-i", "cellauto=size=320x240:rate=20:rule=110:seed=3", "-t", "10",
           *X264, "-crf", "30", "-movflags", "+faststart", path("cellauto.mp4"))
    # The re-encoded copy: rescaled, lower quality, other frame rate.
    ffmpeg("-i", path("mandelbrot.mp4"), "-vf", "scale=320:180", "-r", "30", *X264, "-crf",
           "34", path("mandelbrot_reencoded.mp4"))
    # Spliced: 5 s of cellauto, then mandelbrot 1-11 s (rescaled), then 5 s more cellauto.
    ffmpeg("-f", "lavfi", "-i", "cellauto=size=320x180:rate=25:rule=18:seed=11", "-i",
           path("mandelbrot.mp4"), "-filter_complex",
           "[0:v]trim=0:10,setpts=PTS-STARTPTS,split[a][b];"
           "[a]trim=0:5,setpts=PTS-STARTPTS[a1];[b]trim=5:10,setpts=PTS-STARTPTS[b1];"
           "[1:v]trim=1:11,setpts=PTS-STARTPTS,setsar=1,fps=25[m];"
           "[a1][m][b1]concat=n=3:v=1:a=0[v]", "-map", "[v]", *X264, "-crf", "32",
           path("spliced.mp4"))

    # Broken files derive from the smallest clip.
    mp4 = open(path("cellauto.mp4"), "rb").read()
    # Truncated: moov is at the front (faststart), so the cut removes the last 30% of frames.
    open(path("broken_truncated.mp4"), "wb").write(mp4[: len(mp4) * 7 // 10])
    # Moov missing: same clip with moov at the end, cut before it.
    ffmpeg("-i", path("cellauto.mp4"), "-c", "copy", "-map_metadata", "-1",
           path("tmp_moov_last.mp4"))
    tail = open(path("tmp_moov_last.mp4"), "rb").read()
    os.remove(path("tmp_moov_last.mp4"))
    moov, _ = find_box(tail, [b"moov"])
    open(path("broken_no_moov.mp4"), "wb").write(tail[:moov])
    # Huge declared duration: mvhd and mdhd claim about 49 days.
    data = bytearray(mp4)
    for route in ([b"moov", b"mvhd"], [b"moov", b"trak", b"mdia", b"mdhd"]):
        off, _ = find_box(bytes(data), route)
        version = data[off + 8]
        assert version == 0, "expected version-0 header"
        # version/flags(4) creation(4) modification(4) timescale(4) duration(4)
        struct.pack_into(">II", data, off + 8 + 12, 1000, 0xFFFF0000)
    open(path("broken_huge_duration.mp4"), "wb").write(bytes(data))
    # External reference: the track's data reference points at a URL and the file holds no
    # media data (mdat removed), as a container whose frames live elsewhere would.
    # The port is a placeholder the test replaces with a listener's port, to prove that no
    # connection is attempted.
    url = b"http://127.0.0.1:PPPPP/evil.mp4\0"
    route = [b"moov", b"trak", b"mdia", b"minf", b"dinf", b"dref"]
    off, size = find_box(mp4, route + [b"url "])
    entry = struct.pack(">I4sI", 12 + len(url), b"url ", 0) + url  # flags 0: external
    data = mp4[:off] + entry + mp4[off + size:]
    data = grow(data, route, len(entry) - size)
    # The chunk offsets (stco) point into mdat, which moved by the growth.
    data = bytearray(data)
    stco, stco_size = find_box(bytes(data), [b"moov", b"trak", b"mdia", b"minf", b"stbl",
                                             b"stco"])
    count = struct.unpack_from(">I", data, stco + 12)[0]
    for i in range(count):
        p = stco + 16 + 4 * i
        struct.pack_into(">I", data, p, struct.unpack_from(">I", data, p)[0] + len(entry) - size)
    moov, moov_size = find_box(bytes(data), [b"moov"])
    open(path("broken_external_ref.mp4"), "wb").write(bytes(data[: moov + moov_size]))
    # Not a video at all, but named like one and starting like an MP4.
    open(path("broken_garbage.mp4"), "wb").write(b"\0\0\0\x18ftypisom" + os.urandom(0) +
                                                 bytes((i * 37 + 11) % 256 for i in range(4000)))
    make_lying(mp4)
    make_mjpeg_bomb(open(path("testsrc2.avi"), "rb").read())
    make_lists()
    for name in sorted(os.listdir(OUT)):
        print(f"{os.path.getsize(path(name)):>9}  {name}")


if __name__ == "__main__":
    sys.exit(main())

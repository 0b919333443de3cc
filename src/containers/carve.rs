//! Carving JPEG, PNG and GIF files out of raw bytes (unallocated space, or a volume with no
//! file system) by their signatures, following each format's own structure to its end so that
//! the carved object is the whole file, not a guess at its length.
//!
//! Written here: the carving crates on crates.io either shell out to other tools or carve by
//! header and a fixed maximum length; following the segment/chunk/block structure is short.

/// A carved object: where it starts (in the bytes fed, e.g. the image) and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Carved {
    /// Byte offset of its first byte.
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
    /// Its format's usual extension ("jpg", "png", "gif").
    pub ext: &'static str,
}

enum Parse {
    /// A whole object of this many bytes.
    Complete(usize),
    /// Not this format after all.
    Invalid,
    /// The object goes on past the bytes at hand.
    NeedMore,
}

/// Finds objects in runs of bytes fed in order; a run that does not continue the previous
/// one (a gap in the offsets) ends every object in progress.
pub struct Carver {
    win: Vec<u8>,
    win_off: u64,
    max_object: usize,
    found: Vec<Carved>,
}

impl Carver {
    /// A carver for objects of at most `max_object` bytes.
    pub fn new(max_object: usize) -> Self {
        Carver {
            win: Vec::new(),
            win_off: 0,
            max_object: max_object.max(64),
            found: Vec::new(),
        }
    }

    /// Feeds `data`, which starts at byte `offset`.
    pub fn feed(&mut self, offset: u64, data: &[u8]) {
        if offset != self.win_off + self.win.len() as u64 {
            self.scan(true);
            self.win.clear();
            self.win_off = offset;
        }
        self.win.extend_from_slice(data);
        self.scan(false);
    }

    /// Objects found so far (taken).
    pub fn take(&mut self) -> Vec<Carved> {
        std::mem::take(&mut self.found)
    }

    /// Ends the input; returns the objects not yet taken.
    pub fn finish(mut self) -> Vec<Carved> {
        self.scan(true);
        self.found
    }

    fn scan(&mut self, at_end: bool) {
        let mut i = 0;
        loop {
            let Some(p) = next_signature(&self.win, i) else {
                // Keep a signature's worth of tail: it may start one that the next run ends.
                let keep = if at_end { 0 } else { 7.min(self.win.len()) };
                self.drop_front(self.win.len() - keep);
                return;
            };
            match parse(&self.win[p..], self.max_object) {
                Parse::Complete(len) => {
                    self.found.push(Carved {
                        offset: self.win_off + p as u64,
                        len: len as u64,
                        ext: ext_of(&self.win[p..]),
                    });
                    i = p + len;
                }
                Parse::Invalid => i = p + 1,
                Parse::NeedMore if at_end || self.win.len() - p >= self.max_object => i = p + 1,
                Parse::NeedMore => {
                    self.drop_front(p);
                    return;
                }
            }
        }
    }

    fn drop_front(&mut self, n: usize) {
        self.win.drain(..n);
        self.win_off += n as u64;
    }
}

const JPEG: &[u8] = b"\xFF\xD8\xFF";
const PNG: &[u8] = b"\x89PNG\r\n\x1A\n";

fn ext_of(b: &[u8]) -> &'static str {
    if b.starts_with(JPEG) {
        "jpg"
    } else if b.starts_with(PNG) {
        "png"
    } else {
        "gif"
    }
}

fn next_signature(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < b.len() {
        let p = i + memchr::memchr3(0xFF, 0x89, b'G', &b[i..])?;
        let rest = &b[p..];
        // A prefix of a signature at the very end counts: the next run may complete it.
        let is = |sig: &[u8]| {
            let n = sig.len().min(rest.len());
            rest[..n] == sig[..n]
        };
        if is(JPEG) || is(PNG) || is(b"GIF87a") || is(b"GIF89a") {
            return Some(p);
        }
        i = p + 1;
    }
    None
}

fn parse(b: &[u8], max: usize) -> Parse {
    let sig = |s: &[u8]| b.len() >= s.len() && b.starts_with(s);
    if b.len() < 8 {
        return Parse::NeedMore;
    }
    if sig(JPEG) {
        jpeg(b, max)
    } else if sig(PNG) {
        png(b, max)
    } else if sig(b"GIF87a") || sig(b"GIF89a") {
        gif(b, max)
    } else {
        Parse::Invalid
    }
}

fn be16(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]) as usize)
}

/// JPEG: marker segments by their lengths to the first scan, the entropy-coded data to the
/// next marker, again until EOI; a frame header and a scan must come before it.
fn jpeg(b: &[u8], max: usize) -> Parse {
    let mut pos = 2;
    let (mut frame, mut scan) = (false, false);
    loop {
        if pos > max {
            return Parse::Invalid;
        }
        let Some(&m0) = b.get(pos) else {
            return Parse::NeedMore;
        };
        if m0 != 0xFF {
            return Parse::Invalid;
        }
        // Fill bytes before a marker.
        while b.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let Some(&marker) = b.get(pos + 1) else {
            return Parse::NeedMore;
        };
        match marker {
            0xD9 if frame && scan => return Parse::Complete(pos + 2),
            0xD9 | 0x00 | 0xD8 => return Parse::Invalid,
            0x01 | 0xD0..=0xD7 => pos += 2,
            _ => {
                let Some(len) = be16(b, pos + 2) else {
                    return Parse::NeedMore;
                };
                if len < 2 {
                    return Parse::Invalid;
                }
                if matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF) {
                    frame = true;
                }
                pos += 2 + len;
                if marker == 0xDA {
                    if !frame {
                        return Parse::Invalid;
                    }
                    scan = true;
                    // Entropy-coded data: ends at a marker that is not a stuffed 0xFF00 or a
                    // restart marker.
                    loop {
                        if pos > max {
                            return Parse::Invalid;
                        }
                        let Some(k) = b.get(pos..).and_then(|r| memchr::memchr(0xFF, r)) else {
                            return Parse::NeedMore;
                        };
                        pos += k;
                        match b.get(pos + 1) {
                            None => return Parse::NeedMore,
                            Some(0x00 | 0xD0..=0xD7 | 0xFF) => pos += 1,
                            Some(_) => break,
                        }
                    }
                }
            }
        }
    }
}

/// PNG: chunks by their lengths from IHDR to IEND.
fn png(b: &[u8], max: usize) -> Parse {
    let mut pos = 8;
    let mut first = true;
    loop {
        let Some(head) = b.get(pos..pos + 8) else {
            return Parse::NeedMore;
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = &head[4..8];
        if !kind.iter().all(u8::is_ascii_alphabetic) || (first && kind != b"IHDR") {
            return Parse::Invalid;
        }
        first = false;
        pos = pos.saturating_add(12).saturating_add(len);
        if pos > max {
            return Parse::Invalid;
        }
        if kind == b"IEND" {
            return if pos <= b.len() {
                Parse::Complete(pos)
            } else {
                Parse::NeedMore
            };
        }
    }
}

/// GIF: header, colour tables, then image and extension blocks to the trailer.
fn gif(b: &[u8], max: usize) -> Parse {
    let Some(&flags) = b.get(10) else {
        return Parse::NeedMore;
    };
    let mut pos = 13;
    if flags & 0x80 != 0 {
        pos += 3 << ((flags & 7) + 1);
    }
    // Data sub-blocks: sizes until a zero.
    let sub_blocks = |mut pos: usize| -> Option<usize> {
        loop {
            let n = *b.get(pos)? as usize;
            pos += 1 + n;
            if n == 0 {
                return Some(pos);
            }
        }
    };
    loop {
        if pos > max {
            return Parse::Invalid;
        }
        let Some(&block) = b.get(pos) else {
            return Parse::NeedMore;
        };
        match block {
            0x3B => return Parse::Complete(pos + 1),
            0x21 => match sub_blocks(pos + 2) {
                Some(p) => pos = p,
                None => return Parse::NeedMore,
            },
            0x2C => {
                let Some(&f) = b.get(pos + 9) else {
                    return Parse::NeedMore;
                };
                pos += 10;
                if f & 0x80 != 0 {
                    pos += 3 << ((f & 7) + 1);
                }
                // LZW minimum code size, then the image data.
                match sub_blocks(pos + 1) {
                    Some(p) => pos = p,
                    None => return Parse::NeedMore,
                }
            }
            _ => return Parse::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_bytes(seed: u8) -> Vec<u8> {
        let img = image::RgbImage::from_fn(40, 30, |x, y| {
            image::Rgb([x as u8 ^ seed, y as u8, seed.wrapping_mul(7)])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn jpeg_bytes(seed: u8) -> Vec<u8> {
        let img = image::RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 3) as u8 ^ seed, (y * 5) as u8, seed])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    fn gif_bytes() -> Vec<u8> {
        let img = image::RgbaImage::from_fn(16, 16, |x, y| {
            image::Rgba([x as u8 * 16, y as u8 * 16, 0, 255])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Gif).unwrap();
        out.into_inner()
    }

    /// Objects laid in noise, fed in small runs that split every object, are all found whole,
    /// at their offsets; a truncated copy and a gap in the offsets find nothing extra.
    #[test]
    fn objects_split_across_runs_are_carved_whole() {
        let objects = [jpeg_bytes(3), png_bytes(9), gif_bytes(), jpeg_bytes(200)];
        let mut rng = crate::synth::SplitMix::new(5);
        let mut disk: Vec<u8> = Vec::new();
        let mut expect = Vec::new();
        for o in &objects {
            let pad = rng.range(100, 3000) as usize;
            disk.extend((0..pad).map(|_| rng.next_u64() as u8));
            expect.push((disk.len() as u64, o.len() as u64));
            disk.extend_from_slice(o);
        }
        // A JPEG cut short: never reported.
        let cut = jpeg_bytes(77);
        disk.extend_from_slice(&cut[..cut.len() / 2]);
        disk.extend((0..500).map(|_| rng.next_u64() as u8));
        let base = 1 << 20;
        for run in [7usize, 512, 4096, 1 << 20] {
            let mut c = Carver::new(1 << 20);
            for (i, chunk) in disk.chunks(run).enumerate() {
                c.feed(base + (i * run) as u64, chunk);
            }
            let got: Vec<(u64, u64)> = c
                .finish()
                .iter()
                .map(|k| (k.offset - base, k.len))
                .collect();
            assert_eq!(got, expect, "runs of {run}");
        }
        // The carved bytes decode as the images they were.
        let mut c = Carver::new(1 << 20);
        c.feed(0, &disk);
        for k in c.finish() {
            let bytes = &disk[k.offset as usize..(k.offset + k.len) as usize];
            image::load_from_memory(bytes).unwrap();
        }
    }

    #[test]
    fn a_gap_in_the_offsets_ends_an_object_in_progress() {
        let j = jpeg_bytes(1);
        let mut c = Carver::new(1 << 20);
        c.feed(0, &j[..j.len() / 2]);
        c.feed(10_000_000, &j[j.len() / 2..]);
        assert!(c.finish().is_empty());
    }
}

//! Deterministic synthetic test images: smooth noise, gradients, shapes, text, checkerboards, and
//! their transformed and broken copies. No photographs and no people, ever: everything is drawn
//! from a seed, so the same seed gives the same pixels on every machine.

use std::io::Cursor;
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage, imageops};

/// SplitMix64: a tiny, fixed pseudo-random generator. Written here (not taken from `rand`)
/// because `rand`'s small generators may change between versions, and test data must not.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`hi > lo`).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo) as u64) as i64
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A random colour.
    pub fn color(&mut self) -> [u8; 3] {
        let v = self.next_u64();
        [v as u8, (v >> 8) as u8, (v >> 16) as u8]
    }
}

/// What a synthetic image shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// Low-frequency value noise, bilinearly interpolated.
    SmoothNoise,
    /// A random three-corner colour gradient.
    Gradient,
    /// Filled rectangles, ellipses and triangles over a gradient.
    Shapes,
    /// Block-letter words over smooth noise.
    Text,
    /// A checkerboard with a random cell size, over a gradient.
    Checkerboard,
    /// Noise, shapes and text together.
    Mixed,
    /// A photo-like scene: a noise/gradient blend under many shapes and a few words. Broad
    /// spectrum content like a real photograph, so it is what robustness is measured on.
    Scene,
}

impl Pattern {
    /// All patterns.
    pub const ALL: [Pattern; 7] = [
        Pattern::SmoothNoise,
        Pattern::Gradient,
        Pattern::Shapes,
        Pattern::Text,
        Pattern::Checkerboard,
        Pattern::Mixed,
        Pattern::Scene,
    ];

    /// A short lowercase name for file names.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::SmoothNoise => "noise",
            Pattern::Gradient => "gradient",
            Pattern::Shapes => "shapes",
            Pattern::Text => "text",
            Pattern::Checkerboard => "checker",
            Pattern::Mixed => "mixed",
            Pattern::Scene => "scene",
        }
    }
}

/// Draws a `w`×`h` image of `pattern` from `seed`; `grain` adds ±grain per-pixel noise.
pub fn render(pattern: Pattern, w: u32, h: u32, seed: u64, grain: u8) -> RgbImage {
    let mut rng = SplitMix::new(seed ^ 0x6861_7368_6775_6172);
    let mut img = match pattern {
        Pattern::SmoothNoise | Pattern::Text => smooth_noise(&mut rng, w, h),
        _ => gradient(&mut rng, w, h),
    };
    match pattern {
        Pattern::Shapes => shapes(&mut rng, &mut img, 12),
        Pattern::Text => text(&mut rng, &mut img, 4),
        Pattern::Checkerboard => checkerboard(&mut rng, &mut img),
        Pattern::Mixed => {
            let noise = smooth_noise(&mut rng, w, h);
            for (p, n) in img.pixels_mut().zip(noise.pixels()) {
                for c in 0..3 {
                    p[c] = ((u16::from(p[c]) + u16::from(n[c])) / 2) as u8;
                }
            }
            shapes(&mut rng, &mut img, 6);
            text(&mut rng, &mut img, 2);
        }
        Pattern::Scene => {
            let noise = smooth_noise(&mut rng, w, h);
            for (p, n) in img.pixels_mut().zip(noise.pixels()) {
                for c in 0..3 {
                    p[c] = ((u16::from(p[c]) + u16::from(n[c])) / 2) as u8;
                }
            }
            let n = rng.range(8, 24) as usize;
            shapes(&mut rng, &mut img, n);
            let lines = rng.range(1, 4) as usize;
            text(&mut rng, &mut img, lines);
        }
        Pattern::SmoothNoise | Pattern::Gradient => {}
    }
    if grain > 0 {
        let g = i64::from(grain);
        for p in img.pixels_mut() {
            for c in 0..3 {
                p[c] = (i64::from(p[c]) + rng.range(-g, g + 1)).clamp(0, 255) as u8;
            }
        }
    }
    img
}

fn gradient(rng: &mut SplitMix, w: u32, h: u32) -> RgbImage {
    let (a, b, c) = (rng.color(), rng.color(), rng.color());
    RgbImage::from_fn(w, h, |x, y| {
        let fx = if w > 1 {
            f64::from(x) / f64::from(w - 1)
        } else {
            0.0
        };
        let fy = if h > 1 {
            f64::from(y) / f64::from(h - 1)
        } else {
            0.0
        };
        Rgb(std::array::from_fn(|i| {
            let v = f64::from(a[i]) * (1.0 - fx) * (1.0 - fy)
                + f64::from(b[i]) * fx
                + f64::from(c[i]) * fy * (1.0 - fx);
            v.clamp(0.0, 255.0) as u8
        }))
    })
}

fn smooth_noise(rng: &mut SplitMix, w: u32, h: u32) -> RgbImage {
    let cells = rng.range(3, 12) as usize;
    let gw = cells + 1;
    let gh = (cells * h as usize / w.max(1) as usize).max(1) + 1;
    let grid: Vec<[u8; 3]> = (0..gw * gh).map(|_| rng.color()).collect();
    RgbImage::from_fn(w, h, |x, y| {
        let gx = f64::from(x) * (gw - 1) as f64 / f64::from(w.max(2) - 1);
        let gy = f64::from(y) * (gh - 1) as f64 / f64::from(h.max(2) - 1);
        let (x0, y0) = ((gx as usize).min(gw - 2), (gy as usize).min(gh - 2));
        let (tx, ty) = (gx - x0 as f64, gy - y0 as f64);
        // Smoothstep weights avoid visible grid lines.
        let (sx, sy) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
        let at = |i: usize, j: usize, c: usize| f64::from(grid[j * gw + i][c]);
        Rgb(std::array::from_fn(|c| {
            let top = at(x0, y0, c) * (1.0 - sx) + at(x0 + 1, y0, c) * sx;
            let bottom = at(x0, y0 + 1, c) * (1.0 - sx) + at(x0 + 1, y0 + 1, c) * sx;
            (top * (1.0 - sy) + bottom * sy) as u8
        }))
    })
}

fn shapes(rng: &mut SplitMix, img: &mut RgbImage, n: usize) {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let scale = w.min(h).max(4);
    for _ in 0..n {
        let (cx, cy) = (rng.range(0, w), rng.range(0, h));
        let (rx, ry) = (
            rng.range(scale / 16 + 1, scale / 4 + 2),
            rng.range(scale / 16 + 1, scale / 4 + 2),
        );
        let col = Rgb(rng.color());
        let kind = rng.range(0, 3);
        let (ax, ay, bx, by) = (
            rng.range(-rx, rx + 1),
            rng.range(-ry, ry + 1),
            rng.range(-rx, rx + 1),
            rng.range(-ry, ry + 1),
        );
        for y in (cy - ry).max(0)..(cy + ry).min(h) {
            for x in (cx - rx).max(0)..(cx + rx).min(w) {
                let (dx, dy) = (x - cx, y - cy);
                let inside = match kind {
                    0 => true,
                    1 => {
                        (dx * dx) as f64 / (rx * rx) as f64 + (dy * dy) as f64 / (ry * ry) as f64
                            <= 1.0
                    }
                    _ => in_triangle((dx, dy), (ax, -ry), (-rx, by), (bx.abs(), ay.abs())),
                };
                if inside {
                    img.put_pixel(x as u32, y as u32, col);
                }
            }
        }
    }
}

fn in_triangle(p: (i64, i64), a: (i64, i64), b: (i64, i64), c: (i64, i64)) -> bool {
    let side = |u: (i64, i64), v: (i64, i64)| (v.0 - u.0) * (p.1 - u.1) - (v.1 - u.1) * (p.0 - u.0);
    let (d1, d2, d3) = (side(a, b), side(b, c), side(c, a));
    !((d1 < 0 || d2 < 0 || d3 < 0) && (d1 > 0 || d2 > 0 || d3 > 0))
}

fn checkerboard(rng: &mut SplitMix, img: &mut RgbImage) {
    let cell = rng.range(4, (i64::from(img.width().min(img.height())) / 4).max(5)) as u32;
    let (a, b) = (rng.color(), rng.color());
    for (x, y, p) in img.enumerate_pixels_mut() {
        let c = if ((x / cell) + (y / cell)).is_multiple_of(2) {
            a
        } else {
            b
        };
        for i in 0..3 {
            p[i] = ((u16::from(p[i]) + 3 * u16::from(c[i])) / 4) as u8;
        }
    }
}

/// 3×5 block letters, one row of three bits per line (MSB = left).
const GLYPHS: &[(char, [u8; 5])] = &[
    ('A', [2, 5, 7, 5, 5]),
    ('C', [3, 4, 4, 4, 3]),
    ('D', [6, 5, 5, 5, 6]),
    ('E', [7, 4, 6, 4, 7]),
    ('H', [5, 5, 7, 5, 5]),
    ('I', [7, 2, 2, 2, 7]),
    ('N', [6, 5, 5, 5, 5]),
    ('O', [2, 5, 5, 5, 2]),
    ('R', [6, 5, 6, 5, 5]),
    ('S', [3, 4, 2, 1, 6]),
    ('T', [7, 2, 2, 2, 2]),
    ('Y', [5, 5, 2, 2, 2]),
];
const WORDS: &[&str] = &[
    "SYNTHETIC",
    "TEST",
    "DATA",
    "HASH",
    "NOISE",
    "SHAPE",
    "DOT",
    "RED",
    "ONE",
    "TRACE",
];

fn text(rng: &mut SplitMix, img: &mut RgbImage, lines: usize) {
    let (w, h) = (img.width(), img.height());
    let px = (w.min(h) / 40).max(1);
    for _ in 0..lines {
        let word = WORDS[rng.range(0, WORDS.len() as i64) as usize];
        let col = Rgb(rng.color());
        let mut x0 = rng.range(0, i64::from(w / 2).max(1)) as u32;
        let y0 = rng.range(0, i64::from(h.saturating_sub(6 * px)).max(1)) as u32;
        for ch in word.chars() {
            let rows = GLYPHS
                .iter()
                .find(|(c, _)| *c == ch)
                .map_or([7, 5, 5, 5, 7], |(_, r)| *r);
            for (ry, bits) in rows.iter().enumerate() {
                for rx in 0..3u32 {
                    if bits & (4 >> rx) != 0 {
                        for dy in 0..px {
                            for dx in 0..px {
                                let (x, y) = (x0 + rx * px + dx, y0 + ry as u32 * px + dy);
                                if x < w && y < h {
                                    img.put_pixel(x, y, col);
                                }
                            }
                        }
                    }
                }
            }
            x0 += 4 * px;
        }
    }
}

/// A transformation applied to a base image to make a near-duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Half the width and height (triangle filter).
    Resize50,
    /// Re-encoded as JPEG at quality 50.
    JpegQ50,
    /// 2% cut off each side.
    Crop2,
    /// 5% cut off each side.
    Crop5,
    /// Every channel × 1.3.
    Bright130,
    /// Rotated 90° clockwise.
    Rot90,
    /// Mirrored left to right.
    Mirror,
}

impl Transform {
    /// All transforms.
    pub const ALL: [Transform; 7] = [
        Transform::Resize50,
        Transform::JpegQ50,
        Transform::Crop2,
        Transform::Crop5,
        Transform::Bright130,
        Transform::Rot90,
        Transform::Mirror,
    ];

    /// Name used in file names and the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Transform::Resize50 => "resize50",
            Transform::JpegQ50 => "jpeg_q50",
            Transform::Crop2 => "crop2",
            Transform::Crop5 => "crop5",
            Transform::Bright130 => "bright130",
            Transform::Rot90 => "rot90",
            Transform::Mirror => "mirror",
        }
    }

    /// Applies the transform to the pixels (JPEG re-encoding happens when the result is saved).
    pub fn apply(self, img: &RgbImage) -> RgbImage {
        let (w, h) = img.dimensions();
        let crop = |pct: u32| {
            let (dx, dy) = (w * pct / 100, h * pct / 100);
            imageops::crop_imm(img, dx, dy, w - 2 * dx, h - 2 * dy).to_image()
        };
        match self {
            Transform::Resize50 => imageops::resize(
                img,
                (w / 2).max(1),
                (h / 2).max(1),
                imageops::FilterType::Triangle,
            ),
            Transform::JpegQ50 => img.clone(),
            Transform::Crop2 => crop(2),
            Transform::Crop5 => crop(5),
            Transform::Bright130 => {
                let mut out = img.clone();
                for p in out.pixels_mut() {
                    for c in 0..3 {
                        p[c] = (f64::from(p[c]) * 1.3).round().min(255.0) as u8;
                    }
                }
                out
            }
            Transform::Rot90 => imageops::rotate90(img),
            Transform::Mirror => imageops::flip_horizontal(img),
        }
    }
}

/// Encodes an image as PNG, compressed as small as the encoder can (the files are committed).
pub fn png_bytes(img: &DynamicImage) -> Vec<u8> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut buf = Vec::new();
    let enc = PngEncoder::new_with_quality(&mut buf, CompressionType::Best, FilterType::Adaptive);
    // Encoding into memory cannot fail for the 8/16-bit types used here.
    img.write_with_encoder(enc).unwrap_or_default();
    buf
}

/// Encodes an RGB or grey image as baseline JPEG at `quality`.
pub fn jpeg_bytes(img: &DynamicImage, quality: u8) -> Vec<u8> {
    let mut buf = Vec::new();
    let enc = JpegEncoder::new_with_quality(&mut buf, quality);
    img.write_with_encoder(enc).unwrap_or_default();
    buf
}

/// An indexed-colour (palette) PNG, which the `image` encoder cannot write.
pub fn palette_png_bytes(img: &RgbImage, colors: usize) -> Vec<u8> {
    // Posterise to a fixed palette so every pixel has an index.
    let levels = [0u8, 85, 170, 255];
    let palette: Vec<[u8; 3]> = (0..colors.min(64))
        .map(|i| [levels[i % 4], levels[(i / 4) % 4], levels[(i / 16) % 4]])
        .collect();
    let index = |p: &Rgb<u8>| {
        let q = |v: u8| (usize::from(v) + 42) / 85;
        (q(p[0]) + 4 * q(p[1]) + 16 * q(p[2])).min(palette.len() - 1) as u8
    };
    let data: Vec<u8> = img.pixels().map(index).collect();
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, img.width(), img.height());
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(palette.iter().flatten().copied().collect::<Vec<u8>>());
        if let Ok(mut w) = enc.write_header() {
            let _ = w.write_image_data(&data);
        }
    }
    out
}

/// A PNG whose header declares `w`×`h` pixels followed by a few bytes of data: a dimension bomb.
pub fn png_bomb_bytes(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        let crc = body.iter().fold(!0u32, |mut crc, &b| {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
            crc
        });
        out.extend_from_slice(&(!crc).to_be_bytes());
    };
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    // A zlib stream of a few zero bytes; a decoder that trusted the header would allocate 10 GB.
    chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    chunk(b"IEND", &[]);
    out
}

/// One file of the test set, as listed in `manifest.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Path relative to the set's directory.
    pub path: String,
    /// Name of the base image it derives from (itself for a base).
    pub base: String,
    /// "base", a [`Transform`] name, or what is special or broken about the file.
    pub transform: String,
    /// The reason code hashguard must give, empty when the file must hash.
    pub expect_error: String,
}

/// Writes the whole synthetic image set under `dir` and returns its manifest (also written as
/// `manifest.csv`). Deterministic: the same code writes the same bytes.
pub fn write_image_set(dir: &Path) -> std::io::Result<Vec<ManifestEntry>> {
    let mut entries = Vec::new();
    let mut put = |rel: String,
                   bytes: &[u8],
                   base: &str,
                   transform: &str,
                   expect: &str|
     -> std::io::Result<()> {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
        entries.push(ManifestEntry {
            path: rel,
            base: base.to_string(),
            transform: transform.to_string(),
            expect_error: expect.to_string(),
        });
        Ok(())
    };

    // Pure patterns, bases only: edge cases for bit-exactness (flat gradients have quality 0,
    // checkerboards alias) that are not meaningful for robustness.
    for (i, pattern) in Pattern::ALL.iter().take(6).enumerate() {
        for (k, (w, h)) in [(256u32, 256u32), (320, 200)].into_iter().enumerate() {
            let seed = 100 + 10 * i as u64 + k as u64;
            let name = format!("{}_{w}x{h}", pattern.name());
            let img = DynamicImage::ImageRgb8(render(*pattern, w, h, seed, 0));
            put(
                format!("pattern/{name}.png"),
                &png_bytes(&img),
                &name,
                "pattern",
                "",
            )?;
        }
    }

    // Scene bases, every one with all transformed copies: PNG (lossless) at moderate sizes, and
    // JPEG q90 with fine grain up to 1920×1080.
    const PNG_SIZES: [(u32, u32); 6] = [
        (480, 360),
        (384, 288),
        (300, 200),
        (320, 240),
        (270, 480),
        (600, 120),
    ];
    const JPEG_SIZES: [(u32, u32); 4] = [(512, 512), (1920, 1080), (800, 600), (720, 1280)];
    let mut bases: Vec<(String, RgbImage, bool)> = Vec::new();
    for i in 0..24u64 {
        let (w, h) = PNG_SIZES[i as usize % PNG_SIZES.len()];
        let name = format!("p{i:02}_{w}x{h}");
        let img = render(Pattern::Scene, w, h, 1000 + i, 0);
        put(
            format!("base/{name}.png"),
            &png_bytes(&DynamicImage::ImageRgb8(img.clone())),
            &name,
            "base",
            "",
        )?;
        bases.push((name, img, false));
    }
    for i in 0..12u64 {
        let (w, h) = JPEG_SIZES[i as usize % JPEG_SIZES.len()];
        let name = format!("j{i:02}_{w}x{h}");
        let img = render(Pattern::Scene, w, h, 2000 + i, 1);
        put(
            format!("base/{name}.jpg"),
            &jpeg_bytes(&DynamicImage::ImageRgb8(img.clone()), 90),
            &name,
            "base",
            "",
        )?;
        bases.push((name, img, true));
    }

    // Transformed copies of every base: PNG output for PNG bases (so only the transform differs),
    // JPEG q90 for JPEG bases, and always JPEG q50 for the q50 copy.
    for (name, img, is_jpeg) in &bases {
        for t in Transform::ALL {
            let out = DynamicImage::ImageRgb8(t.apply(img));
            let (bytes, ext) = match (t, is_jpeg) {
                (Transform::JpegQ50, _) => (jpeg_bytes(&out, 50), "jpg"),
                (_, true) => (jpeg_bytes(&out, 90), "jpg"),
                (_, false) => (png_bytes(&out), "png"),
            };
            put(
                format!("variants/{name}_{}.{ext}", t.name()),
                &bytes,
                name,
                t.name(),
                "",
            )?;
        }
    }

    // Special shapes and pixel formats.
    let special = |w, h, seed| render(Pattern::Mixed, w, h, seed, 0);
    let rgb = |img: RgbImage| DynamicImage::ImageRgb8(img);
    let mut specials: Vec<(String, Vec<u8>)> = vec![
        ("s_1x1.png".to_string(), png_bytes(&rgb(special(1, 1, 1)))),
        ("s_4x4.png".to_string(), png_bytes(&rgb(special(4, 4, 2)))),
        ("s_5x5.png".to_string(), png_bytes(&rgb(special(5, 5, 3)))),
        (
            "s_64x64.png".to_string(),
            png_bytes(&rgb(special(64, 64, 4))),
        ),
        (
            "s_65x63.png".to_string(),
            png_bytes(&rgb(special(65, 63, 5))),
        ),
        (
            "s_wide_3000x40.png".to_string(),
            png_bytes(&rgb(special(3000, 40, 6))),
        ),
        (
            "s_tall_40x2400.png".to_string(),
            png_bytes(&rgb(special(40, 2400, 7))),
        ),
        (
            "s_grey.png".to_string(),
            png_bytes(&DynamicImage::ImageRgb8(special(300, 240, 8)).grayscale()),
        ),
        (
            "s_grey.jpg".to_string(),
            jpeg_bytes(
                &DynamicImage::ImageRgb8(special(320, 240, 9)).grayscale(),
                90,
            ),
        ),
        (
            "s_rgba.png".to_string(),
            png_bytes(&DynamicImage::ImageRgba8(
                DynamicImage::ImageRgb8(special(200, 300, 10)).to_rgba8(),
            )),
        ),
        (
            "s_greyalpha.png".to_string(),
            png_bytes(&DynamicImage::ImageLumaA8(
                DynamicImage::ImageRgb8(special(210, 190, 11)).to_luma_alpha8(),
            )),
        ),
        (
            "s_palette.png".to_string(),
            palette_png_bytes(&special(256, 200, 12), 64),
        ),
        (
            "s_rgb16.png".to_string(),
            png_bytes(&DynamicImage::ImageRgb16(
                DynamicImage::ImageRgb8(special(240, 180, 13)).to_rgb16(),
            )),
        ),
        (
            "s_grey16.png".to_string(),
            png_bytes(&DynamicImage::ImageLuma16(
                DynamicImage::ImageRgb8(special(180, 240, 14)).to_luma16(),
            )),
        ),
    ];
    for (fmt, ext) in [
        (ImageFormat::Gif, "gif"),
        (ImageFormat::WebP, "webp"),
        (ImageFormat::Bmp, "bmp"),
        (ImageFormat::Tiff, "tiff"),
    ] {
        let mut buf = Cursor::new(Vec::new());
        let img = rgb(special(200, 150, 20 + ext.len() as u64));
        let img = if fmt == ImageFormat::Gif {
            DynamicImage::ImageRgba8(img.to_rgba8())
        } else {
            img
        };
        img.write_to(&mut buf, fmt).map_err(std::io::Error::other)?;
        specials.push((format!("s_format.{ext}"), buf.into_inner()));
    }
    for (file, bytes) in &specials {
        put(format!("special/{file}"), bytes, file, "special", "")?;
    }

    // Broken files: each must give its reason code and its digests, never a panic.
    let good_png = png_bytes(&rgb(special(300, 200, 30)));
    let good_jpg = jpeg_bytes(&rgb(special(300, 200, 31)), 90);
    let mut junk = SplitMix::new(32);
    let random: Vec<u8> = (0..4096).map(|_| junk.next_u64() as u8).collect();
    let mut wrong_magic = good_png.clone();
    wrong_magic[1..4].copy_from_slice(b"XYZ");
    let broken: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "truncated.png",
            good_png[..good_png.len() / 2].to_vec(),
            "truncated",
            "decode_failed",
        ),
        (
            "truncated.jpg",
            good_jpg[..good_jpg.len() / 3].to_vec(),
            "truncated",
            "decode_failed",
        ),
        (
            "header_only.jpg",
            good_jpg[..200].to_vec(),
            "truncated",
            "decode_failed",
        ),
        ("empty.png", Vec::new(), "zero bytes", "unsupported_format"),
        (
            "wrong_magic.png",
            wrong_magic,
            "wrong magic",
            "unsupported_format",
        ),
        ("random.jpg", random, "random bytes", "unsupported_format"),
        (
            "bomb_60000x60000.png",
            png_bomb_bytes(60_000, 60_000),
            "dimension bomb",
            "too_large",
        ),
        (
            "bomb_20000x20000.png",
            png_bomb_bytes(20_000, 20_000),
            "dimension bomb",
            "too_large",
        ),
    ];
    for (file, bytes, what, expect) in &broken {
        put(format!("broken/{file}"), bytes, file, what, expect)?;
    }

    let mut csv = String::from("path,base,transform,expect_error\n");
    for e in &entries {
        csv.push_str(&format!(
            "{},{},{},{}\n",
            e.path, e.base, e.transform, e.expect_error
        ));
    }
    std::fs::write(dir.join("manifest.csv"), csv)?;
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_pixels() {
        for p in Pattern::ALL {
            assert_eq!(render(p, 97, 61, 5, 3), render(p, 97, 61, 5, 3));
            assert_ne!(render(p, 97, 61, 5, 3), render(p, 97, 61, 6, 3));
        }
    }

    #[test]
    fn splitmix_known_first_output() {
        // First output for seed 0 of the published SplitMix64 algorithm.
        assert_eq!(SplitMix::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }
}

//! PNGs too large to decode whole, reduced while they stream: each row is decoded, turned into
//! RGB and added into a grid of k×k cells, so memory holds the reduced image and two rows, never
//! the full one. (The `image` crate decodes only whole images, so this reads rows through the
//! `png` crate, which it uses underneath.)

use std::io::Cursor;

use image::{DynamicImage, RgbImage};

use super::{Error, Limits, Still, check_declared, fits_reduced};

/// Deflate cannot compress better than 1032:1, so image data larger than this many times the
/// file cannot be in it: the header of such a file lies.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Width and height from a PNG's IHDR (always the first chunk), without decoding.
pub(super) fn png_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Some((be(16), be(20)))
}

/// The smallest whole factor k for which the image, averaged over k×k cells, fits the limits.
fn factor(width: u32, height: u32, limits: &Limits) -> Option<u32> {
    (2..=MAX_FACTOR).find(|&k| {
        fits_reduced(
            u64::from(width.div_ceil(k)),
            u64::from(height.div_ceil(k)),
            limits,
        )
    })
}

/// Cell sums are u16: 16×16 samples of 255 still fit.
const MAX_FACTOR: u32 = 16;

/// The Adam7 passes: first column, first row, column step, row step.
const ADAM7: [(u32, u32, u32, u32); 7] = [
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
];

/// Decodes a PNG of `width` × `height` (from its header) to a reduced RGB copy, averaging k×k
/// cells: 16-bit samples keep their high byte and alpha is dropped, as for whole images.
pub(super) fn png(bytes: &[u8], width: u32, height: u32, limits: &Limits) -> Result<Still, Error> {
    const NAME: &str = "png";
    let too_large = |limit: String| Error::TooLarge {
        format: NAME,
        width,
        height,
        limit,
    };
    let decode = |e: png::DecodingError| Error::Decode {
        format: NAME,
        message: e.to_string(),
    };
    check_declared(NAME, width, height, limits)?;
    // The raw size the header declares: a filter byte per row plus the row's samples, from the
    // IHDR bit depth (byte 24) and colour type (byte 25).
    let bits = u64::from(bytes[24]);
    let samples = match bytes[25] {
        0 | 3 => 1, // grey, palette
        4 => 2,     // grey + alpha
        2 => 3,     // RGB
        _ => 4,     // RGBA (and invalid types, which the decoder refuses)
    };
    let least_raw = u64::from(height) * (1 + (u64::from(width) * bits * samples).div_ceil(8));
    if least_raw > MAX_DEFLATE_RATIO * bytes.len() as u64 {
        return Err(too_large(format!(
            "declares more image data than its {} bytes can hold (a decompression bomb)",
            bytes.len()
        )));
    }
    let k = factor(width, height, limits)
        .ok_or_else(|| too_large(format!("too large even reduced {MAX_FACTOR}×")))?;
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(decode)?;
    let info = reader.info();
    if (info.width, info.height) != (width, height) {
        return Err(Error::Decode {
            format: NAME,
            message: "header read twice gave two sizes".into(),
        });
    }
    let interlaced = info.interlaced;
    let (color, _) = reader.output_color_type();
    let channels = color.samples();
    let (ow, oh) = (width.div_ceil(k), height.div_ceil(k));
    let mut sums = vec![0u16; ow as usize * oh as usize * 3];
    let mut add_row = |y: u32, x0: u32, dx: u32, data: &[u8]| {
        let cell_row = (y / k) as usize * ow as usize;
        for (i, px) in data.chunks_exact(channels).enumerate() {
            let x = x0 + i as u32 * dx;
            let at = (cell_row + (x / k) as usize) * 3;
            let rgb = match channels {
                1 | 2 => [px[0]; 3],
                _ => [px[0], px[1], px[2]],
            };
            for c in 0..3 {
                sums[at + c] += u16::from(rgb[c]);
            }
        }
    };
    // Rows arrive pass by pass when interlaced (Adam7), where each pass's row lies following
    // from the geometry; a plain image is one pass of every pixel.
    let passes: &[(u32, u32, u32, u32)] = if interlaced { &ADAM7 } else { &[(0, 0, 1, 1)] };
    for &(x0, y0, dx, dy) in passes {
        if width <= x0 || height <= y0 {
            continue;
        }
        let (samples, lines) = ((width - x0).div_ceil(dx), (height - y0).div_ceil(dy));
        let row_len = samples as usize * channels;
        for line in 0..lines {
            let row = reader
                .next_row()
                .map_err(decode)?
                .ok_or_else(|| Error::Decode {
                    format: NAME,
                    message: "image data ends early".into(),
                })?;
            let data = row.data();
            if data.len() < row_len {
                return Err(Error::Decode {
                    format: NAME,
                    message: "row shorter than the image".into(),
                });
            }
            add_row(y0 + line * dy, x0, dx, &data[..row_len]);
        }
    }
    // Each cell's average over the pixels it covers (edge cells cover fewer).
    let mut out = Vec::with_capacity(sums.len());
    for cy in 0..oh {
        let ch = k.min(height - cy * k);
        for cx in 0..ow {
            let cw = k.min(width - cx * k);
            let n = cw * ch;
            let at = (cy as usize * ow as usize + cx as usize) * 3;
            for c in 0..3 {
                out.push(((u32::from(sums[at + c]) + n / 2) / n) as u8);
            }
        }
    }
    drop(sums);
    let image = RgbImage::from_raw(ow, oh, out).ok_or(Error::Decode {
        format: NAME,
        message: "reduced buffer size mismatch".into(),
    })?;
    Ok(Still {
        image: DynamicImage::ImageRgb8(image),
        reduced_from: Some((width, height)),
    })
}

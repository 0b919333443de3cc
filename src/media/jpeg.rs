//! JPEG through libjpeg-turbo, the decoder Pillow uses, so that pixels (and so hashes) agree
//! with the reference pipeline; its default ISLOW IDCT and fancy upsampling are what Pillow uses
//! too. A JPEG too large to decode whole is decoded at a reduced scale by the IDCT itself
//! (libjpeg-turbo's M/8 scaling), which never holds the full-size image.

use image::DynamicImage;
use turbojpeg::{Colorspace, Decompressor, Image, PixelFormat, ScalingFactor};

use super::{Error, Limits, Still, check_declared, check_size, fits_reduced};

/// Decodes a JPEG, reduced when it is too large to decode whole. `None` for colour spaces
/// libjpeg-turbo cannot turn into RGB (CMYK, YCCK), which the `image` decoder handles instead.
pub(super) fn decode(bytes: &[u8], limits: &Limits) -> Option<Result<Still, Error>> {
    let failed = |e: turbojpeg::Error| Error::Decode {
        format: "jpg",
        message: e.to_string(),
    };
    let mut dec = match Decompressor::new() {
        Ok(d) => d,
        Err(e) => return Some(Err(failed(e))),
    };
    // A progressive JPEG can repeat scans over every block thousands of times; no real encoder
    // writes more than a few dozen (libjpeg-turbo's own advice against the "scan bomb").
    if let Err(e) = dec.set_scan_limit(500) {
        return Some(Err(failed(e)));
    }
    let header = match dec.read_header(bytes) {
        Ok(h) => h,
        Err(e) => return Some(Err(failed(e))),
    };
    // A progressive JPEG holds every DCT coefficient of the full-size image while it decodes,
    // whatever the output scale: 2 bytes per sample, up to 3 samples per pixel.
    let samples = match (header.colorspace, header.subsamp) {
        (Colorspace::Gray, _) => 1.0,
        (_, turbojpeg::Subsamp::Sub2x2) => 1.5,
        (_, turbojpeg::Subsamp::Sub2x1 | turbojpeg::Subsamp::Sub1x2) => 2.0,
        _ => 3.0,
    };
    let coefficients = (header.width as f64) * (header.height as f64) * samples * 2.0;
    if header.is_progressive && coefficients > limits.max_alloc as f64 {
        return Some(Err(Error::TooLarge {
            format: "jpg",
            width: u32::try_from(header.width).unwrap_or(u32::MAX),
            height: u32::try_from(header.height).unwrap_or(u32::MAX),
            limit: format!(
                "a progressive JPEG this size needs {:.0} MB of coefficients, over {} MB",
                coefficients / 1e6,
                limits.max_alloc >> 20
            ),
        }));
    }
    let (pixel_format, channels) = match header.colorspace {
        Colorspace::Gray => (PixelFormat::GRAY, 1),
        Colorspace::RGB | Colorspace::YCbCr => (PixelFormat::RGB, 3),
        _ => return None,
    };
    let (w32, h32) = (
        u32::try_from(header.width).unwrap_or(u32::MAX),
        u32::try_from(header.height).unwrap_or(u32::MAX),
    );
    let mut reduced_from = None;
    if let Err(too_large) = check_size("jpg", w32, h32, channels as u64, limits) {
        if let Err(e) = check_declared("jpg", w32, h32, limits) {
            return Some(Err(e));
        }
        // Lossless JPEGs have no DCT to scale by.
        if header.is_lossless {
            return Some(Err(too_large));
        }
        // The largest scale (in eighths) whose output fits; 1/8 always does within the cap.
        let Some(factor) = (1..8).rev().map(|m| ScalingFactor::new(m, 8)).find(|f| {
            let s = header.scaled(*f);
            fits_reduced(s.width as u64, s.height as u64, limits)
        }) else {
            return Some(Err(Error::TooLarge {
                format: "jpg",
                width: w32,
                height: h32,
                limit: "too large even at 1/8 scale".into(),
            }));
        };
        if let Err(e) = dec.set_scaling_factor(factor) {
            return Some(Err(failed(e)));
        }
        reduced_from = Some((w32, h32));
    }
    let scaled = header.scaled(dec.scaling_factor());
    let (w, h) = (scaled.width, scaled.height);
    let mut pixels = vec![0u8; w * h * channels];
    let out = Image {
        pixels: pixels.as_mut_slice(),
        width: w,
        pitch: w * channels,
        height: h,
        format: pixel_format,
    };
    if let Err(e) = dec.decompress(bytes, out) {
        return Some(Err(failed(e)));
    }
    let (w, h) = (w as u32, h as u32);
    let img = if channels == 1 {
        image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8)
    } else {
        image::RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8)
    };
    // The buffer was sized for exactly these dimensions.
    Some(
        img.map(|image| Still {
            image,
            reduced_from,
        })
        .ok_or(Error::Decode {
            format: "jpg",
            message: "decoded buffer size mismatch".to_string(),
        }),
    )
}

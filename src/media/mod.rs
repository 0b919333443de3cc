//! Media recognition and decoding under explicit limits. Recognises files by content, never by
//! name, and refuses oversized images from their header, before any pixel buffer is allocated.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use serde::{Deserialize, Serialize};

use crate::hashing::{PixelLayout, PixelView};

pub mod video;

pub use video::{
    Sampling, VideoError, VideoFrame, VideoHashes, VideoLimits, VideoOptions, hash_video_bytes,
    hash_video_file,
};

/// What a file is, judged from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// A still image.
    Image,
    /// A video container.
    Video,
    /// Anything else (documents, archives, empty files, unknown data).
    Other,
}

/// The recognised container or image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An image format hashguard decodes.
    Image(ImageFormat),
    /// An image format recognised but not decoded (HEIC, AVIF, …), named.
    UnsupportedImage(&'static str),
    /// A video container, named.
    Video(&'static str),
    /// Not recognised as media.
    Unknown,
}

impl MediaKind {
    /// The lowercase name used in records.
    pub fn name(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Other => "other",
        }
    }
}

impl Format {
    /// The media kind this format belongs to.
    pub fn kind(self) -> MediaKind {
        match self {
            Format::Image(_) | Format::UnsupportedImage(_) => MediaKind::Image,
            Format::Video(_) => MediaKind::Video,
            Format::Unknown => MediaKind::Other,
        }
    }

    /// A short lowercase name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Image(f) => f.extensions_str().first().copied().unwrap_or("image"),
            Format::UnsupportedImage(n) | Format::Video(n) => n,
            Format::Unknown => "unknown",
        }
    }
}

/// Limits that bound the work and memory one file may cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Widest image decoded, in pixels.
    pub max_width: u32,
    /// Tallest image decoded, in pixels.
    pub max_height: u32,
    /// Most pixels (width × height) decoded.
    pub max_pixels: u64,
    /// Most bytes the decoder may allocate for one image.
    pub max_alloc: u64,
    /// Largest file read into memory to be decoded; larger files still get their digests (and
    /// videos are then decoded from their path).
    pub max_file_bytes: u64,
    /// Caps for videos.
    pub video: VideoLimits,
}

impl Default for Limits {
    /// 16,384 px a side and 80 megapixels (phone cameras reach 50 MP, 8K video frames 33 MP);
    /// 1 GiB of decoder memory (80 MP of 16-bit RGBA is 640 MB); 256 MiB files.
    fn default() -> Self {
        Limits {
            max_width: 16_384,
            max_height: 16_384,
            max_pixels: 80_000_000,
            max_alloc: 1 << 30,
            max_file_bytes: 256 << 20,
            video: VideoLimits::default(),
        }
    }
}

/// Why media could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image is larger than the limits allow (judged from its header).
    #[error("{format} image of {width}x{height} exceeds the limit ({limit})")]
    TooLarge {
        /// Format name.
        format: &'static str,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// Which limit was exceeded.
        limit: String,
    },
    /// The file is larger than `max_file_bytes`, so it is not decoded.
    #[error("file of {size} bytes exceeds the decode limit of {limit} bytes")]
    FileTooLarge {
        /// File size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The bytes are not a format hashguard decodes.
    #[error("unsupported format: {format}")]
    Unsupported {
        /// Format name ("unknown" when not recognised at all).
        format: &'static str,
    },
    /// The bytes claim a supported format but are broken (truncated, corrupt).
    #[error("{format} decode failed: {message}")]
    Decode {
        /// Format name.
        format: &'static str,
        /// What the decoder said.
        message: String,
    },
}

/// Recognises the format from the first bytes of a file (16 bytes are enough).
pub fn sniff(head: &[u8]) -> Format {
    if head.is_empty() {
        return Format::Unknown;
    }
    // ISO base media (MP4, MOV, 3GP, HEIF, AVIF) share `ftyp`; the brand says which.
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return match &head[8..12] {
            b"avif" | b"avis" => Format::UnsupportedImage("avif"),
            b"heic" | b"heix" | b"hevc" | b"heim" | b"heis" | b"mif1" | b"msf1" => {
                Format::UnsupportedImage("heif")
            }
            b"qt  " => Format::Video("mov"),
            b if b.starts_with(b"3g") => Format::Video("3gp"),
            _ => Format::Video("mp4"),
        };
    }
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Format::Video("matroska");
    }
    if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"AVI " {
        return Format::Video("avi");
    }
    if head.starts_with(b"FLV\x01") {
        return Format::Video("flv");
    }
    if head.starts_with(&[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]) {
        return Format::Video("asf");
    }
    if head.starts_with(&[0x00, 0x00, 0x01, 0xBA]) || head.starts_with(&[0x00, 0x00, 0x01, 0xB3]) {
        return Format::Video("mpeg");
    }
    match image::guess_format(head) {
        Ok(
            f @ (ImageFormat::Png
            | ImageFormat::Jpeg
            | ImageFormat::Gif
            | ImageFormat::WebP
            | ImageFormat::Bmp
            | ImageFormat::Tiff),
        ) => Format::Image(f),
        // PNM's magic is two bytes ("P1".."P7"): one random file in 13,000 starts that way, so
        // it counts only when the whitespace the format requires follows.
        Ok(ImageFormat::Pnm) if !head.get(2).is_some_and(u8::is_ascii_whitespace) => {
            Format::Unknown
        }
        Ok(f) => Format::UnsupportedImage(f.extensions_str().first().copied().unwrap_or("image")),
        Err(_) => Format::Unknown,
    }
}

/// Decodes an image from memory. Animated formats give their first frame. The header is checked
/// against `limits` before any pixel buffer is allocated.
pub fn decode_image(bytes: &[u8], limits: &Limits) -> Result<DynamicImage, Error> {
    let format = match sniff(bytes) {
        Format::Image(f) => f,
        other => {
            return Err(Error::Unsupported {
                format: other.name(),
            });
        }
    };
    let name = Format::Image(format).name();
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(Error::FileTooLarge {
            size: bytes.len() as u64,
            limit: limits.max_file_bytes,
        });
    }
    if format == ImageFormat::Jpeg
        && let Some(result) = decode_jpeg_turbo(bytes, limits)
    {
        return result;
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // The decoder enforces the allocation cap; dimensions are checked below, after the header is
    // parsed and before any pixel buffer exists, so the error can name the declared size.
    let mut lim = image::Limits::default();
    lim.max_alloc = Some(limits.max_alloc);
    reader.limits(lim);
    let decoder = reader.into_decoder().map_err(|e| image_error(name, e))?;
    let (width, height) = decoder.dimensions();
    let bytes_per_pixel = u64::from(decoder.color_type().bytes_per_pixel());
    check_size(name, width, height, bytes_per_pixel, limits)?;
    DynamicImage::from_decoder(decoder).map_err(|e| image_error(name, e))
}

/// Checks declared dimensions against the limits (`bytes_per_pixel` of decoded output).
fn check_size(
    format: &'static str,
    width: u32,
    height: u32,
    bytes_per_pixel: u64,
    limits: &Limits,
) -> Result<(), Error> {
    let too_large = |limit: String| {
        Err(Error::TooLarge {
            format,
            width,
            height,
            limit,
        })
    };
    if width > limits.max_width || height > limits.max_height {
        return too_large(format!("{}x{} max", limits.max_width, limits.max_height));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return too_large(format!("{} pixels max", limits.max_pixels));
    }
    if pixels * bytes_per_pixel > limits.max_alloc {
        return too_large(format!("{} bytes of decoder memory max", limits.max_alloc));
    }
    Ok(())
}

/// Decodes a JPEG with libjpeg-turbo, the decoder Pillow uses, so that pixels (and so hashes)
/// agree with the reference pipeline; its default ISLOW IDCT and fancy upsampling are what
/// Pillow uses too. Returns `None` for colour spaces it cannot turn into RGB (CMYK, YCCK), which
/// the `image` decoder handles instead.
fn decode_jpeg_turbo(bytes: &[u8], limits: &Limits) -> Option<Result<DynamicImage, Error>> {
    use turbojpeg::{Colorspace, Decompressor, Image, PixelFormat};
    let failed = |e: turbojpeg::Error| Error::Decode {
        format: "jpg",
        message: e.to_string(),
    };
    let mut dec = match Decompressor::new() {
        Ok(d) => d,
        Err(e) => return Some(Err(failed(e))),
    };
    let header = match dec.read_header(bytes) {
        Ok(h) => h,
        Err(e) => return Some(Err(failed(e))),
    };
    let (pixel_format, channels) = match header.colorspace {
        Colorspace::Gray => (PixelFormat::GRAY, 1),
        Colorspace::RGB | Colorspace::YCbCr => (PixelFormat::RGB, 3),
        _ => return None,
    };
    let (w, h) = (header.width, header.height);
    let (w32, h32) = (
        u32::try_from(w).unwrap_or(u32::MAX),
        u32::try_from(h).unwrap_or(u32::MAX),
    );
    if let Err(e) = check_size("jpg", w32, h32, channels as u64, limits) {
        return Some(Err(e));
    }
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
    let img = if channels == 1 {
        image::GrayImage::from_raw(w32, h32, pixels).map(DynamicImage::ImageLuma8)
    } else {
        image::RgbImage::from_raw(w32, h32, pixels).map(DynamicImage::ImageRgb8)
    };
    // The buffer was sized for exactly these dimensions.
    Some(img.ok_or(Error::Decode {
        format: "jpg",
        message: "decoded buffer size mismatch".to_string(),
    }))
}

fn image_error(format: &'static str, e: image::ImageError) -> Error {
    match e {
        image::ImageError::Limits(l) => Error::TooLarge {
            format,
            width: 0,
            height: 0,
            limit: l.to_string(),
        },
        image::ImageError::Unsupported(u) => Error::Unsupported {
            format: if matches!(u.kind(), image::error::UnsupportedErrorKind::Format(_)) {
                format
            } else {
                "unsupported feature"
            },
        },
        other => Error::Decode {
            format,
            message: other.to_string(),
        },
    }
}

/// 8-bit pixels ready for PDQ, borrowing the decoded image when it is already 8-bit.
pub enum Pixels<'a> {
    /// The decoded image's own buffer.
    Borrowed(PixelView<'a>),
    /// A converted copy (16-bit and float images).
    Owned {
        /// Columns.
        width: usize,
        /// Rows.
        height: usize,
        /// Layout of `data`.
        layout: PixelLayout,
        /// Pixels.
        data: Vec<u8>,
    },
}

impl Pixels<'_> {
    /// A view for hashing.
    pub fn view(&self) -> PixelView<'_> {
        match self {
            Pixels::Borrowed(v) => *v,
            Pixels::Owned {
                width,
                height,
                layout,
                data,
            } => PixelView {
                width: *width,
                height: *height,
                layout: *layout,
                data,
            },
        }
    }
}

/// The 8-bit pixels the reference pipeline (Pillow `convert("RGB")`) would hash. 16-bit samples
/// keep their high byte, as Pillow does for 16-bit colour; Pillow clips 16-bit grey to 255
/// instead, which whitens nearly every such image, so hashguard deliberately scales it the same
/// way as colour.
pub fn pixels_for_hashing(img: &DynamicImage) -> Pixels<'_> {
    let (width, height) = (img.width() as usize, img.height() as usize);
    let borrowed = |layout, data| {
        Pixels::Borrowed(PixelView {
            width,
            height,
            layout,
            data,
        })
    };
    let high_bytes = |layout, data: &[u16]| Pixels::Owned {
        width,
        height,
        layout,
        data: data.iter().map(|v| (v >> 8) as u8).collect(),
    };
    match img {
        DynamicImage::ImageRgb8(b) => borrowed(PixelLayout::Rgb8, b.as_raw().as_slice()),
        DynamicImage::ImageRgba8(b) => borrowed(PixelLayout::Rgba8, b.as_raw().as_slice()),
        DynamicImage::ImageLuma8(b) => borrowed(PixelLayout::Gray8, b.as_raw().as_slice()),
        DynamicImage::ImageLumaA8(b) => borrowed(PixelLayout::GrayAlpha8, b.as_raw().as_slice()),
        DynamicImage::ImageRgb16(b) => high_bytes(PixelLayout::Rgb8, b.as_raw()),
        DynamicImage::ImageRgba16(b) => high_bytes(PixelLayout::Rgba8, b.as_raw()),
        DynamicImage::ImageLuma16(b) => high_bytes(PixelLayout::Gray8, b.as_raw()),
        DynamicImage::ImageLumaA16(b) => high_bytes(PixelLayout::GrayAlpha8, b.as_raw()),
        other => Pixels::Owned {
            width,
            height,
            layout: PixelLayout::Rgb8,
            data: other.to_rgb8().into_raw(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_byte_pnm_magic_alone_is_not_an_image() {
        assert_eq!(sniff(b"P4\xff\x00random"), Format::Unknown);
        assert_eq!(sniff(b"P6\n3 2\n255\n"), Format::UnsupportedImage("pbm"));
    }

    #[test]
    fn dimension_bomb_is_refused_from_the_header() {
        let err = decode_image(
            &crate::synth::png_bomb_bytes(60_000, 60_000),
            &Limits::default(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
        let limits = Limits {
            max_pixels: 1000,
            ..Limits::default()
        };
        let err = decode_image(&crate::synth::png_bomb_bytes(100, 100), &limits).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TooLarge {
                    width: 100,
                    height: 100,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn sniffing_is_by_content() {
        assert_eq!(sniff(b""), Format::Unknown);
        assert_eq!(sniff(b"hello world, not media"), Format::Unknown);
        assert_eq!(
            sniff(&crate::synth::png_bomb_bytes(1, 1)),
            Format::Image(ImageFormat::Png)
        );
        assert_eq!(
            sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"),
            Format::Image(ImageFormat::Jpeg)
        );
        assert_eq!(
            sniff(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00").kind(),
            MediaKind::Video
        );
        assert_eq!(
            sniff(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00"),
            Format::UnsupportedImage("heif")
        );
        assert_eq!(sniff(b"RIFF\x00\x00\x00\x00AVI LIST"), Format::Video("avi"));
    }

    #[test]
    fn truncated_png_is_a_decode_error() {
        let img = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, ImageFormat::Png).unwrap();
        let bytes = buf.into_inner();
        assert!(decode_image(&bytes, &Limits::default()).is_ok());
        let err = decode_image(&bytes[..bytes.len() / 2], &Limits::default()).unwrap_err();
        assert!(matches!(err, Error::Decode { format: "png", .. }), "{err}");
        let err = decode_image(b"not an image", &Limits::default()).unwrap_err();
        assert!(
            matches!(err, Error::Unsupported { format: "unknown" }),
            "{err}"
        );
    }

    #[test]
    fn sixteen_bit_keeps_the_high_byte() {
        let img = DynamicImage::ImageRgb16(
            image::ImageBuffer::from_raw(
                2,
                1,
                vec![0x00ff, 0x0100, 0x7f80, 0xfeff, 0xff00, 0xffff],
            )
            .unwrap(),
        );
        let px = pixels_for_hashing(&img);
        assert_eq!(px.view().data, &[0, 1, 0x7f, 0xfe, 0xff, 0xff]);
        assert_eq!(px.view().layout, PixelLayout::Rgb8);
    }
}

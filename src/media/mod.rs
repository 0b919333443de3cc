//! Media recognition and decoding under explicit limits. Recognises files by content, never by
//! name. An image too large to decode whole is decoded to a reduced copy (JPEG by DCT scaling,
//! PNG by streaming rows into an area average), so memory stays bounded whatever its size; only
//! headers past a hard cap, or claiming more pixels than the file can hold, are refused, from
//! the header, before any pixel buffer is allocated.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use serde::{Deserialize, Serialize};

use crate::hashing::{PixelLayout, PixelView};

pub mod animation;
mod heif;
mod jpeg;
mod reduce;
pub mod video;

pub use animation::{Animation, AnimationLimits, animation_frames, is_animated};

pub use video::{
    Cap, Sampling, VideoError, VideoFrame, VideoHashes, VideoLimits, VideoOptions,
    hash_video_bytes, hash_video_fd, hash_video_file,
};

/// Runs the decoders' one-time set-up now (library initialisation that may read files), so
/// that a sandboxed decoder worker can refuse file access from its first job on.
pub fn warm_up() {
    video::init();
    heif::init();
}

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
    /// HEIF (HEIC) or AVIF, decoded through libheif: `"heif"` or `"avif"`.
    Heif(&'static str),
    /// An image format recognised but not decoded (JPEG 2000, OpenEXR, …), named.
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
            Format::Image(_) | Format::Heif(_) | Format::UnsupportedImage(_) => MediaKind::Image,
            Format::Video(_) => MediaKind::Video,
            Format::Unknown => MediaKind::Other,
        }
    }

    /// A short lowercase name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Image(f) => f.extensions_str().first().copied().unwrap_or("image"),
            Format::Heif(n) | Format::UnsupportedImage(n) | Format::Video(n) => n,
            Format::Unknown => "unknown",
        }
    }
}

/// Limits that bound the work and memory one file may cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Widest image decoded whole, in pixels; wider JPEGs and PNGs are reduced.
    pub max_width: u32,
    /// Tallest image decoded whole, in pixels; taller JPEGs and PNGs are reduced.
    pub max_height: u32,
    /// Most pixels (width × height) decoded whole; larger JPEGs and PNGs are reduced.
    pub max_pixels: u64,
    /// Most bytes the decoder may allocate for one image.
    pub max_alloc: u64,
    /// Most pixels a reduced copy has.
    pub reduce_to_pixels: u64,
    /// Hard cap on the pixels an image may declare at all: past it (or past what the file's
    /// bytes can hold) the header is absurd and the image is refused without decoding.
    pub max_declared_pixels: u64,
    /// Caps for the frames of animated images.
    pub animation: AnimationLimits,
    /// Largest file read into memory to be decoded; larger files still get their digests (and
    /// videos are then decoded from their path).
    pub max_file_bytes: u64,
    /// Caps for videos.
    pub video: VideoLimits,
}

impl Default for Limits {
    /// 16,384 px a side and 80 megapixels decoded whole (phone cameras reach 50 MP, 8K video
    /// frames 33 MP); 1 GiB of decoder memory (80 MP of 16-bit RGBA is 640 MB); larger images
    /// reduced to at most 16 MP (PDQ works on 64×64, so detail is not what is lost); a hard cap
    /// of 1 gigapixel; 256 MiB files.
    fn default() -> Self {
        Limits {
            max_width: 16_384,
            max_height: 16_384,
            max_pixels: 80_000_000,
            max_alloc: 1 << 30,
            reduce_to_pixels: 16_000_000,
            max_declared_pixels: 1_000_000_000,
            animation: AnimationLimits::default(),
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

/// Recognises the format from the first bytes of a file (16 bytes are enough; 32 tell AVIF
/// from HEIC when the major brand is the generic `mif1`).
pub fn sniff(head: &[u8]) -> Format {
    if head.is_empty() {
        return Format::Unknown;
    }
    // ISO base media (MP4, MOV, 3GP, HEIF, AVIF) share `ftyp`; the brand says which.
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return match &head[8..12] {
            b"avif" | b"avis" => Format::Heif("avif"),
            b"mif1" | b"msf1" => {
                // The generic HEIF brand: the compatible brands that follow it say AV1 or not.
                let box_end = (u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize)
                    .min(head.len());
                let brands = head.get(16..box_end).unwrap_or_default();
                if brands.chunks(4).any(|b| b == b"avif" || b == b"avis") {
                    Format::Heif("avif")
                } else {
                    Format::Heif("heif")
                }
            }
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" => Format::Heif("heif"),
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

/// A decoded still image (the first frame of an animation).
#[derive(Debug, Clone)]
pub struct Still {
    /// The pixels: the whole image, or its reduced copy.
    pub image: DynamicImage,
    /// The declared `(width, height)` when `image` is a reduced copy.
    pub reduced_from: Option<(u32, u32)>,
}

/// Decodes an image from memory. Animated formats give their first frame; JPEGs and PNGs too
/// large to decode whole give a reduced copy. The header is checked against `limits` before any
/// pixel buffer is allocated.
pub fn decode_image(bytes: &[u8], limits: &Limits) -> Result<DynamicImage, Error> {
    decode_still(bytes, limits).map(|s| s.image)
}

/// [`decode_image`], also saying whether the image was reduced.
pub fn decode_still(bytes: &[u8], limits: &Limits) -> Result<Still, Error> {
    let whole = |image| Still {
        image,
        reduced_from: None,
    };
    let format = match sniff(bytes) {
        Format::Image(f) => f,
        Format::Heif(name) => {
            check_file_size(bytes, limits)?;
            return heif::decode(bytes, name, limits).map(whole);
        }
        other => {
            return Err(Error::Unsupported {
                format: other.name(),
            });
        }
    };
    let name = Format::Image(format).name();
    check_file_size(bytes, limits)?;
    if format == ImageFormat::Jpeg
        && let Some(result) = jpeg::decode(bytes, limits)
    {
        return result;
    }
    if format == ImageFormat::Png
        && let Some((width, height)) = reduce::png_dimensions(bytes)
        && check_size(name, width, height, 3, limits).is_err()
    {
        return reduce::png(bytes, width, height, limits);
    }
    decode_whole(bytes, format, limits).map(whole)
}

fn check_file_size(bytes: &[u8], limits: &Limits) -> Result<(), Error> {
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(Error::FileTooLarge {
            size: bytes.len() as u64,
            limit: limits.max_file_bytes,
        });
    }
    Ok(())
}

/// Decodes a whole image with the `image` crate's decoders.
fn decode_whole(bytes: &[u8], format: ImageFormat, limits: &Limits) -> Result<DynamicImage, Error> {
    let name = Format::Image(format).name();
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

/// Refuses a header whose size is past the hard cap, whatever reduction could do.
fn check_declared(
    format: &'static str,
    width: u32,
    height: u32,
    limits: &Limits,
) -> Result<(), Error> {
    if u64::from(width) * u64::from(height) > limits.max_declared_pixels {
        return Err(Error::TooLarge {
            format,
            width,
            height,
            limit: format!(
                "{} pixels max, even reduced (an absurd header)",
                limits.max_declared_pixels
            ),
        });
    }
    Ok(())
}

/// True when a reduced copy of `width` × `height` fits every limit on whole images and has at
/// most `reduce_to_pixels` pixels.
fn fits_reduced(width: u64, height: u64, limits: &Limits) -> bool {
    width <= u64::from(limits.max_width)
        && height <= u64::from(limits.max_height)
        && width * height <= limits.reduce_to_pixels.min(limits.max_pixels)
}

pub(crate) fn image_error(format: &'static str, e: image::ImageError) -> Error {
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
        // Past the hard cap nothing is decoded, not even reduced.
        let limits = Limits {
            max_pixels: 1000,
            max_declared_pixels: 5000,
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
    fn a_png_over_the_limits_is_reduced_and_a_lying_one_refused() {
        let img = image::RgbImage::from_fn(300, 200, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, ImageFormat::Png).unwrap();
        let limits = Limits {
            max_pixels: 10_000,
            reduce_to_pixels: 10_000,
            ..Limits::default()
        };
        let still = decode_still(buf.get_ref(), &limits).unwrap();
        assert_eq!(still.reduced_from, Some((300, 200)));
        // 300×200 needs k = 3 for 100×67 = 6,700 pixels (k = 2 gives 15,000).
        assert_eq!((still.image.width(), still.image.height()), (100, 67));
        // The first cell averages x 0..3, y 0..3: red (0+1+2)/3 = 1, green 1, blue 9.
        assert_eq!(&still.image.as_bytes()[..3], &[1, 1, 9]);
        // A 20000×20000 header over a few bytes of data cannot be real: refused, not decoded.
        let err = decode_still(
            &crate::synth::png_bomb_bytes(20_000, 20_000),
            &Limits::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::TooLarge { width: 20_000, .. }),
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
            Format::Heif("heif")
        );
        assert_eq!(
            sniff(b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf"),
            Format::Heif("avif")
        );
        assert_eq!(
            sniff(b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic"),
            Format::Heif("heif")
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

//! Animated GIF, WebP and PNG (APNG) as frame sequences: every frame is composited onto its
//! canvas (by the `image` crate's decoders), hashed with PDQ at the time its delays give, and
//! matched like a video frame, so that a known image hidden as a later frame is still found.

use std::io::Cursor;

use image::codecs::gif::GifDecoder;
use image::codecs::png::PngDecoder;
use image::codecs::webp::WebPDecoder;
use image::{AnimationDecoder, Frames, ImageDecoder, ImageFormat};
use serde::{Deserialize, Serialize};

use super::{Error, Limits, VideoFrame, check_size, image_error};
use crate::hashing::{PixelLayout, PixelView, with_pdq_hasher};

/// Caps on the frames of one animated image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnimationLimits {
    /// Most frames hashed.
    pub max_frames: u64,
    /// Most pixels decoded over all frames (canvas size × frames).
    pub max_total_pixels: u64,
}

impl Default for AnimationLimits {
    /// 10,000 frames and 2 gigapixels (2,000 frames of a 1-megapixel canvas): more than any
    /// sticker or clip, and about 20 s of decoding at the most.
    fn default() -> Self {
        AnimationLimits {
            max_frames: 10_000,
            max_total_pixels: 2_000_000_000,
        }
    }
}

/// The frames of an animated image, hashed.
#[derive(Debug, Clone, PartialEq)]
pub struct Animation {
    /// Every frame hashed, in order, with its start time from the delays before it.
    pub frames: Vec<VideoFrame>,
    /// Total running time, in seconds (the sum of every hashed frame's delay).
    pub duration: f64,
    /// Why hashing stopped before the last frame: a cap reached, or damage, described.
    pub stopped: Option<Stopped>,
}

/// Why an animation's frames were not all hashed.
#[derive(Debug, Clone, PartialEq)]
pub enum Stopped {
    /// A cap on frames or pixels.
    Cap(String),
    /// A frame could not be decoded.
    Damaged(String),
}

/// True when the image holds more than one frame; judged from its structure, without decoding
/// pixels, so that still images pay nothing for it.
pub fn is_animated(bytes: &[u8], format: ImageFormat) -> bool {
    match format {
        ImageFormat::Gif => gif_has_two_images(bytes),
        // VP8X header flags: bit 1 is "animation".
        ImageFormat::WebP => bytes.len() > 20 && &bytes[12..16] == b"VP8X" && bytes[20] & 0x02 != 0,
        // Any acTL: even with one frame, that frame may not be the default image (IDAT), which
        // is all a still decode would see.
        ImageFormat::Png => apng_frames(bytes) >= 1,
        _ => false,
    }
}

/// Walks a GIF's blocks (the decoder offers no frame count short of decoding every frame).
fn gif_has_two_images(b: &[u8]) -> bool {
    let table = |packed: u8| {
        if packed & 0x80 != 0 {
            3usize << ((packed & 7) + 1)
        } else {
            0
        }
    };
    let Some(&packed) = b.get(10) else {
        return false;
    };
    let mut at = 13 + table(packed);
    // Skips data sub-blocks (length-prefixed, ended by a zero length).
    let skip_blocks = |mut at: usize| -> Option<usize> {
        loop {
            let n = *b.get(at)? as usize;
            at += 1 + n;
            if n == 0 {
                return Some(at);
            }
        }
    };
    let mut images = 0;
    loop {
        match b.get(at) {
            Some(0x21) => match skip_blocks(at + 2) {
                Some(next) => at = next,
                None => return false,
            },
            Some(0x2C) => {
                images += 1;
                if images == 2 {
                    return true;
                }
                let Some(&packed) = b.get(at + 9) else {
                    return false;
                };
                // Descriptor (10 bytes), local colour table, LZW code size, then data.
                match skip_blocks(at + 10 + table(packed) + 1) {
                    Some(next) => at = next,
                    None => return false,
                }
            }
            _ => return false,
        }
    }
}

/// The frame count an APNG's `acTL` chunk declares (0 when it has none, before its image data).
fn apng_frames(b: &[u8]) -> u32 {
    let mut at = 8;
    while at + 8 <= b.len() {
        let len = u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize;
        match &b[at + 4..at + 8] {
            b"acTL" if at + 12 <= b.len() => {
                return u32::from_be_bytes([b[at + 8], b[at + 9], b[at + 10], b[at + 11]]);
            }
            b"IDAT" | b"IEND" => return 0,
            _ => at = at.saturating_add(12).saturating_add(len),
        }
    }
    0
}

/// Decodes and hashes every frame of an animated GIF, WebP or PNG, one frame in memory at a
/// time. Frames hashed before a cap or a damaged frame are kept; `stopped` says why the rest
/// were not.
pub fn animation_frames(
    bytes: &[u8],
    format: ImageFormat,
    limits: &Limits,
) -> Result<Animation, Error> {
    let name = super::Format::Image(format).name();
    let mut lim = image::Limits::default();
    lim.max_alloc = Some(limits.max_alloc);
    let cursor = Cursor::new(bytes);
    let err = |e| image_error(name, e);
    let (canvas, frames): ((u32, u32), Frames<'_>) = match format {
        ImageFormat::Gif => {
            let mut d = GifDecoder::new(cursor).map_err(err)?;
            d.set_limits(lim).map_err(err)?;
            (d.dimensions(), d.into_frames())
        }
        ImageFormat::WebP => {
            let mut d = WebPDecoder::new(cursor).map_err(err)?;
            d.set_limits(lim).map_err(err)?;
            (d.dimensions(), d.into_frames())
        }
        ImageFormat::Png => {
            let mut d = PngDecoder::new(cursor).map_err(err)?;
            d.set_limits(lim).map_err(err)?;
            let dims = d.dimensions();
            (dims, d.apng().map_err(err)?.into_frames())
        }
        _ => return Err(Error::Unsupported { format: name }),
    };
    // Frames are composited onto the full canvas, as RGBA.
    check_size(name, canvas.0, canvas.1, 4, limits)?;
    let canvas_pixels = u64::from(canvas.0) * u64::from(canvas.1);
    let caps = &limits.animation;
    let mut out = Animation {
        frames: Vec::new(),
        duration: 0.0,
        stopped: None,
    };
    let mut start_ms = 0.0f64;
    for (number, frame) in frames.enumerate() {
        let number = number as u64;
        if number >= caps.max_frames {
            out.stopped = Some(Stopped::Cap(format!(
                "more than {} frames",
                caps.max_frames
            )));
            break;
        }
        if (number + 1).saturating_mul(canvas_pixels) > caps.max_total_pixels {
            out.stopped = Some(Stopped::Cap(format!(
                "more than {} pixels over all frames",
                caps.max_total_pixels
            )));
            break;
        }
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                out.stopped = Some(Stopped::Damaged(format!("frame {number}: {e}")));
                break;
            }
        };
        let (num, den) = frame.delay().numer_denom_ms();
        let delay_ms = if den == 0 {
            0.0
        } else {
            f64::from(num) / f64::from(den)
        };
        let buffer = frame.into_buffer();
        let view = PixelView {
            width: buffer.width() as usize,
            height: buffer.height() as usize,
            layout: PixelLayout::Rgba8,
            data: buffer.as_raw(),
        };
        match with_pdq_hasher(|h| h.hash(&view)) {
            Ok(o) => out.frames.push(VideoFrame {
                number,
                ts_ms: start_ms.round() as u64,
                pdq: o.hash,
                quality: o.quality,
            }),
            Err(e) => {
                out.stopped = Some(Stopped::Damaged(format!("frame {number}: {e}")));
                break;
            }
        }
        start_ms += delay_ms;
    }
    out.duration = start_ms / 1000.0;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gif_block_walk_counts_images() {
        // Header, screen descriptor without a colour table, one extension, then images.
        let mut gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00".to_vec();
        gif.extend_from_slice(b"\x21\xf9\x04\x00\x00\x00\x00\x00");
        let image = b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00";
        gif.extend_from_slice(image);
        let mut one = gif.clone();
        one.push(0x3b);
        assert!(!gif_has_two_images(&one));
        gif.extend_from_slice(image);
        gif.push(0x3b);
        assert!(gif_has_two_images(&gif));
        assert!(!gif_has_two_images(b"GIF89a"));
    }
}

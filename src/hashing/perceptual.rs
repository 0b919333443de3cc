//! 64-bit pHash and dHash, computed with the maintained `image_hasher` crate.
//!
//! Variants (they do not bit-match Python `imagehash`, whose resampling and grey conversion
//! differ; compare hashguard hashes only with hashguard hashes):
//! Images larger than 64 px on a side are first area-averaged (`image`'s `thumbnail`) to fit
//! 64 px, keeping the aspect ratio (imagehash itself works from 32×32).
//! - dHash: `image_hasher` `Gradient`, 8×8: grey (Rec. 709 luma), Lanczos3 resize to 9×8, bit =
//!   right neighbour brighter than left, row-major, most significant bit first (imagehash's
//!   bit convention).
//! - pHash: `image_hasher` `Median` with DCT preprocessing, 8×8: grey, Lanczos3 resize to 16×16,
//!   2-D DCT-II, the low-frequency 8×8 block (DC included), bit = coefficient ≥ median, row-major,
//!   most significant bit first.

use std::sync::LazyLock;

use image::DynamicImage;
use image_hasher::{BitOrder, HashAlg, Hasher, HasherConfig};

use super::types::{DHash, PHash};

static PHASHER: LazyLock<Hasher<[u8; 8]>> = LazyLock::new(|| {
    HasherConfig::with_bytes_type::<[u8; 8]>()
        .hash_size(8, 8)
        .hash_alg(HashAlg::Median)
        .preproc_dct()
        .bit_order(BitOrder::MsbFirst)
        .to_hasher()
});

static DHASHER: LazyLock<Hasher<[u8; 8]>> = LazyLock::new(|| {
    HasherConfig::with_bytes_type::<[u8; 8]>()
        .hash_size(8, 8)
        .hash_alg(HashAlg::Gradient)
        .bit_order(BitOrder::MsbFirst)
        .to_hasher()
});

/// Largest side the perceptual hashers see. Both end at 16×16 or 9×8, and their Lanczos3 resize
/// costs in proportion to the source, so larger images are first area-averaged down to this
/// (part of hashguard's variant definition; it cut pHash+dHash at 512×512 from 4.1 to ~0.5 ms).
const PRESHRINK_SIDE: u32 = 64;

fn prepared(img: &DynamicImage) -> std::borrow::Cow<'_, DynamicImage> {
    let (w, h) = (img.width(), img.height());
    if w <= PRESHRINK_SIDE && h <= PRESHRINK_SIDE {
        return std::borrow::Cow::Borrowed(img);
    }
    let scale = f64::from(w.max(h)) / f64::from(PRESHRINK_SIDE);
    let (nw, nh) = (
        ((f64::from(w) / scale) as u32).max(1),
        ((f64::from(h) / scale) as u32).max(1),
    );
    // `thumbnail` is an integer area average: every source pixel lands in exactly one target.
    std::borrow::Cow::Owned(img.thumbnail_exact(nw, nh))
}

/// pHash and dHash of a decoded image.
pub fn phash_dhash(img: &DynamicImage) -> (PHash, DHash) {
    let img = prepared(img);
    let p = PHASHER.hash_image(img.as_ref());
    let d = DHASHER.hash_image(img.as_ref());
    (
        PHash(u64::from_be_bytes(*p.as_bytes_array())),
        DHash(u64::from_be_bytes(*d.as_bytes_array())),
    )
}

/// pHash of a decoded image.
pub fn phash(img: &DynamicImage) -> PHash {
    let p = PHASHER.hash_image(prepared(img).as_ref());
    PHash(u64::from_be_bytes(*p.as_bytes_array()))
}

/// dHash of a decoded image.
pub fn dhash(img: &DynamicImage) -> DHash {
    let d = DHASHER.hash_image(prepared(img).as_ref());
    DHash(u64::from_be_bytes(*d.as_bytes_array()))
}

trait AsArray {
    fn as_bytes_array(&self) -> &[u8; 8];
}

impl AsArray for image_hasher::ImageHash<[u8; 8]> {
    fn as_bytes_array(&self) -> &[u8; 8] {
        // The hasher was built with an 8-byte container, so this slice is exactly 8 bytes.
        self.as_bytes().try_into().unwrap_or(&[0u8; 8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(crate::synth::render(
            crate::synth::Pattern::Shapes,
            w,
            h,
            11,
            0,
        ))
    }

    #[test]
    fn dhash_of_left_to_right_ramp_is_mostly_ones() {
        let ramp = DynamicImage::ImageLuma8(image::GrayImage::from_fn(90, 80, |x, _| {
            image::Luma([(x * 2) as u8])
        }));
        assert!(dhash(&ramp).0.count_ones() >= 60, "{:016x}", dhash(&ramp).0);
        let back = DynamicImage::ImageLuma8(image::GrayImage::from_fn(90, 80, |x, _| {
            image::Luma([(255 - x * 2) as u8])
        }));
        assert!(dhash(&back).0.count_ones() <= 4);
    }

    #[test]
    fn resize_barely_moves_hashes_and_mirror_moves_them() {
        let a = shapes(1200, 900);
        let small = DynamicImage::ImageRgba8(image::imageops::resize(
            &a,
            600,
            450,
            image::imageops::FilterType::Triangle,
        ));
        let (pa, da) = phash_dhash(&a);
        let (ps, ds) = phash_dhash(&small);
        assert!(pa.distance(&ps) <= 6, "phash {}", pa.distance(&ps));
        assert!(da.distance(&ds) <= 6, "dhash {}", da.distance(&ds));
        let (pm, dm) = phash_dhash(&a.fliph());
        assert!(pa.distance(&pm) > 10 && da.distance(&dm) > 10);
        assert_eq!(phash(&a), pa);
        assert_eq!(dhash(&a), da);
    }
}

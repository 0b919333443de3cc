use super::*;
use proptest::prelude::*;

/// A direct transcription of the reference's data flow (full buffers, one sample at a time),
/// used to check that the restructured filter computes the same floats.
fn naive_64x64(img: &PixelView<'_>) -> [[f32; 64]; 64] {
    let (w, h) = (img.width, img.height);
    let mut a = vec![0f32; w * h];
    for y in 0..h {
        img.luma_row(y, &mut a[y * w..(y + 1) * w]);
    }
    let mut b = vec![0f32; w * h];
    let box1d =
        |src: &[f32], dst: &mut [f32], start: usize, n: usize, stride: usize, win: usize| {
            let half = (win + 2) / 2;
            let (p1, p2, p3, p4) = (half - 1, win - half + 1, n - win, half - 1);
            let (mut li, mut ri, mut oi, mut cur, mut sum) = (0, 0, 0, 0usize, 0f32);
            let at = |i: usize| start + i * stride;
            for _ in 0..p1 {
                sum += src[at(ri)];
                cur += 1;
                ri += 1;
            }
            for _ in 0..p2 {
                sum += src[at(ri)];
                cur += 1;
                dst[at(oi)] = sum / cur as f32;
                ri += 1;
                oi += 1;
            }
            for _ in 0..p3 {
                sum += src[at(ri)];
                sum -= src[at(li)];
                dst[at(oi)] = sum / cur as f32;
                li += 1;
                ri += 1;
                oi += 1;
            }
            for _ in 0..p4 {
                sum -= src[at(li)];
                cur -= 1;
                dst[at(oi)] = sum / cur as f32;
                li += 1;
                oi += 1;
            }
        };
    let (wr, wc) = (jarosz_window(w), jarosz_window(h));
    for _ in 0..2 {
        for y in 0..h {
            box1d(&a, &mut b, y * w, w, 1, wr);
        }
        for x in 0..w {
            box1d(&b, &mut a, x, h, w, wc);
        }
    }
    let (ri, ci) = (decimation_indices(h), decimation_indices(w));
    std::array::from_fn(|i| std::array::from_fn(|j| a[ri[i] * w + ci[j]]))
}

fn image(w: usize, h: usize, seed: u64) -> Vec<u8> {
    // A smooth pattern plus hashed noise, so both the filter and the median see variety.
    (0..w * h * 3)
        .map(|i| {
            let (p, c) = (i / 3, i % 3);
            let (x, y) = ((p % w) as f64, (p / w) as f64);
            let smooth =
                128.0 + 100.0 * ((x * 0.05 + c as f64).sin() * (y * 0.031 + seed as f64).cos());
            let noise = (i as u64)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(seed)
                >> 60;
            (smooth as u64 + noise).min(255) as u8
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn fast_filter_equals_naive_reference_flow(w in 5usize..300, h in 5usize..300, seed in any::<u64>()) {
        let data = image(w, h, seed);
        let view = PixelView { width: w, height: h, layout: PixelLayout::Rgb8, data: &data };
        let mut fast = [[0f32; 64]; 64];
        PdqHasher::new().downsample(&view, &mut fast);
        let naive = naive_64x64(&view);
        for i in 0..64 {
            for j in 0..64 {
                prop_assert_eq!(fast[i][j].to_bits(), naive[i][j].to_bits(), "at {},{} for {}x{}", i, j, w, h);
            }
        }
    }
}

#[test]
fn tiny_images_hash_to_zero() {
    let data = vec![200u8; 4 * 100 * 3];
    let out = pdq(&PixelView {
        width: 4,
        height: 100,
        layout: PixelLayout::Rgb8,
        data: &data,
    })
    .unwrap();
    assert!(out.hash.is_zero());
    assert_eq!(out.quality, 0);
}

#[test]
fn wrong_buffer_size_is_an_error() {
    let data = vec![0u8; 10];
    let err = pdq(&PixelView {
        width: 10,
        height: 10,
        layout: PixelLayout::Gray8,
        data: &data,
    })
    .unwrap_err();
    assert!(matches!(
        err,
        PdqError::BufferSize {
            expected: 100,
            got: 10,
            ..
        }
    ));
}

#[test]
fn half_the_bits_are_set_and_dihedral_original_is_the_hash() {
    let data = image(200, 150, 7);
    let view = PixelView {
        width: 200,
        height: 150,
        layout: PixelLayout::Rgb8,
        data: &data,
    };
    let mut hasher = PdqHasher::new();
    let out = hasher.hash(&view).unwrap();
    let ones: u32 = out.hash.0.iter().map(|b| b.count_ones()).sum();
    assert_eq!(ones, 128);
    let (all, q) = hasher.hash_dihedral(&view).unwrap();
    assert_eq!(all[0], out.hash);
    assert_eq!(q, out.quality);
}

#[test]
fn dihedral_variants_match_transformed_pixels() {
    // A square image rotated/flipped in pixel space must hash (nearly) like the DCT-derived
    // variant; the filter is not exactly symmetric, so allow a few bits.
    type Map = fn(usize, usize, usize) -> (usize, usize);
    let n = 256;
    let data = image(n, n, 3);
    let mut hasher = PdqHasher::new();
    let (variants, _) = hasher
        .hash_dihedral(&PixelView {
            width: n,
            height: n,
            layout: PixelLayout::Rgb8,
            data: &data,
        })
        .unwrap();
    let cases: [(Dihedral, Map); 3] = [
        (Dihedral::Rotate180, |x, y, n| (n - 1 - x, n - 1 - y)),
        (Dihedral::FlipY, |x, y, n| (n - 1 - x, y)),
        (Dihedral::FlipPlus1, |x, y, _| (y, x)),
    ];
    for (which, map) in cases {
        let mut moved = vec![0u8; n * n * 3];
        for y in 0..n {
            for x in 0..n {
                let (sx, sy) = map(x, y, n);
                moved[(y * n + x) * 3..(y * n + x) * 3 + 3]
                    .copy_from_slice(&data[(sy * n + sx) * 3..(sy * n + sx) * 3 + 3]);
            }
        }
        let h = hasher
            .hash(&PixelView {
                width: n,
                height: n,
                layout: PixelLayout::Rgb8,
                data: &moved,
            })
            .unwrap()
            .hash;
        let idx = Dihedral::ALL.iter().position(|d| *d == which).unwrap();
        assert!(
            h.distance(&variants[idx]) <= 16,
            "{which:?}: {}",
            h.distance(&variants[idx])
        );
    }
}

#[test]
fn buffers_grown_by_a_very_large_image_are_released_after_it() {
    let small = image(64, 48, 1);
    fn view(data: &[u8], w: usize, h: usize) -> PixelView<'_> {
        PixelView {
            width: w,
            height: h,
            layout: PixelLayout::Gray8,
            data: &data[..w * h],
        }
    }
    // 24 MP: the luma buffers alone are well over the 64 MiB kept.
    let (w, h) = (6000, 4000);
    let big = vec![128u8; w * h];
    let expected = pdq(&view(&small, 64, 48)).unwrap();
    let kept = std::thread::spawn(move || {
        with_pdq_hasher(|hs| hs.hash(&view(&big, w, h))).unwrap();
        let after_big = with_pdq_hasher(|hs| hs.buffer_bytes());
        let again = with_pdq_hasher(|hs| hs.hash(&view(&small, 64, 48))).unwrap();
        (after_big, again)
    })
    .join()
    .unwrap();
    assert_eq!(kept.0, 0, "released after the large image");
    assert_eq!(kept.1, expected, "and hashing goes on as before");
}

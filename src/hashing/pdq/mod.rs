//! PDQ, Meta's 256-bit perceptual hash, bit-compatible with the reference implementation.
//!
//! Follows the published algorithm (ThreatExchange `pdq/README` and `hashing.pdf`): luma, two
//! passes of Jarosz box filters (rows then columns) down to 64×64 by decimation, a 16×16 DCT
//! without the DC row/column, and one bit per coefficient above the median. Every floating-point
//! operation is done in the same order and precision as the reference so that hashes agree bit
//! for bit; the speed comes from the memory layout (filters run across many rows or columns at
//! once, so the compiler vectorises them without reordering any single sum), and from computing
//! the last two filter passes only where the decimation samples them.
//!
//! Written by hand because the Rust crates that exist differ from the reference by many bits.

use std::sync::LazyLock;

use super::types::PdqHash;

/// Images smaller than this in either dimension get the all-zero hash and quality 0, as in the
/// reference.
pub const MIN_HASHABLE_DIM: usize = 5;

/// Quality below which a PDQ hash is flagged as low quality (too flat or featureless).
pub const LOW_QUALITY_THRESHOLD: u8 = 50;

/// A PDQ hash and its quality score (0–100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdqOutput {
    /// The 256-bit hash.
    pub hash: PdqHash,
    /// Image-domain gradient quality, 0–100, as the reference computes it.
    pub quality: u8,
}

/// The eight rotations and flips of an image, in the reference's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dihedral {
    /// The image as it is.
    Original,
    /// Rotated 90° counter-clockwise.
    Rotate90,
    /// Rotated 180°.
    Rotate180,
    /// Rotated 270° counter-clockwise (90° clockwise).
    Rotate270,
    /// Flipped about the horizontal axis.
    FlipX,
    /// Flipped about the vertical axis (mirror).
    FlipY,
    /// Flipped about the main diagonal (transpose).
    FlipPlus1,
    /// Flipped about the anti-diagonal.
    FlipMinus1,
}

impl Dihedral {
    /// All eight, in the reference's order.
    pub const ALL: [Dihedral; 8] = [
        Dihedral::Original,
        Dihedral::Rotate90,
        Dihedral::Rotate180,
        Dihedral::Rotate270,
        Dihedral::FlipX,
        Dihedral::FlipY,
        Dihedral::FlipPlus1,
        Dihedral::FlipMinus1,
    ];
}

/// How pixels are laid out in a [`PixelView`]: 8 bits per channel, rows tightly packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelLayout {
    /// Red, green, blue.
    Rgb8,
    /// Red, green, blue, alpha (alpha ignored, as Pillow's `convert("RGB")` does).
    Rgba8,
    /// Grey.
    Gray8,
    /// Grey and alpha (alpha ignored).
    GrayAlpha8,
}

impl PixelLayout {
    /// Bytes per pixel.
    pub fn channels(self) -> usize {
        match self {
            PixelLayout::Rgb8 => 3,
            PixelLayout::Rgba8 => 4,
            PixelLayout::Gray8 => 1,
            PixelLayout::GrayAlpha8 => 2,
        }
    }
}

/// A borrowed 8-bit image to hash.
#[derive(Debug, Clone, Copy)]
pub struct PixelView<'a> {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Channel layout.
    pub layout: PixelLayout,
    /// `width * height * layout.channels()` bytes, row-major.
    pub data: &'a [u8],
}

/// Why pixels could not be hashed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdqError {
    /// The pixel buffer does not hold `width × height` pixels of the given layout.
    #[error("pixel buffer holds {got} bytes, {width}x{height} {layout:?} needs {expected}")]
    BufferSize {
        /// Columns.
        width: usize,
        /// Rows.
        height: usize,
        /// Layout.
        layout: PixelLayout,
        /// Bytes the image needs.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
}

// Luma exactly as the reference's Python binding computes it: numpy multiplies the uint8 channels
// by Python floats in float64, sums left to right, then casts to float32. Tables give the same
// float64 products.
static LUMA_R: LazyLock<[f64; 256]> = LazyLock::new(|| std::array::from_fn(|v| v as f64 * 0.299));
static LUMA_G: LazyLock<[f64; 256]> = LazyLock::new(|| std::array::from_fn(|v| v as f64 * 0.587));
static LUMA_B: LazyLock<[f64; 256]> = LazyLock::new(|| std::array::from_fn(|v| v as f64 * 0.114));
static LUMA_GRAY: LazyLock<[f32; 256]> =
    LazyLock::new(|| std::array::from_fn(|v| (LUMA_R[v] + LUMA_G[v] + LUMA_B[v]) as f32));

thread_local! {
    // One set of work buffers per thread: the hot path allocates nothing per image or frame.
    static THREAD_HASHER: std::cell::RefCell<PdqHasher> = std::cell::RefCell::new(PdqHasher::new());
}

/// Work buffers larger than this (bytes) are released after the image that grew them: a
/// thread that once hashed a 200 MP image must not keep 1.6 GB for the small ones that follow.
/// 64 MiB covers a 1080p video frame's buffers many times over, so frames never reallocate.
const KEEP_BUFFER_BYTES: usize = 64 << 20;

/// Runs `f` with this thread's reusable [`PdqHasher`].
pub fn with_pdq_hasher<R>(f: impl FnOnce(&mut PdqHasher) -> R) -> R {
    THREAD_HASHER.with(|h| {
        let mut h = h.borrow_mut();
        let r = f(&mut h);
        if h.buffer_bytes() > KEEP_BUFFER_BYTES {
            *h = PdqHasher::new();
        }
        r
    })
}

/// The reference's 16×64 DCT-II basis without the DC row: float32 entries computed in double.
static DCT: LazyLock<[[f32; 64]; 16]> = LazyLock::new(|| {
    let scale = (2.0f64 / 64.0).sqrt() as f32;
    let mut d = [[0f32; 64]; 16];
    for (i, row) in d.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            let angle = (std::f64::consts::PI / 2.0 / 64.0) * (i + 1) as f64 * (2 * j + 1) as f64;
            *v = (scale as f64 * angle.cos()) as f32;
        }
    }
    d
});

impl PixelView<'_> {
    fn check(&self) -> Result<(), PdqError> {
        let expected = self.width * self.height * self.layout.channels();
        if self.data.len() != expected {
            return Err(PdqError::BufferSize {
                width: self.width,
                height: self.height,
                layout: self.layout,
                expected,
                got: self.data.len(),
            });
        }
        Ok(())
    }

    /// Writes the float luma of row `y` into `out` (length `width`).
    fn luma_row(&self, y: usize, out: &mut [f32]) {
        let ch = self.layout.channels();
        let row = &self.data[y * self.width * ch..(y + 1) * self.width * ch];
        match self.layout {
            PixelLayout::Rgb8 | PixelLayout::Rgba8 => {
                let (r, g, b) = (&*LUMA_R, &*LUMA_G, &*LUMA_B);
                for (o, px) in out.iter_mut().zip(row.chunks_exact(ch)) {
                    *o = (r[px[0] as usize] + g[px[1] as usize] + b[px[2] as usize]) as f32;
                }
            }
            PixelLayout::Gray8 | PixelLayout::GrayAlpha8 => {
                let t = &*LUMA_GRAY;
                for (o, px) in out.iter_mut().zip(row.chunks_exact(ch)) {
                    *o = t[px[0] as usize];
                }
            }
        }
    }
}

/// Reusable work buffers, so hashing many images allocates once per thread.
#[derive(Default)]
pub struct PdqHasher {
    full_a: Vec<f32>,
    full_b: Vec<f32>,
    strip: Vec<f32>,
    row: Vec<f32>,
    sums: Vec<f32>,
    cols64: Vec<f32>,
}

/// Rows filtered together in a row pass: independent running sums the compiler keeps in vector
/// registers. 16 lanes fill two AVX or four SSE registers.
const LANES: usize = 16;

impl PdqHasher {
    /// A hasher with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes its work buffers hold (their capacity).
    pub fn buffer_bytes(&self) -> usize {
        [
            &self.full_a,
            &self.full_b,
            &self.strip,
            &self.row,
            &self.sums,
            &self.cols64,
        ]
        .iter()
        .map(|v| v.capacity() * std::mem::size_of::<f32>())
        .sum()
    }

    /// Hash of the image, as the reference's `pdqhash.compute` gives it.
    pub fn hash(&mut self, img: &PixelView<'_>) -> Result<PdqOutput, PdqError> {
        let (dct, quality) = self.dct16(img)?;
        Ok(PdqOutput {
            hash: bits_from_dct(&dct),
            quality,
        })
    }

    /// Hashes of all eight rotations and flips (in [`Dihedral::ALL`] order) and the quality.
    pub fn hash_dihedral(&mut self, img: &PixelView<'_>) -> Result<([PdqHash; 8], u8), PdqError> {
        let (dct, quality) = self.dct16(img)?;
        Ok((dihedral_from_dct(&dct), quality))
    }

    /// The 16×16 DCT coefficients and quality; all zero for images under the minimum size.
    fn dct16(&mut self, img: &PixelView<'_>) -> Result<([[f32; 16]; 16], u8), PdqError> {
        img.check()?;
        let (w, h) = (img.width, img.height);
        if w < MIN_HASHABLE_DIM || h < MIN_HASHABLE_DIM {
            return Ok(([[0.0; 16]; 16], 0));
        }
        let mut a64 = [[0f32; 64]; 64];
        if w == 64 && h == 64 {
            // The reference hashes a 64×64 luma as it is, without filtering.
            let mut row = [0f32; 64];
            for (y, out) in a64.iter_mut().enumerate() {
                img.luma_row(y, &mut row);
                *out = row;
            }
        } else {
            self.downsample(img, &mut a64);
        }
        let quality = quality(&a64);
        Ok((dct64_to_16(&a64), quality))
    }

    /// The reference's Jarosz filter (rows, columns, rows, columns) and 64×64 decimation.
    fn downsample(&mut self, img: &PixelView<'_>, out: &mut [[f32; 64]; 64]) {
        let (w, h) = (img.width, img.height);
        let win_rows = jarosz_window(w);
        let win_cols = jarosz_window(h);
        let pick_cols = decimation_indices(w);
        let pick_rows = decimation_indices(h);
        resize(&mut self.full_a, w * h);
        resize(&mut self.full_b, w * h);
        resize(&mut self.strip, w * LANES);
        resize(&mut self.row, w);
        resize(&mut self.sums, w);
        resize(&mut self.cols64, h * 64);

        // Pass 1: rows of luma -> full_a.
        {
            let full_a = &mut self.full_a;
            let row = &mut self.row;
            rows_pass(
                &mut self.strip,
                w,
                h,
                win_rows,
                |y, dst| {
                    img.luma_row(y, row);
                    dst.copy_from_slice(row);
                },
                |y, oi, v| full_a[y * w + oi] = v,
            );
        }
        // Pass 2: columns of full_a -> full_b.
        {
            let full_b = &mut self.full_b;
            cols_pass(
                &self.full_a,
                w,
                h,
                win_cols,
                &mut self.sums,
                |oi, sums, n| {
                    for (o, s) in full_b[oi * w..(oi + 1) * w].iter_mut().zip(sums) {
                        *o = s / n;
                    }
                },
            );
        }
        // Pass 3: rows of full_b, kept only at the 64 sampled columns -> cols64 (h × 64).
        {
            let full_b = &self.full_b;
            let cols64 = &mut self.cols64;
            rows_pass_sampled(
                &mut self.strip,
                w,
                h,
                win_rows,
                &pick_cols,
                |y, dst| {
                    dst.copy_from_slice(&full_b[y * w..(y + 1) * w]);
                },
                |y, j, v| cols64[y * 64 + j] = v,
            );
        }
        // Pass 4: columns of cols64, kept only at the 64 sampled rows -> out.
        let mut next = 0;
        resize(&mut self.sums, 64);
        cols_pass(
            &self.cols64,
            64,
            h,
            win_cols,
            &mut self.sums,
            |oi, sums, n| {
                while next < 64 && pick_rows[next] == oi {
                    for (o, s) in out[next].iter_mut().zip(sums) {
                        *o = s / n;
                    }
                    next += 1;
                }
            },
        );
    }
}

fn resize(v: &mut Vec<f32>, n: usize) {
    v.clear();
    v.resize(n, 0.0);
}

/// Box window that the reference uses to go from `old` samples to 64.
fn jarosz_window(old: usize) -> usize {
    old.div_ceil(2 * 64)
}

/// The reference's decimation: sample `floor((i + 0.5) * old / 64)` for i in 0..64.
fn decimation_indices(old: usize) -> [usize; 64] {
    std::array::from_fn(|i| (((i as f64 + 0.5) * old as f64) / 64.0) as usize)
}

/// One step of the running-sum box filter.
#[derive(Clone, Copy)]
enum Op {
    /// Add input sample `i` to the running sums.
    Add(usize),
    /// Subtract input sample `i` from the running sums.
    Sub(usize),
    /// Output `o` is the running sums divided by the window length `n`.
    Emit(usize, f32),
}

/// The four phases of the reference's running-sum box filter over `n` samples, as a sequence of
/// [`Op`]s (inlined, so each call site compiles to plain loops).
#[inline(always)]
fn box_phases(n: usize, window: usize, mut step: impl FnMut(Op)) {
    let half = (window + 2) / 2;
    let (p1, p2, p3, p4) = (
        half - 1,
        window - half + 1,
        n.saturating_sub(window),
        half - 1,
    );
    let (mut li, mut ri, mut oi, mut cur) = (0, 0, 0, 0usize);
    for _ in 0..p1 {
        step(Op::Add(ri));
        cur += 1;
        ri += 1;
    }
    for _ in 0..p2 {
        step(Op::Add(ri));
        cur += 1;
        step(Op::Emit(oi, cur as f32));
        ri += 1;
        oi += 1;
    }
    for _ in 0..p3 {
        step(Op::Add(ri));
        step(Op::Sub(li));
        step(Op::Emit(oi, cur as f32));
        li += 1;
        ri += 1;
        oi += 1;
    }
    for _ in 0..p4 {
        step(Op::Sub(li));
        cur -= 1;
        step(Op::Emit(oi, cur as f32));
        li += 1;
        oi += 1;
    }
}

/// Box filter along every row, `LANES` rows at a time. `fill(y, dst)` writes source row `y`;
/// `store(y, x, v)` receives every output.
#[inline(always)]
fn rows_pass(
    strip: &mut [f32],
    w: usize,
    h: usize,
    window: usize,
    fill: impl FnMut(usize, &mut [f32]),
    mut store: impl FnMut(usize, usize, f32),
) {
    for_each_strip(strip, w, h, fill, |y0, lanes, strip| {
        let mut sums = [0f32; LANES];
        box_phases(w, window, |op| match op {
            Op::Add(i) => add_lanes(&mut sums, &strip[i * LANES..(i + 1) * LANES]),
            Op::Sub(i) => sub_lanes(&mut sums, &strip[i * LANES..(i + 1) * LANES]),
            Op::Emit(oi, n) => {
                for (l, s) in sums.iter().enumerate().take(lanes) {
                    store(y0 + l, oi, s / n);
                }
            }
        });
    });
}

/// Box filter along every row, keeping only the outputs at the columns `pick` (nondecreasing);
/// `store(y, j, v)` receives the output for `pick[j]`. Divisions are skipped where unused.
#[inline(always)]
fn rows_pass_sampled(
    strip: &mut [f32],
    w: usize,
    h: usize,
    window: usize,
    pick: &[usize; 64],
    fill: impl FnMut(usize, &mut [f32]),
    mut store: impl FnMut(usize, usize, f32),
) {
    for_each_strip(strip, w, h, fill, |y0, lanes, strip| {
        let mut sums = [0f32; LANES];
        let mut next = 0;
        box_phases(w, window, |op| match op {
            Op::Add(i) => add_lanes(&mut sums, &strip[i * LANES..(i + 1) * LANES]),
            Op::Sub(i) => sub_lanes(&mut sums, &strip[i * LANES..(i + 1) * LANES]),
            Op::Emit(oi, n) => {
                while next < 64 && pick[next] == oi {
                    for (l, s) in sums.iter().enumerate().take(lanes) {
                        store(y0 + l, next, s / n);
                    }
                    next += 1;
                }
            }
        });
    });
}

/// Loads rows in strips of `LANES`, transposed so that sample `x` of the strip's rows is
/// contiguous (`strip[x * LANES + lane]`), and calls `run(first_row, rows_in_strip, strip)`.
#[inline(always)]
fn for_each_strip(
    strip: &mut [f32],
    w: usize,
    h: usize,
    mut fill: impl FnMut(usize, &mut [f32]),
    mut run: impl FnMut(usize, usize, &[f32]),
) {
    let mut row = vec![0f32; w];
    let mut y0 = 0;
    while y0 < h {
        let lanes = LANES.min(h - y0);
        for l in 0..LANES {
            if l < lanes {
                fill(y0 + l, &mut row);
            } else {
                row.fill(0.0);
            }
            for (x, v) in row.iter().enumerate() {
                strip[x * LANES + l] = *v;
            }
        }
        run(y0, lanes, strip);
        y0 += lanes;
    }
}

#[inline(always)]
fn add_lanes(sums: &mut [f32; LANES], v: &[f32]) {
    for (s, x) in sums.iter_mut().zip(v) {
        *s += *x;
    }
}

#[inline(always)]
fn sub_lanes(sums: &mut [f32; LANES], v: &[f32]) {
    for (s, x) in sums.iter_mut().zip(v) {
        *s -= *x;
    }
}

/// Box filter down every column of the `w`-wide `src`, all columns at once; `emit(oi, sums, n)`
/// gets the running sums for output row `oi` and the window length to divide by.
#[inline(always)]
fn cols_pass(
    src: &[f32],
    w: usize,
    h: usize,
    window: usize,
    sums: &mut [f32],
    mut emit: impl FnMut(usize, &[f32], f32),
) {
    sums.fill(0.0);
    let row = |i: usize| &src[i * w..(i + 1) * w];
    box_phases(h, window, |op| match op {
        Op::Add(i) => {
            for (s, x) in sums.iter_mut().zip(row(i)) {
                *s += *x;
            }
        }
        Op::Sub(i) => {
            for (s, x) in sums.iter_mut().zip(row(i)) {
                *s -= *x;
            }
        }
        Op::Emit(oi, n) => emit(oi, sums, n),
    });
}

/// The reference's image-domain quality: sum of truncated scaled gradients over the 64×64.
fn quality(a: &[[f32; 64]; 64]) -> u8 {
    let grad = |u: f32, v: f32| ((((u - v) * 100.0) / 255.0) as i32).abs();
    let mut sum: i32 = 0;
    for (upper, lower) in a.iter().zip(&a[1..]) {
        for (u, v) in upper.iter().zip(lower) {
            sum += grad(*u, *v);
        }
    }
    for row in a {
        for pair in row.windows(2) {
            sum += grad(pair[0], pair[1]);
        }
    }
    (sum / 90).min(100) as u8
}

/// B = D·A·Dᵀ with every dot product summed in the reference's order (k ascending from 0.0).
fn dct64_to_16(a: &[[f32; 64]; 64]) -> [[f32; 16]; 16] {
    let d = &*DCT;
    let mut t = [[0f32; 64]; 16];
    for (ti, di) in t.iter_mut().zip(d) {
        for (k, ak) in a.iter().enumerate() {
            let dik = di[k];
            for (tij, akj) in ti.iter_mut().zip(ak) {
                *tij += dik * *akj;
            }
        }
    }
    let mut b = [[0f32; 16]; 16];
    for (bi, ti) in b.iter_mut().zip(&t) {
        for k in 0..64 {
            let tik = ti[k];
            for (bij, dj) in bi.iter_mut().zip(d) {
                *bij += tik * dj[k];
            }
        }
    }
    b
}

/// One bit per coefficient strictly above the lower median (the value Torben's algorithm returns
/// for 256 values), packed in the reference's hex order.
fn bits_from_dct(b: &[[f32; 16]; 16]) -> PdqHash {
    let mut flat: Vec<f32> = b.iter().flatten().copied().collect();
    let (_, median, _) = flat.select_nth_unstable_by(127, f32::total_cmp);
    let median = *median;
    // Reference layout: 16 words of 16 bits, word i = row i, bit j = column j; hex prints word 15
    // first, each word big-endian.
    let mut out = [0u8; 32];
    for (i, row) in b.iter().enumerate() {
        let word = row
            .iter()
            .enumerate()
            .filter(|(_, v)| **v > median)
            .fold(0u16, |w, (j, _)| w | (1 << j));
        out[2 * (15 - i)..2 * (15 - i) + 2].copy_from_slice(&word.to_be_bytes());
    }
    PdqHash(out)
}

/// The eight dihedral hashes from the DCT of the original, by the reference's sign/transpose
/// rules (a DCT basis function of odd frequency changes sign under a flip).
fn dihedral_from_dct(a: &[[f32; 16]; 16]) -> [PdqHash; 8] {
    let transform = |transpose: bool, neg: &dyn Fn(usize, usize) -> bool| {
        let mut b = [[0f32; 16]; 16];
        for i in 0..16 {
            for j in 0..16 {
                let v = if neg(i, j) { -a[i][j] } else { a[i][j] };
                if transpose {
                    b[j][i] = v;
                } else {
                    b[i][j] = v;
                }
            }
        }
        bits_from_dct(&b)
    };
    let odd = |x: usize| x & 1 == 1;
    [
        bits_from_dct(a),
        transform(true, &|_, j| !odd(j)),
        transform(false, &|i, j| odd(i + j)),
        transform(true, &|i, _| !odd(i)),
        transform(false, &|i, _| !odd(i)),
        transform(false, &|_, j| !odd(j)),
        transform(true, &|_, _| false),
        transform(true, &|i, j| odd(i + j)),
    ]
}

/// Hash of an 8-bit image with a fresh hasher (use [`PdqHasher`] to reuse buffers).
pub fn pdq(img: &PixelView<'_>) -> Result<PdqOutput, PdqError> {
    PdqHasher::new().hash(img)
}

#[cfg(test)]
mod tests;

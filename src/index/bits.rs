//! Fixed-width bit strings the index works on: 256-bit PDQ and 64-bit pHash/dHash.

use crate::hashing::{DHash, PHash, PdqHash};

/// A hash compared by Hamming distance. Bit 0 is the most significant bit of the hex form.
pub trait HashBits: Copy + Eq + Send + Sync + std::fmt::Debug + 'static {
    /// Width in bits.
    const BITS: u32;

    /// Number of differing bits.
    fn distance(&self, other: &Self) -> u32;

    /// Bits `start..start + len` (`len` ≤ 32) as an integer, first bit most significant.
    fn substring(&self, start: u32, len: u32) -> u32;

    /// Bytes as stored on disk (big-endian, hex order).
    fn to_bytes(&self) -> Vec<u8>;

    /// Inverse of [`HashBits::to_bytes`]; `None` when the length is wrong.
    fn from_bytes(b: &[u8]) -> Option<Self>;

    /// True when every bit is equal (all zero or all one): such a hash matches nothing
    /// meaningful.
    fn is_degenerate(&self) -> bool;
}

/// 256 bits as four big-endian words (see [`PdqHash::words`]).
pub type Bits256 = [u64; 4];

impl HashBits for Bits256 {
    const BITS: u32 = 256;

    #[inline(always)]
    fn distance(&self, other: &Self) -> u32 {
        (self[0] ^ other[0]).count_ones()
            + (self[1] ^ other[1]).count_ones()
            + (self[2] ^ other[2]).count_ones()
            + (self[3] ^ other[3]).count_ones()
    }

    #[inline(always)]
    fn substring(&self, start: u32, len: u32) -> u32 {
        let (w, off) = ((start / 64) as usize, start % 64);
        let hi = self[w] << off;
        let window = if off + len <= 64 || w == 3 {
            hi
        } else {
            hi | (self[w + 1] >> (64 - off))
        };
        (window >> (64 - len)) as u32
    }

    fn to_bytes(&self) -> Vec<u8> {
        self.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        (b.len() == 32).then(|| PdqHash(b.try_into().unwrap_or([0; 32])).words())
    }

    fn is_degenerate(&self) -> bool {
        *self == [0; 4] || *self == [u64::MAX; 4]
    }
}

impl HashBits for u64 {
    const BITS: u32 = 64;

    #[inline(always)]
    fn distance(&self, other: &Self) -> u32 {
        (self ^ other).count_ones()
    }

    #[inline(always)]
    fn substring(&self, start: u32, len: u32) -> u32 {
        ((self << start) >> (64 - len)) as u32
    }

    fn to_bytes(&self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        b.try_into().ok().map(u64::from_be_bytes)
    }

    fn is_degenerate(&self) -> bool {
        *self == 0 || *self == u64::MAX
    }
}

impl From<PdqHash> for Bits256 {
    fn from(h: PdqHash) -> Self {
        h.words()
    }
}

impl From<PHash> for u64 {
    fn from(h: PHash) -> Self {
        h.0
    }
}

impl From<DHash> for u64 {
    fn from(h: DHash) -> Self {
        h.0
    }
}

/// Calls `f` with every `bits`-bit value within Hamming distance `radius` of `key`, nearest
/// first (Gosper's hack enumerates the flip masks of each weight).
#[inline]
pub fn for_each_within(key: u32, bits: u32, radius: u32, mut f: impl FnMut(u32)) {
    let limit = 1u64 << bits;
    for k in 0..=radius.min(bits) {
        let mut mask: u64 = (1u64 << k) - 1;
        loop {
            f(key ^ mask as u32);
            if mask == 0 {
                break;
            }
            let c = mask & mask.wrapping_neg();
            let r = mask + c;
            mask = (((r ^ mask) >> 2) / c) | r;
            if mask >= limit {
                break;
            }
        }
    }
}

/// Number of values within `radius` of a `bits`-bit key: Σ C(bits, k) for k ≤ radius.
pub fn ball_size(bits: u32, radius: u32) -> u64 {
    let mut total = 0u64;
    let mut c = 1u64;
    for k in 0..=radius.min(bits) {
        total += c;
        c = c * u64::from(bits - k) / u64::from(k + 1);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bit(h: &Bits256, i: u32) -> u32 {
        ((h[(i / 64) as usize] >> (63 - i % 64)) & 1) as u32
    }

    proptest! {
        #[test]
        fn substring_reads_the_right_bits(h in any::<[u64; 4]>(), start in 0u32..256, len in 1u32..=32) {
            prop_assume!(start + len <= 256);
            let want = (0..len).fold(0u32, |acc, i| (acc << 1) | bit(&h, start + i));
            prop_assert_eq!(h.substring(start, len), want);
        }

        #[test]
        fn substring64(h in any::<u64>(), start in 0u32..64, len in 1u32..=32) {
            prop_assume!(start + len <= 64);
            let want = (0..len).fold(0u32, |acc, i| (acc << 1) | ((h >> (63 - start - i)) & 1) as u32);
            prop_assert_eq!(h.substring(start, len), want);
        }

        #[test]
        fn ball_enumeration_is_exact(key in any::<u32>(), bits in 1u32..=12, radius in 0u32..=4) {
            let key = key & ((1u32 << bits) - 1);
            let mut seen = Vec::new();
            for_each_within(key, bits, radius, |k| seen.push(k));
            let mut want: Vec<u32> = (0..1u32 << bits).filter(|v| (v ^ key).count_ones() <= radius).collect();
            prop_assert_eq!(seen.len() as u64, ball_size(bits, radius));
            seen.sort_unstable();
            want.sort_unstable();
            prop_assert_eq!(seen, want);
        }
    }

    #[test]
    fn bytes_round_trip() {
        let h: Bits256 = [1, 2, 3, u64::MAX];
        assert_eq!(Bits256::from_bytes(&h.to_bytes()), Some(h));
        assert_eq!(u64::from_bytes(&7u64.to_bytes()), Some(7));
        assert_eq!(u64::from_bytes(&[1, 2]), None);
    }
}

//! Hash value types: one newtype per hash kind, with hex parse/format and Hamming distance.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a hex string is not a valid hash of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseHashError {
    /// The string has the wrong number of hex characters for this kind.
    #[error("{kind} hash must be {expected} hex characters, got {got}")]
    WrongLength {
        /// The hash kind that was being parsed.
        kind: HashKind,
        /// Hex characters a hash of this kind has.
        expected: usize,
        /// Characters in the input.
        got: usize,
    },
    /// The string contains a character that is not a hex digit.
    #[error("{kind} hash has a non-hex character at position {position}")]
    BadHex {
        /// The hash kind that was being parsed.
        kind: HashKind,
        /// 0-based character index of the first bad character.
        position: usize,
    },
    /// The name is not one of the hash kinds hashguard knows.
    #[error("unknown hash kind {name:?} (expected one of pdq, phash, dhash, md5, sha1, sha256)")]
    UnknownKind {
        /// The name that was given.
        name: String,
    },
}

/// The kinds of hash hashguard computes and matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashKind {
    /// Meta's 256-bit PDQ perceptual hash.
    Pdq,
    /// 64-bit DCT perceptual hash.
    Phash,
    /// 64-bit difference (gradient) hash.
    Dhash,
    /// MD5 digest of the file bytes.
    Md5,
    /// SHA-1 digest of the file bytes.
    Sha1,
    /// SHA-256 digest of the file bytes.
    Sha256,
    /// A whole video as vPDQ frames; its hash is [`VpdqDigest`], the SHA-256 of the frames'
    /// canonical form, and it is matched through its frames, never by that digest.
    Vpdq,
}

impl HashKind {
    /// Every kind, in the canonical output order.
    pub const ALL: [HashKind; 7] = [
        HashKind::Pdq,
        HashKind::Phash,
        HashKind::Dhash,
        HashKind::Md5,
        HashKind::Sha1,
        HashKind::Sha256,
        HashKind::Vpdq,
    ];

    /// The lowercase name used in the CLI, files and the API.
    pub fn name(self) -> &'static str {
        match self {
            HashKind::Pdq => "pdq",
            HashKind::Phash => "phash",
            HashKind::Dhash => "dhash",
            HashKind::Md5 => "md5",
            HashKind::Sha1 => "sha1",
            HashKind::Sha256 => "sha256",
            HashKind::Vpdq => "vpdq",
        }
    }

    /// Number of hex characters in a hash of this kind.
    pub fn hex_len(self) -> usize {
        match self {
            HashKind::Pdq | HashKind::Sha256 | HashKind::Vpdq => 64,
            HashKind::Phash | HashKind::Dhash => 16,
            HashKind::Md5 => 32,
            HashKind::Sha1 => 40,
        }
    }

    /// True for kinds matched within a Hamming radius, false for exact digests.
    pub fn is_perceptual(self) -> bool {
        matches!(self, HashKind::Pdq | HashKind::Phash | HashKind::Dhash)
    }

    /// True for kinds that need the media decoded (not just the bytes read).
    pub fn needs_decode(self) -> bool {
        self.is_perceptual() || self == HashKind::Vpdq
    }

    /// True for the digests of the file bytes, matched exactly (MD5, SHA-1, SHA-256).
    pub fn is_digest(self) -> bool {
        matches!(self, HashKind::Md5 | HashKind::Sha1 | HashKind::Sha256)
    }
}

impl fmt::Display for HashKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashKind {
    type Err = ParseHashError;
    /// A kind by its name, case-insensitively; HMA's `video_md5` (the MD5 of a video file) is
    /// `md5`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("video_md5") || s.eq_ignore_ascii_case("video-md5") {
            return Ok(HashKind::Md5);
        }
        HashKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseHashError::UnknownKind {
                name: s.to_string(),
            })
    }
}

/// Decodes `s` as exactly `N` bytes of hex (either case) for a hash of `kind`.
fn parse_hex<const N: usize>(kind: HashKind, s: &str) -> Result<[u8; N], ParseHashError> {
    let got = s.chars().count();
    if got != 2 * N || s.len() != 2 * N {
        return Err(ParseHashError::WrongLength {
            kind,
            expected: 2 * N,
            got,
        });
    }
    if let Some(position) = s.bytes().position(|b| !b.is_ascii_hexdigit()) {
        return Err(ParseHashError::BadHex { kind, position });
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| ParseHashError::BadHex { kind, position: 0 })?;
    Ok(out)
}

/// Defines a fixed-size byte hash newtype with hex I/O and serde as a lowercase hex string.
macro_rules! byte_hash {
    ($(#[$doc:meta])* $name:ident, $kind:expr, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// The hash kind of this type.
            pub const KIND: HashKind = $kind;

            /// Lowercase hex, as written in lists and reports.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// The raw bytes, in hex order.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ParseHashError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex::<$len>($kind, s).map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

byte_hash!(
    /// MD5 digest (16 bytes).
    Md5Digest, HashKind::Md5, 16
);
byte_hash!(
    /// SHA-1 digest (20 bytes).
    Sha1Digest, HashKind::Sha1, 20
);
byte_hash!(
    /// SHA-256 digest (32 bytes).
    Sha256Digest, HashKind::Sha256, 32
);
byte_hash!(
    /// PDQ hash (256 bits). Byte 0 is the first two hex characters of Meta's reference format.
    PdqHash, HashKind::Pdq, 32
);
byte_hash!(
    /// The identity of a listed video: SHA-256 of its frames' canonical form
    /// (`lists::video::VideoEntry::digest`).
    VpdqDigest, HashKind::Vpdq, 32
);

impl PdqHash {
    /// Number of bits in a PDQ hash.
    pub const BITS: u32 = 256;

    /// The hash as four big-endian 64-bit words (word 0 = the first 16 hex characters).
    pub fn words(&self) -> [u64; 4] {
        std::array::from_fn(|i| {
            u64::from_be_bytes(self.0[i * 8..i * 8 + 8].try_into().unwrap_or_default())
        })
    }

    /// Builds a hash from four big-endian 64-bit words (inverse of [`PdqHash::words`]).
    pub fn from_words(words: [u64; 4]) -> Self {
        let mut out = [0u8; 32];
        for (chunk, w) in out.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_be_bytes());
        }
        PdqHash(out)
    }

    /// Number of differing bits.
    pub fn distance(&self, other: &PdqHash) -> u32 {
        let (a, b) = (self.words(), other.words());
        (0..4).map(|i| (a[i] ^ b[i]).count_ones()).sum()
    }

    /// True for the all-zero hash the reference gives images too small or flat to hash.
    pub fn is_zero(&self) -> bool {
        self.0 == [0u8; 32]
    }
}

/// Defines a 64-bit perceptual hash newtype with hex I/O, serde and Hamming distance.
macro_rules! hash64 {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u64);

        impl $name {
            /// The hash kind of this type.
            pub const KIND: HashKind = $kind;

            /// 16 lowercase hex characters, most significant bit first.
            pub fn to_hex(&self) -> String {
                format!("{:016x}", self.0)
            }

            /// Number of differing bits.
            pub fn distance(&self, other: &$name) -> u32 {
                (self.0 ^ other.0).count_ones()
            }
        }

        impl FromStr for $name {
            type Err = ParseHashError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex::<8>($kind, s).map(|b| $name(u64::from_be_bytes(b)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hash64!(
    /// 64-bit DCT perceptual hash (see `hashing::perceptual` for the exact variant).
    PHash, HashKind::Phash
);
hash64!(
    /// 64-bit difference hash (see `hashing::perceptual` for the exact variant).
    DHash, HashKind::Dhash
);

/// A hash of any kind, as read from a list or a query line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnyHash {
    /// A PDQ hash.
    Pdq(PdqHash),
    /// A pHash.
    Phash(PHash),
    /// A dHash.
    Dhash(DHash),
    /// An MD5 digest.
    Md5(Md5Digest),
    /// A SHA-1 digest.
    Sha1(Sha1Digest),
    /// A SHA-256 digest.
    Sha256(Sha256Digest),
    /// A listed video's identity (its frames travel beside it, see `lists::video`).
    Vpdq(VpdqDigest),
}

impl AnyHash {
    /// Parses `hex` as a hash of `kind`.
    pub fn parse(kind: HashKind, hex: &str) -> Result<Self, ParseHashError> {
        Ok(match kind {
            HashKind::Pdq => AnyHash::Pdq(hex.parse()?),
            HashKind::Phash => AnyHash::Phash(hex.parse()?),
            HashKind::Dhash => AnyHash::Dhash(hex.parse()?),
            HashKind::Md5 => AnyHash::Md5(hex.parse()?),
            HashKind::Sha1 => AnyHash::Sha1(hex.parse()?),
            HashKind::Sha256 => AnyHash::Sha256(hex.parse()?),
            HashKind::Vpdq => AnyHash::Vpdq(hex.parse()?),
        })
    }

    /// Parses `kind:hex`, the typed form used on query lines.
    pub fn parse_typed(s: &str) -> Result<Self, ParseHashError> {
        let (kind, hex) = s
            .split_once(':')
            .ok_or_else(|| ParseHashError::UnknownKind {
                name: s.to_string(),
            })?;
        AnyHash::parse(kind.parse()?, hex.trim())
    }

    /// The kind of this hash.
    pub fn kind(&self) -> HashKind {
        match self {
            AnyHash::Pdq(_) => HashKind::Pdq,
            AnyHash::Phash(_) => HashKind::Phash,
            AnyHash::Dhash(_) => HashKind::Dhash,
            AnyHash::Md5(_) => HashKind::Md5,
            AnyHash::Sha1(_) => HashKind::Sha1,
            AnyHash::Sha256(_) => HashKind::Sha256,
            AnyHash::Vpdq(_) => HashKind::Vpdq,
        }
    }
}

impl fmt::Display for AnyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyHash::Pdq(h) => h.fmt(f),
            AnyHash::Phash(h) => h.fmt(f),
            AnyHash::Dhash(h) => h.fmt(f),
            AnyHash::Md5(h) => h.fmt(f),
            AnyHash::Sha1(h) => h.fmt(f),
            AnyHash::Sha256(h) => h.fmt(f),
            AnyHash::Vpdq(h) => h.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wrong_length_is_a_typed_error() {
        let err = "abcd".parse::<PdqHash>().unwrap_err();
        assert_eq!(
            err,
            ParseHashError::WrongLength {
                kind: HashKind::Pdq,
                expected: 64,
                got: 4
            }
        );
        let err = "00".repeat(17).parse::<Md5Digest>().unwrap_err();
        assert_eq!(
            err,
            ParseHashError::WrongLength {
                kind: HashKind::Md5,
                expected: 32,
                got: 34
            }
        );
    }

    #[test]
    fn bad_hex_names_the_position() {
        let s = format!("{}g{}", "0".repeat(10), "0".repeat(5));
        assert_eq!(
            s.parse::<PHash>().unwrap_err(),
            ParseHashError::BadHex {
                kind: HashKind::Phash,
                position: 10
            }
        );
        // A multi-byte character must not be mistaken for two hex digits.
        let s = format!("é{}", "0".repeat(14));
        assert!(s.parse::<DHash>().is_err());
    }

    #[test]
    fn upper_case_is_accepted_and_written_lower() {
        let h: Md5Digest = "D41D8CD98F00B204E9800998ECF8427E".parse().unwrap();
        assert_eq!(h.to_hex(), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn typed_parse() {
        let h = AnyHash::parse_typed("sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709").unwrap();
        assert_eq!(h.kind(), HashKind::Sha1);
        let h = AnyHash::parse_typed("video_md5:900150983cd24fb0d6963f7d28e17f72").unwrap();
        assert_eq!(h.kind(), HashKind::Md5, "HMA's video_md5 is the file's MD5");
        assert!(matches!(
            AnyHash::parse_typed("crc32:00").unwrap_err(),
            ParseHashError::UnknownKind { .. }
        ));
    }

    fn pdq() -> impl Strategy<Value = PdqHash> {
        any::<[u8; 32]>().prop_map(PdqHash)
    }

    proptest! {
        #[test]
        fn pdq_hex_round_trip(h in pdq()) {
            let s = h.to_hex();
            prop_assert_eq!(s.len(), 64);
            prop_assert_eq!(s.parse::<PdqHash>().unwrap(), h);
            prop_assert_eq!(PdqHash::from_words(h.words()), h);
        }

        #[test]
        fn hash64_hex_round_trip(v in any::<u64>()) {
            prop_assert_eq!(PHash(v).to_hex().parse::<PHash>().unwrap(), PHash(v));
            prop_assert_eq!(DHash(v).to_hex().parse::<DHash>().unwrap(), DHash(v));
        }

        #[test]
        fn digest_hex_round_trip(b in any::<[u8; 20]>()) {
            let h = Sha1Digest(b);
            prop_assert_eq!(h.to_hex().to_uppercase().parse::<Sha1Digest>().unwrap(), h);
        }

        #[test]
        fn hamming_is_a_metric(a in pdq(), b in pdq(), c in pdq()) {
            prop_assert_eq!(a.distance(&a), 0);
            prop_assert_eq!(a.distance(&b), b.distance(&a));
            prop_assert!(a.distance(&c) <= a.distance(&b) + b.distance(&c));
            prop_assert_eq!(a.distance(&b) == 0, a == b);
        }

        #[test]
        fn hamming64_is_a_metric(a in any::<u64>(), b in any::<u64>(), c in any::<u64>()) {
            let (a, b, c) = (PHash(a), PHash(b), PHash(c));
            prop_assert_eq!(a.distance(&b), b.distance(&a));
            prop_assert!(a.distance(&c) <= a.distance(&b) + b.distance(&c));
        }

        #[test]
        fn distance_counts_flipped_bits(h in pdq(), bits in proptest::collection::btree_set(0usize..256, 0..40)) {
            let mut flipped = h;
            for &b in &bits {
                flipped.0[b / 8] ^= 1 << (b % 8);
            }
            prop_assert_eq!(h.distance(&flipped) as usize, bits.len());
        }
    }
}

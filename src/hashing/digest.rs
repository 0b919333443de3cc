//! Exact digests (MD5, SHA-1, SHA-256) of file bytes, computed in one streamed pass.

use std::io::{self, Read};

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::types::{Md5Digest, Sha1Digest, Sha256Digest};

/// The three exact digests police and industry lists use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Digests {
    /// MD5 of the bytes.
    pub md5: Md5Digest,
    /// SHA-1 of the bytes.
    pub sha1: Sha1Digest,
    /// SHA-256 of the bytes.
    pub sha256: Sha256Digest,
}

/// Which digests to compute; skipping ones not asked for saves time on large files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DigestSet {
    /// Compute MD5.
    pub md5: bool,
    /// Compute SHA-1.
    pub sha1: bool,
    /// Compute SHA-256.
    pub sha256: bool,
}

impl DigestSet {
    /// All three.
    pub const ALL: DigestSet = DigestSet {
        md5: true,
        sha1: true,
        sha256: true,
    };
    /// None.
    pub const NONE: DigestSet = DigestSet {
        md5: false,
        sha1: false,
        sha256: false,
    };

    /// True when no digest is wanted.
    pub fn is_empty(&self) -> bool {
        !(self.md5 || self.sha1 || self.sha256)
    }
}

/// Digests that were asked for; the others are `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartialDigests {
    /// MD5, if asked for.
    pub md5: Option<Md5Digest>,
    /// SHA-1, if asked for.
    pub sha1: Option<Sha1Digest>,
    /// SHA-256, if asked for.
    pub sha256: Option<Sha256Digest>,
}

/// Incremental digester: feed chunks with [`Digester::update`], then [`Digester::finish`].
#[derive(Clone)]
pub struct Digester {
    md5: Option<Md5>,
    sha1: Option<Sha1>,
    sha256: Option<Sha256>,
    len: u64,
}

/// Chunk size for interleaving the three hashers: small enough to stay in L1/L2 between them.
const CHUNK: usize = 64 * 1024;

impl Digester {
    /// A digester computing the digests in `set`.
    pub fn new(set: DigestSet) -> Self {
        Digester {
            md5: set.md5.then(Md5::new),
            sha1: set.sha1.then(Sha1::new),
            sha256: set.sha256.then(Sha256::new),
            len: 0,
        }
    }

    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        for chunk in data.chunks(CHUNK) {
            if let Some(h) = &mut self.md5 {
                h.update(chunk);
            }
            if let Some(h) = &mut self.sha1 {
                h.update(chunk);
            }
            if let Some(h) = &mut self.sha256 {
                h.update(chunk);
            }
        }
        self.len += data.len() as u64;
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing has been fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digests that were asked for.
    pub fn finish(self) -> PartialDigests {
        PartialDigests {
            md5: self.md5.map(|h| Md5Digest(h.finalize().into())),
            sha1: self.sha1.map(|h| Sha1Digest(h.finalize().into())),
            sha256: self.sha256.map(|h| Sha256Digest(h.finalize().into())),
        }
    }
}

/// All three digests of a byte slice.
pub fn digest_bytes(data: &[u8]) -> Digests {
    let mut d = Digester::new(DigestSet::ALL);
    d.update(data);
    let p = d.finish();
    // All three were asked for, so all three are present.
    Digests {
        md5: p.md5.unwrap_or(Md5Digest([0; 16])),
        sha1: p.sha1.unwrap_or(Sha1Digest([0; 20])),
        sha256: p.sha256.unwrap_or(Sha256Digest([0; 32])),
    }
}

/// Digests of everything `reader` yields, read in 1 MiB chunks; returns them and the byte count.
pub fn digest_reader(reader: &mut impl Read, set: DigestSet) -> io::Result<(PartialDigests, u64)> {
    let mut d = Digester::new(set);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => d.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let len = d.len();
    Ok((d.finish(), len))
}

/// Digests of the empty input: a list entry with one of these is degenerate and never matches.
pub fn is_empty_input_digest(hex: &str) -> bool {
    const EMPTY: [&str; 3] = [
        "d41d8cd98f00b204e9800998ecf8427e",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ];
    EMPTY.iter().any(|e| e.eq_ignore_ascii_case(hex))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers from RFC 1321, RFC 3174 and FIPS 180-2.
    #[test]
    fn known_answers() {
        let d = digest_bytes(b"");
        assert_eq!(d.md5.to_hex(), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(d.sha1.to_hex(), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            d.sha256.to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let d = digest_bytes(b"abc");
        assert_eq!(d.md5.to_hex(), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(d.sha1.to_hex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            d.sha256.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let d = digest_bytes(b"The quick brown fox jumps over the lazy dog");
        assert_eq!(d.md5.to_hex(), "9e107d9d372bb6826bd81d3542a419d6");
        assert_eq!(d.sha1.to_hex(), "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
        assert_eq!(
            d.sha256.to_hex(),
            "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"
        );
    }

    #[test]
    fn million_a_crosses_chunk_boundaries() {
        let data = vec![b'a'; 1_000_000];
        let d = digest_bytes(&data);
        assert_eq!(d.md5.to_hex(), "7707d6ae4e027c70eea2a935c2296f21");
        assert_eq!(d.sha1.to_hex(), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
        assert_eq!(
            d.sha256.to_hex(),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
        let (p, n) = digest_reader(
            &mut &data[..],
            DigestSet {
                md5: false,
                sha1: true,
                sha256: false,
            },
        )
        .unwrap();
        assert_eq!(n, 1_000_000);
        assert_eq!(p.sha1, Some(d.sha1));
        assert_eq!((p.md5, p.sha256), (None, None));
    }

    #[test]
    fn empty_digests_are_degenerate() {
        let d = digest_bytes(b"");
        assert!(is_empty_input_digest(&d.md5.to_hex()));
        assert!(is_empty_input_digest(&d.sha256.to_hex().to_uppercase()));
        assert!(!is_empty_input_digest(&digest_bytes(b"x").sha1.to_hex()));
    }
}

//! Pure hash algorithms, no I/O: PDQ, pHash/dHash, and exact digests, plus the hash value types.

pub mod digest;
pub mod pdq;
pub mod perceptual;
pub mod types;
pub mod vpdq;

pub use digest::{DigestSet, Digester, Digests, PartialDigests, digest_bytes, digest_reader};
pub use pdq::{
    Dihedral, PdqError, PdqHasher, PdqOutput, PixelLayout, PixelView, pdq, with_pdq_hasher,
};
pub use perceptual::{dhash, phash, phash_dhash};
pub use types::{
    AnyHash, DHash, HashKind, Md5Digest, PHash, ParseHashError, PdqHash, Sha1Digest, Sha256Digest,
    VpdqDigest,
};

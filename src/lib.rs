//! hashguard: finds known child-sexual-abuse material by perceptual and exact hashing.
//!
//! The library holds everything; the `hashguard` binary is a thin command-line layer over it.
//! Data flows `media` (decode with limits) → `hashing` (pure algorithms) → `fingerprint` (all
//! hashes of one file); `files` enumerates inputs and `synth` makes the synthetic test media.

pub mod files;
pub mod fingerprint;
pub mod hashing;
pub mod media;
pub mod synth;

/// Version of this build, for records and reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

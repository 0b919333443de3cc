//! hashguard: finds known child-sexual-abuse material by perceptual and exact hashing.
//!
//! The library holds everything; the `hashguard` binary is a thin command-line layer over it.
//! Data flows `media` (decode with limits) → `hashing` (pure algorithms) → `fingerprint` (all
//! hashes of one file) → `matcher` (the lists loaded into `index` structures) → `report_log`
//! (durable reports per unit). `lists` imports and syncs hash lists into the `store`
//! (RocksDB); `scan` runs bulk scans; `server` is the gRPC service layer and `config` its
//! configuration; `files` enumerates inputs and `synth` makes the synthetic test media.

pub mod config;
pub mod containers;
pub mod csv_cell;
pub mod files;
pub mod fingerprint;
pub mod hashing;
pub mod index;
pub mod lists;
pub mod matcher;
pub mod media;
pub mod report_log;
pub mod sandbox;
pub mod scan;
pub mod server;
pub mod store;
pub mod synth;

/// The gRPC contract, generated from `proto/` (lives in the service layer, the only user of the
/// gRPC stack; re-exported here because clients and tests name it `hashguard::proto`).
pub use server::proto;

/// Version of this build, for records and reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Source revision this binary was built from (`git describe`), or "unknown".
pub const GIT_REV: &str = env!("HASHGUARD_GIT_REV");

/// Version and revision, as `--version` prints them.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("HASHGUARD_GIT_REV"),
    ")"
);

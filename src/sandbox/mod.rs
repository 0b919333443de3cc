//! Decoding in isolated worker processes. Every decoder hashguard runs (libjpeg-turbo, libpng,
//! libheif with libde265 and dav1d, FFmpeg) parses bytes chosen by whoever wants it to fail; a
//! crash or a hang there must cost one file, never the server or the scan.
//!
//! [`Pool`] keeps long-lived workers, each the hashguard binary itself (`hashguard
//! decode-worker`), and hands each job over a socket: the request, and the file as a descriptor
//! (an upload's bytes in a memfd, a scanned file as the descriptor the scan opened). A worker
//! holds nothing else. Before its first job it confines itself ([`confine`]): resource limits
//! (address space, open files, no core dumps) and a seccomp filter that refuses every
//! way to open a file, reach the network, run a program, trace or signal another process, or
//! raise its own limits. The parent bounds each job by a wall-clock deadline and a CPU-time
//! limit it sets on the worker, and kills the worker when the deadline passes or the caller
//! gives up ([`Cancel`]). A worker that dies, hangs or runs out of memory is replaced; its file
//! gets `decode_failed` with a [`Fault`] (`decoder_crashed`, `decoder_timeout`,
//! `decoder_out_of_memory`) and its digests, computed by the parent, which never decodes.
//!
//! Why seccomp and not Landlock: seccomp is in every kernel hashguard runs on and covers
//! network, exec, process and file-opening calls with one mechanism; Landlock must be enabled
//! as an LSM at boot (it is not on every distribution kernel) and restricts only TCP among
//! network calls before kernel 6.12's ABI 6. The worker needs no file system at all once it
//! has its descriptor, so refusing the calls outright is both simpler and tighter than path
//! rules.

pub mod confine;
mod pool;
mod wire;
mod worker;

pub use crate::fingerprint::Fault;
pub use pool::{Cancel, Cancelled, Decoding, Pool, PoolConfig};
pub use worker::{WorkerArgs, run as run_worker};

/// Test-only faults: when this environment variable is `1` in a worker's environment, a file
/// whose bytes start with [`TEST_FAULT_MARKER`] followed by `crash`, `hang` or `oom` makes the
/// worker crash, hang or exhaust its memory. Nothing else reads it; without it the marker is an
/// ordinary unrecognised file.
pub const TEST_FAULTS_ENV: &str = "HASHGUARD_TEST_DECODER_FAULTS";

/// The prefix of a test fault file (see [`TEST_FAULTS_ENV`]).
pub const TEST_FAULT_MARKER: &[u8] = b"HASHGUARD-TEST-FAULT:";

//! The worker side: `hashguard decode-worker`, started by a [`super::Pool`] with its socket as
//! standard input. It confines itself, says it is ready, then hashes one job at a time.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::wire::{self, Reply};
use super::{TEST_FAULT_MARKER, TEST_FAULTS_ENV, confine};
use crate::fingerprint;

/// How a worker was started (the pool passes these on its command line).
#[derive(Debug, Clone, Copy)]
pub struct WorkerArgs {
    /// Decoder threads (the worker's thread pool).
    pub threads: usize,
    /// Address-space limit, bytes.
    pub memory_bytes: u64,
}

/// A worker whose peak resident memory passed this retires after its reply, so that the
/// buffers of one very large image are not held by an idle process.
const RETIRE_RSS_BYTES: u64 = 512 << 20;

/// Runs the worker until its parent closes the socket. Returns the process exit status.
pub fn run(args: WorkerArgs) -> u8 {
    // SAFETY: the pool starts workers with their socket as descriptor 0, which nothing else
    // in this process owns.
    let sock = UnixStream::from(unsafe { OwnedFd::from_raw_fd(0) });
    let test_faults = std::env::var(TEST_FAULTS_ENV).is_ok_and(|v| v == "1");
    if let Err(e) = start(args) {
        eprintln!("decode-worker: cannot confine the decoder: {e}");
        return 70;
    }
    if wire::send_reply(&sock, &Reply::Ready).is_err() {
        return 0;
    }
    loop {
        let (job, fd) = match wire::recv_job(&sock) {
            Ok(Some(j)) => j,
            Ok(None) => return 0,
            Err(e) => {
                eprintln!("decode-worker: bad job: {e}");
                return 71;
            }
        };
        let mut file = File::from(fd);
        if test_faults {
            test_fault(&file);
        }
        // The descriptor may share its position with the parent's: always start at 0.
        if let Err(e) = file.seek(SeekFrom::Start(0)) {
            eprintln!("decode-worker: cannot read the job's file: {e}");
            return 72;
        }
        let mut record =
            fingerprint::fingerprint_opened(Path::new(""), file, &job.req, &job.limits);
        let variants = record.pdq_variants.take().map(Box::new);
        let retiring = peak_rss() > RETIRE_RSS_BYTES;
        let reply = Reply::Done {
            record: Box::new(record),
            variants,
            retiring,
        };
        if wire::send_reply(&sock, &reply).is_err() || retiring {
            return 0;
        }
    }
}

/// Limits, the decoders' one-time set-up (which may read files), then the filter.
fn start(args: WorkerArgs) -> Result<(), String> {
    confine::limit_resources(args.memory_bytes).map_err(|e| format!("resource limits: {e}"))?;
    if rustix::process::getppid().is_none() {
        return Err("the parent is gone".into());
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.max(1))
        .build_global()
        .map_err(|e| format!("threads: {e}"))?;
    crate::media::warm_up();
    confine::seccomp()
}

/// The test-only faults of [`TEST_FAULTS_ENV`].
fn test_fault(file: &File) {
    let mut head = [0u8; 32];
    let n = file.read_at(&mut head, 0).unwrap_or(0);
    let Some(what) = head[..n].strip_prefix(TEST_FAULT_MARKER) else {
        return;
    };
    if what.starts_with(b"crash") {
        std::process::abort();
    } else if what.starts_with(b"hang") {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    } else if what.starts_with(b"oom") {
        // Past any address-space limit at once (touching pages one by one would make the test
        // depend on the machine's speed): the failed allocation ends the process as a real
        // decoder's would.
        let hog = vec![1u8; 64 << 30];
        std::hint::black_box(&hog);
    }
}

/// This process's peak resident set, bytes.
fn peak_rss() -> u64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage struct.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0;
    }
    u.ru_maxrss.max(0) as u64 * 1024
}

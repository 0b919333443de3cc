//! The parent side: workers started on demand, reused while healthy, killed on a deadline or a
//! cancelled call, and replaced.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Resource, Rlimit, prlimit};

use super::wire::{self, Job, Reply, Wait};
use super::{TEST_FAULT_MARKER, TEST_FAULTS_ENV};
use crate::files::io_detail;
use crate::fingerprint::{self, Fault, FileRecord, HashRequest, Reason};
use crate::hashing::Digester;
use crate::media::{self, Format, Limits};

/// How the pool's workers are bounded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolConfig {
    /// Decoder threads in each worker.
    pub threads: usize,
    /// Each worker's address-space limit, bytes.
    pub memory_bytes: u64,
    /// Longest an image may take; a video gets its own wall-clock cap plus [`VIDEO_GRACE`].
    pub timeout: Duration,
    /// Idle workers kept for the next job (the rest exit).
    pub max_idle: usize,
}

/// Extra time a video's worker gets past the video wall-clock cap, in which it stops by itself
/// and answers with the frames hashed so far.
pub const VIDEO_GRACE: Duration = Duration::from_secs(15);

impl Default for PoolConfig {
    /// One thread per CPU, 4 GiB of address space (an 80 MP image decodes in about 1 GiB; the
    /// rest is thread stacks and allocator arenas, which count as address space though mostly
    /// never touched), two minutes an image, as many idle workers as CPUs.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        PoolConfig {
            threads: cores,
            memory_bytes: 4 << 30,
            timeout: Duration::from_secs(120),
            max_idle: cores,
        }
    }
}

/// Set when the caller no longer wants an answer; the job's worker is then killed.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag not yet set.
    pub fn new() -> Self {
        Cancel::default()
    }

    /// Sets the flag.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// True once set.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// A guard that sets the flag when dropped: held by an async call, so that a dropped
    /// (cancelled or timed-out) call stops its work.
    pub fn on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(self.clone())
    }
}

/// See [`Cancel::on_drop`].
pub struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// The caller cancelled the job; there is no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// Where files are decoded: in this process (the library's default, and `hashguard hash`), or
/// in sandboxed workers (the server and the scan).
#[derive(Clone, Default)]
pub enum Decoding {
    /// Decoders run in the calling process.
    #[default]
    InProcess,
    /// Decoders run in the pool's workers.
    Isolated(Arc<Pool>),
}

impl std::fmt::Debug for Decoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decoding::InProcess => f.write_str("InProcess"),
            Decoding::Isolated(p) => write!(f, "Isolated({:?})", p.config),
        }
    }
}

impl Decoding {
    /// [`fingerprint::fingerprint_bytes`], wherever decoding runs. Fields the job computes are
    /// set in `rec`; the rest are left as they are.
    pub fn fingerprint_bytes(
        &self,
        bytes: &[u8],
        req: &HashRequest,
        limits: &Limits,
        rec: &mut FileRecord,
        cancel: &Cancel,
    ) -> Result<(), Cancelled> {
        match self {
            Decoding::InProcess => {
                fingerprint::fingerprint_bytes(bytes, req, limits, rec);
                Ok(())
            }
            // Nothing to decode (not media, or a format left undecoded): no worker needed.
            Decoding::Isolated(pool) if !pool.decodes(bytes, req) => {
                fingerprint::fingerprint_bytes(bytes, req, limits, rec);
                Ok(())
            }
            Decoding::Isolated(pool) => {
                let done = pool.fingerprint_bytes(bytes, req, limits, cancel)?;
                merge(rec, done);
                Ok(())
            }
        }
    }

    /// [`fingerprint::fingerprint_opened`], wherever decoding runs.
    pub fn fingerprint_opened(
        &self,
        path: &Path,
        file: File,
        req: &HashRequest,
        limits: &Limits,
        cancel: &Cancel,
    ) -> Result<FileRecord, Cancelled> {
        match self {
            Decoding::InProcess => Ok(fingerprint::fingerprint_opened(path, file, req, limits)),
            Decoding::Isolated(pool) => pool.fingerprint_file(path, &file, req, limits, cancel),
        }
    }
}

/// Copies what a worker computed into `rec` (its path stays; fields the worker left empty,
/// such as digests computed before, stay too).
fn merge(rec: &mut FileRecord, done: FileRecord) {
    macro_rules! take {
        ($($f:ident),*) => {$( if done.$f.is_some() { rec.$f = done.$f; } )*};
    }
    take!(
        format,
        size,
        md5,
        sha1,
        sha256,
        width,
        height,
        reduced_from,
        pdq,
        pdq_quality,
        phash,
        dhash,
        pdq_variants,
        duration,
        frames,
        partial,
        error,
        fault,
        detail
    );
    rec.kind = done.kind;
}

/// Sandboxed decoder workers (see the module comment).
pub struct Pool {
    exe: PathBuf,
    config: PoolConfig,
    idle: Mutex<Vec<Worker>>,
    /// The test-only fault files go to workers too (see [`super::TEST_FAULTS_ENV`]).
    test_faults: bool,
}

struct Worker {
    child: Child,
    sock: UnixStream,
    /// The last bytes the worker wrote to stderr (why it died, when it says).
    stderr: Option<JoinHandle<Vec<u8>>>,
}

/// The most of a dead worker's stderr kept for the record's detail.
const STDERR_TAIL: usize = 4096;
/// Longest a new worker may take to confine itself and say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(20);

impl Pool {
    /// A pool whose workers run `exe decode-worker` (`exe` is the hashguard binary).
    pub fn new(exe: PathBuf, config: PoolConfig) -> Self {
        Pool {
            exe,
            config,
            idle: Mutex::new(Vec::new()),
            test_faults: std::env::var(TEST_FAULTS_ENV).is_ok_and(|v| v == "1"),
        }
    }

    /// A pool of this very binary (the `hashguard` command's own server and scan). Workers are
    /// started through `/proc/self/exe`, which stays this process's own executable even after
    /// a package upgrade replaces the file at its path (the path would then start another
    /// version, or nothing).
    pub fn of_current_exe(config: PoolConfig) -> std::io::Result<Self> {
        let exe = PathBuf::from("/proc/self/exe");
        if !exe.exists() {
            return Ok(Pool::new(std::env::current_exe()?, config));
        }
        Ok(Pool::new(exe, config))
    }

    /// True when hashing `head` (a file's first bytes) for `req` runs a decoder.
    fn decodes(&self, head: &[u8], req: &HashRequest) -> bool {
        let media = matches!(
            media::sniff(head),
            Format::Image(_) | Format::Heif(_) | Format::Video(_)
        );
        req.needs_decode() && (media || (self.test_faults && head.starts_with(TEST_FAULT_MARKER)))
    }

    /// The bounds the workers run with.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Hashes in-memory bytes (an upload) in a worker; they reach it as a memfd.
    pub fn fingerprint_bytes(
        &self,
        bytes: &[u8],
        req: &HashRequest,
        limits: &Limits,
        cancel: &Cancel,
    ) -> Result<FileRecord, Cancelled> {
        let path = Path::new("");
        let file = match memfd(bytes) {
            Ok(f) => f,
            Err(e) => {
                let mut rec = FileRecord::new(path);
                fingerprint::fingerprint_bytes(bytes, &digests_only(req), limits, &mut rec);
                rec.fail(
                    Reason::Unreadable,
                    format!("cannot hand the upload over: {e}"),
                );
                return Ok(rec);
            }
        };
        self.fingerprint_file(path, &file, req, limits, cancel)
    }

    /// Hashes the open file `file` (read from its start) in a worker; `path` names it in the
    /// record.
    pub fn fingerprint_file(
        &self,
        path: &Path,
        file: &File,
        req: &HashRequest,
        limits: &Limits,
        cancel: &Cancel,
    ) -> Result<FileRecord, Cancelled> {
        let mut head = [0u8; 64];
        let n = file.read_at(&mut head, 0).unwrap_or(0);
        if !self.decodes(&head[..n], req) {
            // Digests only: read here, from the start, through the same descriptor.
            let mut again = file;
            let rec = match again
                .seek(SeekFrom::Start(0))
                .and_then(|_| file.try_clone())
            {
                Ok(f) => fingerprint::fingerprint_opened(path, f, req, limits),
                Err(e) => FileRecord::failed(path, Reason::Unreadable, io_detail(&e)),
            };
            return Ok(rec);
        }
        let budget = self.deadline_for(media::sniff(&head[..n]), limits);
        let job = Job {
            req: *req,
            limits: *limits,
        };
        let outcome = self.run(&job, file, budget, cancel);
        let mut rec = match outcome {
            Ok(rec) => rec,
            Err(Ended::Cancelled) => return Err(Cancelled),
            Err(Ended::Fault(fault, why)) => fault_record(file, req, fault, why),
        };
        let named = FileRecord::new(path);
        rec.path = named.path;
        rec.path_hex = named.path_hex;
        Ok(rec)
    }

    fn deadline_for(&self, format: Format, limits: &Limits) -> Duration {
        match format {
            Format::Video(_) => {
                Duration::from_secs_f64(limits.video.max_wall_secs.clamp(0.0, 1e7)) + VIDEO_GRACE
            }
            _ => self.config.timeout,
        }
    }

    fn run(
        &self,
        job: &Job,
        file: &File,
        budget: Duration,
        cancel: &Cancel,
    ) -> Result<FileRecord, Ended> {
        let mut worker = self.checkout()?;
        // The budget is the decoding's: it starts once a worker is ready, so starting one (a
        // moment on a loaded machine) never eats into it.
        let deadline = Instant::now() + budget;
        worker.limit_cpu(budget, self.config.threads);
        if let Err(e) = wire::send_job(&worker.sock, job, file.as_fd()) {
            let (fault, why) = worker.died(format!("cannot hand the job over: {e}"));
            return Err(Ended::Fault(fault, why));
        }
        match wire::recv_reply(&worker.sock, deadline, &|| cancel.is_cancelled()) {
            Ok(Reply::Done {
                record,
                variants,
                retiring,
            }) => {
                if retiring {
                    worker.retire();
                } else {
                    self.checkin(worker);
                }
                let mut rec = *record;
                rec.pdq_variants = variants.map(|v| *v);
                Ok(rec)
            }
            Ok(Reply::Ready) => {
                let (fault, why) = worker.died("answered out of turn".into());
                Err(Ended::Fault(fault, why))
            }
            Err(Wait::Cancelled) => {
                worker.kill();
                Err(Ended::Cancelled)
            }
            Err(Wait::TimedOut) => {
                worker.kill();
                Err(Ended::Fault(
                    Fault::DecoderTimeout,
                    format!(
                        "no answer within {:.0} s; the decoder process was killed",
                        budget.as_secs_f64()
                    ),
                ))
            }
            Err(Wait::Closed) => {
                let (fault, why) = worker.died(String::new());
                Err(Ended::Fault(fault, why))
            }
            Err(Wait::Bad(e)) => {
                let (fault, why) = worker.died(format!("malformed answer: {e}"));
                Err(Ended::Fault(fault, why))
            }
        }
    }

    fn checkout(&self) -> Result<Worker, Ended> {
        loop {
            let w = lock(&self.idle).pop();
            match w {
                Some(mut w) => {
                    if w.alive() {
                        return Ok(w);
                    }
                    w.kill();
                }
                None => break,
            }
        }
        Worker::spawn(&self.exe, &self.config)
            .map_err(|e| Ended::Fault(Fault::DecoderUnavailable, e))
    }

    fn checkin(&self, worker: Worker) {
        let mut idle = lock(&self.idle);
        if idle.len() < self.config.max_idle.max(1) {
            idle.push(worker);
        } else {
            drop(idle);
            worker.retire();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for w in lock(&self.idle).drain(..) {
            w.retire();
        }
    }
}

/// How a job ended without a record from the worker.
enum Ended {
    Cancelled,
    Fault(Fault, String),
}

impl Worker {
    fn spawn(exe: &Path, config: &PoolConfig) -> Result<Worker, String> {
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| format!("cannot start a decoder: {e}"))?;
        let mut child = Command::new(exe)
            .arg("decode-worker")
            .arg("--threads")
            .arg(config.threads.max(1).to_string())
            .arg("--memory-bytes")
            .arg(config.memory_bytes.to_string())
            // Few allocator arenas: each reserves 64 MiB of address space, which the limit
            // counts.
            .env("MALLOC_ARENA_MAX", "2")
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start a decoder ({}): {e}", exe.display()))?;
        let stderr = child.stderr.take().map(|mut err| {
            std::thread::spawn(move || {
                let mut tail = Vec::new();
                let mut buf = [0u8; 1024];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    tail.extend_from_slice(&buf[..n]);
                    if tail.len() > STDERR_TAIL {
                        tail.drain(..tail.len() - STDERR_TAIL);
                    }
                }
                tail
            })
        });
        let mut w = Worker {
            child,
            sock: ours,
            stderr,
        };
        match wire::recv_reply(&w.sock, Instant::now() + START_TIMEOUT, &|| false) {
            Ok(Reply::Ready) => Ok(w),
            Ok(_) => {
                w.kill();
                Err("the decoder did not start cleanly".into())
            }
            Err(e) => {
                let detail = match e {
                    Wait::TimedOut => "it did not start in time".to_string(),
                    _ => String::new(),
                };
                let (_, why) = w.died(detail);
                Err(format!("the decoder did not start: {why}"))
            }
        }
    }

    /// The worker may use the CPU for about `budget` on each of its threads from now; past
    /// it the kernel stops it (SIGXCPU, then SIGKILL), even if the parent could not.
    fn limit_cpu(&self, budget: Duration, threads: usize) {
        let Some(pid) = Pid::from_raw(self.child.id() as i32) else {
            return;
        };
        let used = cpu_seconds(self.child.id()).unwrap_or(0);
        let soft = used + budget.as_secs().saturating_mul(threads.max(1) as u64) + 5;
        // Best effort: the wall-clock deadline already bounds the job.
        let _ = prlimit(
            Some(pid),
            Resource::Cpu,
            Rlimit {
                current: Some(soft),
                maximum: Some(soft + 5),
            },
        );
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Ends a healthy worker: closing its socket makes it exit; it is reaped in the
    /// background so the caller does not wait.
    fn retire(self) {
        let Worker {
            mut child, sock, ..
        } = self;
        drop(sock);
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        });
    }

    /// Reaps a worker that stopped answering and says why it died.
    fn died(mut self, context: String) -> (Fault, String) {
        let status = match self.child.try_wait() {
            Ok(Some(s)) => Some(s),
            // Still running but not answering: nothing more will come.
            _ => {
                std::thread::sleep(Duration::from_millis(50));
                match self.child.try_wait() {
                    Ok(Some(s)) => Some(s),
                    _ => {
                        let _ = self.child.kill();
                        self.child.wait().ok()
                    }
                }
            }
        };
        drop(self.sock);
        let tail = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        classify(status, &tail, &context)
    }
}

/// The fault and its detail from how a worker ended and what it last wrote.
fn classify(status: Option<ExitStatus>, stderr: &[u8], context: &str) -> (Fault, String) {
    let text = String::from_utf8_lossy(stderr);
    let said = telling_line(&text);
    let out_of_memory =
        text.contains("memory allocation of") || text.to_lowercase().contains("out of memory");
    let how = match status {
        Some(s) => match s.signal() {
            Some(sig) => format!(
                "the decoder process died (signal {sig}, {})",
                signal_name(sig)
            ),
            None => format!(
                "the decoder process exited with status {} without an answer",
                s.code().unwrap_or(-1)
            ),
        },
        None => "the decoder process stopped answering".to_string(),
    };
    let fault = match status.and_then(|s| s.signal()) {
        Some(libc::SIGXCPU) => Fault::DecoderTimeout,
        _ if out_of_memory => Fault::DecoderOutOfMemory,
        _ => Fault::DecoderCrashed,
    };
    let mut detail = how;
    if !context.is_empty() {
        detail = format!("{context}; {detail}");
    }
    if !said.is_empty() {
        detail = format!("{detail}: {said}");
    }
    (fault, detail)
}

/// The line of a dead worker's stderr that says why (an allocation failure or a panic message
/// before any backtrace), else its last line; printable characters only, and short.
fn telling_line(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let line = lines
        .iter()
        .find(|l| l.contains("memory allocation of") || l.contains("panicked at"))
        .or_else(|| {
            lines
                .iter()
                .rev()
                .find(|l| !l.starts_with("note:") && !l.starts_with("stack backtrace"))
        })
        .copied()
        .unwrap_or("");
    line.chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect::<String>()
        .trim()
        .to_string()
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSYS => "SIGSYS",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => "signal",
    }
}

/// CPU seconds a process has used (user and system), from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces, so split after its last ')').
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(ticks.div_ceil(hz))
}

/// The record of a file whose worker failed: its digests and kind, computed here (reading is
/// safe; only decoding is isolated), and the fault.
fn fault_record(file: &File, req: &HashRequest, fault: Fault, why: String) -> FileRecord {
    let mut rec = FileRecord::new(Path::new(""));
    let mut d = Digester::new(req.digests);
    let mut head = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    loop {
        match file.read_at(&mut buf, pos) {
            Ok(0) => break,
            Ok(k) => {
                if head.len() < 64 {
                    head.extend_from_slice(&buf[..k.min(64 - head.len())]);
                }
                d.update(&buf[..k]);
                pos += k as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    rec.size = Some(pos);
    if !req.digests.is_empty() {
        rec.set_digests(d.finish());
    }
    let format = media::sniff(&head);
    rec.kind = format.kind();
    if format != Format::Unknown {
        rec.format = Some(format.name().to_string());
    }
    rec.fault = Some(fault);
    rec.fail(Reason::DecodeFailed, format!("{}: {why}", fault.code()));
    rec
}

fn digests_only(req: &HashRequest) -> HashRequest {
    HashRequest {
        pdq: false,
        phash: false,
        dhash: false,
        ..*req
    }
}

/// An anonymous in-memory file holding `bytes`.
fn memfd(bytes: &[u8]) -> std::io::Result<File> {
    use std::io::Write;
    let fd = rustix::fs::memfd_create("hashguard-upload", rustix::fs::MemfdFlags::CLOEXEC)?;
    let mut file = File::from(fd);
    file.write_all(bytes)?;
    Ok(file)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

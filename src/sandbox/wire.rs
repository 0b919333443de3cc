//! The worker protocol: length-prefixed JSON frames on a Unix socket, the job's file passed as
//! a descriptor (SCM_RIGHTS) with the job's first bytes.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};
use serde::{Deserialize, Serialize};

use crate::fingerprint::{FileRecord, HashRequest};
use crate::hashing::PdqHash;
use crate::media::Limits;

/// Largest job frame a worker accepts (a request is a few hundred bytes).
const MAX_JOB: usize = 64 << 10;
/// Largest reply the parent accepts (a capped video's frames are well under this).
pub(super) const MAX_REPLY: usize = 256 << 20;

/// One file to hash.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Job {
    pub req: HashRequest,
    pub limits: Limits,
}

/// What a worker sends back.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Reply {
    /// Confined and waiting for jobs.
    Ready,
    /// A job's record.
    Done {
        record: Box<FileRecord>,
        /// The record's dihedral PDQ hashes (never written in records, so not serialised
        /// with them).
        variants: Option<Box<[PdqHash; 8]>>,
        /// The worker will exit after this reply (it grew past its memory budget for idle
        /// workers); the parent does not reuse it.
        retiring: bool,
    },
}

/// Sends `job` with `fd`.
pub(super) fn send_job(sock: &UnixStream, job: &Job, fd: BorrowedFd<'_>) -> io::Result<()> {
    let body = serde_json::to_vec(job).map_err(io::Error::other)?;
    let len = (body.len() as u32).to_le_bytes();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    if !anc.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other("no room for the descriptor"));
    }
    let sent = sendmsg(sock, &[IoSlice::new(&len)], &mut anc, SendFlags::NOSIGNAL)?;
    let mut w = sock;
    w.write_all(&len[sent..])?;
    w.write_all(&body)
}

/// The next job and its descriptor, or `None` when the parent closed the socket.
pub(super) fn recv_job(sock: &UnixStream) -> io::Result<Option<(Job, OwnedFd)>> {
    let mut len = [0u8; 4];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let got = recvmsg(
        sock,
        &mut [IoSliceMut::new(&mut len)],
        &mut anc,
        RecvFlags::CMSG_CLOEXEC,
    )?
    .bytes;
    if got == 0 {
        return Ok(None);
    }
    let mut fd = None;
    for msg in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
            fd = fds.next();
        }
    }
    let mut r = sock;
    r.read_exact(&mut len[got..])?;
    let n = u32::from_le_bytes(len) as usize;
    if n > MAX_JOB {
        return Err(io::Error::other(format!("job frame of {n} bytes")));
    }
    let mut body = vec![0u8; n];
    r.read_exact(&mut body)?;
    let job = serde_json::from_slice(&body).map_err(io::Error::other)?;
    let fd = fd.ok_or_else(|| io::Error::other("job without a descriptor"))?;
    Ok(Some((job, fd)))
}

/// Writes one reply frame.
pub(super) fn send_reply(sock: &UnixStream, reply: &Reply) -> io::Result<()> {
    let body = serde_json::to_vec(reply).map_err(io::Error::other)?;
    let mut w = sock;
    w.write_all(&(body.len() as u32).to_le_bytes())?;
    w.write_all(&body)
}

/// Why no reply came.
#[derive(Debug)]
pub(super) enum Wait {
    /// The worker closed the socket (it died).
    Closed,
    /// The deadline passed.
    TimedOut,
    /// The caller gave up.
    Cancelled,
    /// The frame is malformed or oversized.
    Bad(String),
}

/// Reads one reply frame, polling `stop` between short waits, until `deadline`.
pub(super) fn recv_reply(
    sock: &UnixStream,
    deadline: Instant,
    stop: &dyn Fn() -> bool,
) -> Result<Reply, Wait> {
    let mut buf: Vec<u8> = Vec::new();
    let mut want = 4usize;
    let mut header_done = false;
    let mut chunk = vec![0u8; 64 << 10];
    let mut r = sock;
    loop {
        if buf.len() >= want {
            if header_done {
                return serde_json::from_slice(&buf[4..]).map_err(|e| Wait::Bad(e.to_string()));
            }
            let n = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            if n > MAX_REPLY {
                return Err(Wait::Bad(format!("reply of {n} bytes")));
            }
            want = 4 + n;
            header_done = true;
            buf.reserve(n);
            continue;
        }
        if stop() {
            return Err(Wait::Cancelled);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Wait::TimedOut);
        }
        let wait = (deadline - now).min(std::time::Duration::from_millis(50));
        sock.set_read_timeout(Some(wait))
            .map_err(|e| Wait::Bad(e.to_string()))?;
        let room = (want - buf.len()).min(chunk.len());
        match r.read(&mut chunk[..room]) {
            Ok(0) => return Err(Wait::Closed),
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return Err(Wait::Closed),
        }
    }
}

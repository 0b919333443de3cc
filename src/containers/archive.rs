//! Archives read through the system's libarchive (ZIP, 7z, RAR, TAR with gz/bz2/xz/zstd, ISO
//! 9660, CPIO), member by member, from a file or from memory, never extracted to disk.
//!
//! A small binding of our own: `compress-tools` does not expose whether a member is encrypted
//! nor how many compressed bytes have been consumed (needed for the expansion-ratio cap), and
//! the crates that do build their own libarchive from source. The functions bound here are
//! stable since libarchive 3.3 (Debian 12 ships 3.6).

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

#[repr(C)]
struct RawArchive {
    _private: [u8; 0],
}
#[repr(C)]
struct RawEntry {
    _private: [u8; 0],
}

#[link(name = "archive")]
unsafe extern "C" {
    fn archive_read_new() -> *mut RawArchive;
    fn archive_read_support_filter_all(a: *mut RawArchive) -> c_int;
    fn archive_read_support_format_all(a: *mut RawArchive) -> c_int;
    fn archive_read_support_format_raw(a: *mut RawArchive) -> c_int;
    fn archive_read_open_filename(a: *mut RawArchive, name: *const c_char, block: usize) -> c_int;
    fn archive_read_open_memory(a: *mut RawArchive, buf: *const c_void, size: usize) -> c_int;
    fn archive_read_next_header(a: *mut RawArchive, e: *mut *mut RawEntry) -> c_int;
    fn archive_read_data(a: *mut RawArchive, buf: *mut c_void, size: usize) -> isize;
    fn archive_read_free(a: *mut RawArchive) -> c_int;
    fn archive_error_string(a: *mut RawArchive) -> *const c_char;
    fn archive_format_name(a: *mut RawArchive) -> *const c_char;
    fn archive_filter_bytes(a: *mut RawArchive, n: c_int) -> i64;
    fn archive_entry_pathname(e: *mut RawEntry) -> *const c_char;
    fn archive_entry_filetype(e: *mut RawEntry) -> u32;
    fn archive_entry_size(e: *mut RawEntry) -> i64;
    fn archive_entry_size_is_set(e: *mut RawEntry) -> c_int;
    fn archive_entry_is_encrypted(e: *mut RawEntry) -> c_int;
}

const ARCHIVE_OK: c_int = 0;
const ARCHIVE_EOF: c_int = 1;
const ARCHIVE_WARN: c_int = -20;
const AE_IFMT: u32 = 0o170000;
const AE_IFREG: u32 = 0o100000;
const AE_IFDIR: u32 = 0o040000;

/// Why an archive could not be read (libarchive's own message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

/// One member's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The member's path inside the archive, as stored (raw bytes).
    pub path: Vec<u8>,
    /// What the member is.
    pub kind: MemberKind,
    /// The size the header declares (attacker-controlled: a cap, never an allocation size).
    pub size: Option<u64>,
    /// The member's data or metadata is encrypted.
    pub encrypted: bool,
}

/// What a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    /// A regular file.
    File,
    /// A directory (no content; not an entry of the scan).
    Directory,
    /// A symlink, device, FIFO or hard link record.
    Special,
}

/// An open archive, read forward member by member.
pub struct Reader {
    a: *mut RawArchive,
    // Owns the bytes libarchive reads from when opened from memory; never moved while open.
    _memory: Option<std::sync::Arc<[u8]>>,
}

// SAFETY: a libarchive handle is not shared between threads, but may move to another thread
// between calls; libarchive keeps no thread-local state for a reader.
unsafe impl Send for Reader {}

impl Drop for Reader {
    fn drop(&mut self) {
        // SAFETY: `a` came from archive_read_new and is freed once.
        unsafe { archive_read_free(self.a) };
    }
}

/// How a reader reads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every archive format libarchive knows.
    Archive,
    /// A single compressed stream (gzip, bzip2, xz, zstd of one file, not of a TAR): one
    /// member, the decompressed data.
    Stream,
}

fn new_reader(mode: Mode) -> Result<*mut RawArchive, Error> {
    // SAFETY: plain constructor and setup calls on a fresh handle.
    unsafe {
        let a = archive_read_new();
        if a.is_null() {
            return Err(Error("libarchive could not allocate a reader".into()));
        }
        archive_read_support_filter_all(a);
        match mode {
            Mode::Archive => archive_read_support_format_all(a),
            Mode::Stream => archive_read_support_format_raw(a),
        };
        Ok(a)
    }
}

impl Reader {
    /// Opens the archive in the file `path`, read in 1 MiB blocks.
    pub fn open_file(path: &Path, mode: Mode) -> Result<Reader, Error> {
        let name = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| Error("the path holds a NUL byte".into()))?;
        let a = new_reader(mode)?;
        let r = Reader { a, _memory: None };
        // SAFETY: valid handle and NUL-terminated name.
        let rc = unsafe { archive_read_open_filename(a, name.as_ptr(), 1 << 20) };
        if rc != ARCHIVE_OK {
            return Err(r.error("cannot open"));
        }
        Ok(r)
    }

    /// Opens an archive held in memory (a member of another container).
    pub fn open_memory(bytes: std::sync::Arc<[u8]>, mode: Mode) -> Result<Reader, Error> {
        let a = new_reader(mode)?;
        // SAFETY: the bytes are owned by the reader and outlive the handle.
        let rc = unsafe { archive_read_open_memory(a, bytes.as_ptr().cast(), bytes.len()) };
        let r = Reader {
            a,
            _memory: Some(bytes),
        };
        if rc != ARCHIVE_OK {
            return Err(r.error("cannot open"));
        }
        Ok(r)
    }

    fn error(&self, what: &str) -> Error {
        // SAFETY: valid handle; the string is copied before the next call.
        let msg = unsafe {
            let p = archive_error_string(self.a);
            if p.is_null() {
                "unknown error".to_string()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        Error(format!("{what}: {msg}"))
    }

    /// The format libarchive recognised ("ZIP 2.0 (deflation)", "GNU tar format", "7-Zip").
    pub fn format_name(&self) -> String {
        // SAFETY: valid handle; NULL before the first header.
        unsafe {
            let p = archive_format_name(self.a);
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        }
    }

    /// Compressed bytes consumed so far (for the expansion-ratio cap).
    pub fn consumed(&self) -> u64 {
        // SAFETY: valid handle; -1 is the raw input.
        unsafe { archive_filter_bytes(self.a, -1).max(0) as u64 }
    }

    /// The next member's header; `None` at the end.
    pub fn next_header(&mut self) -> Option<Result<Header, Error>> {
        let mut e: *mut RawEntry = std::ptr::null_mut();
        // SAFETY: valid handle; the entry belongs to the handle until the next call.
        let rc = unsafe { archive_read_next_header(self.a, &mut e) };
        match rc {
            ARCHIVE_EOF => None,
            ARCHIVE_OK | ARCHIVE_WARN if !e.is_null() => {
                // SAFETY: `e` is the current entry.
                unsafe {
                    let p = archive_entry_pathname(e);
                    let path = if p.is_null() {
                        Vec::new()
                    } else {
                        CStr::from_ptr(p).to_bytes().to_vec()
                    };
                    let kind = match archive_entry_filetype(e) & AE_IFMT {
                        AE_IFREG => MemberKind::File,
                        AE_IFDIR => MemberKind::Directory,
                        // Some formats (old ZIPs, 7z) store no type for files.
                        0 => MemberKind::File,
                        _ => MemberKind::Special,
                    };
                    let size = (archive_entry_size_is_set(e) != 0)
                        .then(|| archive_entry_size(e).max(0) as u64);
                    let encrypted = archive_entry_is_encrypted(e) != 0;
                    Some(Ok(Header {
                        path,
                        kind,
                        size,
                        encrypted,
                    }))
                }
            }
            _ => Some(Err(self.error("cannot read the next member"))),
        }
    }

    /// Reads the current member's data in chunks into `sink`, which returns false to stop
    /// early; returns the bytes read.
    pub fn read_data(&mut self, sink: &mut dyn FnMut(&[u8]) -> bool) -> Result<u64, Error> {
        let mut buf = vec![0u8; 256 << 10];
        let mut total = 0u64;
        loop {
            // SAFETY: valid handle; `buf` is writable for its length.
            let n = unsafe { archive_read_data(self.a, buf.as_mut_ptr().cast(), buf.len()) };
            if n == 0 {
                return Ok(total);
            }
            if n < 0 {
                return Err(self.error("cannot read the member's data"));
            }
            let n = n as usize;
            total += n as u64;
            if !sink(&buf[..n]) {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        for (name, data) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        }
        let out = dir.path().join("out.zip");
        let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        let st = std::process::Command::new("zip")
            .current_dir(dir.path())
            .args(["-q", "-X"])
            .arg(&out)
            .args(&names)
            .status()
            .expect("zip is installed by scripts/setup.sh");
        assert!(st.success());
        std::fs::read(out).unwrap()
    }

    #[test]
    fn members_are_read_from_memory_in_order() {
        let zip = zip_of(&[("a.txt", b"alpha"), ("sub/b.bin", &[9u8; 5000])]);
        let mut r = Reader::open_memory(zip.into(), Mode::Archive).unwrap();
        let mut seen = Vec::new();
        while let Some(h) = r.next_header() {
            let h = h.unwrap();
            let mut data = Vec::new();
            r.read_data(&mut |c| {
                data.extend_from_slice(c);
                true
            })
            .unwrap();
            seen.push((String::from_utf8(h.path).unwrap(), h.kind, data.len()));
        }
        assert!(r.format_name().starts_with("ZIP"), "{}", r.format_name());
        assert_eq!(
            seen,
            vec![
                ("a.txt".to_string(), MemberKind::File, 5),
                ("sub/b.bin".to_string(), MemberKind::File, 5000)
            ]
        );
    }

    #[test]
    fn not_an_archive_is_an_error() {
        let err = Reader::open_memory(b"just some text, no archive".to_vec().into(), Mode::Archive)
            .err()
            .expect("refused");
        assert!(err.0.contains("cannot open"), "{err}");
    }
}

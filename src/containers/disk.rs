//! Disk images (raw, split raw, E01 through libewf) and their partitions and file systems
//! (FAT, exFAT, NTFS, ext2/3/4, HFS+, ISO 9660) through The Sleuth Kit, read without mounting.
//!
//! No maintained Rust binding of The Sleuth Kit exists, and its structures are large and
//! version-specific; `csrc/tsk_shim.c` reduces what we need to a few functions over opaque
//! handles and plain callbacks, bound here.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

#[repr(C)]
struct RawImg {
    _private: [u8; 0],
}
#[repr(C)]
struct RawFs {
    _private: [u8; 0],
}

type PartCb = extern "C" fn(*mut c_void, c_int, i64, i64, c_int, *const c_char);
type FileCb = extern "C" fn(*mut c_void, *const c_char, u64, c_int, c_int, i64) -> c_int;
type DataCb = extern "C" fn(*mut c_void, *const c_char, usize) -> c_int;

unsafe extern "C" {
    fn hg_img_open(
        paths: *const *const c_char,
        n: c_int,
        err: *mut c_char,
        len: usize,
    ) -> *mut RawImg;
    fn hg_img_close(img: *mut RawImg);
    fn hg_img_size(img: *mut RawImg) -> i64;
    fn hg_img_type(img: *mut RawImg) -> *const c_char;
    fn hg_img_read(img: *mut RawImg, off: i64, buf: *mut c_char, len: usize) -> i64;
    fn hg_partitions(
        img: *mut RawImg,
        cb: PartCb,
        ud: *mut c_void,
        vs_type: *mut c_char,
        vs_len: usize,
        err: *mut c_char,
        len: usize,
    ) -> c_int;
    fn hg_fs_open(img: *mut RawImg, off: i64, err: *mut c_char, len: usize) -> *mut RawFs;
    fn hg_fs_close(fs: *mut RawFs);
    fn hg_fs_type(fs: *mut RawFs) -> *const c_char;
    fn hg_fs_files(
        fs: *mut RawFs,
        flags: c_int,
        cb: FileCb,
        ud: *mut c_void,
        err: *mut c_char,
        len: usize,
    ) -> c_int;
    fn hg_fs_read_file(
        fs: *mut RawFs,
        inum: u64,
        max: u64,
        cb: DataCb,
        ud: *mut c_void,
        truncated: *mut c_int,
        err: *mut c_char,
        len: usize,
    ) -> i64;
    fn hg_fs_unallocated(
        fs: *mut RawFs,
        cb: extern "C" fn(*mut c_void, i64, *const c_char, usize) -> c_int,
        ud: *mut c_void,
        err: *mut c_char,
        len: usize,
    ) -> c_int;
}

/// Why an image, volume or file system could not be read (The Sleuth Kit's message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

const ERR_LEN: usize = 1024;

fn err_text(buf: &[c_char]) -> String {
    // SAFETY: the shim always NUL-terminates `err` within its length.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn static_str(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the shim returns static or handle-owned NUL-terminated strings.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// An open disk image.
pub struct Image {
    handle: Rc<ImgHandle>,
    img: *mut RawImg,
}

/// Closes the image once its last file system is closed too.
struct ImgHandle(*mut RawImg);

impl Drop for ImgHandle {
    fn drop(&mut self) {
        // SAFETY: opened by hg_img_open, closed once, after every file system holding it.
        unsafe { hg_img_close(self.0) };
    }
}

/// One slot of a partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// The slot number as `mmls` prints it.
    pub slot: u32,
    /// Start, in bytes from the start of the image.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// A partition of the table (not the table itself, nor unpartitioned space).
    pub allocated: bool,
    /// The table's description of it.
    pub desc: String,
}

/// One regular file of a file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsFile {
    /// Its path from the root, with a leading `/`.
    pub path: String,
    /// Its metadata address (inode, MFT entry, directory entry), as `icat` takes it.
    pub meta_addr: u64,
    /// The name or its metadata is no longer allocated.
    pub deleted: bool,
    /// The file system still says where the content was.
    pub recoverable: bool,
    /// Size in bytes, when known.
    pub size: Option<u64>,
}

impl Image {
    /// Opens an image (the first segment of a split raw or E01 set finds the others).
    pub fn open(path: &Path) -> Result<Image, Error> {
        let name = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| Error("the path holds a NUL byte".into()))?;
        let names = [name.as_ptr()];
        let mut err = [0 as c_char; ERR_LEN];
        // SAFETY: one valid NUL-terminated path; err is writable.
        let img = unsafe { hg_img_open(names.as_ptr(), 1, err.as_mut_ptr(), ERR_LEN) };
        if img.is_null() {
            return Err(Error(err_text(&err)));
        }
        Ok(Image {
            handle: Rc::new(ImgHandle(img)),
            img,
        })
    }

    /// The image format ("raw", "ewf").
    pub fn kind(&self) -> String {
        // SAFETY: valid handle.
        static_str(unsafe { hg_img_type(self.img) })
    }

    /// The media size in bytes.
    pub fn size(&self) -> u64 {
        // SAFETY: valid handle.
        unsafe { hg_img_size(self.img) }.max(0) as u64
    }

    /// Reads at `off`; returns the bytes read (fewer at the end).
    pub fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, Error> {
        // SAFETY: valid handle; buf is writable for its length.
        let n = unsafe { hg_img_read(self.img, off as i64, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(Error(format!("cannot read the image at byte {off}")));
        }
        Ok(n as usize)
    }

    /// The partition table's type and slots; `None` when the image has no partition table.
    pub fn volumes(&self) -> Result<Option<(String, Vec<Volume>)>, Error> {
        extern "C" fn part(
            ud: *mut c_void,
            index: c_int,
            start: i64,
            len: i64,
            flags: c_int,
            desc: *const c_char,
        ) {
            // SAFETY: `ud` is the Vec passed below, alive for the call.
            let out = unsafe { &mut *(ud as *mut Vec<Volume>) };
            out.push(Volume {
                slot: index.max(0) as u32,
                start: start.max(0) as u64,
                len: len.max(0) as u64,
                allocated: flags & 1 != 0,
                desc: static_str(desc),
            });
        }
        let mut out: Vec<Volume> = Vec::new();
        let mut vs_type = [0 as c_char; 64];
        let mut err = [0 as c_char; ERR_LEN];
        // SAFETY: valid handle, callback and buffers.
        let n = unsafe {
            hg_partitions(
                self.img,
                part,
                (&mut out as *mut Vec<Volume>).cast(),
                vs_type.as_mut_ptr(),
                vs_type.len(),
                err.as_mut_ptr(),
                ERR_LEN,
            )
        };
        match n {
            n if n < 0 => Err(Error(err_text(&err))),
            0 => Ok(None),
            _ => Ok(Some((err_text(&vs_type), out))),
        }
    }

    /// The file system starting at byte `offset`, if one is recognised there.
    pub fn file_system(&self, offset: u64) -> Result<FileSystem, Error> {
        let mut err = [0 as c_char; ERR_LEN];
        // SAFETY: valid handle and buffer.
        let fs = unsafe { hg_fs_open(self.img, offset as i64, err.as_mut_ptr(), ERR_LEN) };
        if fs.is_null() {
            return Err(Error(err_text(&err)));
        }
        Ok(FileSystem {
            fs,
            offset,
            _img: self.handle.clone(),
        })
    }
}

/// An open file system of an image.
pub struct FileSystem {
    fs: *mut RawFs,
    /// Its start in the image, in bytes.
    pub offset: u64,
    // Dropped after `fs` is closed (field order), keeping the image open until then.
    _img: Rc<ImgHandle>,
}

impl Drop for FileSystem {
    fn drop(&mut self) {
        // SAFETY: opened by hg_fs_open, closed once, before its image.
        unsafe { hg_fs_close(self.fs) };
    }
}

impl FileSystem {
    /// Its type as The Sleuth Kit names it ("ext4", "fat16", "ntfs").
    pub fn kind(&self) -> String {
        // SAFETY: valid handle.
        static_str(unsafe { hg_fs_type(self.fs) })
    }

    /// Every regular file, allocated and deleted, in directory-walk order.
    pub fn files(&self) -> Result<Vec<FsFile>, Error> {
        extern "C" fn file(
            ud: *mut c_void,
            path: *const c_char,
            inum: u64,
            deleted: c_int,
            recoverable: c_int,
            size: i64,
        ) -> c_int {
            // SAFETY: `ud` is the Vec passed below, alive for the walk.
            let out = unsafe { &mut *(ud as *mut Vec<FsFile>) };
            out.push(FsFile {
                path: static_str(path),
                meta_addr: inum,
                deleted: deleted != 0,
                recoverable: recoverable != 0,
                size: (size >= 0).then_some(size as u64),
            });
            0
        }
        let mut out: Vec<FsFile> = Vec::new();
        let mut err = [0 as c_char; ERR_LEN];
        // SAFETY: valid handle, callback and buffers.
        let rc = unsafe {
            hg_fs_files(
                self.fs,
                0,
                file,
                (&mut out as *mut Vec<FsFile>).cast(),
                err.as_mut_ptr(),
                ERR_LEN,
            )
        };
        if rc < 0 {
            return Err(Error(err_text(&err)));
        }
        Ok(out)
    }

    /// Reads file `meta_addr` in chunks into `sink` (false stops); returns the bytes read.
    pub fn read_file(
        &self,
        meta_addr: u64,
        sink: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<u64, Error> {
        extern "C" fn data(ud: *mut c_void, buf: *const c_char, len: usize) -> c_int {
            // SAFETY: `ud` is the sink passed below; buf holds len bytes for the call.
            let sink = unsafe { &mut *(ud as *mut &mut dyn FnMut(&[u8]) -> bool) };
            let bytes = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) };
            if sink(bytes) { 0 } else { 1 }
        }
        let mut err = [0 as c_char; ERR_LEN];
        let mut truncated: c_int = 0;
        let mut sink = sink;
        // SAFETY: valid handle, callback and buffers; the sink outlives the call.
        let n = unsafe {
            hg_fs_read_file(
                self.fs,
                meta_addr,
                u64::MAX,
                data,
                (&mut sink as *mut &mut dyn FnMut(&[u8]) -> bool).cast(),
                &mut truncated,
                err.as_mut_ptr(),
                ERR_LEN,
            )
        };
        if n < 0 {
            return Err(Error(err_text(&err)));
        }
        Ok(n as u64)
    }

    /// Passes the unallocated blocks, as runs of adjacent bytes, to `sink(image offset,
    /// bytes)`; false stops.
    pub fn unallocated(&self, sink: &mut dyn FnMut(u64, &[u8]) -> bool) -> Result<(), Error> {
        extern "C" fn block(ud: *mut c_void, off: i64, buf: *const c_char, len: usize) -> c_int {
            // SAFETY: `ud` is the sink passed below; buf holds len bytes for the call.
            let sink = unsafe { &mut *(ud as *mut &mut dyn FnMut(u64, &[u8]) -> bool) };
            let bytes = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) };
            if sink(off.max(0) as u64, bytes) { 0 } else { 1 }
        }
        let mut err = [0 as c_char; ERR_LEN];
        let mut sink = sink;
        // SAFETY: valid handle, callback and buffer; the sink outlives the call.
        let rc = unsafe {
            hg_fs_unallocated(
                self.fs,
                block,
                (&mut sink as *mut &mut dyn FnMut(u64, &[u8]) -> bool).cast(),
                err.as_mut_ptr(),
                ERR_LEN,
            )
        };
        if rc < 0 {
            return Err(Error(err_text(&err)));
        }
        Ok(())
    }
}

/// What a file's first bytes say about it being a disk or file-system image (The Sleuth Kit
/// then decides: a candidate it cannot open is a plain file).
pub fn looks_like_image(head: &[u8]) -> bool {
    let at = |off: usize, sig: &[u8]| head.get(off..off + sig.len()) == Some(sig);
    at(0, b"EVF\x09\x0D\x0A\xFF\x00")
        || at(512, b"EFI PART")
        || at(4096, b"EFI PART")
        || at(1080, b"\x53\xEF")
        || at(3, b"NTFS    ")
        || at(3, b"EXFAT   ")
        || at(1024, b"H+")
        || at(1024, b"HX")
        || at(510, b"\x55\xAA")
}

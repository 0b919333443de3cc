//! FFmpeg at its edges: uploads handed over through a memfd (never the file system), inputs
//! read through a descriptor already held (never opened by name) with a deadline that
//! interrupts FFmpeg's own I/O, frames converted to RGB for PDQ.

use super::*;

/// An anonymous, memory-backed file holding `bytes`.
pub(super) fn memfd(bytes: &[u8]) -> std::io::Result<OwnedFd> {
    // SAFETY: memfd_create takes a NUL-terminated name and flags; the result is checked.
    let raw = unsafe { libc::memfd_create(c"hashguard-upload".as_ptr(), libc::MFD_CLOEXEC) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor this function owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes)?;
    Ok(file.into())
}

/// An opened container and the reader FFmpeg pulls its bytes through.
pub(super) struct Opened {
    // Dropped first (field order): closing the input never frees a custom I/O context, so the
    // reader and its buffer must outlive it.
    pub(super) input: ffmpeg::format::context::Input,
    _io: Io,
}

/// FFmpeg's view of a file this process already holds: reads at the reader's own offset
/// (`pread`), so several decoders share one descriptor and nothing is ever opened by name. A
/// sandboxed decoder worker may not open files at all, and a scan must never reopen a path.
struct Reader {
    file: File,
    pos: u64,
    size: u64,
    deadline: Instant,
}

/// A custom `AVIOContext` over a [`Reader`].
struct Io {
    ctx: *mut ffi::AVIOContext,
    reader: Box<Reader>,
}

const IO_BUFFER: usize = 64 << 10;

impl Io {
    fn new(reader: Reader) -> Result<Io, String> {
        let mut reader = Box::new(reader);
        // SAFETY: the buffer comes from av_malloc as avio_alloc_context requires (it may
        // replace it, which is why Drop frees `(*ctx).buffer`, not this pointer); the opaque
        // pointer is the boxed reader, which lives as long as the context.
        unsafe {
            let buf = ffi::av_malloc(IO_BUFFER) as *mut u8;
            if buf.is_null() {
                return Err("out of memory".into());
            }
            let ctx = ffi::avio_alloc_context(
                buf,
                IO_BUFFER as c_int,
                0,
                &mut *reader as *mut Reader as *mut c_void,
                Some(read_packet),
                None,
                Some(seek),
            );
            if ctx.is_null() {
                ffi::av_free(buf as *mut c_void);
                return Err("out of memory".into());
            }
            Ok(Io { ctx, reader })
        }
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        let _ = &self.reader;
        // SAFETY: the context came from avio_alloc_context and its input is already closed;
        // its current buffer is FFmpeg's (av_malloc'd) and freed with it.
        unsafe {
            ffi::av_freep(&mut (*self.ctx).buffer as *mut *mut u8 as *mut c_void);
            ffi::avio_context_free(&mut self.ctx);
        }
    }
}

fn averror(errno: c_int) -> c_int {
    -errno
}

unsafe extern "C" fn read_packet(opaque: *mut c_void, buf: *mut u8, size: c_int) -> c_int {
    // SAFETY: `opaque` is the boxed reader owned by `Io`; FFmpeg hands a buffer of `size`
    // writable bytes.
    let (r, out) = unsafe {
        (
            &mut *(opaque as *mut Reader),
            std::slice::from_raw_parts_mut(buf, size.max(0) as usize),
        )
    };
    if Instant::now() >= r.deadline {
        return ffi::AVERROR_EXIT;
    }
    loop {
        match r.file.read_at(out, r.pos) {
            Ok(0) => return ffi::AVERROR_EOF,
            Ok(n) => {
                r.pos += n as u64;
                return n as c_int;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return averror(e.raw_os_error().unwrap_or(libc::EIO)),
        }
    }
}

unsafe extern "C" fn seek(opaque: *mut c_void, offset: i64, whence: c_int) -> i64 {
    // SAFETY: as in `read_packet`.
    let r = unsafe { &mut *(opaque as *mut Reader) };
    if whence & ffi::AVSEEK_SIZE as c_int != 0 {
        return r.size as i64;
    }
    let base = match whence & !(ffi::AVSEEK_FORCE as c_int) {
        libc::SEEK_SET => 0,
        libc::SEEK_CUR => r.pos as i64,
        libc::SEEK_END => r.size as i64,
        _ => return averror(libc::EINVAL) as i64,
    };
    match base.checked_add(offset) {
        Some(p) if p >= 0 => {
            r.pos = p as u64;
            p
        }
        _ => averror(libc::EINVAL) as i64,
    }
}

pub(super) unsafe extern "C" fn interrupted(opaque: *mut c_void) -> c_int {
    // SAFETY: `opaque` is the boxed reader owned by `Opened`, alive while the context is.
    let r = unsafe { &*(opaque as *const Reader) };
    (Instant::now() >= r.deadline) as c_int
}

/// Opens the container in `file` (read through its descriptor, from its start) for demuxing.
pub(super) fn open(file: &File, deadline: Instant) -> Result<Opened, String> {
    let size = file
        .metadata()
        .map_err(|e| format!("cannot read the file: {e}"))?
        .len();
    let reader = Reader {
        file: file
            .try_clone()
            .map_err(|e| format!("cannot read the file: {e}"))?,
        pos: 0,
        size,
        deadline,
    };
    let mut io = Io::new(reader)?;
    let mut dict = ffmpeg::Dictionary::new();
    // The bytes come through the custom reader; no protocol may open anything else (a name
    // that matches no protocol), and MP4 data references to other files are never followed.
    dict.set("protocol_whitelist", "none");
    dict.set("format_whitelist", DEMUXERS);
    dict.set("enable_drefs", "0");
    // SAFETY: the context is allocated here, handed to avformat_open_input (which frees it on
    // failure, leaving the custom I/O context to `io`) and otherwise owned by the returned
    // Input; the options dictionary is returned to Rust ownership and freed.
    unsafe {
        let mut ps = ffi::avformat_alloc_context();
        if ps.is_null() {
            return Err("out of memory".into());
        }
        (*ps).pb = io.ctx;
        (*ps).interrupt_callback = ffi::AVIOInterruptCB {
            callback: Some(interrupted),
            opaque: &mut *io.reader as *mut Reader as *mut c_void,
        };
        let mut opts = dict.disown();
        let r = ffi::avformat_open_input(&mut ps, c"".as_ptr(), ptr::null(), &mut opts);
        drop(ffmpeg::Dictionary::own(opts));
        if r < 0 {
            return Err(format!("cannot open container: {}", ffmpeg::Error::from(r)));
        }
        let r = ffi::avformat_find_stream_info(ps, ptr::null_mut());
        if r < 0 {
            ffi::avformat_close_input(&mut ps);
            return Err(format!(
                "cannot read stream info: {}",
                ffmpeg::Error::from(r)
            ));
        }
        Ok(Opened {
            input: ffmpeg::format::context::Input::wrap(ps),
            _io: io,
        })
    }
}

/// Converts decoded frames to packed RGB24 at full resolution, as vPDQ does.
pub(super) struct Rgb {
    pub(super) ctx: *mut ffi::SwsContext,
}

impl Rgb {
    pub(super) fn convert(
        &mut self,
        frame: &ffmpeg::frame::Video,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let (w, h) = (frame.width() as i32, frame.height() as i32);
        // SAFETY: reading a plain integer field of a decoded frame.
        let format = unsafe { (*frame.as_ptr()).format };
        // An integer outside the enum is not a value of it: transmuting one would be undefined
        // behaviour. FFmpeg 5.1's pixel formats run contiguously from 0 to AV_PIX_FMT_NB.
        if !(0..ffi::AVPixelFormat::AV_PIX_FMT_NB as c_int).contains(&format) {
            return Err(format!(
                "decoded frame has an unknown pixel format ({format})"
            ));
        }
        // SAFETY: the frame is a decoded video frame whose format (checked in range above),
        // width and height describe its planes; sws_getCachedContext reuses or replaces
        // `self.ctx`.
        unsafe {
            let f = frame.as_ptr();
            self.ctx = ffi::sws_getCachedContext(
                self.ctx,
                w,
                h,
                std::mem::transmute::<c_int, ffi::AVPixelFormat>(format),
                w,
                h,
                ffi::AVPixelFormat::AV_PIX_FMT_RGB24,
                ffi::SWS_AREA as c_int,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null(),
            );
            if self.ctx.is_null() {
                return Err("unsupported pixel format".into());
            }
            let stride = w as usize * 3;
            // swscale's vector code may write a little past a row's end; pad the last row.
            // A reused buffer of the right size is not cleared: swscale writes every byte.
            let padded = stride * h as usize + 64;
            if out.len() != padded {
                out.clear();
                out.resize(padded, 0);
            }
            let dst = [
                out.as_mut_ptr(),
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
            ];
            let dst_stride = [stride as c_int, 0, 0, 0];
            let rows = ffi::sws_scale(
                self.ctx,
                (*f).data.as_ptr() as *const *const u8,
                (*f).linesize.as_ptr(),
                0,
                h,
                dst.as_ptr(),
                dst_stride.as_ptr(),
            );
            if rows != h {
                return Err("frame conversion failed".into());
            }
        }
        Ok(())
    }
}

impl Drop for Rgb {
    fn drop(&mut self) {
        // SAFETY: the context came from sws_getCachedContext (or is null, which is allowed).
        unsafe { ffi::sws_freeContext(self.ctx) }
    }
}

pub(super) fn hash_rgb(rgb: &[u8], width: u32, height: u32) -> Result<(PdqHash, u8), String> {
    let len = (width as usize * 3 * height as usize).min(rgb.len());
    let view = PixelView {
        width: width as usize,
        height: height as usize,
        layout: PixelLayout::Rgb8,
        data: &rgb[..len],
    };
    with_pdq_hasher(|h| h.hash(&view))
        .map(|o| (o.hash, o.quality))
        .map_err(|e| e.to_string())
}

//! FFmpeg at its edges: uploads handed over through a memfd (never the file system), inputs
//! opened with a deadline that interrupts FFmpeg's own I/O, frames converted to RGB for PDQ.

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

/// An opened container and the deadline its interrupt callback reads.
pub(super) struct Opened {
    // Dropped first (field order), so the callback never reads a freed deadline.
    pub(super) input: ffmpeg::format::context::Input,
    pub(super) _deadline: Box<Instant>,
}

pub(super) unsafe extern "C" fn interrupted(opaque: *mut c_void) -> c_int {
    // SAFETY: `opaque` is the boxed deadline owned by `Opened`, alive while the context is.
    let deadline = unsafe { &*(opaque as *const Instant) };
    (Instant::now() >= *deadline) as c_int
}

pub(super) fn open(url: &CString, deadline: Instant) -> Result<Opened, String> {
    let mut dict = ffmpeg::Dictionary::new();
    dict.set("protocol_whitelist", "file");
    dict.set("format_whitelist", DEMUXERS);
    // MP4 data references to other files or URLs are never followed (also FFmpeg's default).
    dict.set("enable_drefs", "0");
    let deadline = Box::new(deadline);
    // SAFETY: the context is allocated here, handed to avformat_open_input (which frees it on
    // failure) and otherwise owned by the returned Input; the options dictionary is returned to
    // Rust ownership and freed.
    unsafe {
        let mut ps = ffi::avformat_alloc_context();
        if ps.is_null() {
            return Err("out of memory".into());
        }
        (*ps).interrupt_callback = ffi::AVIOInterruptCB {
            callback: Some(interrupted),
            opaque: &*deadline as *const Instant as *mut c_void,
        };
        let mut opts = dict.disown();
        let r = ffi::avformat_open_input(&mut ps, url.as_ptr(), ptr::null(), &mut opts);
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
            _deadline: deadline,
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

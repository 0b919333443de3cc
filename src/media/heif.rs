//! HEIF/HEIC and AVIF stills through the system libheif (Debian 12: 1.15, with its built-in
//! libde265 and dav1d decoders).
//!
//! The binding is written here rather than taken from a crate: the maintained bindings
//! (`libheif-sys` 2.x/3.x, `libheif-rs` 1.x) require libheif 1.17 or newer, and the few calls a
//! decoder needs (read from memory, primary image, decode to interleaved RGB) are small and
//! stable since libheif 1.4. Grid (tiled) images, rotations and crops are composed by libheif
//! itself when it decodes the primary image.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;

use image::DynamicImage;

use super::{Error, Limits, check_size};

#[repr(C)]
struct HeifError {
    code: c_int,
    subcode: c_int,
    message: *const c_char,
}

/// `struct heif_decoding_options` up to version 2 (the fields this module sets); the struct is
/// always allocated by libheif, so later fields it has are never touched here.
#[repr(C)]
struct DecodingOptions {
    version: u8,
    ignore_transformations: u8,
    start_progress: *const c_void,
    on_progress: *const c_void,
    end_progress: *const c_void,
    progress_user_data: *mut c_void,
    convert_hdr_to_8bit: u8,
}

#[repr(C)]
struct Context {
    _private: [u8; 0],
}
#[repr(C)]
struct Handle {
    _private: [u8; 0],
}
#[repr(C)]
struct Image {
    _private: [u8; 0],
}

const COLORSPACE_RGB: c_int = 1;
const CHROMA_INTERLEAVED_RGB: c_int = 10;
const CHANNEL_INTERLEAVED: c_int = 10;
const ERROR_MEMORY_ALLOCATION: c_int = 6;
const SUBERROR_SECURITY_LIMIT: c_int = 1000;

/// libheif's one-time set-up (its decoder plugins), run before a sandbox refuses file access.
pub(super) fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: heif_init takes no parameters (null) and may be called more than once; its error
    // only means plugins were not loaded, and the built-in decoders remain.
    ONCE.call_once(|| unsafe {
        let _ = heif_init(ptr::null_mut());
    });
}

#[link(name = "heif")]
unsafe extern "C" {
    fn heif_init(params: *mut c_void) -> HeifError;
    fn heif_context_alloc() -> *mut Context;
    fn heif_context_free(ctx: *mut Context);
    fn heif_context_read_from_memory_without_copy(
        ctx: *mut Context,
        mem: *const c_void,
        size: usize,
        options: *const c_void,
    ) -> HeifError;
    fn heif_context_set_maximum_image_size_limit(ctx: *mut Context, maximum_width: c_int);
    fn heif_context_set_max_decoding_threads(ctx: *mut Context, max_threads: c_int);
    fn heif_context_get_primary_image_handle(ctx: *mut Context, out: *mut *mut Handle)
    -> HeifError;
    fn heif_image_handle_release(handle: *const Handle);
    fn heif_image_handle_get_width(handle: *const Handle) -> c_int;
    fn heif_image_handle_get_height(handle: *const Handle) -> c_int;
    fn heif_decoding_options_alloc() -> *mut DecodingOptions;
    fn heif_decoding_options_free(options: *mut DecodingOptions);
    fn heif_decode_image(
        handle: *const Handle,
        out: *mut *mut Image,
        colorspace: c_int,
        chroma: c_int,
        options: *const DecodingOptions,
    ) -> HeifError;
    fn heif_image_get_width(image: *const Image, channel: c_int) -> c_int;
    fn heif_image_get_height(image: *const Image, channel: c_int) -> c_int;
    fn heif_image_get_plane_readonly(
        image: *const Image,
        channel: c_int,
        out_stride: *mut c_int,
    ) -> *const u8;
    fn heif_image_release(image: *const Image);
}

/// Frees what libheif allocated, whichever way decoding ends.
struct Owned {
    ctx: *mut Context,
    handle: *mut Handle,
    image: *mut Image,
    options: *mut DecodingOptions,
}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: each pointer is null or was returned by the matching libheif allocator and
        // is released exactly once, here.
        unsafe {
            if !self.image.is_null() {
                heif_image_release(self.image);
            }
            if !self.options.is_null() {
                heif_decoding_options_free(self.options);
            }
            if !self.handle.is_null() {
                heif_image_handle_release(self.handle);
            }
            if !self.ctx.is_null() {
                heif_context_free(self.ctx);
            }
        }
    }
}

fn check(format: &'static str, e: HeifError) -> Result<(), Error> {
    if e.code == 0 {
        return Ok(());
    }
    let message = if e.message.is_null() {
        format!("libheif error {}.{}", e.code, e.subcode)
    } else {
        // SAFETY: libheif's error messages are NUL-terminated strings that live in the context
        // or handle (or are static), all alive here: they are copied before `Owned` drops.
        unsafe { CStr::from_ptr(e.message) }
            .to_string_lossy()
            .into_owned()
    };
    // An item (a grid's canvas among them) over the size limit set on the context.
    if (e.code, e.subcode) == (ERROR_MEMORY_ALLOCATION, SUBERROR_SECURITY_LIMIT) {
        return Err(Error::TooLarge {
            format,
            width: 0,
            height: 0,
            limit: message,
        });
    }
    Err(Error::Decode { format, message })
}

/// Decodes the primary image of a HEIF or AVIF file held in memory to 8-bit RGB (alpha dropped;
/// higher bit depths reduced to 8 bits by libheif, as Pillow's plugin does). The declared size
/// is checked against `limits` before any pixel is decoded.
pub(super) fn decode(
    bytes: &[u8],
    format: &'static str,
    limits: &Limits,
) -> Result<DynamicImage, Error> {
    let mut owned = Owned {
        ctx: ptr::null_mut(),
        handle: ptr::null_mut(),
        image: ptr::null_mut(),
        options: ptr::null_mut(),
    };
    // SAFETY: plain libheif calls on pointers it returned; `bytes` outlives the context (the
    // context is freed when `owned` drops, at the end of this function).
    unsafe {
        owned.ctx = heif_context_alloc();
        if owned.ctx.is_null() {
            return Err(Error::Decode {
                format,
                message: "libheif could not allocate a context".into(),
            });
        }
        // libheif 1.15 applies this to each side of every item, grids' canvases included (which
        // the handle's size does not show): the side of a square of `max_pixels`, so no canvas
        // it builds can exceed the pixel limit either.
        let side = (limits.max_pixels as f64).sqrt() as u32;
        let side = side
            .min(limits.max_width)
            .min(limits.max_height)
            .min(i32::MAX as u32) as c_int;
        heif_context_set_maximum_image_size_limit(owned.ctx, side);
        // Files are already hashed in parallel, one per thread: tiles decode on this thread.
        heif_context_set_max_decoding_threads(owned.ctx, 0);
        check(
            format,
            heif_context_read_from_memory_without_copy(
                owned.ctx,
                bytes.as_ptr().cast(),
                bytes.len(),
                ptr::null(),
            ),
        )?;
        check(
            format,
            heif_context_get_primary_image_handle(owned.ctx, &mut owned.handle),
        )?;
        let w = heif_image_handle_get_width(owned.handle);
        let h = heif_image_handle_get_height(owned.handle);
        let (Ok(width @ 1..), Ok(height @ 1..)) = (u32::try_from(w), u32::try_from(h)) else {
            return Err(Error::Decode {
                format,
                message: format!("invalid image size {w}x{h}"),
            });
        };
        // Always RGB, never RGBA: PDQ ignores alpha (as Pillow's convert("RGB") drops it), and
        // libheif 1.15 combines an alpha plane without checking that its size matches the
        // image's, an out-of-bounds read a hostile file can reach.
        let channels: usize = 3;
        check_size(format, width, height, channels as u64, limits)?;
        owned.options = heif_decoding_options_alloc();
        if !owned.options.is_null() && (*owned.options).version >= 2 {
            (*owned.options).convert_hdr_to_8bit = 1;
        }
        check(
            format,
            heif_decode_image(
                owned.handle,
                &mut owned.image,
                COLORSPACE_RGB,
                CHROMA_INTERLEAVED_RGB,
                owned.options,
            ),
        )?;
        let mut stride: c_int = 0;
        let plane = heif_image_get_plane_readonly(owned.image, CHANNEL_INTERLEAVED, &mut stride);
        let iw = heif_image_get_width(owned.image, CHANNEL_INTERLEAVED);
        let ih = heif_image_get_height(owned.image, CHANNEL_INTERLEAVED);
        let (Ok(iw), Ok(ih), Ok(stride)) = (
            usize::try_from(iw),
            usize::try_from(ih),
            usize::try_from(stride),
        ) else {
            return Err(Error::Decode {
                format,
                message: "decoded image has no interleaved plane".into(),
            });
        };
        let row = iw * channels;
        if plane.is_null() || stride < row || iw == 0 || ih == 0 {
            return Err(Error::Decode {
                format,
                message: "decoded image has no interleaved plane".into(),
            });
        }
        // A transformation (rotation, crop) may change the size from the handle's; check again.
        check_size(format, iw as u32, ih as u32, channels as u64, limits)?;
        let mut pixels = Vec::with_capacity(row * ih);
        for y in 0..ih {
            // SAFETY: libheif guarantees `ih` rows of `stride` bytes, each holding `row` bytes
            // of pixels, valid until the image is released.
            let line = std::slice::from_raw_parts(plane.add(y * stride), row);
            pixels.extend_from_slice(line);
        }
        let img =
            image::RgbImage::from_raw(iw as u32, ih as u32, pixels).map(DynamicImage::ImageRgb8);
        img.ok_or(Error::Decode {
            format,
            message: "decoded buffer size mismatch".into(),
        })
    }
}

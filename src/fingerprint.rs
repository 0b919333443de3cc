//! Fingerprinting: every requested hash of one file or byte buffer, reading the bytes once.
//!
//! A file that cannot be decoded still gets its digests and a reason code; nothing here panics
//! or stops on bad input.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::files::io_detail;
use crate::hashing::{
    DHash, DigestSet, Digester, HashKind, Md5Digest, PHash, PartialDigests, PdqHash, Sha1Digest,
    Sha256Digest, perceptual, with_pdq_hasher,
};
use crate::media::{self, Format, Limits, MediaKind, Sampling, VideoError, VideoOptions};

/// Which hashes to compute.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HashRequest {
    /// PDQ and its quality.
    pub pdq: bool,
    /// 64-bit pHash.
    pub phash: bool,
    /// 64-bit dHash.
    pub dhash: bool,
    /// Exact digests.
    pub digests: DigestSet,
    /// Which video frames get a PDQ hash (videos get PDQ frame hashes only, as vPDQ defines).
    pub video: Sampling,
    /// Also keep the PDQ hashes of an image's 8 rotations and flips (for matching; not
    /// written in records).
    pub pdq_dihedral: bool,
}

impl HashRequest {
    /// Every hash hashguard knows.
    pub const ALL: HashRequest = HashRequest {
        pdq: true,
        phash: true,
        dhash: true,
        digests: DigestSet::ALL,
        video: Sampling::Interval { seconds: 1.0 },
        pdq_dihedral: false,
    };

    /// The request for a list of kinds.
    pub fn from_kinds(kinds: &[HashKind]) -> Self {
        let has = |k| kinds.contains(&k);
        HashRequest {
            // A video's vPDQ frames are its PDQ hashes.
            pdq: has(HashKind::Pdq) || has(HashKind::Vpdq),
            phash: has(HashKind::Phash),
            dhash: has(HashKind::Dhash),
            digests: DigestSet {
                md5: has(HashKind::Md5),
                sha1: has(HashKind::Sha1),
                sha256: has(HashKind::Sha256),
            },
            video: Sampling::default(),
            pdq_dihedral: false,
        }
    }

    /// True when any perceptual hash is wanted, so the media must be decoded.
    pub fn needs_decode(&self) -> bool {
        self.pdq || self.phash || self.dhash
    }
}

/// Why a file did not get every requested hash (a stable code for scripts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Recognised as a supported format, but broken (truncated, corrupt).
    DecodeFailed,
    /// Over a size limit (pixels, dimensions, file size); refused before decoding.
    TooLarge,
    /// A video over a length limit (duration, frame count, or the wall-clock cap).
    TooLong,
    /// Not a format hashguard decodes (or not media at all).
    UnsupportedFormat,
    /// Could not be opened or read (missing, permission denied, I/O error).
    Unreadable,
    /// Deliberately not hashed (not a regular file, symlink not followed).
    Skipped,
    /// Encrypted inside a container: its content cannot be read without the key.
    Encrypted,
    /// A container (or the rest of one) that was not opened: nested past the depth cap, over
    /// an expansion cap, or damaged. Its own digests, when it has any, were still checked.
    NotOpened,
}

impl Reason {
    /// The code as written in output records.
    pub fn code(self) -> &'static str {
        match self {
            Reason::DecodeFailed => "decode_failed",
            Reason::TooLarge => "too_large",
            Reason::TooLong => "too_long",
            Reason::UnsupportedFormat => "unsupported_format",
            Reason::Unreadable => "unreadable",
            Reason::Skipped => "skipped",
            Reason::Encrypted => "encrypted",
            Reason::NotOpened => "not_opened",
        }
    }
}

/// Why only part of a file's frames was hashed (`partial` in records). The frames hashed before
/// the cut are kept, matched and reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Partial {
    /// The wall-clock time one video may take ran out.
    WallClock,
    /// The cap on decoded frames was reached.
    MaxFrames,
    /// The cap on decoded presentation time was reached.
    MaxDuration,
    /// The cap on an animated image's frames or total pixels was reached.
    MaxAnimation,
    /// The file is damaged or truncated after the frames hashed.
    Damaged,
}

impl Partial {
    /// The code as written in output records.
    pub fn code(self) -> &'static str {
        match self {
            Partial::WallClock => "wall_clock",
            Partial::MaxFrames => "max_frames",
            Partial::MaxDuration => "max_duration",
            Partial::MaxAnimation => "max_animation",
            Partial::Damaged => "damaged",
        }
    }
}

/// Why a sandboxed decoder gave no answer for a file (`fault` in records, always with
/// `decode_failed`; the detail starts with the same code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The decoder process died (a signal, or an exit without an answer).
    DecoderCrashed,
    /// The decoder took longer than its deadline or CPU-time budget and was killed.
    DecoderTimeout,
    /// The decoder ran out of its memory limit.
    DecoderOutOfMemory,
    /// No decoder process could be started.
    DecoderUnavailable,
}

impl Fault {
    /// The code as written in output records.
    pub fn code(self) -> &'static str {
        match self {
            Fault::DecoderCrashed => "decoder_crashed",
            Fault::DecoderTimeout => "decoder_timeout",
            Fault::DecoderOutOfMemory => "decoder_out_of_memory",
            Fault::DecoderUnavailable => "decoder_unavailable",
        }
    }
}

impl From<media::Cap> for Partial {
    fn from(c: media::Cap) -> Self {
        match c {
            media::Cap::WallClock => Partial::WallClock,
            media::Cap::MaxFrames => Partial::MaxFrames,
            media::Cap::MaxDuration => Partial::MaxDuration,
        }
    }
}

/// Everything hashguard computed for one file (the `hashguard hash` record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The path as given or found (lossy UTF-8).
    pub path: String,
    /// Hex of the raw path bytes, only when the path is not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_hex: Option<String>,
    /// What the content is.
    pub kind: MediaKind,
    /// Recognised format, when media.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// File size in bytes (absent when unreadable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// MD5 of the bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<Md5Digest>,
    /// SHA-1 of the bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<Sha1Digest>,
    /// SHA-256 of the bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256Digest>,
    /// Image width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Image height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// The declared `[width, height]` of an image too large to decode whole, which was hashed
    /// from a reduced copy of `width` × `height` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduced_from: Option<[u32; 2]>,
    /// PDQ hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdq: Option<PdqHash>,
    /// PDQ quality, 0–100 (below 50 the hash is weak evidence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdq_quality: Option<u8>,
    /// pHash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phash: Option<PHash>,
    /// dHash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhash: Option<DHash>,
    /// PDQ of the image's rotations and flips, in [`crate::hashing::Dihedral::ALL`] order,
    /// when asked for; kept for matching only, never written.
    #[serde(skip)]
    pub pdq_variants: Option<[PdqHash; 8]>,
    /// Video duration in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// Hashed video frames, or every frame of an animated image, in time order (also the part
    /// hashed before a video failed or hit a cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<Vec<FrameRecord>>,
    /// Set when only the frames in `frames` were hashed, and says why the rest was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
    /// Why some requested hash is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Reason>,
    /// Set when the sandboxed decoder failed on this file (with `error: decode_failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    /// Human-readable detail for `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl FileRecord {
    /// A record for `path` with nothing computed yet.
    pub fn new(path: &Path) -> Self {
        let lossy = path.to_string_lossy();
        let path_hex = match path.to_str() {
            Some(_) => None,
            None => Some(hex::encode(path.as_os_str().as_encoded_bytes())),
        };
        FileRecord {
            path: lossy.into_owned(),
            path_hex,
            kind: MediaKind::Other,
            format: None,
            size: None,
            md5: None,
            sha1: None,
            sha256: None,
            width: None,
            height: None,
            reduced_from: None,
            pdq: None,
            pdq_quality: None,
            phash: None,
            dhash: None,
            pdq_variants: None,
            duration: None,
            frames: None,
            partial: None,
            error: None,
            fault: None,
            detail: None,
        }
    }

    /// A record for an entry that was not read, with the reason and why.
    pub fn failed(path: &Path, reason: Reason, detail: impl Into<String>) -> Self {
        FileRecord {
            error: Some(reason),
            detail: Some(detail.into()),
            ..FileRecord::new(path)
        }
    }

    pub(crate) fn set_digests(&mut self, d: PartialDigests) {
        self.md5 = d.md5;
        self.sha1 = d.sha1;
        self.sha256 = d.sha256;
    }

    pub(crate) fn fail(&mut self, reason: Reason, detail: String) {
        self.error = Some(reason);
        self.detail = Some(detail);
    }

    /// True when every requested hash was computed.
    pub fn is_complete(&self) -> bool {
        self.error.is_none()
    }
}

/// One hashed video frame in a record.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrameRecord {
    /// Presentation time in seconds.
    pub ts: f64,
    /// 0-based index among decoded frames (vPDQ's frame number).
    pub frame: u64,
    /// PDQ hash of the frame.
    pub pdq: PdqHash,
    /// PDQ quality, 0–100.
    pub pdq_quality: u8,
}

impl From<&media::VideoFrame> for FrameRecord {
    fn from(f: &media::VideoFrame) -> Self {
        FrameRecord {
            ts: f.ts(),
            frame: f.number,
            pdq: f.pdq,
            pdq_quality: f.quality,
        }
    }
}

impl From<&FrameRecord> for media::VideoFrame {
    fn from(f: &FrameRecord) -> Self {
        media::VideoFrame {
            number: f.frame,
            ts_ms: (f.ts * 1000.0).round() as u64,
            pdq: f.pdq,
            quality: f.pdq_quality,
        }
    }
}

/// Hashes an in-memory file (an upload, or a file already read) into `rec`.
pub fn fingerprint_bytes(bytes: &[u8], req: &HashRequest, limits: &Limits, rec: &mut FileRecord) {
    rec.size = Some(bytes.len() as u64);
    if !req.digests.is_empty() {
        let mut d = Digester::new(req.digests);
        d.update(bytes);
        rec.set_digests(d.finish());
    }
    let format = media::sniff(bytes);
    rec.kind = format.kind();
    if format != Format::Unknown {
        rec.format = Some(format.name().to_string());
    }
    if !req.needs_decode() {
        return;
    }
    match format {
        Format::Image(_) | Format::Heif(_) => {}
        Format::Video(_) => {
            let opts = video_options(req, limits);
            return apply_video(rec, media::hash_video_bytes(bytes, &opts));
        }
        Format::UnsupportedImage(name) => {
            return rec.fail(
                Reason::UnsupportedFormat,
                format!("{name} images are not decoded"),
            );
        }
        Format::Unknown => {
            let what = if bytes.is_empty() {
                "empty file"
            } else {
                "not a recognised image or video"
            };
            return rec.fail(Reason::UnsupportedFormat, what.to_string());
        }
    }
    let still = match media::decode_still(bytes, limits) {
        Ok(s) => s,
        Err(e) => return rec.fail(reason_for(&e), e.to_string()),
    };
    let img = &still.image;
    rec.width = Some(img.width());
    rec.height = Some(img.height());
    rec.reduced_from = still.reduced_from.map(|(w, h)| [w, h]);
    if req.pdq {
        let px = media::pixels_for_hashing(img);
        let hashed = if req.pdq_dihedral {
            with_pdq_hasher(|h| h.hash_dihedral(&px.view())).map(|(v, q)| (v[0], q, Some(v)))
        } else {
            with_pdq_hasher(|h| h.hash(&px.view())).map(|o| (o.hash, o.quality, None))
        };
        match hashed {
            Ok((hash, quality, variants)) => {
                rec.pdq = Some(hash);
                rec.pdq_quality = Some(quality);
                rec.pdq_variants = variants;
            }
            // Unreachable for a decoded image (its buffer always fits), but never hidden.
            Err(e) => return rec.fail(Reason::DecodeFailed, e.to_string()),
        }
    }
    match (req.phash, req.dhash) {
        (true, true) => {
            let (p, d) = perceptual::phash_dhash(img);
            rec.phash = Some(p);
            rec.dhash = Some(d);
        }
        (true, false) => rec.phash = Some(perceptual::phash(img)),
        (false, true) => rec.dhash = Some(perceptual::dhash(img)),
        (false, false) => {}
    }
    if let Format::Image(f) = format
        && req.pdq
        && media::is_animated(bytes, f)
    {
        apply_animation(rec, media::animation_frames(bytes, f, limits));
    }
}

/// Copies an animation's frames into `rec` (the still-image fields stay the first frame's).
fn apply_animation(rec: &mut FileRecord, result: Result<media::Animation, media::Error>) {
    let a = match result {
        Ok(a) => a,
        Err(e) => return rec.fail(reason_for(&e), format!("animation frames: {e}")),
    };
    rec.duration = Some(a.duration);
    rec.frames = Some(a.frames.iter().map(FrameRecord::from).collect());
    match a.stopped {
        None => {}
        Some(media::animation::Stopped::Cap(why)) => {
            rec.partial = Some(Partial::MaxAnimation);
            rec.fail(Reason::TooLong, format!("animation: {why}"));
        }
        Some(media::animation::Stopped::Damaged(why)) => {
            rec.partial = Some(Partial::Damaged);
            rec.fail(Reason::DecodeFailed, format!("animation: {why}"));
        }
    }
}

fn video_options(req: &HashRequest, limits: &Limits) -> VideoOptions {
    VideoOptions {
        sampling: req.video,
        limits: limits.video,
        // As many decoder threads as the pool hashing the files has (`--threads`).
        decoder_threads: rayon::current_num_threads(),
    }
}

/// Copies a video's hashes (or its failure, with any frames hashed before it) into `rec`.
fn apply_video(rec: &mut FileRecord, result: Result<media::VideoHashes, VideoError>) {
    match result {
        Ok(v) => {
            rec.width = Some(v.width);
            rec.height = Some(v.height);
            rec.duration = Some(v.duration);
            rec.frames = Some(v.frames.iter().map(FrameRecord::from).collect());
        }
        Err(VideoError::Decode { message, frames }) => {
            keep_partial(rec, &frames, Partial::Damaged);
            rec.fail(Reason::DecodeFailed, message);
        }
        // Still `too_long`: the video was not checked whole. Its frames are matched all the same.
        Err(VideoError::TooLong {
            cap,
            message,
            frames,
        }) => {
            keep_partial(rec, &frames, cap.into());
            rec.fail(Reason::TooLong, message);
        }
        Err(e @ VideoError::TooLarge { .. }) => rec.fail(Reason::TooLarge, e.to_string()),
        Err(e @ VideoError::Memory(_)) => rec.fail(Reason::Unreadable, e.to_string()),
    }
}

/// Keeps the frames a video hashed before a cap or damage cut it, marked partial and why.
fn keep_partial(rec: &mut FileRecord, frames: &[media::VideoFrame], why: Partial) {
    if !frames.is_empty() {
        rec.frames = Some(frames.iter().map(FrameRecord::from).collect());
        rec.partial = Some(why);
    }
}

fn reason_for(e: &media::Error) -> Reason {
    match e {
        media::Error::TooLarge { .. } | media::Error::FileTooLarge { .. } => Reason::TooLarge,
        media::Error::Unsupported { .. } => Reason::UnsupportedFormat,
        media::Error::Decode { .. } => Reason::DecodeFailed,
    }
}

/// Hashes the file at `path`, reading it once. Files over `limits.max_file_bytes` are streamed for
/// their digests and reported `too_large` when a perceptual hash was asked for.
pub fn fingerprint_file(path: &Path, req: &HashRequest, limits: &Limits) -> FileRecord {
    match File::open(path) {
        Ok(file) => fingerprint_opened(path, file, req, limits),
        Err(e) => FileRecord::failed(path, Reason::Unreadable, io_detail(&e)),
    }
}

/// [`fingerprint_file`] on a file the caller already opened (the scan opens without following
/// links and without blocking): everything is read through `file`, never by opening `path`
/// again, so a file swapped for a symlink or a FIFO meanwhile is not followed.
pub fn fingerprint_opened(
    path: &Path,
    mut file: File,
    req: &HashRequest,
    limits: &Limits,
) -> FileRecord {
    let mut rec = FileRecord::new(path);
    let size = match file.metadata() {
        Ok(m) if m.is_dir() => {
            rec.fail(Reason::Skipped, "is a directory".to_string());
            return rec;
        }
        Ok(m) => m.len(),
        Err(e) => {
            rec.fail(Reason::Unreadable, io_detail(&e));
            return rec;
        }
    };
    if size > limits.max_file_bytes {
        return stream_large(file, size, req, limits, rec);
    }
    let mut bytes = Vec::with_capacity(size as usize);
    if let Err(e) = file.read_to_end(&mut bytes) {
        rec.fail(Reason::Unreadable, io_detail(&e));
        return rec;
    }
    fingerprint_bytes(&bytes, req, limits, &mut rec);
    rec
}

/// Digests of a file too large to hold in memory, and its kind from the first bytes.
fn stream_large(
    mut file: File,
    size: u64,
    req: &HashRequest,
    limits: &Limits,
    mut rec: FileRecord,
) -> FileRecord {
    let mut head = [0u8; 16];
    let mut d = Digester::new(req.digests);
    // Stream the rest through the same digester.
    let outcome = (|| -> io::Result<u64> {
        let n = read_full(&mut file, &mut head)?;
        d.update(&head[..n]);
        let mut buf = vec![0u8; 1 << 20];
        let mut total = n as u64;
        loop {
            match file.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(k) => {
                    d.update(&buf[..k]);
                    total += k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    })();
    match outcome {
        Ok(total) => {
            rec.size = Some(total);
            rec.set_digests(d.finish());
            let format = media::sniff(&head);
            rec.kind = format.kind();
            if format != Format::Unknown {
                rec.format = Some(format.name().to_string());
            }
            if req.needs_decode() && rec.kind == MediaKind::Video {
                // FFmpeg reads the video through this descriptor (at its own offsets), never
                // by its path.
                let opts = video_options(req, limits);
                apply_video(&mut rec, media::hash_video_fd(&file, &opts));
            } else if req.needs_decode() && format == Format::Unknown {
                // Not media (a disk image, an archive, a database): its digests were all
                // there was to compute, as for a small file of the same kind.
                rec.fail(
                    Reason::UnsupportedFormat,
                    "not a recognised image or video".to_string(),
                );
            } else if req.needs_decode() {
                let e = media::Error::FileTooLarge {
                    size,
                    limit: limits.max_file_bytes,
                };
                rec.fail(Reason::TooLarge, e.to_string());
            }
        }
        Err(e) => rec.fail(Reason::Unreadable, io_detail(&e)),
    }
    rec
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file over the in-memory limit is streamed for its digests; only media is then
    /// `too_large`: anything else (a disk image, an archive) had nothing more to compute.
    #[test]
    fn a_large_file_is_too_large_only_when_it_is_media() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            max_file_bytes: 1024,
            ..Limits::default()
        };
        let other = dir.path().join("blob.bin");
        std::fs::write(&other, vec![0x42u8; 4096]).unwrap();
        let rec = fingerprint_file(&other, &HashRequest::ALL, &limits);
        assert_eq!(rec.error, Some(Reason::UnsupportedFormat), "{rec:?}");
        assert_eq!(rec.kind, MediaKind::Other);
        assert_eq!(rec.size, Some(4096));
        assert!(rec.md5.is_some() && rec.sha256.is_some());

        let png = dir.path().join("big.png");
        let mut rng = crate::synth::SplitMix::new(3);
        let img = image::RgbImage::from_fn(64, 64, |_, _| {
            let v = rng.next_u64();
            image::Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
        });
        img.save(&png).unwrap();
        assert!(std::fs::metadata(&png).unwrap().len() > 1024);
        let rec = fingerprint_file(&png, &HashRequest::ALL, &limits);
        assert_eq!(rec.error, Some(Reason::TooLarge), "{rec:?}");
        assert!(rec.sha256.is_some());
    }
}

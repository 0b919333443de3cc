//! `hashguard hash`: fingerprints files in parallel and writes one record per file, in input order.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use rayon::prelude::*;

use hashguard::files::{self, Entry};
use hashguard::fingerprint::{self, FileRecord, HashRequest, Reason};
use hashguard::hashing::HashKind;
use hashguard::hashing::vpdq::write_vpdq;
use hashguard::media::{Limits, Sampling, VideoFrame, VideoLimits};

use super::exit::{Code, Failure};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One JSON object per line (the default; every field).
    Jsonl,
    /// Comma-separated with a header row (every field).
    Csv,
    /// Tab-separated without a header: path, then the requested hashes in --algo order
    /// (pdq is followed by its quality), then the error code.
    Tsv,
    /// Videos' frames in Meta's vPDQ text form (frame_number,quality,pdq_hex,timestamp_sec),
    /// each video after a "# PATH" line; other files get a "# PATH: not a video" line.
    Vpdq,
}

/// Which video frames are hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VideoSampling {
    /// One frame every --video-interval seconds, chosen as vPDQ does (comparable with vPDQ lists).
    Interval,
    /// Every frame.
    EveryFrame,
    /// Keyframes only: fast triage, NOT comparable with vPDQ hashes of the same video.
    Keyframes,
}

/// Arguments of `hashguard hash`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  hashguard hash ./photos
  hashguard hash --algo pdq --format tsv --paths-from list.txt
  find /mnt/seized -name '*.jpg' | hashguard hash --paths-from - --threads 2

  hashguard hash --format vpdq clip.mp4 > clip.vpdq

Each record has path, kind (image|video|other), size, the digests, and for images pdq,
pdq_quality (0-100; below 50 the image is too flat to be good evidence), phash and dhash.
Images: JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF and AVIF. A JPEG or PNG larger than
--max-megapixels (or 16,384 px a side) is hashed from a reduced copy and says so in
reduced_from: [width, height]. Animated GIF/WebP/PNG also get frames: every frame hashed,
with its start time; the other fields are the first frame's.
Videos get duration and frames: [{ts, frame, pdq, pdq_quality}], one frame per second chosen
as Meta's vPDQ does (so hashes compare with vPDQ lists); when a container's declared frame
rate contradicts its timestamps, frames are chosen by timestamp instead. What a container
declares never refuses a video: caps apply to what is decoded.
A file that cannot be hashed whole keeps its digests and gets an `error` code:
decode_failed, too_large, too_long (a video or animation that reached a cap),
unsupported_format, unreadable or skipped (not a regular file). Frames hashed before a cap or
damage are kept (and matched), and `partial` says why the rest is missing: wall_clock,
max_frames, max_duration, max_animation or damaged.
Directories are walked in name order without following symlinks.

Exit status: 0 every file got every requested hash, 2 some did not (see their `error`),
64 bad arguments, 66 --paths-from file missing, 74 output could not be written.")]
pub struct HashArgs {
    /// Files or directories to hash.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Hashes to compute, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "pdq,phash,dhash,md5,sha1,sha256", value_parser = parse_kind)]
    algo: Vec<HashKind>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Jsonl)]
    format: OutputFormat,

    /// Worker threads (default: one per CPU).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,

    /// Also read paths from FILE, one per line ("-" for standard input).
    #[arg(long, value_name = "FILE")]
    paths_from: Option<PathBuf>,

    /// Largest image decoded whole, in megapixels; larger JPEGs and PNGs are hashed from a
    /// reduced copy, other formats get `too_large`.
    #[arg(long, value_name = "MP", default_value_t = 80)]
    max_megapixels: u64,

    /// Which video frames get a PDQ hash.
    #[arg(long, value_enum, default_value_t = VideoSampling::Interval)]
    video_sampling: VideoSampling,

    /// Seconds between hashed video frames (with --video-sampling interval; vPDQ's default 1).
    #[arg(long, value_name = "SECS", default_value_t = 1.0, value_parser = parse_interval)]
    video_interval: f64,

    /// Most seconds of a video decoded (by its timestamps); the frames before get `too_long`
    /// and `partial: max_duration`.
    #[arg(long, value_name = "SECS", default_value_t = 14_400)]
    max_video_seconds: u64,

    /// Most wall-clock seconds spent on one video; the frames hashed by then are kept, with
    /// `too_long` and `partial: wall_clock`.
    #[arg(long, value_name = "SECS", default_value_t = 1_800)]
    max_video_wall_seconds: u64,
}

fn parse_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 3600.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a number of seconds between 0 and 3600"
        )),
    }
}

fn parse_kind(s: &str) -> Result<HashKind, String> {
    s.parse()
        .map_err(|e: hashguard::hashing::ParseHashError| e.to_string())
}

/// Files handed to the thread pool at a time: bounds memory while keeping output in order.
const WINDOW: usize = 512;

/// Runs `hashguard hash`.
pub fn run(args: HashArgs) -> Result<Code, Failure> {
    let mut inputs = args.paths.clone();
    if let Some(list) = &args.paths_from {
        let more = read_path_list(list).map_err(|e| {
            Failure::new(
                Code::NO_INPUT,
                format!("cannot read --paths-from {}: {e}", list.display()),
            )
        })?;
        inputs.extend(more);
    }
    if inputs.is_empty() {
        return Err(Failure::usage(
            "no input: give PATH arguments or --paths-from (see hashguard hash --help)",
        ));
    }
    let pool = super::worker_pool(args.threads.map_or(0, usize::from))?;
    let req = HashRequest {
        video: match args.video_sampling {
            VideoSampling::Interval => Sampling::Interval {
                seconds: args.video_interval,
            },
            VideoSampling::EveryFrame => Sampling::EveryFrame,
            VideoSampling::Keyframes => Sampling::Keyframes,
        },
        ..HashRequest::from_kinds(&args.algo)
    };
    let limits = Limits {
        max_pixels: args.max_megapixels.saturating_mul(1_000_000),
        video: VideoLimits {
            max_duration_secs: args.max_video_seconds as f64,
            max_wall_secs: args.max_video_wall_seconds as f64,
            ..VideoLimits::default()
        },
        ..Limits::default()
    };
    let stdout = io::stdout().lock();
    let mut out = Writer::new(BufWriter::new(stdout), args.format, &args.algo);

    let mut incomplete = 0u64;
    let mut entries = files::walk(inputs).peekable();
    let result = (|| -> io::Result<()> {
        out.header()?;
        while entries.peek().is_some() {
            let window: Vec<Entry> = entries.by_ref().take(WINDOW).collect();
            let records: Vec<FileRecord> = pool.install(|| {
                window
                    .into_par_iter()
                    .map(|e| hash_entry(e, &req, &limits))
                    .collect()
            });
            for rec in &records {
                incomplete += u64::from(!rec.is_complete());
                out.record(rec)?;
            }
        }
        out.flush()
    })();
    match result {
        Ok(()) if incomplete == 0 => Ok(Code::OK),
        Ok(()) => Ok(Code::INCOMPLETE),
        Err(e) => Err(Failure::output(format!("writing output failed: {e}"), &e)),
    }
}

fn hash_entry(entry: Entry, req: &HashRequest, limits: &Limits) -> FileRecord {
    match entry {
        Entry::File(path) => fingerprint::fingerprint_file(&path, req, limits),
        Entry::Skipped(path, why) => FileRecord::failed(&path, Reason::Skipped, why),
        Entry::Unreadable(path, why) => FileRecord::failed(&path, Reason::Unreadable, why),
    }
}

fn read_path_list(list: &PathBuf) -> io::Result<Vec<PathBuf>> {
    let reader: Box<dyn BufRead> = if list.as_os_str() == "-" {
        Box::new(BufReader::new(io::stdin()))
    } else {
        Box::new(BufReader::new(File::open(list)?))
    };
    let mut out = Vec::new();
    for line in reader.split(b'\n') {
        let mut line = line?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if !line.is_empty() {
            use std::os::unix::ffi::OsStringExt;
            out.push(PathBuf::from(std::ffi::OsString::from_vec(line)));
        }
    }
    Ok(out)
}

/// Writes records in the chosen format.
struct Writer<W: Write> {
    sink: Sink<W>,
    algos: Vec<HashKind>,
}

enum Sink<W: Write> {
    Jsonl(W),
    Csv(Box<csv::Writer<W>>),
    Tsv(W),
    Vpdq(W),
}

const CSV_COLUMNS: [&str; 19] = [
    "path",
    "kind",
    "format",
    "size",
    "md5",
    "sha1",
    "sha256",
    "width",
    "height",
    "pdq",
    "pdq_quality",
    "phash",
    "dhash",
    "duration",
    "frames",
    "error",
    "detail",
    "partial",
    "reduced_from",
];

impl<W: Write> Writer<W> {
    fn new(w: W, format: OutputFormat, algos: &[HashKind]) -> Self {
        let sink = match format {
            OutputFormat::Jsonl => Sink::Jsonl(w),
            OutputFormat::Csv => Sink::Csv(Box::new(csv::Writer::from_writer(w))),
            OutputFormat::Tsv => Sink::Tsv(w),
            OutputFormat::Vpdq => Sink::Vpdq(w),
        };
        Writer {
            sink,
            algos: algos.to_vec(),
        }
    }

    fn header(&mut self) -> io::Result<()> {
        if let Sink::Csv(c) = &mut self.sink {
            c.write_record(CSV_COLUMNS)?;
        }
        Ok(())
    }

    fn record(&mut self, r: &FileRecord) -> io::Result<()> {
        let opt = |v: Option<String>| v.unwrap_or_default();
        match &mut self.sink {
            Sink::Jsonl(w) => {
                serde_json::to_writer(&mut *w, r)?;
                w.write_all(b"\n")
            }
            Sink::Csv(c) => {
                let row = [
                    r.path.clone(),
                    r.kind.name().to_string(),
                    opt(r.format.clone()),
                    opt(r.size.map(|v| v.to_string())),
                    opt(r.md5.map(|h| h.to_hex())),
                    opt(r.sha1.map(|h| h.to_hex())),
                    opt(r.sha256.map(|h| h.to_hex())),
                    opt(r.width.map(|v| v.to_string())),
                    opt(r.height.map(|v| v.to_string())),
                    opt(r.pdq.map(|h| h.to_hex())),
                    opt(r.pdq_quality.map(|v| v.to_string())),
                    opt(r.phash.map(|h| h.to_hex())),
                    opt(r.dhash.map(|h| h.to_hex())),
                    opt(r.duration.map(|v| v.to_string())),
                    opt(r.frames.as_ref().map(|f| f.len().to_string())),
                    opt(r.error.map(|e| e.code().to_string())),
                    opt(r.detail.clone()),
                    opt(r.partial.map(|p| p.code().to_string())),
                    opt(r.reduced_from.map(|[w, h]| format!("{w}x{h}"))),
                ];
                // Paths are names someone else chose: never a formula in a spreadsheet.
                Ok(c.write_record(
                    row.iter()
                        .map(|v| hashguard::csv_cell::safe(v).into_owned()),
                )?)
            }
            Sink::Tsv(w) => {
                // Tabs and newlines in a path would break the columns; escape them.
                let mut line = r
                    .path
                    .replace('\\', "\\\\")
                    .replace('\t', "\\t")
                    .replace('\n', "\\n");
                for k in &self.algos {
                    line.push('\t');
                    match k {
                        HashKind::Pdq => {
                            line.push_str(&opt(r.pdq.map(|h| h.to_hex())));
                            line.push('\t');
                            line.push_str(&opt(r.pdq_quality.map(|v| v.to_string())));
                        }
                        HashKind::Phash => line.push_str(&opt(r.phash.map(|h| h.to_hex()))),
                        HashKind::Dhash => line.push_str(&opt(r.dhash.map(|h| h.to_hex()))),
                        HashKind::Md5 => line.push_str(&opt(r.md5.map(|h| h.to_hex()))),
                        HashKind::Sha1 => line.push_str(&opt(r.sha1.map(|h| h.to_hex()))),
                        HashKind::Sha256 => line.push_str(&opt(r.sha256.map(|h| h.to_hex()))),
                        // Frames have their own form (`--format vpdq`).
                        HashKind::Vpdq => {
                            line.push_str(&opt(r.frames.as_ref().map(|f| f.len().to_string())))
                        }
                    }
                }
                line.push('\t');
                line.push_str(r.error.map_or("", |e| e.code()));
                line.push('\n');
                w.write_all(line.as_bytes())
            }
            Sink::Vpdq(w) => {
                let path = r.path.replace('\n', "\\n");
                match (&r.frames, r.error) {
                    (Some(frames), error) => {
                        match error {
                            None => writeln!(w, "# {path}")?,
                            Some(e) => writeln!(w, "# {path}: {} (frames before it)", e.code())?,
                        }
                        let frames: Vec<VideoFrame> = frames.iter().map(VideoFrame::from).collect();
                        write_vpdq(&frames, w)
                    }
                    (None, Some(e)) => writeln!(w, "# {path}: {}", e.code()),
                    (None, None) => writeln!(w, "# {path}: not a video"),
                }
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Jsonl(w) | Sink::Tsv(w) | Sink::Vpdq(w) => w.flush(),
            Sink::Csv(c) => c.flush(),
        }
    }
}

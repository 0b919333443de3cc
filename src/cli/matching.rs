//! `hashguard match`: looks hashes up in the lists of the local store.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use rayon::prelude::*;

use hashguard::hashing::vpdq::{VideoFrame, parse_vpdq};
use hashguard::hashing::{AnyHash, HashKind};
use hashguard::lists;
use hashguard::matcher::{Hit, Matcher};
use hashguard::store::Store;

use super::exit::{Code, Failure};

/// Output formats of `match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MatchFormat {
    /// One JSON object per match.
    Jsonl,
    /// `query<TAB>entry<TAB>distance` per match, no header.
    Tsv,
}

/// Arguments of `match`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  hashguard match pdq:f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22
  hashguard match --kind md5 --input md5s.txt --list vic
  hashguard match --kind vpdq upload.vpdq

Each query is `kind:hex`, or bare hex with --kind. Every match prints one line:
{\"query\": 0-based query number, \"list\", \"entry\" (the list's id), \"distance\", \"kind\", \"category\"}.

With --kind vpdq each query is a vPDQ file (`hashguard hash --format vpdq` writes them) of a
whole video, compared with every listed video (lists imported with --format vpdq). One line per
listed video it matched: {\"query\": the file, \"list\", \"entry\", \"match\": \"match\" (both
shares reached the list's threshold) or \"excerpt\" (a stretch of the listed video appears in
order), \"query_share\", \"listed_share\" (0-1), \"ranges\": [{\"query\": [start, end],
\"listed\": [start, end]}] in seconds, \"distance\" (closest frames), \"category\"}.
The store is opened read-only, so this works beside a running server.

Exit status (grep-style): 0 matches found, 1 no match, 2 an error (bad query, no store).")]
pub struct MatchArgs {
    /// Hashes to look up (`kind:hex`, or hex with --kind); with --kind vpdq, vPDQ files.
    #[arg(value_name = "HASH|FILE")]
    hashes: Vec<String>,
    /// Read queries from FILE, one a line ("-" for standard input).
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Kind of bare hex queries.
    #[arg(long)]
    kind: Option<HashKind>,
    /// Radius to use instead of each list's own (at most 64, PDQ's bound; see `lists import
    /// --radius`).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=64))]
    radius: Option<u32>,
    /// Only these lists (repeatable); default every list.
    #[arg(long = "list", value_name = "NAME")]
    lists: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = MatchFormat::Jsonl)]
    format: MatchFormat,
    /// Worker threads (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
}

/// Runs `match` against the store at `data`. Every failure but a missing query exits 2
/// (grep-style), whatever its cause.
pub fn run(args: MatchArgs, data: &Path) -> Result<Code, Failure> {
    let grep_style = |f: Failure| f.with_code(Code::MATCH_ERROR);
    let lines = read_queries(&args).map_err(grep_style)?;
    if args.kind == Some(HashKind::Vpdq) {
        if lines.is_empty() {
            return Err(Failure::usage(
                "no queries: give vPDQ FILE arguments or --input (see hashguard match --help)",
            ));
        }
        return match_videos(&args, &lines, data).map_err(grep_style);
    }
    if lines.is_empty() {
        return Err(Failure::usage(
            "no queries: give HASH arguments or --input (see hashguard match --help)",
        ));
    }
    look_up(&args, &lines, data).map_err(grep_style)
}

/// The HASH arguments, then the lines of --input.
fn read_queries(args: &MatchArgs) -> Result<Vec<String>, Failure> {
    let mut lines: Vec<String> = args.hashes.clone();
    if let Some(path) = &args.input {
        let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
            Box::new(BufReader::new(io::stdin()))
        } else {
            let f = File::open(path)
                .map_err(|e| Failure::io(format!("cannot open {}: {e}", path.display())))?;
            Box::new(BufReader::new(f))
        };
        for line in reader.lines() {
            let l = line.map_err(|e| Failure::io(format!("reading {}: {e}", path.display())))?;
            lines.push(l);
        }
    }
    Ok(lines)
}

/// Looks the queries up and prints the matches.
fn look_up(args: &MatchArgs, lines: &[String], data: &Path) -> Result<Code, Failure> {
    let mut failed = false;
    let queries: Vec<Option<AnyHash>> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| match parse_query(l.trim(), args.kind) {
            Ok(h) => Some(h),
            Err(e) => {
                eprintln!("hashguard: query {i}: {e}");
                failed = true;
                None
            }
        })
        .collect();

    let store = std::sync::Arc::new(Store::open_read_only(data)?);
    let kinds: Vec<HashKind> = queries.iter().flatten().map(AnyHash::kind).collect();
    let matcher = Matcher::load_some(store, &args.lists, &kinds)?;
    let pool = super::worker_pool(args.threads.unwrap_or(0))?;
    let results: Vec<Result<Vec<Hit>, lists::Error>> = pool.install(|| {
        queries
            .par_iter()
            .map(|q| match q {
                Some(q) => matcher.lookup(q, args.radius),
                None => Ok(Vec::new()),
            })
            .collect()
    });

    let mut out = BufWriter::new(io::stdout().lock());
    let mut any = false;
    for (qi, hits) in results.into_iter().enumerate() {
        let hits = match hits {
            Ok(h) => h,
            Err(e) => {
                eprintln!("hashguard: {e}");
                failed = true;
                continue;
            }
        };
        for hit in hits {
            any = true;
            let written = match args.format {
                MatchFormat::Tsv => writeln!(out, "{qi}\t{}\t{}", hit.entry, hit.distance),
                MatchFormat::Jsonl => {
                    let mut rec = serde_json::json!({
                        "query": qi,
                        "list": hit.list,
                        "entry": hit.entry,
                        "distance": hit.distance,
                        "kind": hit.kind,
                    });
                    // The entry's own category, else the list's; absent when neither has one.
                    if let Some(c) = hit.category {
                        rec["category"] = c.into();
                    }
                    writeln!(out, "{rec}")
                }
            };
            if let Err(e) = written {
                return written_out(e, any);
            }
        }
    }
    if let Err(e) = out.flush() {
        return written_out(e, any);
    }
    if failed {
        // Each bad query or unreadable entry was reported as it was met.
        Ok(Code::MATCH_ERROR)
    } else {
        Ok(found(any))
    }
}

/// Matches each vPDQ file of `paths` against the listed videos and prints one line per listed
/// video it matched or holds an excerpt of.
fn match_videos(args: &MatchArgs, paths: &[String], data: &Path) -> Result<Code, Failure> {
    let mut failed = false;
    let queries: Vec<(&str, Option<Vec<VideoFrame>>)> = paths
        .iter()
        .map(|p| {
            let p = p.trim();
            let frames = std::fs::read_to_string(p)
                .map_err(|e| e.to_string())
                .and_then(|t| parse_vpdq(&t).map_err(|e| e.to_string()));
            match frames {
                Ok(f) => (p, Some(f)),
                Err(e) => {
                    eprintln!("hashguard: {p}: {e}");
                    failed = true;
                    (p, None)
                }
            }
        })
        .collect();
    let store = std::sync::Arc::new(Store::open_read_only(data)?);
    let matcher = Matcher::load_some(store, &args.lists, &[HashKind::Vpdq])?;
    let pool = super::worker_pool(args.threads.unwrap_or(0))?;
    let results: Vec<Result<Vec<Hit>, lists::Error>> = pool.install(|| {
        queries
            .par_iter()
            .map(|(_, f)| match f {
                Some(f) => matcher.video_matches(f),
                None => Ok(Vec::new()),
            })
            .collect()
    });
    let mut out = BufWriter::new(io::stdout().lock());
    let mut any = false;
    for ((path, _), hits) in queries.iter().zip(results) {
        let hits = match hits {
            Ok(h) => h,
            Err(e) => {
                eprintln!("hashguard: {e}");
                failed = true;
                continue;
            }
        };
        for hit in hits {
            let Some(v) = &hit.video else { continue };
            any = true;
            let written = match args.format {
                MatchFormat::Tsv => writeln!(
                    out,
                    "{path}\t{}\t{}\t{:.6}\t{:.6}",
                    hit.entry,
                    v.kind.name(),
                    v.query_share,
                    v.listed_share
                ),
                MatchFormat::Jsonl => {
                    let mut rec = serde_json::json!({
                        "query": path,
                        "list": hit.list,
                        "entry": hit.entry,
                        "match": v.kind,
                        "query_share": v.query_share,
                        "listed_share": v.listed_share,
                        "ranges": v.ranges,
                        "distance": hit.distance,
                    });
                    if let Some(c) = &hit.category {
                        rec["category"] = c.clone().into();
                    }
                    writeln!(out, "{rec}")
                }
            };
            if let Err(e) = written {
                return written_out(e, any);
            }
        }
    }
    if let Err(e) = out.flush() {
        return written_out(e, any);
    }
    Ok(if failed {
        Code::MATCH_ERROR
    } else {
        found(any)
    })
}

/// The status of `match` by whether anything matched.
fn found(any: bool) -> Code {
    if any { Code::OK } else { Code::NO_MATCH }
}

/// Writing the output failed with `e` after matches were (`any`) or were not found. A reader
/// that went away (`| head`) is no error: what it saw decides the status.
fn written_out(e: io::Error, any: bool) -> Result<Code, Failure> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(found(any))
    } else {
        Err(Failure::io(format!("writing output failed: {e}")))
    }
}

/// `kind:hex`, or bare hex of `default` kind; bare MD5 and SHA-1 are recognised by length.
fn parse_query(s: &str, default: Option<HashKind>) -> Result<AnyHash, String> {
    if s.contains(':') {
        return AnyHash::parse_typed(s).map_err(|e| e.to_string());
    }
    let kind = match (default, s.len()) {
        (Some(k), _) => k,
        (None, 32) => HashKind::Md5,
        (None, 40) => HashKind::Sha1,
        (None, _) => return Err("bare hex needs --kind, or write kind:hex".into()),
    };
    AnyHash::parse(kind, s).map_err(|e| e.to_string())
}

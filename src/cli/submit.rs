//! `hashguard submit`: an operator's client of a running server. Hashes go to `MatchHashes`,
//! files to `MatchMedia` (uploaded, hashed by the server, never kept); one JSON line per input.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use hashguard::hashing::AnyHash;
use hashguard::server::client::Submitter;

use super::exit::{Code, Failure};
use super::reports::{Conn, call_failed, cannot_write, connection};

/// Arguments of `hashguard submit`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  export HASHGUARD_TOKEN=…        an operator token (the environment keeps it out of `ps`)
  hashguard submit pdq:f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22
  hashguard submit --reference upload-123 photo.jpg clip.mp4
  hashguard submit --server https://hashguard.example:50051 --ca ca.pem md5:900150983cd24fb0d6963f7d28e17f72

Each INPUT is a typed hash (KIND:HEX, KIND one of pdq, phash, dhash, md5, sha1, sha256) or a
file. Hashes are sent together in one MatchHashes call, files one MatchMedia upload each (the
server hashes the bytes and keeps only the hashes). One JSON line per input, in order:
{\"input\", \"matched\", \"categories\", \"report_id\"}, and for files what the server
computed of them (\"kind\", \"error\", \"fault\"). A match is reported to the investigating unit
as any other; operators never see list entries.

Exit status: 0 something matched, 1 nothing matched, 64 bad arguments, 66 a file cannot be
read, 69 the server cannot be reached, 77 the token was refused, 78 no token.")]
pub struct SubmitArgs {
    #[command(flatten)]
    conn: Conn,

    /// Your own reference for these submissions, carried into the reports (at most 256 bytes).
    #[arg(long, value_name = "REF", default_value = "")]
    reference: String,

    /// Typed hashes (KIND:HEX) and files.
    #[arg(value_name = "INPUT", required = true)]
    inputs: Vec<String>,
}

#[derive(Serialize)]
struct Line<'a> {
    input: &'a str,
    matched: bool,
    categories: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    report_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fault: Option<String>,
}

/// Runs `submit`.
pub fn run(args: SubmitArgs) -> Result<Code, Failure> {
    // Everything is read and checked before the first call.
    enum Input {
        Hash(AnyHash),
        File(Vec<u8>),
    }
    let mut inputs = Vec::with_capacity(args.inputs.len());
    for s in &args.inputs {
        let p = PathBuf::from(s);
        let input = match AnyHash::parse_typed(s) {
            Ok(h) => Input::Hash(h),
            Err(_) if p.is_file() => Input::File(
                std::fs::read(&p)
                    .map_err(|e| Failure::new(Code::NO_INPUT, format!("{}: {e}", p.display())))?,
            ),
            Err(e) if s.contains(':') && !p.exists() => {
                return Err(Failure::usage(format!("{s}: {e}")));
            }
            Err(_) => {
                return Err(Failure::new(
                    Code::NO_INPUT,
                    format!("{s}: neither a typed hash (KIND:HEX) nor a readable file"),
                ));
            }
        };
        inputs.push(input);
    }
    let client = Submitter::new(connection(&args.conn, "operator")?)
        .map_err(|e| Failure::io(format!("cannot start the client: {e}")))?;

    let hashes: Vec<AnyHash> = inputs
        .iter()
        .filter_map(|i| match i {
            Input::Hash(h) => Some(*h),
            Input::File(_) => None,
        })
        .collect();
    let mut verdicts = Vec::with_capacity(hashes.len());
    for batch in hashes.chunks(1000) {
        verdicts.extend(
            client
                .match_hashes(batch, &args.reference)
                .map_err(call_failed)?,
        );
    }
    let mut verdicts = verdicts.into_iter();
    let (mut out, mut any) = (std::io::stdout().lock(), false);
    for (s, input) in args.inputs.iter().zip(inputs) {
        let line = match input {
            Input::Hash(_) => {
                let v = verdicts.next().unwrap_or_default();
                Line {
                    input: s,
                    matched: v.matched,
                    categories: v.categories,
                    report_id: v.report_id,
                    kind: None,
                    error: None,
                    fault: None,
                }
            }
            Input::File(bytes) => {
                let mv = client
                    .match_media(bytes, &args.reference)
                    .map_err(call_failed)?;
                let v = mv.verdict.unwrap_or_default();
                let f = mv.fingerprint.unwrap_or_default();
                let some = |s: String| (!s.is_empty()).then_some(s);
                Line {
                    input: s,
                    matched: v.matched,
                    categories: v.categories,
                    report_id: v.report_id,
                    kind: some(f.kind),
                    error: some(f.error),
                    fault: some(f.fault),
                }
            }
        };
        any |= line.matched;
        let json = serde_json::to_string(&line).map_err(|e| Failure::io(e.to_string()))?;
        writeln!(out, "{json}").map_err(cannot_write)?;
    }
    Ok(if any { Code::OK } else { Code::NO_MATCH })
}

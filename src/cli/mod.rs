//! Command-line front end: argument parsing (clap) and exit codes (`exit`: the one table of them,
//! and the error a command stops with). Everything it does is a call into the library.

mod audit;
mod docs;
mod exit;
mod hash;
mod lists;
mod matching;
mod reports;
mod scan;
mod serve;
mod submit;
mod token;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use exit::{Code, Failure};

const ABOUT: &str = "Finds known child-sexual-abuse material by perceptual (PDQ, pHash, dHash) and exact \
(MD5, SHA-1, SHA-256) hashing.";

const AFTER_HELP: &str = "Examples:
  hashguard hash ./evidence                      every file under ./evidence, one JSON line each
  hashguard hash --algo pdq,sha256 --format csv a.jpg b.png > hashes.csv
  hashguard lists import --list ncmec --kind pdq ncmec-pdq.txt
  hashguard match pdq:f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22
  hashguard scan /mnt/seized --case 2026-0413 --out report-0413
  hashguard token new --role operator --tenant acme >> tokens.toml
  HASHGUARD_TOKEN=… hashguard submit photo.jpg  an operator's verdict from a running server
  HASHGUARD_TOKEN=… hashguard reports follow    a unit's match reports from a running server

Submitted and scanned media are never stored or logged; only hashes leave this program.";

/// Top-level command line.
#[derive(Parser, Debug)]
#[command(name = "hashguard", version = hashguard::LONG_VERSION, about = ABOUT, after_help = AFTER_HELP, max_term_width = 100)]
struct Cli {
    /// Data directory (the RocksDB store of lists).
    #[arg(
        long,
        global = true,
        env = "HASHGUARD_DATA",
        default_value = "./data",
        value_name = "DIR"
    )]
    data: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Hash images, videos and folders: PDQ (vPDQ frames for videos), pHash, dHash, digests.
    Hash(hash::HashArgs),
    /// Import, sync, export, inspect and roll back hash lists.
    #[command(subcommand)]
    Lists(lists::ListsCommand),
    /// Look hashes up in the lists (Hamming radius for PDQ/pHash/dHash, exact for digests).
    Match(matching::MatchArgs),
    /// Scan seized media against the lists: every file accounted for, resumable, signed report.
    Scan(scan::ScanArgs),
    /// Run the gRPC service for operators, investigators and admins.
    Serve(serve::ServeArgs),
    /// Submit hashes and files to a running server (operators): a verdict per input.
    Submit(submit::SubmitArgs),
    /// Read a running server's match reports (investigators): list, follow, export; migrate
    /// a RocksDB report log to PostgreSQL (admins).
    #[command(subcommand)]
    Reports(reports::ReportsCommand),
    /// Read and verify the audit log (admins): who read which reports, list changes, refusals.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Show or check the service configuration.
    #[command(subcommand)]
    Config(serve::ConfigCommand),
    /// Make API tokens for the server's tokens file.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Print the man page, or write every page into a directory.
    Man(docs::ManArgs),
}

/// A sandboxed decoder worker's command line (`hashguard decode-worker ...`), as the decoder
/// pool starts it. Not a user command: parsed before the CLI, so help and completions never
/// show it.
#[derive(Parser, Debug)]
#[command(name = "hashguard decode-worker")]
struct WorkerCli {
    #[arg(long)]
    threads: usize,
    #[arg(long)]
    memory_bytes: u64,
}

/// How `scan` and `serve` run their decoders.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct DecoderArgs {
    /// Run decoders inside this process instead of sandboxed worker processes (for debugging:
    /// a decoder crash then ends the whole process).
    #[arg(long)]
    decode_in_process: bool,

    /// Longest one image may take to decode and hash in its worker before the worker is
    /// killed and the file is decode_failed (decoder_timeout). Videos have their own 30-minute
    /// wall-clock cap, after which they keep the frames hashed so far.
    #[arg(long, value_name = "SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    decode_timeout: u64,

    /// Address space each decoder worker may use, MiB; past it the file is decode_failed
    /// (decoder_out_of_memory).
    #[arg(long, value_name = "MIB", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(256..))]
    decoder_memory: u64,
}

impl DecoderArgs {
    /// The decoding these arguments ask for, with `threads` per worker and `idle` workers kept
    /// (default: one per CPU).
    pub(crate) fn decoding(
        &self,
        threads: Option<usize>,
        idle: Option<usize>,
    ) -> Result<hashguard::sandbox::Decoding, Failure> {
        use hashguard::sandbox::{Decoding, Pool, PoolConfig};
        if self.decode_in_process {
            return Ok(Decoding::InProcess);
        }
        let d = PoolConfig::default();
        let config = PoolConfig {
            threads: threads.filter(|t| *t > 0).unwrap_or(d.threads),
            memory_bytes: self.decoder_memory << 20,
            timeout: std::time::Duration::from_secs(self.decode_timeout),
            max_idle: idle.filter(|t| *t > 0).unwrap_or(d.max_idle),
        };
        let pool = Pool::of_current_exe(config)
            .map_err(|e| Failure::io(format!("cannot find this program to start decoders: {e}")))?;
        Ok(Decoding::Isolated(std::sync::Arc::new(pool)))
    }
}

/// No core dumps from this process: a crash must not write an upload or seized file to disk.
fn no_core_dumps() {
    if let Err(e) = hashguard::sandbox::confine::no_core_dumps() {
        tracing::warn!("cannot disable core dumps: {e}");
    }
}

/// A pool of `threads` workers (0: one per CPU).
fn worker_pool(threads: usize) -> Result<rayon::ThreadPool, Failure> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Failure::io(format!("cannot start worker threads: {e}")))
}

/// Parses the command line, runs the command, prints its failure if it failed, and returns the
/// process exit status.
pub fn run() -> Code {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "decode-worker")
    {
        let w = match WorkerCli::try_parse_from(std::env::args_os().skip(1)) {
            Ok(w) => w,
            Err(e) => {
                let _ = e.print();
                return Code::USAGE;
            }
        };
        return Code::from_worker(hashguard::sandbox::run_worker(
            hashguard::sandbox::WorkerArgs {
                threads: w.threads,
                memory_bytes: w.memory_bytes,
            },
        ));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with success; real usage errors exit EX_USAGE.
            let code = if e.use_stderr() {
                Code::USAGE
            } else {
                Code::OK
            };
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::Hash(args) => hash::run(args),
        Command::Lists(cmd) => lists::run(cmd, &cli.data),
        Command::Match(args) => matching::run(args, &cli.data),
        Command::Scan(args) => scan::run(args, &cli.data),
        Command::Serve(args) => serve::run(args, &cli.data),
        Command::Reports(cmd) => reports::run(cmd, &cli.data),
        Command::Submit(args) => submit::run(args),
        Command::Config(cmd) => serve::config(cmd),
        Command::Audit(cmd) => audit::run(cmd, &cli.data),
        Command::Token(cmd) => token::run(cmd),
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args),
    };
    match result {
        Ok(code) => code,
        Err(f) if f.is_closed_pipe() => Code::OK,
        Err(f) => {
            eprintln!("hashguard: {f}");
            f.code()
        }
    }
}

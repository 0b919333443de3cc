//! The exit statuses of `hashguard`, in one table, and the error a command stops with.
//!
//! Every command returns `Result<Code, Failure>`, as ripgrep's do. `Ok(code)`: the command ran to
//! its end, and `code` says how it went (matches found, some files not processed, ...); problems
//! with single records (a file, a query, a list) were reported on stderr as they happened.
//! `Err(failure)`: the command stopped; [`super::run`] prints the failure once, as
//! `hashguard: {message}`, and exits with its code. The library errors the commands meet become
//! failures here, one mapping for each.

use std::fmt;
use std::io;

use hashguard::scan::manifest::VerifyError;
use hashguard::{config, lists, scan, server, store};

/// A process exit status: one of the constants below, nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code(u8);

impl Code {
    /// 0: everything asked for was done. `match`: something matched; `scan`: nothing matched
    /// and every file was processed.
    pub const OK: Code = Code(0);
    /// 1, `scan`: matches found, every file processed.
    pub const MATCHES: Code = Code(1);
    /// 1, `match` (grep-style): nothing matched.
    pub const NO_MATCH: Code = Code(1);
    /// 2, `scan` and `hash`: some inputs were not fully processed (each record says why).
    pub const INCOMPLETE: Code = Code(2);
    /// 2, `match` (grep-style): an error (a bad query, no data store, ...).
    pub const MATCH_ERROR: Code = Code(2);
    /// 3, `scan`: matches found, and some inputs not fully processed.
    pub const MATCHES_INCOMPLETE: Code = Code(3);
    /// 64 (EX_USAGE): bad command line, arguments or output directory.
    pub const USAGE: Code = Code(64);
    /// 65 (EX_DATAERR): input data malformed, or failing its verification (a list with too many
    /// malformed rows, a bad bundle, a scan report that does not verify).
    pub const DATA_ERR: Code = Code(65);
    /// 66 (EX_NOINPUT): an input file, list or data directory does not exist.
    pub const NO_INPUT: Code = Code(66);
    /// 69 (EX_UNAVAILABLE): the server cannot be reached, or the connection was lost.
    pub const UNAVAILABLE: Code = Code(69);
    /// 70 (EX_SOFTWARE): the server failed the call.
    pub const SOFTWARE: Code = Code(70);
    /// 74 (EX_IOERR): reading or writing failed (the output, the data store, a source).
    pub const IO: Code = Code(74);
    /// 75 (EX_TEMPFAIL): the data directory is in use by another process; try again later.
    pub const TEMP_FAIL: Code = Code(75);
    /// 77 (EX_NOPERM): the server refused the token.
    pub const NO_PERM: Code = Code(77);
    /// 78 (EX_CONFIG): the configuration is missing or wrong (configuration or tokens file, a
    /// list source, no lists to scan against, no token to call a server with).
    pub const CONFIG: Code = Code(78);

    /// A decoder worker's own exit status.
    pub fn from_worker(status: u8) -> Code {
        Code(status)
    }

    /// The number the process exits with.
    pub fn value(self) -> u8 {
        self.0
    }
}

/// Why a command stopped: the exit status and the message `hashguard` prints for it.
#[derive(Debug)]
pub struct Failure {
    code: Code,
    message: String,
    /// The reader of standard output went away (`| head`): the command stops, but that is the
    /// reader's choice, not an error: `hashguard` exits 0 without a word.
    closed_pipe: bool,
}

impl Failure {
    /// A failure with this status and message (printed after `hashguard: `).
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            closed_pipe: false,
        }
    }

    /// A bad command line ([`Code::USAGE`]).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(Code::USAGE, message)
    }

    /// A missing or wrong configuration ([`Code::CONFIG`]).
    pub fn config(message: impl Into<String>) -> Self {
        Failure::new(Code::CONFIG, message)
    }

    /// A failed read or write ([`Code::IO`]).
    pub fn io(message: impl Into<String>) -> Self {
        Failure::new(Code::IO, message)
    }

    /// Writing the output failed with `e` ([`Code::IO`]), unless the reader went away: then the
    /// command stops quietly and successfully.
    pub fn output(message: impl Into<String>, e: &io::Error) -> Self {
        Failure {
            closed_pipe: e.kind() == io::ErrorKind::BrokenPipe,
            ..Failure::io(message)
        }
    }

    /// The same failure with another status (`match` answers every error with 2, grep-style).
    pub fn with_code(self, code: Code) -> Self {
        Failure { code, ..self }
    }

    /// The status to exit with.
    pub fn code(&self) -> Code {
        self.code
    }

    /// True when the reader of standard output went away: exit 0, print nothing.
    pub fn is_closed_pipe(&self) -> bool {
        self.closed_pipe
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<store::Error> for Failure {
    fn from(e: store::Error) -> Self {
        let code = match e {
            store::Error::Locked { .. } => Code::TEMP_FAIL,
            store::Error::Missing { .. } => Code::NO_INPUT,
            _ => Code::IO,
        };
        Failure::new(code, e.to_string())
    }
}

impl From<lists::Error> for Failure {
    fn from(e: lists::Error) -> Self {
        use lists::Error as E;
        let code = match e {
            E::Store(e) => return e.into(),
            E::TooManyBadRows { .. }
            | E::EmptyLoad { .. }
            | E::Shrinks { .. }
            | E::Verify { .. }
            | E::NoPrevious { .. }
            | E::BadInput { .. }
            | E::Read { .. } => Code::DATA_ERR,
            E::BadName { .. } | E::UnknownFormat { .. } => Code::USAGE,
            E::NoSuchList { .. } | E::SourceFile { .. } | E::NoDrop { .. } => Code::NO_INPUT,
            E::Config { .. } | E::NotConfigured { .. } => Code::CONFIG,
            E::Fetch { .. } => Code::UNAVAILABLE,
            E::Io { .. } | E::Corrupt { .. } => Code::IO,
        };
        Failure::new(code, e.to_string())
    }
}

impl From<scan::Error> for Failure {
    fn from(e: scan::Error) -> Self {
        let code = match e {
            scan::Error::Usage(_) | scan::Error::Resume(_) => Code::USAGE,
            // No usable lists to scan against.
            scan::Error::Lists(_) => Code::CONFIG,
            scan::Error::Io { .. } => Code::IO,
        };
        Failure::new(code, e.to_string())
    }
}

impl From<VerifyError> for Failure {
    fn from(e: VerifyError) -> Self {
        Failure::new(Code::DATA_ERR, format!("verification FAILED: {e}"))
    }
}

impl From<config::Error> for Failure {
    fn from(e: config::Error) -> Self {
        Failure::config(e.to_string())
    }
}

impl From<server::Error> for Failure {
    fn from(e: server::Error) -> Self {
        match e {
            e if e.is_config() => Failure::config(e.to_string()),
            server::Error::Store(e) => e.into(),
            e => Failure::io(e.to_string()),
        }
    }
}

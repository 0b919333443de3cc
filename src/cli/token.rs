//! `hashguard token new`: makes an API token and the `[[token]]` table of the server's tokens
//! file that accepts it, so nobody computes a SHA-256 by hand.

use std::io::Write;

use clap::builder::NonEmptyStringValueParser;
use clap::{Args, Subcommand, ValueEnum};
use rand_core::{OsRng, RngCore};
use serde::Serialize;

use hashguard::server::auth::token_hash;

use super::exit::{Code, Failure};

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;
/// What every token made here starts with (recognisable in a leaked file or a secret scanner).
const TOKEN_PREFIX: &str = "hg_";

/// `hashguard token` subcommands.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Make a random token: its [[token]] table for the tokens file on stdout, the token itself
    /// on stderr.
    #[command(after_help = "Examples:
  hashguard token new --role operator --tenant acme >> tokens.toml
  hashguard token new --role investigator --unit cyber-unit-1 --name \"J. Doe\" >> tokens.toml
  hashguard token new --role admin --name ops-oncall >> tokens.toml

The token is 32 random bytes from the operating system, in hex after `hg_`. Standard output
gets the [[token]] table that makes the server accept it: the token's SHA-256 (the server keeps
only that), the role, and the tenant (operator), unit (investigator) or name. Standard error
gets the token itself, once: hand it to whoever will call the server. It is not stored
anywhere and cannot be shown again; a lost token is replaced by a new one (delete the old
table). A running server reads the tokens file only when it starts: restart it.

Exit status: 0 made, 64 bad arguments (an operator needs --tenant, an investigator --unit),
74 the table could not be written.")]
    New(NewArgs),
}

/// Roles a token can have (as the server's tokens file names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// A platform submitting media for one tenant (needs --tenant).
    Operator,
    /// An investigator reading one unit's match reports (needs --unit).
    Investigator,
    /// An administrator of the lists: status, sync, import.
    Admin,
    /// A regional hashguard server that mirrors this one's lists.
    Mirror,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Investigator => "investigator",
            Role::Admin => "admin",
            Role::Mirror => "mirror",
        }
    }
}

/// Arguments of `token new`.
#[derive(Args, Debug)]
pub struct NewArgs {
    /// What the token may do.
    #[arg(long, value_enum)]
    role: Role,
    /// The tenant an operator token submits for (operators only).
    #[arg(long, required_if_eq("role", "operator"), value_parser = NonEmptyStringValueParser::new())]
    tenant: Option<String>,
    /// The unit an investigator token reads the reports of (investigators only).
    #[arg(long, required_if_eq("role", "investigator"), value_parser = NonEmptyStringValueParser::new())]
    unit: Option<String>,
    /// Who holds the token: written to the table, and the name an admin or mirror is audited
    /// under.
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    name: Option<String>,
}

/// The tokens file's `[[token]]` table, as `hashguard::config::Tokens` reads it.
#[derive(Serialize)]
struct Row<'a> {
    sha256: String,
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

/// A tokens file of one table.
#[derive(Serialize)]
struct TokensFile<'a> {
    token: [Row<'a>; 1],
}

/// Runs a `token` subcommand.
pub fn run(cmd: TokenCommand) -> Result<Code, Failure> {
    match cmd {
        TokenCommand::New(args) => new(&args),
    }
}

fn new(args: &NewArgs) -> Result<Code, Failure> {
    if args.tenant.is_some() && args.role != Role::Operator {
        return Err(Failure::usage("--tenant is for operator tokens only"));
    }
    if args.unit.is_some() && args.role != Role::Investigator {
        return Err(Failure::usage("--unit is for investigator tokens only"));
    }
    let mut secret = [0u8; TOKEN_BYTES];
    OsRng
        .try_fill_bytes(&mut secret)
        .map_err(|e| Failure::io(format!("cannot get random bytes from the system: {e}")))?;
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
    let file = TokensFile {
        token: [Row {
            sha256: token_hash(&token),
            role: args.role.name(),
            tenant: args.tenant.as_deref(),
            unit: args.unit.as_deref(),
            name: args.name.as_deref(),
        }],
    };
    let table =
        toml::to_string(&file).map_err(|e| Failure::io(format!("cannot write the table: {e}")))?;
    let whose = match (&args.tenant, &args.unit, &args.name) {
        (Some(t), _, _) => format!(" for tenant {t}"),
        (_, Some(u), _) => format!(" for unit {u}"),
        (_, _, Some(n)) => format!(" for {n}"),
        _ => String::new(),
    };
    // The token first: if it cannot be shown, no table is written for a token nobody holds.
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "hashguard: the new {} token{whose}; hand it to its holder: it is not stored anywhere \
         and cannot be shown again:\n{token}",
        args.role.name()
    )
    .and_then(|()| err.flush())
    .map_err(|e| Failure::io(format!("cannot show the token: {e}")))?;
    // A blank line first, so that appending keeps the file readable.
    let mut out = std::io::stdout().lock();
    write!(out, "\n{table}")
        .and_then(|()| out.flush())
        .map_err(|e| Failure::io(format!("cannot write the table: {e}")))?;
    Ok(Code::OK)
}

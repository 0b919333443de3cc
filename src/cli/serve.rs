//! `hashguard serve` and `hashguard config show|check`: thin layers over `hashguard::server`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use hashguard::config::{self, Config};
use hashguard::server;

use super::exit;

/// Configuration problem (EX_CONFIG).
const CONFIG: i32 = 78;

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// Arguments of `hashguard serve`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  hashguard serve --tokens tokens.toml
  hashguard serve --config /etc/hashguard/serve.toml --listen 0.0.0.0:50051   (needs [tls])

Configuration: embedded defaults, then --config FILE (TOML), then HASHGUARD__SECTION__KEY
environment variables (e.g. HASHGUARD__LIMITS__MAX_JOBS=8), then these flags;
`hashguard config show` prints the result. Plaintext is allowed on loopback addresses only.
Tokens file: [[token]] tables with sha256 (of the token), role (operator, investigator,
admin) and tenant / unit / name. Logs never contain media, hashes or file names.
Metrics: [metrics] listen = \"127.0.0.1:9464\" serves GET /metrics (loopback only).
Deadlines: limits.request_timeout_ms (default 30000) or the client's shorter grpc-timeout.
SIGTERM or SIGINT stops it gracefully (health turns NOT_SERVING first).")]
pub struct ServeArgs {
    #[command(flatten)]
    common: ConfigArgs,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// The options that make the configuration.
#[derive(Args, Debug, Clone)]
pub struct ConfigArgs {
    /// Configuration file (TOML).
    #[arg(long, value_name = "FILE", env = "HASHGUARD_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:50051).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Tokens file.
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,
}

/// `hashguard config` subcommands.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the effective configuration (defaults, file, environment, flags) as TOML.
    Show(ConfigArgs),
    /// Check the configuration: tokens file, TLS files, listen address. Exit 0 or 78.
    Check(ConfigArgs),
}

fn effective(args: &ConfigArgs) -> Result<Config, config::Error> {
    let mut c = Config::load(args.config.as_deref(), std::env::vars())?;
    if let Some(l) = &args.listen {
        c.listen = l.clone();
    }
    if let Some(t) = &args.tokens {
        c.tokens = Some(t.clone());
    }
    Ok(c)
}

/// Runs `serve`.
pub fn run(args: ServeArgs, data: &Path) -> i32 {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HASHGUARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    let config = match effective(&args.common) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hashguard: {e}");
            return CONFIG;
        }
    };
    let result = server::run(config, data, |bound| match bound {
        // Scripts and tests wait for these lines.
        server::Bound::Grpc(addr) => eprintln!("hashguard: listening on {addr}"),
        server::Bound::Metrics(addr) => eprintln!("hashguard: metrics on {addr}"),
    });
    match result {
        Ok(()) => exit::OK,
        Err(e) if e.is_config() => {
            eprintln!("hashguard: {e}");
            CONFIG
        }
        Err(server::Error::Store(e @ hashguard::store::Error::Locked { .. })) => {
            eprintln!("hashguard: {e}");
            exit::TEMP_FAIL
        }
        Err(e) => {
            eprintln!("hashguard: {e}");
            exit::IO
        }
    }
}

/// Runs `config show` or `config check`.
pub fn config(cmd: ConfigCommand) -> i32 {
    let (args, check) = match &cmd {
        ConfigCommand::Show(a) => (a, false),
        ConfigCommand::Check(a) => (a, true),
    };
    let c = match effective(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hashguard: {e}");
            return CONFIG;
        }
    };
    if !check {
        match toml::to_string_pretty(&c) {
            Ok(s) => {
                print!("{s}");
                return exit::OK;
            }
            Err(e) => {
                eprintln!("hashguard: {e}");
                return CONFIG;
            }
        }
    }
    match c.validate() {
        Ok(_) => {
            println!("configuration OK");
            exit::OK
        }
        Err(config::Error::Invalid(problems)) => {
            for p in &problems {
                eprintln!("hashguard: config: {p}");
            }
            CONFIG
        }
        Err(e) => {
            eprintln!("hashguard: config: {e}");
            CONFIG
        }
    }
}

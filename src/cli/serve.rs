//! `hashguard serve` and `hashguard config show|check`: thin layers over `hashguard::server`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use hashguard::config::{self, Config};
use hashguard::server;

use super::exit::{Code, Failure};

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
admin, mirror) and tenant / unit / name; `hashguard token new` makes a token and its table.
Logs never contain media, hashes or file names.
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
    /// Check the configuration as `serve` does before it starts: addresses, tokens and TLS
    /// files, the sync time and every list source. Exit 0, or 78 with every problem listed.
    Check(ConfigArgs),
}

fn effective(args: &ConfigArgs) -> Result<Config, Failure> {
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
pub fn run(args: ServeArgs, data: &Path) -> Result<Code, Failure> {
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
    super::no_core_dumps();
    let config = effective(&args.common)?;
    server::run(config, data, |bound| match bound {
        // Scripts and tests wait for these lines.
        server::Bound::Grpc(addr) => eprintln!("hashguard: listening on {addr}"),
        server::Bound::Metrics(addr) => eprintln!("hashguard: metrics on {addr}"),
        server::Bound::Health(addr) => eprintln!("hashguard: health on {addr}"),
        server::Bound::Rest(addr) => eprintln!("hashguard: REST facade (HMA API) on {addr}"),
    })?;
    Ok(Code::OK)
}

/// Runs `config show` or `config check`.
pub fn config(cmd: ConfigCommand) -> Result<Code, Failure> {
    let (args, check) = match &cmd {
        ConfigCommand::Show(a) => (a, false),
        ConfigCommand::Check(a) => (a, true),
    };
    let c = effective(args)?;
    if !check {
        let s = toml::to_string_pretty(&c).map_err(|e| Failure::config(e.to_string()))?;
        print!("{s}");
        return Ok(Code::OK);
    }
    match c.validate() {
        Ok(_) => {
            println!("configuration OK");
            Ok(Code::OK)
        }
        // One line for each problem.
        Err(config::Error::Invalid(problems)) => Err(Failure::config(
            problems
                .iter()
                .map(|p| format!("config: {p}"))
                .collect::<Vec<_>>()
                .join("\nhashguard: "),
        )),
        Err(e) => Err(Failure::config(format!("config: {e}"))),
    }
}

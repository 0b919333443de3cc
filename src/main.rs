//! The `hashguard` command: a thin layer over the library (see `cli`).

mod cli;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(cli::run().value())
}

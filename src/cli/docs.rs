//! `hashguard completions` and `hashguard man`: shell completions and man pages generated from
//! the same clap definitions that parse the command line, so they never drift from it.

use std::path::PathBuf;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::exit::{Code, Failure};

/// Arguments of `hashguard completions`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  hashguard completions bash | sudo tee /usr/share/bash-completion/completions/hashguard
  hashguard completions zsh > \"${fpath[1]}/_hashguard\"
  hashguard completions fish > ~/.config/fish/completions/hashguard.fish")]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: Shell,
}

/// Arguments of `hashguard man`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  hashguard man | man -l -                       read the main page now
  sudo hashguard man --out /usr/share/man/man1   install every page (hashguard-scan.1, ...)")]
pub struct ManArgs {
    /// Write hashguard.1 and one page per command (hashguard-scan.1, ...) into DIR instead of
    /// printing the main page.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Prints the completion script for a shell.
pub fn completions(args: CompletionsArgs) -> Result<Code, Failure> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "hashguard", &mut std::io::stdout());
    Ok(Code::OK)
}

/// Prints the main man page, or writes every page into a directory.
pub fn man(args: ManArgs) -> Result<Code, Failure> {
    let cmd = super::Cli::command();
    match args.out {
        None => clap_mangen::Man::new(cmd)
            .render(&mut std::io::stdout())
            .map_err(|e| Failure::output("writing the man page", &e))?,
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Failure::io(format!("{}: {e}", dir.display())))?;
            clap_mangen::generate_to(cmd, &dir)
                .map_err(|e| Failure::io(format!("writing man pages to {}: {e}", dir.display())))?;
        }
    }
    Ok(Code::OK)
}

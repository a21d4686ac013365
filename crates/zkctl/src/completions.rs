//! `completions bash|zsh|fish|…`: a shell completion script generated from the command
//! line definition (clap_complete), so completions never fall behind the commands.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// Writes the completion script for `shell` to stdout.
pub fn print(shell: Shell) {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "zkctl", &mut std::io::stdout());
}

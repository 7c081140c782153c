//! `nas-controller`: parses the command line and runs the chosen command
//! (see `cli`) on the process's one runtime.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    nas_infra::process::run(cli::run(args))
}

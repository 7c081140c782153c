//! `nas-worker`: tunes malloc, parses the command line and runs the chosen
//! command (see `cli`) on the process's one runtime.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    nas_worker::malloc_tuning::keep_freed_memory();
    let args = cli::Cli::parse();
    nas_infra::process::run(cli::run(args))
}

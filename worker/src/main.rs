//! `nas-worker`: parses the command line, sets up logging and runs the
//! chosen command.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    nas_worker::malloc_tuning::keep_freed_memory();
    let args = cli::Cli::parse();
    nas_common::logging::init();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

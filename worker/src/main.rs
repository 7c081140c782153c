//! `nas-worker`: tunes malloc, parses the command line, sets up logging,
//! and runs the chosen command on one tokio runtime until it ends or a
//! signal asks it to stop.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    nas_worker::malloc_tuning::keep_freed_memory();
    let args = cli::Cli::parse();
    nas_infra::logging::init();
    let outcome = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(cli::run(args)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

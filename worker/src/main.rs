//! `nas-worker`: parses the command line, sets up logging and runs the
//! chosen command.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    nas_worker::malloc_tuning::keep_freed_memory();
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NAS_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

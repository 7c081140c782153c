//! `nas-worker`: parses the command line, sets up logging and runs the
//! chosen command.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Neural Architecture Search with reinforcement learning: the worker.
#[derive(Debug, Parser)]
#[command(name = "nas-worker", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a train-job document (a file, or `-` for standard input)
    /// and print its architecture id, as a worker would on receipt.
    CheckJob {
        /// The job JSON.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NAS_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::CheckJob { file } => {
            let bytes = if file.as_os_str() == "-" {
                let mut bytes = Vec::new();
                std::io::stdin().read_to_end(&mut bytes)?;
                bytes
            } else {
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?
            };
            let job = nas_worker::check_job(&bytes).context("the job is invalid")?;
            println!(
                "job {} attempt {}: {:?} on {:?}, architecture {}",
                job.job_id,
                job.attempt,
                job.spec.kind(),
                job.task,
                job.spec.id()
            );
            Ok(())
        }
    }
}

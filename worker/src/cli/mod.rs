//! The command line of `nas-worker`: argument types and the commands, each
//! a thin layer over the library ([`serve`] runs the job loop, [`train`]
//! trains one spec from local files).

mod estimate;
mod serve;
mod train;

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use tch::Device;

/// Neural Architecture Search with reinforcement learning: the worker.
#[derive(Debug, Parser)]
#[command(name = "nas-worker", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand, the worker serves jobs (as `serve`).
    #[command(flatten)]
    serve: serve::ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Consume jobs from the queue and train them (the default).
    Serve(serve::ServeArgs),
    /// Train one child from a spec file and report its metrics and reward.
    Train(train::TrainArgs),
    /// Validate a train-job document (a file, or `-` for standard input)
    /// and print its architecture id, as a worker would on receipt.
    CheckJob {
        /// The job JSON.
        file: PathBuf,
    },
    /// Print what specs would cost (parameters, activations per batch)
    /// against the limits, before anything trains.
    Estimate(estimate::EstimateArgs),
}

/// Where children train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DeviceArg {
    /// The CPU.
    Cpu,
    /// The first CUDA GPU.
    Cuda,
    /// CUDA when available, else the CPU.
    Auto,
}

impl DeviceArg {
    fn device(self) -> anyhow::Result<Device> {
        Ok(match self {
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Cuda if !tch::Cuda::is_available() => {
                bail!("--device cuda, but no CUDA device is available")
            }
            DeviceArg::Cuda => Device::Cuda(0),
            DeviceArg::Auto => Device::cuda_if_available(),
        })
    }
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Train(args)) => train::train(args).await,
        Some(Command::CheckJob { file }) => check_job(&file),
        Some(Command::Estimate(args)) => estimate::estimate(&args),
        Some(Command::Serve(args)) => serve::serve(args).await,
        None => serve::serve(cli.serve).await,
    }
}

/// The bytes of `file`, or of standard input for `-`.
fn read_input(file: &PathBuf) -> anyhow::Result<Vec<u8>> {
    if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes)?;
        Ok(bytes)
    } else {
        std::fs::read(file).with_context(|| format!("reading {}", file.display()))
    }
}

fn check_job(file: &PathBuf) -> anyhow::Result<()> {
    let bytes = read_input(file)?;
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

#[cfg(test)]
mod reference {
    //! The book's page for this command line, generated from it: the test
    //! fails when `docs/src/reference/cli-worker.md` drifts (`make
    //! reference` rewrites it).

    use std::path::PathBuf;

    use clap::CommandFactory;
    use nas_infra::reference::{check_page, cli_markdown};

    #[test]
    fn cli_reference_matches_the_code() {
        super::Cli::command().debug_assert();
        let generated = cli_markdown("nas-worker", &super::Cli::command());
        assert!(generated.contains("## `nas-worker serve`"));
        let page = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/src/reference/cli-worker.md");
        check_page(&page, &generated).unwrap_or_else(|error| panic!("{error}"));
    }
}

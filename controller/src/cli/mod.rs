//! The command line of `nas-controller`: argument types and the commands,
//! each a thin layer over the library that parses, calls and prints.
//!
//! One grammar on every command ([`args`]): the experiment is
//! `--experiment NAME` (or `NAS_EXPERIMENT`), results print as
//! `--output table|json`, modes are subcommands (`replay train|verify`,
//! `simulate search|stopping|pareto`), and a child count is `--children`.
//! Earlier spellings still work for one release, with a warning.
//!
//! - [`search`]: the search service (`search`, with `--embedded` workers);
//! - [`sample`], [`simulate`], [`replay`], [`reevaluate`]: the tools that
//!   work without a running search;
//! - [`present`]: `report`, `export`, `log`;
//! - [`data`]: `data upload`, `data synth`;
//! - [`reference`]: the CLI and configuration reference pages of the book,
//!   generated from these types (a test fails when they drift).

mod args;
mod data;
mod present;
mod reevaluate;
#[cfg(test)]
mod reference;
mod replay;
mod sample;
mod search;
mod simulate;

use clap::{Parser, Subcommand};

/// Neural Architecture Search with reinforcement learning: the controller.
#[derive(Debug, Parser)]
#[command(name = "nas-controller", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a search: publish children to workers and learn from their rewards.
    Search(Box<search::SearchArgs>),
    /// Print architectures sampled by a fresh or checkpointed controller, as JSON.
    Sample(sample::SampleArgs),
    /// Run search strategies against an oracle (a function or a recorded
    /// table) instead of workers.
    Simulate(Box<simulate::SimulateArgs>),
    /// Train a policy on a stored reward log without workers (`train`), or
    /// recompute a recorded search and compare it with its checkpoint
    /// (`verify`).
    Replay(Box<replay::ReplayArgs>),
    /// Train stored architectures again (more epochs, seeds, the final grid)
    /// into their own table.
    Reevaluate(Box<reevaluate::ReevaluateArgs>),
    /// Write an HTML report with plots, the leaderboard, diagrams and cost.
    Report(present::ReportArgs),
    /// Write a found architecture as JSON, Graphviz DOT, SVG or a PyTorch module.
    Export(present::ExportArgs),
    /// Print an experiment's reward log as JSON lines, in sequence order
    /// (every child: job, architecture, reward, the worker's result).
    Log(args::ExperimentArgs),
    /// Data sets: upload them to the store, or write synthetic ones.
    #[command(subcommand)]
    Data(data::DataCommand),
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Search(args) => search::search(*args).await,
        Command::Sample(args) => sample::sample(args).await,
        Command::Simulate(args) => simulate::simulate(*args).await,
        Command::Replay(args) => replay::replay(*args).await,
        Command::Reevaluate(args) => reevaluate::reevaluate(*args).await,
        Command::Report(args) => present::report(args).await,
        Command::Export(args) => present::export(args).await,
        Command::Log(args) => present::print_log(args).await,
        Command::Data(command) => data::run(command).await,
    }
}

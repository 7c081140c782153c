//! The command line of `nas-controller`: argument types and the commands,
//! each a thin layer over the library that parses, calls and prints.
//!
//! - [`search`]: the search service (`search`, with `--embedded` workers);
//! - [`offline`]: `sample`, `simulate`, `replay`, `reevaluate`;
//! - [`present`]: `report`, `export`, `log`;
//! - [`data`]: `data upload`, `data synth`.

mod data;
mod offline;
mod present;
mod search;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use nas_controller::embedded::{self, Embedding, Workers};
use nas_controller::search::config::staleness_parser;
use nas_controller::strategy::reinforce::{ReinforceConfig, RewardTransform, Staleness};
use nas_domain::{CellSpace, CnnSpace, ExperimentName, SearchSpace};
use nas_infra::args::{BrokerArgs, StoreArgs};
use nas_infra::queue::JobQueue;
use nas_infra::store::ObjectStore;
use nas_infra::telemetry::Telemetry;
use tokio_util::sync::CancellationToken;

/// Neural Architecture Search with reinforcement learning: the controller.
#[derive(Debug, Parser)]
#[command(name = "nas-controller", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print one architecture sampled by the controller, as JSON.
    Sample(offline::SampleArgs),
    /// Run search strategies against an oracle instead of workers.
    Simulate(Box<offline::SimulateArgs>),
    /// Run a search: publish children to workers and learn from their rewards.
    Search(Box<search::SearchArgs>),
    /// Data sets: upload them to the store, or write synthetic ones.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Train a policy on a stored reward log, without workers; `--verify`
    /// recomputes the recorded search and compares it with its checkpoint.
    Replay(offline::ReplayArgs),
    /// Write a found architecture as JSON, Graphviz DOT, SVG or a PyTorch module.
    Export(present::ExportArgs),
    /// Write an HTML report with plots, the leaderboard, diagrams and cost.
    Report(present::ReportArgs),
    /// Train stored architectures again (more epochs, seeds, the final grid)
    /// into their own table.
    Reevaluate(Box<offline::ReevaluateArgs>),
    /// Print an experiment's reward log as JSON lines, in sequence order
    /// (every child: job, architecture, reward, the worker's result).
    Log(ExperimentArgs),
}

/// The queue to use: RabbitMQ, or with `embedding` an in-process queue
/// whose workers this process runs.
async fn queue_for(
    embedding: Option<Embedding>,
    broker: &BrokerArgs,
    store: &ObjectStore,
    telemetry: &Telemetry,
    shutdown: &CancellationToken,
) -> anyhow::Result<(JobQueue, Option<Workers>)> {
    let Some(embedding) = embedding else {
        return Ok((broker.queue()?, None));
    };
    let (queue, workers) = embedded::start(&embedding, store, telemetry, shutdown).await?;
    Ok((queue, Some(workers)))
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sample(args) => offline::sample(args).await,
        Command::Simulate(args) => offline::simulate(*args).await,
        Command::Data(command) => data::run(command).await,
        Command::Search(args) => search::search(*args).await,
        Command::Replay(args) => offline::replay(args).await,
        Command::Export(args) => present::export(args).await,
        Command::Report(args) => present::report(args).await,
        Command::Reevaluate(args) => offline::reevaluate(*args).await,
        Command::Log(args) => present::print_log(args).await,
    }
}

/// Which stored experiment a command reads.
#[derive(Debug, Args)]
struct ExperimentArgs {
    /// The experiment's name.
    experiment: ExperimentName,
    #[command(flatten)]
    store: StoreArgs,
}

impl ExperimentArgs {
    /// The store, `./runs` when none is configured (the embedded mode's).
    async fn store(&self) -> anyhow::Result<ObjectStore> {
        Ok(self.store.open(Some(PathBuf::from("runs"))).await?)
    }
}

/// Built-in search spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SpacePreset {
    /// CIFAR-10 CNNs without strides or pooling (NAS v1), depth curriculum 6 → 20.
    Cnn,
    /// CNNs that also pick strides in {1,2,3} (NAS v2).
    CnnStrides,
    /// 39-layer CNNs with max-pools after layers 12 and 25 (NAS v3).
    CnnPool,
    /// Recurrent cells with 8 leaves (Penn Treebank).
    Rnn,
}

#[derive(Debug, Args)]
struct SpaceArgs {
    /// Built-in search space.
    #[arg(long, value_enum, default_value = "cnn")]
    space: SpacePreset,
    /// A search space from a TOML or JSON file instead (see schemas/search_space.schema.json).
    #[arg(long, value_name = "FILE", conflicts_with = "space")]
    space_file: Option<PathBuf>,
}

impl SpaceArgs {
    fn load(&self) -> anyhow::Result<SearchSpace> {
        if let Some(path) = &self.space_file {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let is_json = path.extension().is_some_and(|ext| ext == "json");
            // A file holds the space itself, or an experiment-style `[space]`.
            let space = if is_json {
                serde_json::from_str::<serde_json::Value>(&text)
                    .map(|value| value.get("space").cloned().unwrap_or(value))
                    .and_then(serde_json::from_value)
                    .map_err(anyhow::Error::from)
            } else {
                toml::from_str::<toml::Value>(&text)
                    .map(|value| value.get("space").cloned().unwrap_or(value))
                    .and_then(toml::Value::try_into)
                    .map_err(anyhow::Error::from)
            };
            return space.with_context(|| format!("search space file {}", path.display()));
        }
        Ok(match self.space {
            SpacePreset::Cnn => SearchSpace::cnn(CnnSpace::paper())?,
            SpacePreset::CnnStrides => SearchSpace::cnn(CnnSpace::paper_with_strides())?,
            SpacePreset::CnnPool => SearchSpace::cnn(CnnSpace::paper_with_pooling())?,
            SpacePreset::Rnn => SearchSpace::cell(CellSpace::paper())?,
        })
    }
}

/// Controller settings that can be overridden on the command line; each
/// flag left out keeps [`ReinforceConfig::default`].
#[derive(Debug, Args)]
struct ControllerArgs {
    /// Rewards per REINFORCE step (m).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Adam learning rate of the controller.
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Decay of the moving-average baseline.
    #[arg(long)]
    baseline_decay: Option<f64>,
    /// Weight of the entropy bonus.
    #[arg(long)]
    entropy_weight: Option<f64>,
    /// How rewards become advantages.
    #[arg(long, value_enum)]
    reward_transform: Option<RewardTransform>,
    /// Sampling temperature (logits are divided by it).
    #[arg(long)]
    temperature: Option<f64>,
    /// Squash logits as C·tanh(logits); 0 turns the squashing off.
    #[arg(long, value_name = "C")]
    tanh_constant: Option<f64>,
    /// Hidden units per controller LSTM layer.
    #[arg(long)]
    hidden: Option<i64>,
    /// Redraws of a sample whose architecture was proposed before.
    #[arg(long)]
    redraws: Option<u32>,
    /// What a step does with rewards an older policy sampled: `keep`,
    /// `drop:K` (leave out those more than K versions old) or
    /// `importance[:CLIP]` (weight by min(P_now / P_sampled, CLIP)).
    #[arg(long, value_parser = staleness_parser)]
    staleness: Option<Staleness>,
}

impl ControllerArgs {
    fn config(&self) -> ReinforceConfig {
        let mut config = ReinforceConfig::default();
        macro_rules! set {
            ($($field:ident).+ <- $value:expr) => {
                if let Some(value) = $value {
                    config.$($field).+ = value;
                }
            };
        }
        set!(batch_size <- self.batch_size);
        set!(learning_rate <- self.learning_rate);
        set!(baseline_decay <- self.baseline_decay);
        set!(entropy_weight <- self.entropy_weight);
        set!(reward_transform <- self.reward_transform);
        set!(policy.temperature <- self.temperature);
        set!(policy.hidden <- self.hidden);
        set!(redraws <- self.redraws);
        set!(staleness <- self.staleness);
        if let Some(c) = self.tanh_constant {
            config.policy.tanh_constant = (c > 0.0).then_some(c);
        }
        config
    }
}

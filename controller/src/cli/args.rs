//! Arguments every command names the same way: the experiment
//! (`--experiment`, `NAS_EXPERIMENT`), the output (`--output table|json`),
//! the search space (`--space`, `--space-file`), the embedded workers
//! (`--embedded`, `--workers`, `--data`) and the controller's settings.
//!
//! Spellings of earlier releases still parse, hidden from the help, and
//! print a deprecation warning ([`deprecated`]).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use nas_controller::embedded::{self, Embedding, Workers};
use nas_controller::strategy::reinforce::{ReinforceConfig, RewardTransform, Staleness};
use nas_domain::{CellSpace, CnnSpace, ExperimentName, SearchSpace, Task};
use nas_infra::args::{BrokerArgs, StoreArgs};
pub(super) use nas_infra::args::{Output, OutputArgs, deprecated};
use nas_infra::queue::JobQueue;
use nas_infra::store::ObjectStore;
use nas_infra::telemetry::Telemetry;
use tokio_util::sync::CancellationToken;

/// Which stored experiment a command reads: `--experiment NAME` or
/// `NAS_EXPERIMENT`, on every command.
#[derive(Debug, Args)]
pub(super) struct ExperimentArgs {
    /// The experiment's name.
    #[arg(long = "experiment", env = "NAS_EXPERIMENT", value_name = "NAME")]
    named: Option<ExperimentName>,
    /// The experiment as a positional argument (deprecated: --experiment).
    #[arg(value_name = "EXPERIMENT", hide = true)]
    positional: Option<ExperimentName>,
    #[command(flatten)]
    pub(super) store: StoreArgs,
}

impl ExperimentArgs {
    /// The experiment's name; an error when none is given.
    pub(super) fn name(&self) -> anyhow::Result<ExperimentName> {
        match (&self.positional, &self.named) {
            (Some(name), _) => {
                deprecated(
                    "naming the experiment as a positional argument",
                    "--experiment NAME",
                );
                Ok(name.clone())
            }
            (None, Some(name)) => Ok(name.clone()),
            (None, None) => bail!("name the experiment with --experiment NAME (or NAS_EXPERIMENT)"),
        }
    }

    /// The store, `./runs` when none is configured (the embedded mode's).
    pub(super) async fn store(&self) -> anyhow::Result<ObjectStore> {
        Ok(self.store.open(Some(PathBuf::from("runs"))).await?)
    }
}

/// Built-in search spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum SpacePreset {
    /// CIFAR-10 CNNs without strides or pooling (NAS v1), depth curriculum 6 → 20.
    Cnn,
    /// CNNs that also pick strides in {1,2,3} (NAS v2).
    CnnStrides,
    /// 39-layer CNNs with max-pools after layers 12 and 25 (NAS v3).
    CnnPool,
    /// Recurrent cells with 8 leaves (Penn Treebank).
    Rnn,
}

/// `--space` or `--space-file`.
#[derive(Debug, Args)]
pub(super) struct SpaceArgs {
    /// Built-in search space (default: cnn, or the task's for a search: rnn for PTB).
    #[arg(long, env = "NAS_SPACE", value_enum)]
    space: Option<SpacePreset>,
    /// A search space from a TOML or JSON file instead (see schemas/search_space.schema.json).
    #[arg(long, value_name = "FILE", conflicts_with = "space")]
    space_file: Option<PathBuf>,
}

impl SpaceArgs {
    /// The space given, or `None` when neither flag is.
    pub(super) fn given(&self) -> anyhow::Result<Option<SearchSpace>> {
        if let Some(path) = &self.space_file {
            return load_space_file(path).map(Some);
        }
        let Some(preset) = self.space else {
            return Ok(None);
        };
        Ok(Some(match preset {
            SpacePreset::Cnn => SearchSpace::cnn(CnnSpace::paper())?,
            SpacePreset::CnnStrides => SearchSpace::cnn(CnnSpace::paper_with_strides())?,
            SpacePreset::CnnPool => SearchSpace::cnn(CnnSpace::paper_with_pooling())?,
            SpacePreset::Rnn => SearchSpace::cell(CellSpace::paper())?,
        }))
    }

    /// The space given, else the paper's CNN space.
    pub(super) fn load(&self) -> anyhow::Result<SearchSpace> {
        match self.given()? {
            Some(space) => Ok(space),
            None => Ok(SearchSpace::cnn(CnnSpace::paper())?),
        }
    }
}

/// A space file: the space itself, or an experiment-style `[space]`, in
/// TOML or (by its extension) JSON.
fn load_space_file(path: &std::path::Path) -> anyhow::Result<SearchSpace> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let is_json = path.extension().is_some_and(|ext| ext == "json");
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
    space.with_context(|| format!("search space file {}", path.display()))
}

/// `--embedded`: workers in this process instead of RabbitMQ's.
#[derive(Debug, Args)]
pub(super) struct EmbeddingArgs {
    /// Run the controller and --workers workers in this process, with an
    /// in-process queue and a local store (default ./runs).
    #[arg(long)]
    pub(super) embedded: bool,
    /// Workers of the embedded mode.
    #[arg(long, default_value_t = 2, requires = "embedded")]
    workers: usize,
    /// Embedded mode: the data to copy into the store when it lacks the data set.
    #[arg(long, value_name = "PATH", requires = "embedded")]
    data: Option<PathBuf>,
}

impl EmbeddingArgs {
    /// The store's fallback: `./runs` in the embedded mode, none otherwise.
    pub(super) fn fallback_store(&self) -> Option<PathBuf> {
        self.embedded.then(|| PathBuf::from("runs"))
    }

    /// The queue to use: RabbitMQ's, or in the embedded mode an in-process
    /// queue whose workers (training `dataset` for `task`) this process runs.
    pub(super) async fn queue(
        &self,
        (dataset, task): (String, Task),
        broker: &BrokerArgs,
        store: &ObjectStore,
        telemetry: &Telemetry,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<(JobQueue, Option<Workers>)> {
        if !self.embedded {
            return Ok((broker.queue()?, None));
        }
        let embedding = Embedding {
            workers: self.workers,
            data: self.data.clone(),
            dataset,
            task,
            delivery_limit: broker.delivery_limit,
        };
        let (queue, workers) = embedded::start(&embedding, store, telemetry, shutdown).await?;
        Ok((queue, Some(workers)))
    }
}

/// Controller settings that can be overridden on the command line; each
/// flag left out keeps [`ReinforceConfig::default`].
#[derive(Debug, Args)]
pub(super) struct ControllerArgs {
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
    #[arg(long)]
    staleness: Option<Staleness>,
}

impl ControllerArgs {
    /// [`ReinforceConfig::default`] with the flags given.
    pub(super) fn config(&self) -> ReinforceConfig {
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

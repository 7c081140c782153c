//! The optional settings of an experiment ([`Overrides`]): a TOML file,
//! the command line and `NAS_…` variables fill one each, and
//! [`ExperimentConfig::resolve`](super::config::ExperimentConfig::resolve)
//! merges them over the defaults as values, lowest precedence first
//! ([`layers`](super::layers)).

use clap::Args;
use clap::builder::TypedValueParser;
use nas_domain::objective::RewardShaping;
use nas_domain::{
    ExperimentName, Hyperparameters, RewardFunction, SearchSpace, StoppingConfig, StoppingRule, Task,
    TrialCommand,
};
use nas_infra::args::TaskArg;
use serde::{Deserialize, Serialize};

use crate::experiment::spend::{AtBudget, Prices};
use crate::strategy::StrategyKind;
use crate::strategy::evolution::EvolutionConfig;
use crate::strategy::local_search::LocalSearchConfig;
use crate::strategy::predictor::PredictorConfig;
use crate::strategy::reinforce::{ReinforceConfig, Staleness};
use crate::{Error, Result};

/// Optional settings, from a TOML file, the command line or `NAS_…`
/// variables; each field overrides the same field of
/// [`ExperimentConfig`]. Flags without a field here (`--space`,
/// `--train-duplicates`) are turned into one by the command line.
#[derive(Args, Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// The experiment's name (its prefix in the store and its queues).
    #[arg(long, env = "NAS_EXPERIMENT")]
    pub experiment: Option<ExperimentName>,
    /// What children train on.
    #[arg(long, env = "NAS_TASK", value_parser = task_parser())]
    pub task: Option<Task>,
    /// The data set's name in the store.
    #[arg(long, env = "NAS_DATASET")]
    pub dataset: Option<String>,
    /// The search space.
    #[arg(skip)]
    pub space: Option<SearchSpace>,
    /// The search strategy.
    #[arg(long, env = "NAS_STRATEGY", value_enum)]
    pub strategy: Option<StrategyKind>,
    /// Controller settings.
    #[arg(skip)]
    pub controller: Option<ReinforceConfig>,
    /// Every default that differs from the paper back to the paper's value,
    /// after the file and the other flags (docs: The controller, "Where the
    /// defaults differ from the paper").
    #[arg(long, env = "NAS_PAPER_STRICT")]
    #[serde(default)]
    pub paper_strict: bool,
    /// What the controller does with rewards an older policy sampled
    /// (`controller.staleness`): `keep`, `drop:K` (leave out those more than
    /// K versions old) or `importance[:CLIP]` (weight each by
    /// min(P_now / P_sampled, CLIP)).
    #[arg(long, env = "NAS_STALENESS", conflicts_with = "paper_strict")]
    #[serde(skip)]
    pub staleness: Option<Staleness>,
    /// Regularized-evolution settings.
    #[arg(skip)]
    pub evolution: Option<EvolutionConfig>,
    /// Local-search settings.
    #[arg(skip)]
    pub local_search: Option<LocalSearchConfig>,
    /// Predictor-guided search settings.
    #[arg(skip)]
    pub predictor: Option<PredictorConfig>,
    /// Seed of the strategy and the children.
    #[arg(long, env = "NAS_SEED")]
    pub seed: Option<u64>,
    /// Children to train in total.
    #[arg(long, env = "NAS_CHILDREN")]
    pub children: Option<u64>,
    /// Stop after this many hours (in-flight results wait for --resume).
    #[arg(long, env = "NAS_MAX_HOURS")]
    pub max_hours: Option<f64>,
    /// Stop publishing once the workers report this many hours of training
    /// (see --at-budget).
    #[arg(long, env = "NAS_MAX_GPU_HOURS")]
    pub max_gpu_hours: Option<f64>,
    /// At --max-gpu-hours: wait for the children in flight, or leave them
    /// for --resume.
    #[arg(long, env = "NAS_AT_BUDGET", value_enum)]
    pub at_budget: Option<AtBudget>,
    /// Learn first from these earlier experiments' trained children
    /// (comma-separated names in the same store; the predictor, evolution or
    /// REINFORCE).
    #[arg(long, env = "NAS_WARM_START", value_delimiter = ',')]
    pub warm_start: Option<Vec<ExperimentName>>,
    /// Prices per training hour by device kind, for the money spent
    /// (`cuda=2.5/h,cpu=0.1/h`).
    #[arg(long = "price", env = "NAS_PRICE")]
    pub prices: Option<Prices>,
    /// Jobs kept in flight (about the number of workers).
    #[arg(long, env = "NAS_IN_FLIGHT")]
    pub in_flight: Option<usize>,
    /// Seconds without a result before a job is published again.
    #[arg(long, env = "NAS_JOB_TIMEOUT_SECONDS")]
    pub job_timeout_seconds: Option<u64>,
    /// The reward of a failed child.
    #[arg(long, env = "NAS_FAILED_REWARD")]
    pub failed_reward: Option<f64>,
    /// Whether identical architectures reuse the reward of the first.
    #[arg(skip)]
    pub reuse_rewards: Option<bool>,
    /// How long each child trains.
    #[command(flatten)]
    #[serde(default)]
    pub budget: BudgetOverrides,
    /// Training overrides for every child.
    #[arg(skip)]
    pub hyperparameters: Option<Hyperparameters>,
    /// Hidden size of language-model children (`hyperparameters.hidden_size`).
    #[arg(long, env = "NAS_HIDDEN", conflicts_with = "params")]
    #[serde(skip)]
    pub hidden: Option<u32>,
    /// Size language-model children to about this many parameters, e.g.
    /// `20M`, the paper's "medium" size for GPU runs
    /// (`hyperparameters.parameters`; instead of the CPU-sized hidden 200).
    #[arg(long, env = "NAS_PARAMS", value_name = "COUNT", value_parser = nas_infra::args::parse_count)]
    #[serde(skip)]
    pub params: Option<i64>,
    /// How metrics become rewards.
    #[arg(skip)]
    pub reward: Option<RewardFunction>,
    /// The trial command (TOML `[trial]`).
    #[arg(skip)]
    pub trial: Option<TrialCommand>,
    /// Early stopping (TOML `[stopping]`).
    #[arg(skip)]
    pub stopping: Option<StoppingConfig>,
    /// The early-stopping rule: `none`, `median`, `asha`, `predict`, with
    /// their default settings or with settings as `simulate stopping
    /// --rules` takes them (`stopping.rule`).
    #[arg(long = "stopping", env = "NAS_STOPPING")]
    #[serde(skip)]
    pub stopping_rule: Option<StoppingRule>,
    /// Reward shaping by costs (TOML `[objective]`; on the command line
    /// `mnas:COST:TARGET[:ALPHA:BETA]` or `sum:COST:TARGET[:WEIGHT]`, terms
    /// joined by `+`, e.g. `mnas:parameters:1e6:0:-1`).
    #[arg(long = "objective", env = "NAS_OBJECTIVE")]
    pub objective: Option<RewardShaping>,
}

/// The training budget's part of [`Overrides`] (TOML `[budget]`).
#[derive(Args, Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetOverrides {
    /// Epochs per child.
    #[arg(long, env = "NAS_EPOCHS")]
    pub epochs: Option<u32>,
    /// Mini-batch size of the children.
    #[arg(long, env = "NAS_BATCH_SIZE")]
    pub batch_size: Option<u32>,
    /// Training images (CIFAR-10) or tokens (PTB) per child.
    #[arg(long = "train-subset", env = "NAS_TRAIN_SUBSET")]
    pub train_examples: Option<u64>,
    /// Validation images (or tokens) per child.
    #[arg(long = "valid-subset", env = "NAS_VALID_SUBSET")]
    pub valid_examples: Option<u64>,
    /// Stop a child after the epoch during which this many seconds passed.
    #[arg(skip)]
    pub max_seconds: Option<f64>,
    /// Also score every child on the test set.
    #[arg(skip)]
    pub evaluate_test: Option<bool>,
}

/// `--task`: the names of [`TaskArg`] (`cifar10`, `ptb`, `ptb-char`).
fn task_parser() -> impl TypedValueParser<Value = Task> {
    clap::builder::EnumValueParser::<TaskArg>::new().map(TaskArg::task)
}

impl Overrides {
    /// Parses a TOML configuration file's text, naming `origin` in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text).map_err(|error| Error::Config(format!("{origin}: {error}")))
    }

    /// Only what a resumed experiment may change: the budget of the search
    /// (children, hours, GPU hours and what happens at them, prices, jobs
    /// in flight, the job timeout).
    pub fn resumable(&self) -> Overrides {
        Overrides {
            children: self.children,
            max_hours: self.max_hours,
            max_gpu_hours: self.max_gpu_hours,
            at_budget: self.at_budget,
            prices: self.prices.clone(),
            in_flight: self.in_flight,
            job_timeout_seconds: self.job_timeout_seconds,
            ..Overrides::default()
        }
    }
}

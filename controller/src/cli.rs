//! The command line of `nas-controller`: argument types and the commands.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use nas_common::dataset_sync::{self, DatasetKind};
use nas_common::oracle::{Missing, Oracle, RewardTable, SyntheticOracle};
use nas_common::queue::JobQueue;
use nas_common::service_args::{BrokerArgs, StoreArgs, TaskArg};
use nas_common::store::ObjectStore;
use nas_common::telemetry::Telemetry;
use nas_common::{ArchSpec, CellSpace, CnnSpace, ExperimentName, SearchSpace, Task, TrainingBudget};
use nas_controller::checkpoint::Checkpoint;
use nas_controller::controller_metrics::ControllerMetrics;
use nas_controller::embedded;
use nas_controller::evolution::EvolutionConfig;
use nas_controller::experiment::ConfigFile;
use nas_controller::export::ExportFormat;
use nas_controller::reevaluate::{Plan as ReevaluationPlan, Selection};
use nas_controller::reinforce::RewardTransform;
use nas_controller::reinforce::{Reinforce, ReinforceConfig};
use nas_controller::replay::{self, ReplaySettings};
use nas_controller::reward_log;
use nas_controller::search_loop::{ResumeMode, ResumeOverrides, Search, SearchSummary};
use nas_controller::simulate::{self, Simulation};
use nas_controller::strategy::{self, StrategyKind};

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
    Sample(SampleArgs),
    /// Run search strategies against an oracle instead of workers.
    Simulate(SimulateArgs),
    /// Run a search: publish children to workers and learn from their rewards.
    Search(Box<SearchArgs>),
    /// Data sets: upload them to the store, or write synthetic ones.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train a policy on a stored reward log, without workers; `--verify`
    /// recomputes the recorded search and compares it with its checkpoint.
    Replay(ReplayArgs),
    /// Write a found architecture as JSON, Graphviz DOT, SVG or a PyTorch module.
    Export(ExportArgs),
    /// Write an HTML report with plots, the leaderboard, diagrams and cost.
    Report(ReportArgs),
    /// Train stored architectures again (more epochs, seeds, the final grid)
    /// into their own table.
    Reevaluate(Box<ReevaluateArgs>),
    /// Print an experiment's reward log as JSON lines, in sequence order
    /// (every child: job, architecture, reward, the worker's result).
    Log(ExperimentArgs),
}

#[derive(Debug, Args)]
struct ReevaluateArgs {
    /// The experiment whose architectures are re-evaluated.
    experiment: ExperimentName,
    /// The best K architectures by reward.
    #[arg(long, conflicts_with_all = ["arch", "all"])]
    top: Option<usize>,
    /// These architecture ids (or unique prefixes), comma-separated.
    #[arg(long, value_delimiter = ',', conflicts_with = "all")]
    arch: Vec<String>,
    /// Every architecture in the reward log.
    #[arg(long)]
    all: bool,
    /// Epochs per training.
    #[arg(long, default_value_t = 50)]
    epochs: u32,
    /// Seeds per architecture and grid point.
    #[arg(long, default_value_t = 3)]
    seeds: u32,
    /// The final grid over learning rate, weight decay, batch-norm epsilon
    /// and the epoch of learning-rate decay (learning rate for cells).
    #[arg(long)]
    grid: bool,
    /// Also score on the test set (reported for the final pick).
    #[arg(long)]
    test: bool,
    /// The re-evaluation's name (default: EXPERIMENT-reeval).
    #[arg(long)]
    name: Option<ExperimentName>,
    /// Jobs kept in flight.
    #[arg(long, default_value_t = 8)]
    in_flight: usize,
    /// Seconds without a result before a job is published again.
    #[arg(long, default_value_t = 21600)]
    job_timeout_seconds: u64,
    /// Run --workers workers in this process over a local store.
    #[arg(long)]
    embedded: bool,
    /// Workers of the embedded mode.
    #[arg(long, default_value_t = 2, requires = "embedded")]
    workers: usize,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    broker: BrokerArgs,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Args)]
struct ReportArgs {
    #[command(flatten)]
    experiment: ExperimentArgs,
    /// The folder to write into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Other experiments to show side by side (for instance one per strategy).
    #[arg(long, value_delimiter = ',')]
    compare: Vec<ExperimentName>,
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

#[derive(Debug, Args)]
struct ReplayArgs {
    #[command(flatten)]
    experiment: ExperimentArgs,
    /// Recompute the recorded search from its first checkpoint and check that
    /// the policy equals the stored latest checkpoint exactly.
    #[arg(long)]
    verify: bool,
    /// Start from a freshly initialised policy instead of the first checkpoint.
    #[arg(long, conflicts_with = "verify")]
    fresh: bool,
    /// Another baseline decay.
    #[arg(long, conflicts_with = "verify")]
    baseline_decay: Option<f64>,
    /// Another entropy weight.
    #[arg(long, conflicts_with = "verify")]
    entropy_weight: Option<f64>,
    /// Another controller learning rate.
    #[arg(long, conflicts_with = "verify")]
    learning_rate: Option<f64>,
    /// Another reward transform.
    #[arg(long, value_enum, conflicts_with = "verify")]
    reward_transform: Option<RewardTransform>,
    /// Seed of a fresh policy.
    #[arg(long, requires = "fresh")]
    seed: Option<u64>,
    /// Write the final policy checkpoint here.
    #[arg(long, value_name = "FILE", conflicts_with = "verify")]
    out: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// An architecture id (or a unique prefix of one) of --experiment, or a
    /// spec JSON file.
    arch: String,
    /// The format.
    #[arg(long, value_enum, default_value = "json")]
    format: ExportFormat,
    /// The experiment whose reward log holds the architecture.
    #[arg(long)]
    experiment: Option<ExperimentName>,
    #[command(flatten)]
    store: StoreArgs,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Upload a data set (the official files) with a manifest of SHA-256 sums.
    Upload(UploadArgs),
    /// Write a small synthetic data set in the official format, with a
    /// learnable signal (for tests and demos).
    Synth(SynthArgs),
}

#[derive(Debug, Args)]
struct UploadArgs {
    /// Which data set.
    #[arg(value_enum)]
    dataset: SynthDataset,
    /// CIFAR-10: the official archive or the extracted folder; PTB: the
    /// folder with the text files.
    path: PathBuf,
    /// The name in the store (default: cifar10 or ptb).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Settings of `search`. Each flag overrides the `--config` file and reads a
/// `NAS_…` environment variable.
#[derive(Debug, Args)]
struct SearchArgs {
    /// Experiment configuration (TOML); flags and NAS_… variables override it.
    #[arg(long, env = "NAS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The experiment's name (its prefix in the store and its queues).
    #[arg(long, env = "NAS_EXPERIMENT")]
    experiment: Option<ExperimentName>,
    /// Continue the stored experiment of that name.
    #[arg(long, conflicts_with = "resume_if_exists")]
    resume: bool,
    /// Continue the experiment if it exists, else start it (for services that
    /// restart the controller, like a Kubernetes Deployment).
    #[arg(long, env = "NAS_RESUME_IF_EXISTS")]
    resume_if_exists: bool,
    /// What children train on.
    #[arg(long, env = "NAS_TASK", value_enum)]
    task: Option<TaskArg>,
    /// The data set's name in the store.
    #[arg(long, env = "NAS_DATASET")]
    dataset: Option<String>,
    /// Built-in search space (default: cnn for CIFAR-10, rnn for PTB).
    #[arg(long, env = "NAS_SPACE", value_enum)]
    space: Option<SpacePreset>,
    /// A search space from a TOML or JSON file.
    #[arg(long, value_name = "FILE", conflicts_with = "space")]
    space_file: Option<PathBuf>,
    /// The search strategy.
    #[arg(long, env = "NAS_STRATEGY", value_enum)]
    strategy: Option<StrategyKind>,
    /// Children to train in total.
    #[arg(long, env = "NAS_CHILDREN")]
    children: Option<u64>,
    /// Stop after this many hours (in-flight results wait for --resume).
    #[arg(long, env = "NAS_MAX_HOURS")]
    max_hours: Option<f64>,
    /// Jobs kept in flight (about the number of workers).
    #[arg(long, env = "NAS_IN_FLIGHT")]
    in_flight: Option<usize>,
    /// Seconds without a result before a job is published again.
    #[arg(long, env = "NAS_JOB_TIMEOUT_SECONDS")]
    job_timeout_seconds: Option<u64>,
    /// The reward of a failed child.
    #[arg(long, env = "NAS_FAILED_REWARD")]
    failed_reward: Option<f64>,
    /// Train every child, even when an identical architecture was trained
    /// before (by default its reward is reused).
    #[arg(long, env = "NAS_TRAIN_DUPLICATES")]
    train_duplicates: bool,
    /// Epochs per child.
    #[arg(long, env = "NAS_EPOCHS")]
    epochs: Option<u32>,
    /// Training images (CIFAR-10) or tokens (PTB) per child.
    #[arg(long, env = "NAS_TRAIN_SUBSET")]
    train_subset: Option<u64>,
    /// Validation images per child.
    #[arg(long, env = "NAS_VALID_SUBSET")]
    valid_subset: Option<u64>,
    /// Mini-batch size of the children.
    #[arg(long, env = "NAS_BATCH_SIZE")]
    batch_size: Option<u32>,
    /// Hidden size of language-model children.
    #[arg(long, env = "NAS_HIDDEN")]
    hidden: Option<u32>,
    /// Seed of the strategy and the children.
    #[arg(long, env = "NAS_SEED")]
    seed: Option<u64>,
    /// Run the controller and --workers workers in this process, with an
    /// in-process queue and a local store (default ./runs).
    #[arg(long)]
    embedded: bool,
    /// Workers of the embedded mode.
    #[arg(long, default_value_t = 2, requires = "embedded")]
    workers: usize,
    /// Embedded mode: the data to copy into the store when it lacks the data set.
    #[arg(long, value_name = "PATH", requires = "embedded")]
    data: Option<PathBuf>,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "NAS_METRICS_ADDR", default_value = "127.0.0.1:9100")]
    metrics_addr: SocketAddr,
    /// Print one JSON object (last line) with the counts and the leaderboard.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    broker: BrokerArgs,
    #[command(flatten)]
    store: StoreArgs,
}

impl SearchArgs {
    /// The configuration file with the flags applied.
    fn config_file(&self) -> anyhow::Result<ConfigFile> {
        let mut file = match &self.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                ConfigFile::from_toml(&text, &path.display().to_string())?
            }
            None => ConfigFile::default(),
        };
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(value) = self.$field.clone() { file.$field = Some(value.into()); } )* };
        }
        set!(
            experiment,
            dataset,
            strategy,
            children,
            max_hours,
            in_flight,
            job_timeout_seconds,
            failed_reward,
            seed
        );
        if let Some(task) = self.task {
            file.task = Some(task.task());
        }
        if self.train_duplicates {
            file.reuse_rewards = Some(false);
        }
        if self.space.is_some() || self.space_file.is_some() {
            let space = SpaceArgs {
                space: self.space.unwrap_or(SpacePreset::Cnn),
                space_file: self.space_file.clone(),
            };
            file.space = Some(space.load()?);
        }
        let task = file.task.unwrap_or(Task::Cifar10);
        if self.epochs.is_some()
            || self.train_subset.is_some()
            || self.valid_subset.is_some()
            || self.batch_size.is_some()
        {
            let mut budget = file.budget.clone().unwrap_or(TrainingBudget {
                epochs: if task == Task::Cifar10 { 50 } else { 35 },
                batch_size: None,
                train_examples: None,
                valid_examples: None,
                max_seconds: None,
                evaluate_test: false,
            });
            budget.epochs = self.epochs.unwrap_or(budget.epochs);
            budget.train_examples = self.train_subset.or(budget.train_examples);
            budget.valid_examples = self.valid_subset.or(budget.valid_examples);
            budget.batch_size = self.batch_size.or(budget.batch_size);
            file.budget = Some(budget);
        }
        if let Some(hidden) = self.hidden {
            file.hyperparameters
                .get_or_insert_with(Default::default)
                .hidden_size = Some(hidden);
        }
        Ok(file)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SynthDataset {
    /// `cifar-10-batches-bin/` with five training files and a test file.
    Cifar10,
    /// `ptb.{train,valid,test}.txt` and the character-level files.
    Ptb,
}

#[derive(Debug, Args)]
struct SynthArgs {
    /// Which data set.
    #[arg(value_enum)]
    dataset: SynthDataset,
    /// The folder to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// CIFAR-10: records per training file (the official files hold 10,000).
    #[arg(long, default_value_t = 1000)]
    records_per_file: usize,
    /// CIFAR-10: records in the test file.
    #[arg(long, default_value_t = 1000)]
    test_records: usize,
    /// PTB: training sentences (validation and test get a tenth each).
    #[arg(long, default_value_t = 4000)]
    sentences: usize,
    /// PTB: vocabulary size.
    #[arg(long, default_value_t = 200)]
    vocabulary: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
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
            let space = if is_json {
                serde_json::from_str(&text).map_err(anyhow::Error::from)
            } else {
                toml::from_str(&text).map_err(anyhow::Error::from)
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

/// Controller settings that can be overridden on the command line.
#[derive(Debug, Args)]
struct ControllerArgs {
    /// Rewards per REINFORCE step (m).
    #[arg(long, default_value_t = ReinforceConfig::default().batch_size)]
    batch_size: usize,
    /// Adam learning rate of the controller.
    #[arg(long, default_value_t = ReinforceConfig::default().learning_rate)]
    learning_rate: f64,
    /// Decay of the moving-average baseline.
    #[arg(long, default_value_t = ReinforceConfig::default().baseline_decay)]
    baseline_decay: f64,
    /// Weight of the entropy bonus.
    #[arg(long, default_value_t = ReinforceConfig::default().entropy_weight)]
    entropy_weight: f64,
    /// Sampling temperature (logits are divided by it).
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// Squash logits as C·tanh(logits).
    #[arg(long, value_name = "C")]
    tanh_constant: Option<f64>,
    /// Hidden units per controller LSTM layer.
    #[arg(long, default_value_t = 35)]
    hidden: i64,
}

impl ControllerArgs {
    fn config(&self) -> ReinforceConfig {
        let mut config = ReinforceConfig {
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            baseline_decay: self.baseline_decay,
            entropy_weight: self.entropy_weight,
            ..ReinforceConfig::default()
        };
        config.policy.temperature = self.temperature;
        config.policy.tanh_constant = self.tanh_constant;
        config.policy.hidden = self.hidden;
        config
    }
}

#[derive(Debug, Args)]
struct SampleArgs {
    #[command(flatten)]
    space: SpaceArgs,
    /// Number of CNN layers (default: the curriculum's first depth).
    #[arg(long)]
    layers: Option<u16>,
    /// Seed of the fresh policy's initialisation and of the sample.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Sample from this controller checkpoint instead of a fresh policy
    /// (its own space is used).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    #[command(flatten)]
    controller: ControllerArgs,
}

/// Where rewards come from in `simulate`.
#[derive(Clone, Debug)]
enum OracleArg {
    Synthetic,
    Table(PathBuf),
}

impl std::fmt::Display for OracleArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OracleArg::Synthetic => f.write_str("synthetic"),
            OracleArg::Table(path) => write!(f, "table:{}", path.display()),
        }
    }
}

impl std::str::FromStr for OracleArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once(':') {
            None if text == "synthetic" => Ok(OracleArg::Synthetic),
            Some(("table", path)) if !path.is_empty() => Ok(OracleArg::Table(PathBuf::from(path))),
            _ => Err(format!("expected `synthetic` or `table:FILE`, got {text:?}")),
        }
    }
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// `synthetic` (a documented function of the spec) or `table:FILE` (JSON
    /// lines with a reward and an arch_id or spec, such as a reward log).
    #[arg(long, default_value = "synthetic")]
    oracle: OracleArg,
    #[command(flatten)]
    space: SpaceArgs,
    /// Strategies to compare, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "reinforce,random")]
    strategies: Vec<StrategyKind>,
    /// Children per run.
    #[arg(long, default_value_t = 800)]
    budget: usize,
    /// Number of seeds (runs per strategy); seeds are FIRST_SEED, FIRST_SEED+1, …
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// With a table oracle: the reward of architectures the table lacks
    /// (default: fail).
    #[arg(long, value_name = "REWARD")]
    missing_reward: Option<f64>,
    /// Threads to spread runs over (default: available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Evolution: children kept alive (P).
    #[arg(long, default_value_t = EvolutionConfig::default().population)]
    population: usize,
    /// Evolution: members drawn per tournament (S).
    #[arg(long, default_value_t = EvolutionConfig::default().sample)]
    tournament: usize,
    /// Print one JSON object with a `runs` array instead of a summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    controller: ControllerArgs,
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sample(args) => sample(args),
        Command::Simulate(args) => simulate(args),
        Command::Data(DataCommand::Synth(args)) => synth(args),
        Command::Data(DataCommand::Upload(args)) => upload(args),
        Command::Search(args) => search(*args),
        Command::Replay(args) => replay(args),
        Command::Export(args) => export(args),
        Command::Report(args) => report(args),
        Command::Reevaluate(args) => reevaluate(*args),
        Command::Log(args) => print_log(args),
    }
}

fn print_log(args: ExperimentArgs) -> anyhow::Result<()> {
    use std::io::Write;
    tokio::runtime::Runtime::new()?.block_on(async {
        let store = args.store().await?;
        let records = reward_log::read_all(&store, &args.experiment).await?;
        if records.is_empty() && !experiment_exists(&store, &args.experiment).await? {
            bail!(
                "there is no experiment {} in {}",
                args.experiment,
                store.describe()
            );
        }
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for record in &records {
            serde_json::to_writer(&mut out, record)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(())
    })
}

async fn experiment_exists(store: &ObjectStore, experiment: &ExperimentName) -> anyhow::Result<bool> {
    Ok(store
        .get(&nas_common::store::keys::experiment_config(experiment))
        .await?
        .is_some())
}

fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(async {
        let store = args.experiment.store().await?;
        let experiment = &args.experiment.experiment;
        if args.verify {
            let verification = replay::verify(&store, experiment).await?;
            if args.json {
                println!("{}", serde_json::to_string(&verification)?);
            } else {
                println!(
                    "replayed {} rewards from the first checkpoint up to step {}: {} of {} scalars in {} tensors differ \
                     (largest difference {:e}); strategy state {}",
                    verification.rewards,
                    verification.step,
                    verification.differing,
                    verification.scalars,
                    verification.tensors,
                    verification.max_difference,
                    if verification.state_matches { "matches" } else { "differs" }
                );
                for difference in &verification.state_differences {
                    println!("  {difference}");
                }
                println!("{}", if verification.identical { "verify: identical" } else { "verify: DIFFERENT" });
            }
            if !verification.identical {
                bail!("the recomputed policy differs from the stored checkpoint");
            }
            return Ok(());
        }
        let settings = ReplaySettings {
            fresh: args.fresh,
            baseline_decay: args.baseline_decay,
            entropy_weight: args.entropy_weight,
            learning_rate: args.learning_rate,
            reward_transform: args.reward_transform,
            seed: args.seed,
        };
        let (report, checkpoint) = replay::replay(&store, experiment, settings).await?;
        if let Some(path) = &args.out {
            std::fs::write(path, checkpoint.to_bytes()?).with_context(|| format!("writing {}", path.display()))?;
        }
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            println!("replayed {} rewards of {}: {} policy steps", report.rewards, report.experiment, report.steps.len());
            println!("{:>6} {:>12} {:>10} {:>9}", "step", "mean reward", "baseline", "entropy");
            for step in &report.steps {
                println!("{:>6} {:>12.4} {:>10.4} {:>9.3}", step.step, step.mean_reward, step.baseline, step.entropy);
            }
        }
        anyhow::Ok(())
    })
}

fn reevaluate(args: ReevaluateArgs) -> anyhow::Result<()> {
    let selection = match (args.top, args.arch.is_empty(), args.all) {
        (Some(count), _, _) => Selection::Top(count),
        (None, false, _) => Selection::Ids(args.arch.clone()),
        (None, true, true) => Selection::All,
        (None, true, false) => bail!("choose the architectures: --top K, --arch IDS or --all"),
    };
    let run = match &args.name {
        Some(name) => name.clone(),
        None => {
            let mut name = format!("{}-reeval", args.experiment);
            name.truncate(63);
            name.parse()?
        }
    };
    let plan = ReevaluationPlan {
        experiment: args.experiment.clone(),
        run,
        selection,
        epochs: args.epochs,
        seeds: args.seeds.max(1),
        grid: args.grid,
        test: args.test,
        in_flight: args.in_flight.max(1),
        job_timeout: std::time::Duration::from_secs(args.job_timeout_seconds.max(1)),
    };
    tokio::runtime::Runtime::new()?.block_on(async move {
        let shutdown = nas_common::shutdown::on_signals();
        let telemetry = Telemetry::default();
        let embedding = if args.embedded {
            let probe = args.store.open(Some(PathBuf::from("runs"))).await?;
            let config = nas_controller::report::load(&probe, &args.experiment)
                .await?
                .config;
            Some(Embedding {
                workers: args.workers,
                data: None,
                dataset: config.dataset,
                task: config.task,
            })
        } else {
            None
        };
        let (queue, store, workers) =
            services(embedding, &args.broker, &args.store, &telemetry, &shutdown).await?;
        let summary = nas_controller::reevaluate::run(&plan, &queue, &store, shutdown.clone()).await?;
        shutdown.cancel();
        for worker in workers {
            let _ = worker.await;
        }
        if args.json {
            println!("{}", serde_json::to_string(&summary)?);
            return anyhow::Ok(());
        }
        println!("re-evaluation {} of {}:", summary.run, summary.experiment);
        println!(
            "{:<14} {:>5} {:>18} {:>18} {:>7}",
            "architecture", "grid", "metric mean ± std", "reward mean ± std", "failed"
        );
        for row in &summary.results {
            println!(
                "{:<14} {:>5} {:>10.4} ± {:<6.4} {:>10.4} ± {:<6.4} {:>7}",
                row.architecture_id.short(),
                row.grid_point,
                row.metric.mean,
                row.metric.std,
                row.reward.mean,
                row.reward.std,
                row.failed
            );
        }
        if let Some(pick) = &summary.pick {
            println!(
                "pick: {} at grid point {} ({:?}): validation {:.4} ± {:.4}{}",
                pick.architecture_id.short(),
                pick.grid_point,
                pick.hyperparameters,
                pick.metric.mean,
                pick.metric.std,
                pick.test_metric.map_or(String::new(), |t| format!(
                    ", test {:.4} ± {:.4} over {} seeds",
                    t.mean, t.std, t.count
                ))
            );
        }
        anyhow::Ok(())
    })
}

fn report(args: ReportArgs) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(async {
        let store = args.experiment.store().await?;
        let main = nas_controller::report::load(&store, &args.experiment.experiment).await?;
        let mut others = Vec::new();
        for name in &args.compare {
            others.push(nas_controller::report::load(&store, name).await?);
        }
        let out = args.out.clone();
        let files = tokio::task::spawn_blocking(move || nas_controller::report::write(&main, &others, &out))
            .await??;
        println!(
            "report written to {} ({} files)",
            files.page.display(),
            files.files.len()
        );
        anyhow::Ok(())
    })
}

fn export(args: ExportArgs) -> anyhow::Result<()> {
    let spec = if std::path::Path::new(&args.arch).is_file() {
        let text = std::fs::read_to_string(&args.arch)?;
        ArchSpec::from_json(&text).with_context(|| format!("spec {}", args.arch))?
    } else {
        let experiment = args
            .experiment
            .clone()
            .context("give --experiment to look the architecture id up, or a spec file")?;
        tokio::runtime::Runtime::new()?.block_on(async {
            let store = args.store.open(Some(PathBuf::from("runs"))).await?;
            let records = reward_log::read_all(&store, &experiment).await?;
            let matches: Vec<&ArchSpec> = records
                .iter()
                .filter(|record| record.arch_id.as_str().starts_with(&args.arch))
                .map(|record| &record.spec)
                .collect();
            match matches.first() {
                None => bail!("no architecture {} in experiment {experiment}", args.arch),
                Some(first) if matches.iter().any(|spec| spec.id() != first.id()) => {
                    bail!(
                        "{} is the prefix of several architecture ids; give more characters",
                        args.arch
                    )
                }
                Some(first) => Ok((*first).clone()),
            }
        })?
    };
    let text = nas_controller::export::export(&spec, args.format);
    match &args.out {
        Some(path) => std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

fn upload(args: UploadArgs) -> anyhow::Result<()> {
    let (kind, default_name) = match args.dataset {
        SynthDataset::Cifar10 => (DatasetKind::Cifar10, "cifar10"),
        SynthDataset::Ptb => (DatasetKind::Ptb, "ptb"),
    };
    let name = args.name.clone().unwrap_or_else(|| default_name.to_owned());
    tokio::runtime::Runtime::new()?.block_on(async {
        let store = args.store.open(None).await?;
        let manifest = dataset_sync::upload(&store, &name, kind, &args.path).await?;
        let bytes: u64 = manifest.files.iter().map(|f| f.bytes).sum();
        println!(
            "uploaded {} files ({bytes} bytes) as data set {name} to {} (manifest {})",
            manifest.files.len(),
            store.describe(),
            &manifest.digest()[..16]
        );
        anyhow::Ok(())
    })
}

fn search(args: SearchArgs) -> anyhow::Result<()> {
    let file = args.config_file()?;
    let config = file.resolve()?;
    let overrides = ResumeOverrides {
        children: args.children,
        max_hours: args.max_hours,
        in_flight: args.in_flight,
        job_timeout_seconds: args.job_timeout_seconds,
    };
    tokio::runtime::Runtime::new()?.block_on(async move {
        let shutdown = nas_common::shutdown::on_signals();
        let telemetry = Telemetry::default();
        let metrics = ControllerMetrics::new(&telemetry);
        let embedding = args.embedded.then(|| Embedding {
            workers: args.workers,
            data: args.data.clone(),
            dataset: config.dataset.clone(),
            task: config.task,
        });
        let (queue, store, workers) =
            services(embedding, &args.broker, &args.store, &telemetry, &shutdown).await?;
        telemetry.serve(args.metrics_addr, shutdown.clone()).await?;
        let mode = match (args.resume, args.resume_if_exists) {
            (true, _) => ResumeMode::Resume,
            (false, true) => ResumeMode::Auto,
            (false, false) => ResumeMode::New,
        };
        let mut search = Search::open(config, mode, overrides, queue, store, metrics).await?;
        telemetry.set_ready(true);
        let config = search.config().clone();
        tracing::info!(
            experiment = %config.experiment,
            task = ?config.task,
            strategy = config.strategy.name(),
            children = config.children,
            "searching"
        );
        let progress = if std::io::IsTerminal::is_terminal(&std::io::stderr()) && !args.json {
            let bar = ProgressBar::new(config.children);
            bar.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} children, {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        let summary = search.run_until_stopped(shutdown.clone(), &progress).await?;
        shutdown.cancel();
        for worker in workers {
            let _ = worker.await;
        }
        print_summary(&summary, args.json)?;
        anyhow::Ok(())
    })
}

/// How the embedded mode runs workers in this process.
struct Embedding {
    workers: usize,
    data: Option<PathBuf>,
    dataset: String,
    task: Task,
}

/// The queue and store, and with `embedding` the in-process workers.
async fn services(
    embedding: Option<Embedding>,
    broker: &BrokerArgs,
    store: &StoreArgs,
    telemetry: &Telemetry,
    shutdown: &tokio_util::sync::CancellationToken,
) -> anyhow::Result<(JobQueue, ObjectStore, Vec<tokio::task::JoinHandle<()>>)> {
    let Some(embedding) = embedding else {
        return Ok((broker.queue()?, store.open(None).await?, Vec::new()));
    };
    let store = store.open(Some(PathBuf::from("runs"))).await?;
    let queue = broker.in_process();
    if let Some(data) = &embedding.data {
        embedded::ensure_dataset(&store, &embedding.dataset, embedding.task, data).await?;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    tch::set_num_threads(((cores / embedding.workers.max(1)).max(1)) as i32);
    let cache = match &store {
        ObjectStore::Local(local) => local.root().join(".cache"),
        ObjectStore::S3(_) => std::env::temp_dir().join("nas-embedded-cache"),
    };
    let workers = embedded::start_workers(embedding.workers, &queue, &store, cache, telemetry, shutdown);
    Ok((queue, store, workers))
}

fn print_summary(summary: &SearchSummary, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string(summary)?);
        return Ok(());
    }
    println!(
        "experiment {}: {} children rewarded, {} failed, {} duplicate results ignored, {} jobs republished, {} policy steps{}",
        summary.experiment,
        summary.children_rewarded,
        summary.children_failed,
        summary.duplicates,
        summary.republished,
        summary.policy_steps,
        if summary.complete {
            ""
        } else {
            " (stopped before the budget)"
        }
    );
    println!(
        "{:<4} {:<14} {:>10} {:>10} {:>9}",
        "rank", "architecture", "reward", "metric", "children"
    );
    for (rank, entry) in summary.leaderboard.iter().enumerate() {
        println!(
            "{:<4} {:<14} {:>10.4} {:>10} {:>9}",
            rank + 1,
            entry.architecture_id.short(),
            entry.reward,
            entry.metric.map_or("-".to_owned(), |m| format!("{m:.4}")),
            entry.children
        );
    }
    println!(
        "stored in {} (experiments/{}/)",
        summary.store, summary.experiment
    );
    Ok(())
}

fn synth(args: SynthArgs) -> anyhow::Result<()> {
    let written = match args.dataset {
        SynthDataset::Cifar10 => {
            nas_common::synth::write_cifar10(&args.out, args.records_per_file, args.test_records, args.seed)
        }
        SynthDataset::Ptb => {
            nas_common::synth::write_ptb(&args.out, args.sentences, args.vocabulary, args.seed)
        }
    };
    written.with_context(|| format!("writing synthetic data into {}", args.out.display()))?;
    println!(
        "wrote synthetic {:?} data into {}",
        args.dataset,
        args.out.display()
    );
    Ok(())
}

fn sample(args: SampleArgs) -> anyhow::Result<()> {
    let controller = match &args.checkpoint {
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let checkpoint =
                Checkpoint::from_bytes(&bytes).with_context(|| format!("checkpoint {}", path.display()))?;
            if checkpoint.strategy != StrategyKind::Reinforce {
                bail!(
                    "{} is a {} checkpoint; sampling needs a controller (reinforce) checkpoint",
                    path.display(),
                    checkpoint.strategy.name()
                );
            }
            Reinforce::restore(&checkpoint)?
        }
        None => Reinforce::new(args.space.load()?, args.controller.config(), args.seed)?,
    };
    let space = controller.space();
    let depth = match (args.layers, space.kind()) {
        (Some(layers), nas_common::ArchKind::Cnn) => usize::from(layers),
        (Some(_), nas_common::ArchKind::Cell) => bail!("--layers applies to CNN spaces only"),
        (None, _) => space.depth_at(0),
    };
    let plan = space.plan(depth);
    let mut rngs = [strategy::sample_rng(args.seed, 0)];
    let sampled = controller.policy().sample(&plan, &mut rngs);
    let actions = &sampled[0].actions;
    // `--layers` may leave the curriculum's depth range: decode in the same
    // space with its depth fixed there.
    let decode_space = match (&**space, args.layers) {
        (nas_common::SpaceDefinition::Cnn(cnn), Some(layers)) => SearchSpace::cnn(CnnSpace {
            depth: nas_common::DepthSchedule::fixed(layers),
            ..cnn.clone()
        })?,
        _ => space.clone(),
    };
    let spec = ArchSpec::from_actions(&decode_space, depth, actions)?;
    println!("{}", serde_json::to_string_pretty(&spec)?);
    Ok(())
}

fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let space = args.space.load()?;
    let oracle: Box<dyn Oracle> = match &args.oracle {
        OracleArg::Synthetic => Box::new(SyntheticOracle::default()),
        OracleArg::Table(path) => {
            let missing = args.missing_reward.map_or(Missing::Fail, Missing::Reward);
            Box::new(RewardTable::load(path, missing)?)
        }
    };
    if args.strategies.is_empty() || args.budget == 0 || args.seeds == 0 {
        bail!("--strategies, --budget and --seeds must all be non-empty and positive");
    }
    let simulation = Simulation {
        space,
        strategies: args.strategies.clone(),
        budget: args.budget,
        seeds: (args.first_seed..args.first_seed + args.seeds).collect(),
        reinforce: args.controller.config(),
        evolution: EvolutionConfig {
            population: args.population,
            sample: args.tournament,
        },
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
    };
    let started = std::time::Instant::now();
    let runs = simulate::run(&simulation, oracle.as_ref())?;
    let summary = simulate::summarize(&simulation, &runs);
    if args.json {
        let output = serde_json::json!({
            "oracle": args.oracle.to_string(),
            "space": simulation.space,
            "budget": simulation.budget,
            "summary": summary,
            "runs": runs,
        });
        println!("{output}");
        return Ok(());
    }
    println!(
        "simulated {} strategies × {} seeds × {} children in {:.1} s",
        simulation.strategies.len(),
        simulation.seeds.len(),
        simulation.budget,
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<10} {:>12} {:>14} {:>15} {:>22}",
        "strategy", "median best", "median last100", "median first100", "best (min..max)"
    );
    for row in &summary {
        println!(
            "{:<10} {:>12.4} {:>14.4} {:>15.4} {:>10.4}..{:<10.4}",
            row.strategy.name(),
            row.median_best_reward,
            row.median_mean_last_100,
            row.median_mean_first_100,
            row.best_reward_range.0,
            row.best_reward_range.1
        );
    }
    Ok(())
}

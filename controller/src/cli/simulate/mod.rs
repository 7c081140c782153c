//! `nas-controller simulate search|stopping|pareto`: search strategies run
//! against an oracle instead of workers.
//!
//! - `search`: samples to the top of a table, or rewards on a function,
//!   with children in flight as a pool of workers would run them;
//! - `stopping`: early-stopping rules on a learning-curve table, at equal
//!   training seconds;
//! - `pareto`: a metric traded against costs, the fronts found scored by
//!   hypervolume against the table's.
//!
//! The arguments every mode shares are [`Common`]; [`legacy`] maps the
//! mode flags of earlier releases (`simulate --stopping …`) onto the
//! subcommands. [`run`] holds the work, [`print`] the tables.

mod legacy;
mod print;
mod run;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use nas_controller::offline::warm_start::WarmSource;
use nas_controller::strategy::StrategyKind;
use nas_controller::strategy::evolution::EvolutionConfig;
use nas_controller::strategy::local_search::LocalSearchConfig;
use nas_controller::strategy::predictor::{CostSearch, PredictorConfig};
use nas_controller::strategy::reinforce::ReinforceConfig;
use nas_domain::objective::{Cost, RewardShaping};
use nas_domain::oracle::{Missing, OracleSource};
use nas_domain::promotion::AshaMode;
use nas_domain::{SampledAgain, StoppingRule};

use super::args::{ControllerArgs, OutputArgs, SpaceArgs};

/// `simulate`: a subcommand; `simulate` alone keeps the flags of earlier
/// releases (deprecated) and runs the mode they name.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct SimulateArgs {
    #[command(subcommand)]
    command: Option<SimulateCommand>,
    #[command(flatten)]
    legacy: legacy::LegacyArgs,
}

#[derive(Debug, Subcommand)]
enum SimulateCommand {
    /// Strategies on an oracle: samples to the top of a table (with random
    /// search's exact figures beside them), or rewards on a function.
    Search(SearchArgs),
    /// Early-stopping rules on a learning-curve table (`curves:FILE#COLUMN`),
    /// each run spending the same recorded training seconds.
    Stopping(StoppingArgs),
    /// A metric traded against costs on a table: the fronts found, scored
    /// by hypervolume against the table's true front.
    Pareto(ParetoArgs),
}

/// What every mode takes.
#[derive(Debug, Args)]
struct Common {
    /// `synthetic` (a documented function of the spec), `table:FILE` (JSON
    /// lines with a reward and an arch_id or spec, such as a reward log),
    /// `table:FILE#COLUMN` (a benchmark table, optionally gzipped, scored
    /// by that numeric column; its rows' other fields are the decisions) or
    /// `curves:FILE#COLUMN` (a learning-curve table).
    #[arg(long, default_value = "synthetic")]
    oracle: OracleSource,
    #[command(flatten)]
    space: SpaceArgs,
    /// Strategies to compare, comma-separated (default: a new
    /// experiment's strategy, then regularized evolution and random search).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = StrategyKind::comparison())]
    strategies: Vec<StrategyKind>,
    /// Children per run (at most, with `stopping`).
    #[arg(long, default_value_t = 800)]
    children: usize,
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
    /// Local search: random children before it climbs.
    #[arg(long, default_value_t = LocalSearchConfig::default().initial)]
    local_initial: usize,
    /// Predictor: random children before the model guides.
    #[arg(long, default_value_t = PredictorConfig::default().initial)]
    predictor_initial: usize,
    /// Predictor: prior precision of each decision value's weight.
    #[arg(long, default_value_t = PredictorConfig::default().main_precision)]
    main_precision: f64,
    /// Predictor: prior precision of each pair of values' weight.
    #[arg(long, default_value_t = PredictorConfig::default().pair_precision)]
    pair_precision: f64,
    /// Predictor: the most weights its model has.
    #[arg(long, default_value_t = PredictorConfig::default().max_features)]
    max_features: usize,
    /// Predictor: rewards ranked below this share count as ranked at it.
    #[arg(long, default_value_t = PredictorConfig::default().rank_floor)]
    rank_floor: f64,
    /// Predictor: spread of its samples, a multiple of the posterior's.
    #[arg(long, default_value_t = PredictorConfig::default().exploration)]
    exploration: f64,
    /// Predictor: every this many children one is drawn wider (0: never).
    #[arg(long, default_value_t = PredictorConfig::default().wide_every)]
    wide_every: u64,
    /// Predictor: the spread of those wider draws.
    #[arg(long, default_value_t = PredictorConfig::default().wide_exploration)]
    wide_exploration: f64,
    /// Predictor: narrow draws choose among the children near this many
    /// of the best so far (0: the whole space).
    #[arg(long, default_value_t = PredictorConfig::default().elites)]
    elites: usize,
    /// Predictor: how many decisions a candidate may differ in from the
    /// elite it is near.
    #[arg(long, default_value_t = PredictorConfig::default().radius)]
    radius: usize,
    /// Predictor, with a reward shaped by costs (`simulate pareto`): search
    /// the whole front, or the shaped reward alone.
    #[arg(long, value_enum, default_value_t = PredictorConfig::default().costs)]
    predictor_costs: CostSearch,
    /// Learn first from earlier searches, matched by decision name
    /// (comma-separated): `table:FILE#COLUMN`, rows of a benchmark table
    /// that each run draws for itself (a random search on it), or
    /// `runs:FILE`, runs recorded by `simulate search --record-runs`, each
    /// run learning from the recorded run with its seed.
    #[arg(long, value_delimiter = ',')]
    warm_start: Vec<WarmSource>,
    /// Children of each warm-start source a run learns from (rows of a
    /// table; the first children of a recorded run).
    #[arg(long, default_value_t = 2000)]
    warm_start_children: usize,
    /// REINFORCE: policy-gradient steps on the warm-start tables' rows
    /// before the first child.
    #[arg(long, default_value_t = ReinforceConfig::default().warm_start_steps)]
    warm_start_steps: u64,
    /// Predictor: the share of the warm-start tables' fit its model starts
    /// from (the prior mean of its weights; above 0, at most 1).
    #[arg(long, default_value_t = PredictorConfig::default().warm_start_weight)]
    warm_start_weight: f64,
    /// Predictor, in a front search: the share of children that weigh the
    /// reward alone.
    #[arg(long, default_value_t = PredictorConfig::default().front_reward_share)]
    front_reward_share: f64,
    #[command(flatten)]
    controller: ControllerArgs,
    #[command(flatten)]
    output: OutputArgs,
}

impl Common {
    fn missing(&self) -> Missing {
        self.missing_reward.map_or(Missing::Fail, Missing::Reward)
    }

    fn evolution(&self) -> EvolutionConfig {
        EvolutionConfig {
            population: self.population,
            sample: self.tournament,
        }
    }

    fn local_search(&self) -> LocalSearchConfig {
        LocalSearchConfig {
            initial: self.local_initial,
        }
    }

    fn predictor(&self) -> PredictorConfig {
        PredictorConfig {
            initial: self.predictor_initial,
            main_precision: self.main_precision,
            pair_precision: self.pair_precision,
            max_features: self.max_features,
            rank_floor: self.rank_floor,
            exploration: self.exploration,
            wide_every: self.wide_every,
            wide_exploration: self.wide_exploration,
            costs: self.predictor_costs,
            front_reward_share: self.front_reward_share,
            warm_start_weight: self.warm_start_weight,
            elites: self.elites,
            radius: self.radius,
        }
    }

    fn reinforce(&self) -> ReinforceConfig {
        ReinforceConfig {
            warm_start_steps: self.warm_start_steps,
            ..self.controller.config()
        }
    }

    fn seeds(&self) -> Vec<u64> {
        (self.first_seed..self.first_seed.saturating_add(self.seeds)).collect()
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.strategies.is_empty() || self.children == 0 || self.seeds == 0 {
            anyhow::bail!("--strategies, --children and --seeds must all be non-empty and positive");
        }
        Ok(())
    }
}

#[derive(Debug, Args)]
struct SearchArgs {
    #[command(flatten)]
    common: Common,
    /// With a `table:FILE#COLUMN` oracle: the column holding the test value
    /// reported for the architecture picked by the metric (default:
    /// `test_perf` when the table has it; a table without a test column
    /// reports no picks).
    #[arg(long, value_name = "COLUMN")]
    test_column: Option<String>,
    /// Children training at once, as with that many workers: each takes a
    /// random time and its reward arrives when it finishes, often several
    /// policy versions after it was sampled (see `--staleness`). Default:
    /// synchronous rounds of the controller's batch size.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    in_flight: Option<u64>,
    /// Write every child of every run to FILE (JSON lines: strategy, seed,
    /// sample, reward, arch_id, spec; `FILE.partial` until every run is
    /// done), gzipped when FILE ends in `.gz`; a file of one strategy's
    /// runs can warm-start a later simulation (`--warm-start runs:FILE`),
    /// and any is a reward table.
    #[arg(long, value_name = "FILE")]
    record_runs: Option<PathBuf>,
}

/// What a stopped child teaches, without a penalty.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum StoppedTeaching {
    /// Its partial curve's reward.
    Partial,
    /// The final score `predict`'s model expects.
    Predicted,
}

#[derive(Debug, Args)]
struct StoppingArgs {
    #[command(flatten)]
    common: Common,
    /// The early-stopping rules to compare, comma-separated (none, median,
    /// asha, predict, or with settings: `median:MIN_EPOCHS:MIN_CHILDREN`,
    /// `asha:MIN_EPOCHS:REDUCTION`, `predict:MIN_FINISHED:TOP_K[:QUANTILE]`).
    #[arg(long, value_delimiter = ',', required = true)]
    rules: Vec<StoppingRule>,
    /// Recorded training seconds per run.
    #[arg(long, value_name = "SECONDS", required = true)]
    gpu_seconds: f64,
    /// The reward of a stopped child (default: its partial curve's reward).
    #[arg(long, value_name = "REWARD")]
    stopped_penalty: Option<f64>,
    /// What a stopped child teaches otherwise: its `partial` curve's reward,
    /// or the final score the `predict` rule's model `predicted`.
    #[arg(
        long,
        value_name = "WHAT",
        default_value = "partial",
        conflicts_with = "stopped_penalty"
    )]
    stopped_reward: StoppedTeaching,
    /// What a stopped architecture sampled again does: `reuse` its reward
    /// (as a search does) or `retrain`.
    #[arg(long, value_name = "WHAT", default_value = "reuse")]
    sampled_again: SampledAgain,
    /// Children training at once, as a pool of N workers runs them (the
    /// rule sees each epoch when it ends); default one at a time.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    in_flight: Option<u64>,
    /// Whether ASHA rules `stop` the children below a rung's top for good
    /// on arrival (as the controller does) or pause them and `promote` them
    /// later (Li et al.'s ASHA, simulated only).
    #[arg(long, value_name = "MODE", default_value = "stop")]
    asha: AshaMode,
}

#[derive(Debug, Args)]
struct ParetoArgs {
    #[command(flatten)]
    common: Common,
    /// The metric traded against costs, `mnas:COST:TARGET[:ALPHA:BETA]` or
    /// `sum:COST:TARGET[:WEIGHT]` (terms joined by `+`); the fronts are
    /// drawn against the first cost.
    #[arg(long, required = true)]
    objective: RewardShaping,
    /// The table column of each cost, `COST=COLUMN` (e.g.
    /// `latency=latency_s`), comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = parse_cost_column, required = true)]
    cost_column: Vec<(Cost, String)>,
}

fn parse_cost_column(text: &str) -> Result<(Cost, String), String> {
    let (cost, column) = text
        .split_once('=')
        .ok_or_else(|| format!("a cost column is COST=COLUMN (latency=latency_s), not {text:?}"))?;
    let cost: Cost = cost
        .parse()
        .map_err(|error: nas_domain::Error| error.to_string())?;
    Ok((cost, column.to_owned()))
}

/// Runs the mode asked for.
pub(super) async fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let command = match args.command {
        Some(command) => command,
        None => args.legacy.into_command()?,
    };
    match command {
        SimulateCommand::Search(args) => run::search(args).await,
        SimulateCommand::Stopping(args) => run::stopping(args).await,
        SimulateCommand::Pareto(args) => run::pareto(args).await,
    }
}

//! `nas-controller sample`, `simulate`, `replay` and `reevaluate`: the
//! controller's tools that work without a running search.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use nas_controller::embedded::Embedding;
use nas_controller::offline::early_stopping::{self, StoppingSimulation};
use nas_controller::offline::pareto::{self, ParetoReport, ShapedTable};
use nas_controller::offline::reevaluate::{self, Grid, Plan as ReevaluationPlan, Selection, Summary};
use nas_controller::offline::replay::{self, ReplaySettings, Verification};
use nas_controller::offline::simulate::{self, Simulation, StrategySummary};
use nas_controller::offline::tabular::{self, TabularReport};
use nas_controller::search::config;
use nas_controller::strategy::StrategyKind;
use nas_controller::strategy::checkpoint::Checkpoint;
use nas_controller::strategy::evolution::EvolutionConfig;
use nas_controller::strategy::reinforce::{Reinforce, RewardTransform, Staleness};
use nas_domain::objective::{Cost, RewardShaping};
use nas_domain::oracle::{CurveTable, MetricTable, Missing, Oracle, OracleSource};
use nas_domain::promotion::AshaMode;
use nas_domain::{ExperimentName, SampledAgain, StoppedReward, StoppingRule};
use nas_infra::args::{BrokerArgs, StoreArgs};
use nas_infra::telemetry::Telemetry;

use super::{ControllerArgs, ExperimentArgs, SpaceArgs, queue_for};

#[derive(Debug, Args)]
pub(super) struct SampleArgs {
    #[command(flatten)]
    space: SpaceArgs,
    /// Number of CNN layers, or blocks in a space of blocks (default: the
    /// curriculum's first depth).
    #[arg(long)]
    layers: Option<u16>,
    /// Seed of the fresh policy's initialisation and of the sample.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print this many architectures, one JSON line each, for the seeds
    /// SEED, SEED+1, … (a fresh policy per seed, or samples of the
    /// checkpointed one).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Sample from this controller checkpoint instead of a fresh policy
    /// (its own space is used).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    #[command(flatten)]
    controller: ControllerArgs,
}

#[derive(Debug, Args)]
pub(super) struct SimulateArgs {
    /// `synthetic` (a documented function of the spec), `table:FILE` (JSON
    /// lines with a reward and an arch_id or spec, such as a reward log) or
    /// `table:FILE#COLUMN` (a benchmark table, optionally gzipped, scored by
    /// that numeric column; its rows' other fields are the decisions).
    #[arg(long, default_value = "synthetic")]
    oracle: OracleSource,
    /// With a `table:FILE#COLUMN` oracle: the column holding the test value
    /// reported for the architecture picked by the metric.
    #[arg(long, value_name = "COLUMN", default_value = "test_perf")]
    test_column: String,
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
    /// Children training at once, as with that many workers: each takes a
    /// random time and its reward arrives when it finishes, often several
    /// policy versions after it was sampled (see `--staleness`). Default:
    /// synchronous rounds of the controller's batch size.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "stopping")]
    in_flight: Option<u64>,
    /// Evolution: children kept alive (P).
    #[arg(long, default_value_t = EvolutionConfig::default().population)]
    population: usize,
    /// Evolution: members drawn per tournament (S).
    #[arg(long, default_value_t = EvolutionConfig::default().sample)]
    tournament: usize,
    /// With a `curves:FILE#COLUMN` oracle: the early-stopping rules to
    /// compare (none, median, asha), each with its default settings; every
    /// run then spends `--gpu-seconds` of recorded training time.
    #[arg(long, value_delimiter = ',', value_parser = parse_rule)]
    stopping: Vec<StoppingRule>,
    /// With `--stopping`: recorded training seconds per run.
    #[arg(long, value_name = "SECONDS", requires = "stopping")]
    gpu_seconds: Option<f64>,
    /// With `--stopping`: the reward of a stopped child (default: its
    /// partial curve's reward).
    #[arg(long, value_name = "REWARD", requires = "stopping")]
    stopped_penalty: Option<f64>,
    /// With `--stopping`: what a stopped architecture sampled again does,
    /// `reuse` its reward (the default, as a search does) or `retrain`.
    #[arg(long, value_name = "WHAT", default_value = "reuse", value_parser = parse_sampled_again, requires = "stopping")]
    sampled_again: SampledAgain,
    /// With `--stopping`: whether ASHA rules `stop` the children below a
    /// rung's top for good on arrival (the default, as the controller does)
    /// or pause them and `promote` them later (Li et al.'s ASHA, simulated
    /// only: the controller does not run it yet).
    #[arg(long, value_name = "MODE", default_value = "stop", value_parser = parse_asha_mode, requires = "stopping")]
    asha: AshaMode,
    /// With a `table:FILE#COLUMN` oracle: search for the metric traded
    /// against costs, `mnas:COST:TARGET[:ALPHA:BETA]` or
    /// `sum:COST:TARGET[:WEIGHT]` (terms joined by `+`); the fronts found
    /// are scored by hypervolume against the table's (first cost).
    #[arg(long, value_parser = parse_objective, requires = "cost_column", conflicts_with = "stopping")]
    objective: Option<RewardShaping>,
    /// With `--objective`: the table column of each cost, `COST=COLUMN`
    /// (e.g. `latency=latency_s`), comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = parse_cost_column)]
    cost_column: Vec<(Cost, String)>,
    /// Print one JSON object with a `runs` array instead of a summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    controller: ControllerArgs,
}

fn parse_objective(text: &str) -> Result<RewardShaping, String> {
    RewardShaping::from_text(text).map_err(|error| error.to_string())
}

fn parse_cost(text: &str) -> Result<Cost, String> {
    text.parse().map_err(|error: nas_domain::Error| error.to_string())
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

fn parse_rule(name: &str) -> Result<StoppingRule, String> {
    StoppingRule::from_name(name).map_err(|error| error.to_string())
}

fn parse_asha_mode(name: &str) -> Result<AshaMode, String> {
    AshaMode::from_name(name).map_err(|error| error.to_string())
}

fn parse_sampled_again(name: &str) -> Result<SampledAgain, String> {
    SampledAgain::from_name(name).map_err(|error| error.to_string())
}

#[derive(Debug, Args)]
pub(super) struct ReplayArgs {
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
    /// Shape the rewards again with this objective, from each child's
    /// recorded raw reward and costs (`mnas:COST:TARGET[:ALPHA:BETA]` or
    /// `sum:COST:TARGET[:WEIGHT]`, terms joined by `+`).
    #[arg(long, value_parser = parse_objective, conflicts_with = "verify")]
    objective: Option<RewardShaping>,
    /// Write the final policy checkpoint here.
    #[arg(long, value_name = "FILE", conflicts_with = "verify")]
    out: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(super) struct ReevaluateArgs {
    /// The experiment whose architectures are re-evaluated.
    experiment: ExperimentName,
    /// The best K architectures by reward.
    #[arg(long, conflicts_with_all = ["arch", "all", "pareto"])]
    top: Option<usize>,
    /// The architectures on the Pareto front of the metric against this
    /// cost (`parameters`, `latency`, …).
    #[arg(long, value_name = "COST", value_parser = parse_cost, conflicts_with_all = ["arch", "all"])]
    pareto: Option<Cost>,
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
    /// Add this many filters to every layer of each CNN before training it
    /// (the paper's "more filters": 40); the widened nets have ids of
    /// their own in the results.
    #[arg(long, value_name = "FILTERS", default_value_t = 0)]
    widen: u16,
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

/// Prints one architecture sampled by a fresh or checkpointed controller.
pub(super) async fn sample(args: SampleArgs) -> anyhow::Result<()> {
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
    let Some(count) = args.count else {
        let spec = controller.sample_spec(args.layers, args.seed)?;
        println!("{}", serde_json::to_string_pretty(&spec)?);
        return Ok(());
    };
    let space = controller.space().clone();
    let fresh = args.checkpoint.is_none();
    let mut out = std::io::stdout().lock();
    for seed in args.seed..args.seed.saturating_add(count) {
        let spec = if fresh {
            Reinforce::new(space.clone(), args.controller.config(), seed)?.sample_spec(args.layers, seed)?
        } else {
            controller.sample_spec(args.layers, seed)?
        };
        writeln!(out, "{}", serde_json::to_string(&spec)?)?;
    }
    Ok(())
}

/// Runs strategies against an oracle and prints their search efficiency.
pub(super) async fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    if args.strategies.is_empty() || args.budget == 0 || args.seeds == 0 {
        bail!("--strategies, --budget and --seeds must all be non-empty and positive");
    }
    let missing = args.missing_reward.map_or(Missing::Fail, Missing::Reward);
    if !args.stopping.is_empty() {
        return simulate_stopping(args, missing).await;
    }
    // A benchmark table is loaded once: it scores and it is measured against.
    let (oracle, table): (Arc<dyn Oracle>, Option<Arc<MetricTable>>) = match &args.oracle {
        OracleSource::Metric { path, column } => {
            let table = Arc::new(MetricTable::load(path, column, missing)?);
            (table.clone(), Some(table))
        }
        other => (Arc::from(other.open(missing)?), None),
    };
    let simulation = Simulation {
        space: args.space.load()?,
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
        in_flight: args.in_flight.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    };
    let started = std::time::Instant::now();
    let test_column = args.test_column.clone();
    let objective = match (&args.objective, &table) {
        (Some(shaping), Some(_)) => Some((shaping.clone(), cost_columns(shaping, &args.cost_column)?)),
        (Some(_), None) => bail!("--objective needs a benchmark table oracle, `table:FILE#COLUMN`"),
        (None, _) => None,
    };
    let (simulation, runs, tabular, fronts) = tokio::task::spawn_blocking(move || {
        run_simulation(simulation, &oracle, table, objective, &test_column)
    })
    .await??;
    let summary = simulate::summarize(&simulation, &runs);
    if args.json {
        let output = serde_json::json!({
            "oracle": args.oracle.to_string(),
            "space": simulation.space,
            "budget": simulation.budget,
            "summary": summary,
            "tabular": tabular,
            "pareto": fronts,
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
    print_simulation(&summary);
    if let Some(in_flight) = simulation.in_flight {
        print_staleness(&summary, in_flight, &simulation.reinforce.staleness);
    }
    if let Some(tabular) = &tabular {
        print_tabular(tabular, simulation.budget);
    }
    if let Some(fronts) = &fronts {
        print_fronts(fronts);
    }
    Ok(())
}

/// What a simulation produced: the runs, and the table's and the fronts'
/// figures when it ran on a table (with an objective).
type Simulated = (
    Simulation,
    Vec<simulate::Run>,
    Option<TabularReport>,
    Option<ParetoReport>,
);

/// Runs a simulation (on the blocking pool): on the shaped table with an
/// objective, on the oracle otherwise.
fn run_simulation(
    simulation: Simulation,
    oracle: &Arc<dyn Oracle>,
    table: Option<Arc<MetricTable>>,
    objective: Option<(RewardShaping, Vec<(Cost, String)>)>,
    test_column: &str,
) -> anyhow::Result<Simulated> {
    let (runs, fronts) = match (objective, &table) {
        (Some((shaping, columns)), Some(table)) => {
            let shaped = ShapedTable {
                table,
                shaping,
                columns,
            };
            let runs = simulate::run(&simulation, &shaped)?;
            let fronts = pareto::report(&shaped, &simulation.strategies, &runs)?;
            (runs, Some(fronts))
        }
        _ => (simulate::run(&simulation, oracle.as_ref())?, None),
    };
    // The tabular figures read the rewards as the table's metric: not so
    // when they were shaped.
    let tabular = table
        .filter(|_| fronts.is_none())
        .map(|table| tabular::report(&simulation, &runs, &table, test_column))
        .transpose()?;
    Ok((simulation, runs, tabular, fronts))
}

/// The columns of the shaping's costs, its first cost first (the one the
/// fronts are drawn against); every cost of the shaping needs one.
fn cost_columns(shaping: &RewardShaping, given: &[(Cost, String)]) -> anyhow::Result<Vec<(Cost, String)>> {
    shaping
        .costs()
        .map(|cost| {
            given
                .iter()
                .find(|(named, _)| *named == cost)
                .cloned()
                .with_context(|| {
                    format!("--objective uses {cost}; name its table column with --cost-column {cost}=COLUMN")
                })
        })
        .collect()
}

fn print_fronts(report: &ParetoReport) {
    println!(
        "\nobjective {}; fronts of the metric against {}: the table's has {} points, hypervolume {:.6}",
        report.objective,
        report.cost,
        report.true_front.len(),
        report.true_hypervolume
    );
    println!(
        "{:<10} {:>32} {:>12}",
        "strategy", "hypervolume / true [IQR]", "front size"
    );
    for row in &report.strategies {
        println!(
            "{:<10} {:>32} {:>12.0}",
            row.strategy.name(),
            format!(
                "{:.3} [{:.3}, {:.3}]",
                row.median_ratio, row.quartiles.0, row.quartiles.1
            ),
            row.median_front_size
        );
    }
}

/// `simulate --stopping`: stopping rules on a learning-curve table.
async fn simulate_stopping(args: SimulateArgs, missing: Missing) -> anyhow::Result<()> {
    let OracleSource::Curves { path, column } = &args.oracle else {
        bail!("--stopping needs a learning-curve oracle, `curves:FILE#COLUMN`");
    };
    let table = CurveTable::load(path, column, missing)?;
    let Some(seconds) = args.gpu_seconds.filter(|s| s.is_finite() && *s > 0.0) else {
        bail!("--stopping needs --gpu-seconds, a positive number of training seconds per run");
    };
    let simulation = StoppingSimulation {
        space: args.space.load()?,
        strategies: args.strategies.clone(),
        rules: args.stopping.clone(),
        stopped_reward: args
            .stopped_penalty
            .map_or(StoppedReward::Partial, StoppedReward::Penalty),
        sampled_again: args.sampled_again,
        asha: args.asha,
        seconds,
        max_children: args.budget,
        seeds: (args.first_seed..args.first_seed + args.seeds).collect(),
        reward: table.reward_function,
        reinforce: args.controller.config(),
        evolution: EvolutionConfig {
            population: args.population,
            sample: args.tournament,
        },
    };
    let started = std::time::Instant::now();
    let report = tokio::task::spawn_blocking(move || early_stopping::run(&simulation, &table)).await??;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "{} architectures × {} epochs; top 1%: reward ≥ {:.5} ({} rows); {:.0} training seconds per run; \
         stopped architectures sampled again: {}; asha: {}; {:.1} s",
        report.rows,
        report.epochs,
        report.top_reward,
        report.top_rows,
        report.seconds,
        report.sampled_again.name(),
        report.asha.name(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<10} {:<11} {:>28} {:>12} {:>9} {:>9} {:>10}",
        "strategy", "rule", "seconds to top 1% [IQR]", "best metric", "trained", "stopped", "s/child"
    );
    let seconds = |value: Option<f64>| value.map_or(format!(">{:.0}", report.seconds), |v| format!("{v:.0}"));
    for row in &report.summaries {
        println!(
            "{:<10} {:<11} {:>28} {:>12.4} {:>9.0} {:>8.0}% {:>10.2}",
            row.strategy.name(),
            row.rule,
            format!(
                "{} [{}, {}] ({} cens.)",
                seconds(row.median_seconds_to_top),
                seconds(row.quartiles_seconds_to_top.0),
                seconds(row.quartiles_seconds_to_top.1),
                row.censored
            ),
            row.median_best_metric,
            row.median_trained,
            row.median_stopped_fraction * 100.0,
            row.median_seconds_per_child
        );
    }
    Ok(())
}

fn print_tabular(report: &TabularReport, budget: usize) {
    let thresholds: Vec<String> = report
        .thresholds
        .iter()
        .map(|t| {
            format!(
                "top {}%: {} ≥ {:.4} ({} rows)",
                t.fraction * 100.0,
                report.metric,
                t.metric,
                t.rows
            )
        })
        .collect();
    println!(
        "\n{} rows, best {:.4}; {}",
        report.rows,
        report.best_metric,
        thresholds.join("; ")
    );
    let samples = |value: Option<f64>| value.map_or(format!(">{budget}"), |v| format!("{v:.0}"));
    println!(
        "{:<10} {:>24} {:>24}   {} of the pick after n samples",
        "strategy", "samples to top 1%", "samples to top 0.1%", report.test
    );
    for row in &report.strategies {
        let hits: Vec<String> = row
            .hitting
            .iter()
            .map(|h| {
                format!(
                    "{} [{}, {}] ({} cens.)",
                    samples(h.median),
                    samples(h.lower_quartile),
                    samples(h.upper_quartile),
                    h.censored
                )
            })
            .collect();
        let picked: Vec<String> = row
            .picked
            .iter()
            .map(|p| format!("{}: {:.4}±{:.4}", p.after, p.mean, p.std))
            .collect();
        println!(
            "{:<10} {:>24} {:>24}   {}",
            row.strategy.name(),
            hits[0],
            hits[1],
            picked.join("  ")
        );
    }
}

fn print_simulation(summary: &[StrategySummary]) {
    println!(
        "{:<10} {:>12} {:>14} {:>15} {:>22}",
        "strategy", "median best", "median last100", "median first100", "best (min..max)"
    );
    for row in summary {
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
}

fn print_staleness(summary: &[StrategySummary], in_flight: usize, staleness: &Staleness) {
    println!(
        "\n{in_flight} in flight, staleness {}: mean policy versions between sampling and reward",
        staleness.label()
    );
    for row in summary {
        println!(
            "{:<10} {:>8.2} versions, {:>5.1}% of rewards left out of the gradient",
            row.strategy.name(),
            row.mean_staleness,
            100.0 * row.stale_dropped_share
        );
    }
}

/// Replays a reward log, or verifies a recorded search bit for bit.
pub(super) async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let store = args.experiment.store().await?;
    let experiment = &args.experiment.experiment;
    if args.verify {
        let verification = replay::verify(&store, experiment).await?;
        if args.json {
            println!("{}", serde_json::to_string(&verification)?);
        } else {
            print_verification(&verification);
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
        objective: args.objective.clone(),
    };
    let (report, checkpoint) = replay::replay(&store, experiment, settings).await?;
    if let Some(path) = &args.out {
        std::fs::write(path, checkpoint.to_bytes()?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "replayed {} rewards of {}: {} policy steps",
        report.rewards,
        report.experiment,
        report.steps.len()
    );
    println!(
        "{:>6} {:>12} {:>10} {:>9}",
        "step", "mean reward", "baseline", "entropy"
    );
    for step in &report.steps {
        println!(
            "{:>6} {:>12.4} {:>10.4} {:>9.3}",
            step.step, step.mean_reward, step.baseline, step.entropy
        );
    }
    if let Some(objective) = &report.objective {
        println!("rewards shaped again with {objective}");
    }
    if let Some((arch, reward)) = &report.best {
        println!(
            "best child by these rewards: {} (reward {reward:.4})",
            arch.as_str()
        );
    }
    Ok(())
}

fn print_verification(verification: &Verification) {
    println!(
        "replayed {} rewards from the first checkpoint up to step {}: {} of {} scalars in {} tensors differ \
         (largest difference {:e}); strategy state {}",
        verification.rewards,
        verification.step,
        verification.differing,
        verification.scalars,
        verification.tensors,
        verification.max_difference,
        if verification.state_matches {
            "matches"
        } else {
            "differs"
        }
    );
    for difference in &verification.state_differences {
        println!("  {difference}");
    }
    println!(
        "{}",
        if verification.identical {
            "verify: identical"
        } else {
            "verify: DIFFERENT"
        }
    );
}

impl ReevaluateArgs {
    fn plan(&self) -> anyhow::Result<ReevaluationPlan> {
        let selection = match (self.top, self.pareto, self.arch.is_empty(), self.all) {
            (Some(count), _, _, _) => Selection::Top(count),
            (None, Some(cost), _, _) => Selection::Pareto(cost),
            (None, None, false, _) => Selection::Ids(self.arch.clone()),
            (None, None, true, true) => Selection::All,
            (None, None, true, false) => {
                bail!("choose the architectures: --top K, --pareto COST, --arch IDS or --all")
            }
        };
        let run: ExperimentName = match &self.name {
            Some(name) => name.clone(),
            None => {
                let mut name = format!("{}-reeval", self.experiment);
                name.truncate(63);
                name.parse()?
            }
        };
        Ok(ReevaluationPlan {
            experiment: self.experiment.clone(),
            run,
            selection,
            epochs: self.epochs,
            seeds: self.seeds.max(1),
            grid: if self.grid { Grid::Final } else { Grid::Experiment },
            test: self.test,
            in_flight: self.in_flight.max(1),
            job_timeout: Duration::from_secs(self.job_timeout_seconds.max(1)),
            widen: self.widen,
        })
    }
}

/// Trains stored architectures again and prints their table.
pub(super) async fn reevaluate(args: ReevaluateArgs) -> anyhow::Result<()> {
    let plan = args.plan()?;
    let shutdown = nas_infra::shutdown::on_signals();
    let telemetry = Telemetry::default();
    let fallback = args.embedded.then(|| PathBuf::from("runs"));
    let store = args.store.open(fallback).await?;
    let embedding = match args.embedded {
        true => {
            let config = config::load(&store, &args.experiment).await?;
            Some(Embedding {
                workers: args.workers,
                data: None,
                dataset: config.dataset,
                task: config.task,
                delivery_limit: args.broker.delivery_limit,
            })
        }
        false => None,
    };
    let (queue, workers) = queue_for(embedding, &args.broker, &store, &telemetry, &shutdown).await?;
    let summary = reevaluate::run(&plan, &queue, &store, shutdown.clone()).await?;
    shutdown.cancel();
    if let Some(workers) = workers {
        workers.join().await;
    }
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_reevaluation(&summary);
    }
    Ok(())
}

fn print_reevaluation(summary: &Summary) {
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
        if let Some(bits) = &pick.bits_per_char {
            println!(
                "      in bits per character: validation {:.4} ± {:.4}{}",
                bits.mean,
                bits.std,
                pick.test_bits_per_char
                    .map_or(String::new(), |t| format!(", test {:.4} ± {:.4}", t.mean, t.std))
            );
        }
    }
}

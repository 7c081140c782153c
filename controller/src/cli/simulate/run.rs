//! The work of each `simulate` mode, off the async runtime: load the
//! oracle, run the strategies, summarise, print.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use nas_controller::offline::early_stopping::{self, StoppingSimulation};
use nas_controller::offline::pareto::{self, ShapedTable};
use nas_controller::offline::simulate::{self, Simulation, StrategySummary};
use nas_controller::offline::warm_start::WarmStart;
use nas_controller::offline::{recorded, tabular};
use nas_domain::objective::{Cost, RewardShaping};
use nas_domain::oracle::{CurveTable, MetricTable, Oracle, OracleSource};
use nas_domain::{SearchSpace, StoppedReward};

use super::{Common, ParetoArgs, SearchArgs, StoppedTeaching, StoppingArgs, print};
use crate::cli::args::Output;

impl Common {
    /// The simulation of these settings.
    fn simulation(&self, in_flight: Option<u64>) -> anyhow::Result<Simulation> {
        self.check()?;
        let space = self.space.load()?;
        Ok(Simulation {
            warm_start: self.warm_start(&space)?,
            space,
            strategies: self.strategies.clone(),
            budget: self.children,
            seeds: self.seeds(),
            reinforce: self.reinforce(),
            evolution: self.evolution(),
            local_search: self.local_search(),
            predictor: self.predictor(),
            threads: self
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
            in_flight: in_flight.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        })
    }

    /// The warm-start sources, matched to `space`, when there are any.
    fn warm_start(&self, space: &SearchSpace) -> anyhow::Result<Option<WarmStart>> {
        if self.warm_start.is_empty() {
            return Ok(None);
        }
        let warm = WarmStart::load(space, &self.warm_start, self.warm_start_children, &self.seeds())?;
        Ok(Some(warm))
    }

    /// The benchmark table of a `table:FILE#COLUMN` oracle.
    fn metric_table(&self, mode: &str) -> anyhow::Result<Arc<MetricTable>> {
        let OracleSource::Metric { path, column } = &self.oracle else {
            bail!("simulate {mode} needs a benchmark table oracle, `table:FILE#COLUMN`");
        };
        Ok(Arc::new(MetricTable::load(path, column, self.missing())?))
    }
}

/// `simulate search`.
pub(super) async fn search(args: SearchArgs) -> anyhow::Result<()> {
    let simulation = args.common.simulation(args.in_flight)?;
    // A benchmark table is loaded once: it scores and it is measured against.
    let table = match &args.common.oracle {
        OracleSource::Metric { .. } => Some(args.common.metric_table("search")?),
        _ => None,
    };
    let oracle: Arc<dyn Oracle> = match &table {
        Some(table) => table.clone(),
        None => Arc::from(args.common.oracle.open(args.common.missing())?),
    };
    let recorder = (args.record_runs.as_deref())
        .map(|path| recorded::Recorder::create(path).with_context(|| "--record-runs"))
        .transpose()?;
    let started = Instant::now();
    let test_column = args.test_column.clone();
    let (simulation, runs, tabular) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let runs = simulate::run(&simulation, oracle.as_ref())?;
        if let Some(recorder) = recorder {
            record(recorder, &runs)?;
        }
        let tabular = table
            .map(|table| tabular::report(&simulation, &runs, &table, test_column.as_deref()))
            .transpose()?;
        Ok((simulation, runs, tabular))
    })
    .await??;
    let summary = simulate::summarize(&simulation, &runs);
    if args.common.output.get() == Output::Json {
        let figures = serde_json::json!({"tabular": tabular, "pareto": null});
        return print_json(&args.common, &simulation, &summary, figures, &runs);
    }
    print::header(&simulation, started);
    print::simulation(&summary);
    if let Some(in_flight) = simulation.in_flight {
        print::staleness(&summary, in_flight, &simulation.reinforce.staleness);
    }
    if let Some(tabular) = &tabular {
        print::tabular(tabular, simulation.budget);
    }
    Ok(())
}

/// Writes every run's children to `recorder` and names its file (in the
/// blocking thread: compressing tens of megabytes is no work for the
/// async runtime).
fn record(mut recorder: recorded::Recorder, runs: &[simulate::Run]) -> anyhow::Result<()> {
    for run in runs {
        let children = run.specs.iter().zip(run.rewards.iter().copied());
        recorder.write_run(run.strategy, run.seed, children)?;
    }
    Ok(recorder.finish()?)
}

/// `simulate pareto`.
pub(super) async fn pareto(args: ParetoArgs) -> anyhow::Result<()> {
    let simulation = args.common.simulation(None)?;
    let table = args.common.metric_table("pareto")?;
    let columns = cost_columns(&args.objective, &args.cost_column)?;
    let shaping = args.objective.clone();
    let started = Instant::now();
    let (simulation, runs, fronts) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let shaped = ShapedTable {
            table: &table,
            shaping,
            columns,
        };
        let runs = simulate::run(&simulation, &shaped)?;
        let fronts = pareto::report(&shaped, &simulation.strategies, &runs)?;
        Ok((simulation, runs, fronts))
    })
    .await??;
    let summary = simulate::summarize(&simulation, &runs);
    if args.common.output.get() == Output::Json {
        let figures = serde_json::json!({"tabular": null, "pareto": fronts});
        return print_json(&args.common, &simulation, &summary, figures, &runs);
    }
    print::header(&simulation, started);
    print::simulation(&summary);
    print::fronts(&fronts);
    Ok(())
}

/// One JSON object: what ran, the summary, the mode's `figures` (its
/// `tabular` and `pareto` objects) and every run.
fn print_json(
    common: &Common,
    simulation: &Simulation,
    summary: &[StrategySummary],
    figures: serde_json::Value,
    runs: &[simulate::Run],
) -> anyhow::Result<()> {
    let mut output = serde_json::json!({
        "oracle": common.oracle.to_string(),
        "space": simulation.space,
        "budget": simulation.budget,
        "summary": summary,
        "runs": runs,
    });
    if let (Some(output), serde_json::Value::Object(figures)) = (output.as_object_mut(), figures) {
        output.extend(figures);
    }
    println!("{output}");
    Ok(())
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

/// `simulate stopping`.
pub(super) async fn stopping(args: StoppingArgs) -> anyhow::Result<()> {
    let common = &args.common;
    common.check()?;
    let OracleSource::Curves { path, column } = &common.oracle else {
        bail!("simulate stopping needs a learning-curve oracle, `curves:FILE#COLUMN`");
    };
    let table = CurveTable::load(path, column, common.missing())?;
    if !(args.gpu_seconds.is_finite() && args.gpu_seconds > 0.0) {
        bail!("--gpu-seconds must be a positive number of training seconds per run");
    }
    let simulation = StoppingSimulation {
        space: common.space.load()?,
        strategies: common.strategies.clone(),
        rules: args.rules.clone(),
        stopped_reward: match (args.stopped_penalty, args.stopped_reward) {
            (Some(penalty), _) => StoppedReward::Penalty(penalty),
            (None, StoppedTeaching::Partial) => StoppedReward::Partial,
            (None, StoppedTeaching::Predicted) => StoppedReward::Predicted,
        },
        sampled_again: args.sampled_again,
        asha: args.asha,
        in_flight: args.in_flight.map(|n| n as usize),
        seconds: args.gpu_seconds,
        max_children: common.children,
        seeds: common.seeds(),
        reward: table.reward_function,
        reinforce: common.reinforce(),
        evolution: common.evolution(),
        local_search: common.local_search(),
        predictor: common.predictor(),
    };
    let started = Instant::now();
    let report = tokio::task::spawn_blocking(move || early_stopping::run(&simulation, &table)).await??;
    match common.output.get() {
        Output::Json => println!("{}", serde_json::to_string(&report)?),
        Output::Table => print::stopping(&report, started),
    }
    Ok(())
}

//! How well each strategy of a simulation did on a tabular benchmark (a
//! [`MetricTable`] such as NAS-Bench-Graph), measured the way the
//! literature does:
//!
//! - samples until the first architecture in the table's top 1% and top
//!   0.1% by the metric (median and quartiles over seeds; a run that never
//!   gets there is *censored*: it counts as "more than the budget", it is
//!   not dropped, so a quantile that lands on it reads as censored);
//! - the median best metric so far against samples;
//! - the test value (another column) of the architecture each run would
//!   pick by its metric after 50, 100, 200 and 500 samples (the
//!   NAS-Bench-201 protocol), as mean ± standard deviation over seeds.
//!
//! The top-`q` threshold is the metric of the row at rank `⌈q·rows⌉` from
//! the best; ties count, so the top 1% may hold more than 1% of the rows.

use nas_domain::oracle::MetricTable;
use serde::Serialize;

use super::simulate::{Run, Simulation, mean};
use crate::Result;
use crate::strategy::StrategyKind;

/// When the picked architecture's test value is reported.
pub const PICK_AFTER: [usize; 4] = [50, 100, 200, 500];

/// A top fraction of the table and its threshold.
#[derive(Clone, Debug, Serialize)]
pub struct Threshold {
    /// The fraction (0.01 or 0.001).
    pub fraction: f64,
    /// The metric a row needs to be in it.
    pub metric: f64,
    /// Rows at or above it.
    pub rows: usize,
}

/// Samples until a threshold was first reached, over seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Hitting {
    /// The threshold's fraction.
    pub fraction: f64,
    /// Median samples (`None`: censored, more than the budget).
    pub median: Option<f64>,
    /// First quartile (`None`: censored).
    pub lower_quartile: Option<f64>,
    /// Third quartile (`None`: censored).
    pub upper_quartile: Option<f64>,
    /// Runs that never reached it.
    pub censored: usize,
}

/// The test value of the architecture picked after some samples.
#[derive(Clone, Debug, Serialize)]
pub struct Picked {
    /// Samples seen when picking.
    pub after: usize,
    /// Mean test value over seeds.
    pub mean: f64,
    /// Its standard deviation over seeds.
    pub std: f64,
}

/// One strategy's figures.
#[derive(Clone, Debug, Serialize)]
pub struct TabularSummary {
    /// The strategy.
    pub strategy: StrategyKind,
    /// Runs (seeds).
    pub runs: usize,
    /// Samples to the top 1% and the top 0.1%.
    pub hitting: Vec<Hitting>,
    /// Test value of the pick after [`PICK_AFTER`] samples (those within
    /// the budget).
    pub picked: Vec<Picked>,
    /// Median over seeds of the best metric so far, after every sample.
    pub median_best_curve: Vec<f64>,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct TabularReport {
    /// The metric column.
    pub metric: String,
    /// The test column.
    pub test: String,
    /// Rows in the table.
    pub rows: usize,
    /// The best metric in the table.
    pub best_metric: f64,
    /// The top 1% and top 0.1%.
    pub thresholds: Vec<Threshold>,
    /// Per strategy, in the simulation's order.
    pub strategies: Vec<TabularSummary>,
}

/// Measures `runs` (whose rewards are the table's metric) against `table`,
/// reading test values from the `test` column.
pub fn report(
    simulation: &Simulation,
    runs: &[Run],
    table: &MetricTable,
    test: &str,
) -> Result<TabularReport> {
    let mut values = table.values(table.column());
    values.sort_by(|a, b| b.total_cmp(a));
    let thresholds: Vec<Threshold> = [0.01, 0.001]
        .into_iter()
        .map(|fraction| {
            let rank = ((fraction * values.len() as f64).ceil() as usize).clamp(1, values.len());
            let metric = values[rank - 1];
            Threshold {
                fraction,
                metric,
                rows: values.iter().take_while(|&&value| value >= metric).count(),
            }
        })
        .collect();
    let strategies = simulation
        .strategies
        .iter()
        .map(|&strategy| {
            let mine: Vec<&Run> = runs.iter().filter(|run| run.strategy == strategy).collect();
            summarize(strategy, &mine, &thresholds, table, test, simulation.budget)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TabularReport {
        metric: table.column().to_owned(),
        test: test.to_owned(),
        rows: table.len(),
        best_metric: values.first().copied().unwrap_or(f64::NAN),
        thresholds,
        strategies,
    })
}

fn summarize(
    strategy: StrategyKind,
    runs: &[&Run],
    thresholds: &[Threshold],
    table: &MetricTable,
    test: &str,
    budget: usize,
) -> Result<TabularSummary> {
    let hitting = thresholds
        .iter()
        .map(|threshold| {
            let hits: Vec<Option<usize>> = runs
                .iter()
                .map(|run| {
                    run.rewards
                        .iter()
                        .position(|&r| r >= threshold.metric)
                        .map(|i| i + 1)
                })
                .collect();
            Hitting {
                fraction: threshold.fraction,
                median: censored_quantile(&hits, 0.5),
                lower_quartile: censored_quantile(&hits, 0.25),
                upper_quartile: censored_quantile(&hits, 0.75),
                censored: hits.iter().filter(|hit| hit.is_none()).count(),
            }
        })
        .collect();
    let mut picked = Vec::new();
    for after in PICK_AFTER.into_iter().filter(|&after| after <= budget) {
        let mut tests = Vec::with_capacity(runs.len());
        for run in runs {
            let best = best_index(&run.rewards[..after.min(run.rewards.len())]);
            if let Some(spec) = best.and_then(|i| run.specs.get(i)) {
                tests.extend(table.value(spec, test)?);
            }
        }
        let average = mean(&tests);
        let variance = mean(&tests.iter().map(|t| (t - average).powi(2)).collect::<Vec<_>>());
        picked.push(Picked {
            after,
            mean: average,
            std: variance.sqrt(),
        });
    }
    Ok(TabularSummary {
        strategy,
        runs: runs.len(),
        hitting,
        picked,
        median_best_curve: median_curve(runs),
    })
}

/// The index of the first best reward.
fn best_index(rewards: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (index, reward) in rewards.iter().enumerate() {
        if best.is_none_or(|b| *reward > rewards[b]) {
            best = Some(index);
        }
    }
    best
}

/// The `q` quantile of hitting times with censored runs (`None`) above
/// every finite one, interpolated between neighbours; `None` when it
/// touches a censored run.
pub fn censored_quantile(hits: &[Option<usize>], q: f64) -> Option<f64> {
    if hits.is_empty() {
        return None;
    }
    let mut sorted: Vec<Option<usize>> = hits.to_vec();
    sorted.sort_by_key(|hit| hit.unwrap_or(usize::MAX));
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let (a, b) = (sorted[low]? as f64, sorted[high]? as f64);
    Some(a + (b - a) * (position - low as f64))
}

fn median_curve(runs: &[&Run]) -> Vec<f64> {
    let length = runs.iter().map(|run| run.rewards.len()).min().unwrap_or(0);
    let curves: Vec<Vec<f64>> = runs
        .iter()
        .map(|run| {
            run.rewards[..length]
                .iter()
                .scan(f64::NEG_INFINITY, |best, &reward| {
                    *best = best.max(reward);
                    Some(*best)
                })
                .collect()
        })
        .collect();
    (0..length)
        .map(|i| super::simulate::median(&curves.iter().map(|curve| curve[i]).collect::<Vec<_>>()))
        .collect()
}

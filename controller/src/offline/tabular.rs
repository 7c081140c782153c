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
//!   NAS-Bench-201 protocol), as mean ± standard deviation over seeds, when
//!   the table has a test column (a learning-curve table has none).
//!
//! The top-`q` threshold is the metric of the row at rank `⌈q·rows⌉` from
//! the best; ties count, so the top 1% may hold more than 1% of the rows.

use nas_domain::oracle::MetricTable;
use nas_domain::{SearchSpace, Step};
use serde::Serialize;

use super::hitting::{RandomExact, censored_quantile, hitting_time, median_interval};
use super::simulate::{Run, Simulation, mean};
use crate::strategy::StrategyKind;
use crate::{Error, Result};

/// The test column used when none is named, if the table has it
/// (NAS-Bench-Graph's).
pub const DEFAULT_TEST_COLUMN: &str = "test_perf";

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
    /// Uniform random sampling's exact hitting time: `rows` of the space's
    /// architectures (of the table's rows when the space's size is not
    /// fixed, or smaller than the table) reach the threshold.
    pub random_exact: Option<RandomExact>,
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
    /// A 95% bootstrap interval for the median (an end `None`: censored).
    pub median_interval: (Option<f64>, Option<f64>),
    /// Runs that never reached it.
    pub censored: usize,
    /// Every run's hitting time, in the order of the seeds (`None`:
    /// censored).
    pub samples: Vec<Option<f64>>,
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
    /// The test column (none: the table has none, and no picks are
    /// reported).
    pub test: Option<String>,
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
/// reading test values from the `test` column: one named must be in the
/// table; none named is [`DEFAULT_TEST_COLUMN`] when the table has it.
pub fn report(
    simulation: &Simulation,
    runs: &[Run],
    table: &MetricTable,
    test: Option<&str>,
) -> Result<TabularReport> {
    let test = match test {
        Some(test) if table.values(test).is_empty() => {
            return Err(no_test_value(table, test, "no row of the table has it"));
        }
        Some(test) => Some(test),
        None => Some(DEFAULT_TEST_COLUMN).filter(|column| !table.values(column).is_empty()),
    };
    let mut values = table.values(table.column());
    values.sort_by(|a, b| b.total_cmp(a));
    let drawn_from = space_size(&simulation.space)
        .filter(|&size| size >= values.len())
        .unwrap_or(values.len());
    let thresholds: Vec<Threshold> = [0.01, 0.001]
        .into_iter()
        .map(|fraction| {
            let rank = ((fraction * values.len() as f64).ceil() as usize).clamp(1, values.len());
            let metric = values[rank - 1];
            let rows = values.iter().take_while(|&&value| value >= metric).count();
            Threshold {
                fraction,
                metric,
                rows,
                random_exact: RandomExact::new(rows, drawn_from),
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
        test: test.map(str::to_owned),
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
    test: Option<&str>,
    budget: usize,
) -> Result<TabularSummary> {
    let hitting = thresholds
        .iter()
        .map(|threshold| {
            let hits: Vec<Option<f64>> = runs
                .iter()
                .map(|run| hitting_time(&run.rewards, threshold.metric))
                .collect();
            Hitting {
                fraction: threshold.fraction,
                median: censored_quantile(&hits, 0.5),
                lower_quartile: censored_quantile(&hits, 0.25),
                upper_quartile: censored_quantile(&hits, 0.75),
                median_interval: median_interval(&hits),
                censored: hits.iter().filter(|hit| hit.is_none()).count(),
                samples: hits,
            }
        })
        .collect();
    let picked = match test {
        Some(test) => picks(strategy, runs, table, test, budget)?,
        None => Vec::new(),
    };
    Ok(TabularSummary {
        strategy,
        runs: runs.len(),
        hitting,
        picked,
        median_best_curve: median_curve(runs),
    })
}

/// The test value of each run's pick after [`PICK_AFTER`] samples (those
/// within the budget), over runs.
fn picks(
    strategy: StrategyKind,
    runs: &[&Run],
    table: &MetricTable,
    test: &str,
    budget: usize,
) -> Result<Vec<Picked>> {
    let mut picked = Vec::new();
    for after in PICK_AFTER.into_iter().filter(|&after| after <= budget) {
        let mut tests = Vec::with_capacity(runs.len());
        for run in runs {
            let best = best_index(&run.rewards[..after.min(run.rewards.len())]);
            if let Some(spec) = best.and_then(|i| run.specs.get(i)) {
                let value = table.value(spec, test)?.ok_or_else(|| {
                    let why = if table.metric(spec).ok().flatten().is_none() {
                        "it is not in the table"
                    } else {
                        "its row has no number there"
                    };
                    no_test_value(
                        table,
                        test,
                        &format!(
                            "the pick of {} seed {} after {after} samples, {}: {why}",
                            strategy.name(),
                            run.seed,
                            spec.id()
                        ),
                    )
                })?;
                tests.push(value);
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
    Ok(picked)
}

/// The number of architectures uniform sampling draws from: the product
/// of the plan's options, when every sample has the same plan (no depth
/// curriculum; `None` otherwise, or past `usize`).
pub fn space_size(space: &SearchSpace) -> Option<usize> {
    let depth = space.depth_at(0);
    if space.depth_at(u64::MAX) != depth {
        return None;
    }
    space
        .plan(depth)
        .steps()
        .iter()
        .try_fold(1usize, |size, step| match *step {
            Step::Choose { options, .. } => size.checked_mul(options),
            Step::Anchor { candidates } => {
                size.checked_mul(1usize.checked_shl(u32::try_from(candidates).ok()?)?)
            }
        })
}

/// The error for a test column without a value where one is needed.
fn no_test_value(table: &MetricTable, test: &str, why: &str) -> Error {
    Error::Config(format!(
        "test column {test:?}: {why}; the table's numeric columns are {}",
        table.numeric_columns().join(", ")
    ))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::float_cmp)]

    use nas_domain::oracle::Missing;
    use nas_domain::{Actions, ArchSpec, SearchSpace};

    use super::*;
    use crate::strategy::evolution::EvolutionConfig;
    use crate::strategy::reinforce::ReinforceConfig;

    /// One decision `x` with options 0 to 9.
    fn space() -> SearchSpace {
        toml::from_str(
            "kind = \"categorical\"\n[[decisions]]\nname = \"x\"\noptions = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n",
        )
        .unwrap()
    }

    /// Ten rows: x = 0 and 1 tie at the top (0.9) with different test
    /// values; x = 3 has no test value.
    fn table() -> MetricTable {
        let valid = [0.9, 0.9, 0.5, 0.45, 0.4, 0.3, 0.25, 0.2, 0.1, 0.05];
        let test = [0.8, 0.7, 0.45, f64::NAN, 0.35, 0.3, 0.2, 0.2, 0.1, 0.0];
        let text: String = (0..10)
            .map(|x| {
                let mut row = serde_json::json!({"x": x, "valid": valid[x]});
                if !test[x].is_nan() {
                    row["test"] = serde_json::json!(test[x]);
                }
                format!("{row}\n")
            })
            .collect();
        MetricTable::parse(&text, "valid", Missing::Fail).unwrap()
    }

    fn spec(x: u16) -> ArchSpec {
        let space = space();
        ArchSpec::from_actions(&space, space.depth_at(0), &Actions::new(vec![x])).unwrap()
    }

    /// A run of 60 children: `x` at the given (0-based) samples, x = 9
    /// everywhere else.
    fn run(seed: u64, at: &[(usize, u16)]) -> Run {
        let table = table();
        let mut choices = [9u16; 60];
        for &(sample, x) in at {
            choices[sample] = x;
        }
        let specs: Vec<ArchSpec> = choices.iter().map(|&x| spec(x)).collect();
        let rewards: Vec<f64> = specs.iter().map(|s| table.metric(s).unwrap().unwrap()).collect();
        Run {
            strategy: StrategyKind::Random,
            seed,
            best_reward: rewards.iter().copied().fold(f64::MIN, f64::max),
            mean_last_100: 0.0,
            rewards,
            specs,
            mean_staleness: 0.0,
            stale_dropped: 0,
        }
    }

    fn simulation() -> Simulation {
        Simulation {
            space: space(),
            strategies: vec![StrategyKind::Random],
            budget: 60,
            seeds: vec![0, 1, 2],
            reinforce: ReinforceConfig::default(),
            evolution: EvolutionConfig::default(),
            local_search: Default::default(),
            predictor: Default::default(),
            threads: 1,
            in_flight: None,
            warm_start: None,
        }
    }

    #[test]
    fn the_report_counts_hitting_times_with_censored_runs_and_the_picks_test_values() {
        let table = table();
        // Seed 0 first reaches the top (x = 1) at sample 7, seed 1 (x = 0)
        // at sample 3, seed 2 never (its best is x = 2, 0.5).
        let runs = [
            run(0, &[(6, 1), (20, 0)]),
            run(1, &[(2, 0), (30, 1)]),
            run(2, &[(4, 2), (10, 5)]),
        ];
        let report = report(&simulation(), &runs, &table, Some("test")).unwrap();
        assert_eq!((report.rows, report.best_metric), (10, 0.9));
        // Both tops: the rank-1 row's 0.9, which two rows reach.
        for threshold in &report.thresholds {
            assert_eq!((threshold.metric, threshold.rows), (0.9, 2), "{threshold:?}");
        }
        let summary = &report.strategies[0];
        assert_eq!(summary.runs, 3);
        let hitting = &summary.hitting[0];
        // Sorted 3, 7, censored.
        assert_eq!(hitting.censored, 1);
        assert_eq!(hitting.median, Some(7.0));
        assert_eq!(hitting.lower_quartile, Some(5.0));
        assert_eq!(hitting.upper_quartile, None);
        // After 50 samples the picks are x = 1 (the first 0.9 of seed 0),
        // x = 0 and x = 2: test values 0.7, 0.8 and 0.45. The budget of 60
        // has no pick after 100.
        assert_eq!(summary.picked.len(), 1);
        let picked = &summary.picked[0];
        assert_eq!(picked.after, 50);
        assert!((picked.mean - 0.65).abs() < 1e-12, "{picked:?}");
        let std = ((0.05f64.powi(2) + 0.15f64.powi(2) + 0.2f64.powi(2)) / 3.0).sqrt();
        assert!((picked.std - std).abs() < 1e-12, "{picked:?}");
        // The median best so far of the three seeds: 0.05 while only seed
        // 1 has its 0.9 (samples 3 and 4), 0.5 once seed 2 has its 0.5
        // (sample 5), 0.9 once seed 0 has its 0.9 too (sample 7).
        let curve = &summary.median_best_curve;
        assert_eq!(curve.len(), 60);
        assert_eq!((curve[0], curve[2], curve[4], curve[6]), (0.05, 0.05, 0.5, 0.9));
    }

    #[test]
    fn a_missing_test_column_is_an_error_naming_the_columns() {
        let table = table();
        let runs = [run(0, &[(6, 1)])];
        let error = report(&simulation(), &runs, &table, Some("test@500"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("\"test@500\"") && error.contains("numeric columns are test, valid, x"),
            "{error}"
        );
        // A pick whose row lacks the column is named, not left out.
        let runs = [run(0, &[(6, 1)]), run(4, &[(6, 3)])];
        let error = report(&simulation(), &runs, &table, Some("test"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("the pick of random seed 4 after 50 samples")
                && error.contains("its row has no number there")
                && error.contains("test, valid, x"),
            "{error}"
        );
    }

    #[test]
    fn without_a_test_column_named_the_default_is_used_when_the_table_has_it() {
        let runs = [run(0, &[(6, 1)])];
        // This table's test column is not the default's name: no picks.
        let report = report(&simulation(), &runs, &table(), None).unwrap();
        assert_eq!(report.test, None);
        assert!(report.strategies[0].picked.is_empty());
        assert_eq!(report.strategies[0].hitting[0].median, Some(7.0));
    }
}

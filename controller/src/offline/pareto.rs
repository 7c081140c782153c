//! Multi-objective search measured on a benchmark table with costs (such as
//! NAS-Bench-Graph's `latency_s`): every strategy searches for the reward
//! an experiment's [`RewardShaping`] gives (its metric traded against the
//! costs), and each run is scored by the hypervolume of the front it found
//! (metric against the shaping's first cost, over every child it sampled)
//! as a fraction of the hypervolume of the table's true front (over every
//! row), both within the box from the table's worst metric and its largest
//! cost, widened by a tenth of each range; and by the samples it took to
//! reach [`TARGET_RATIO`] of the true hypervolume (censored when it never
//! did), with the statistics of [`super::hitting`].

use nas_domain::objective::pareto::{self, Point};
use nas_domain::objective::{Cost, Objectives, RewardShaping};
use nas_domain::oracle::{MetricTable, Oracle};
use nas_domain::{ArchSpec, Error as DomainError};
use serde::Serialize;

use super::hitting::{censored_quantile, median_interval};
use super::simulate::{Run, median};
use crate::Result;
use crate::strategy::StrategyKind;

/// A table whose reward is shaped by its costs.
pub struct ShapedTable<'a> {
    /// The table (its metric column and reward function).
    pub table: &'a MetricTable,
    /// The shaping.
    pub shaping: RewardShaping,
    /// The column of each cost the shaping needs.
    pub columns: Vec<(Cost, String)>,
}

impl ShapedTable<'_> {
    /// The metric and the first cost of `spec`.
    fn point(&self, spec: &ArchSpec) -> nas_domain::Result<Option<Point>> {
        let Some(metric) = self.table.metric(spec)? else {
            return Ok(None);
        };
        let costs = self.table.costs(spec, &self.columns[..1])?;
        Ok(costs.get(self.columns[0].0).map(|cost| Point {
            metric,
            costs: vec![cost],
        }))
    }
}

impl Oracle for ShapedTable<'_> {
    fn reward(&self, spec: &ArchSpec) -> nas_domain::Result<f64> {
        let reward = self.table.reward(spec)?;
        if self.table.metric(spec)?.is_none() {
            return Ok(reward); // the table's reward for a missing row
        }
        let costs = self.table.costs(spec, &self.columns)?;
        self.shaping.shape(reward, &costs)
    }

    fn objectives(&self, spec: &ArchSpec) -> nas_domain::Result<Option<Objectives>> {
        if self.table.metric(spec)?.is_none() {
            return Ok(None); // a missing row is a failed child: no costs
        }
        let costs = self.table.costs(spec, &self.columns)?;
        Ok(Objectives::of(
            Some(&self.shaping),
            self.table.reward(spec)?,
            &costs,
        ))
    }
}

/// The share of the true front's hypervolume a run must reach to count as
/// having found the front.
pub const TARGET_RATIO: f64 = 0.99;

/// Samples until a run's front reached [`TARGET_RATIO`], over seeds.
#[derive(Clone, Debug, Serialize)]
pub struct FrontHitting {
    /// The target share of the true hypervolume.
    pub ratio: f64,
    /// Median samples (`None`: censored, more than the budget).
    pub median: Option<f64>,
    /// A 95% bootstrap interval for the median (an end `None`: censored).
    pub median_interval: (Option<f64>, Option<f64>),
    /// Runs that never reached it.
    pub censored: usize,
    /// Every run's samples, in seed order (`None`: censored).
    pub samples: Vec<Option<f64>>,
}

/// A point of a front, for the report.
#[derive(Clone, Debug, Serialize)]
pub struct FrontPoint {
    /// The metric.
    pub metric: f64,
    /// The cost.
    pub cost: f64,
}

/// One strategy's fronts over seeds.
#[derive(Clone, Debug, Serialize)]
pub struct ParetoSummary {
    /// The strategy.
    pub strategy: StrategyKind,
    /// Runs.
    pub runs: usize,
    /// Median over seeds of the found front's hypervolume over the true one's.
    pub median_ratio: f64,
    /// First and third quartiles of that ratio.
    pub quartiles: (f64, f64),
    /// Smallest and largest ratio.
    pub range: (f64, f64),
    /// Median points on a found front.
    pub median_front_size: f64,
    /// The found front of the median run (by ratio).
    pub median_front: Vec<FrontPoint>,
    /// Samples to [`TARGET_RATIO`] of the true hypervolume.
    pub samples_to_target: FrontHitting,
}

/// The multi-objective figures of a simulation.
#[derive(Clone, Debug, Serialize)]
pub struct ParetoReport {
    /// The shaping searched with.
    pub objective: String,
    /// The cost the fronts are drawn against.
    pub cost: Cost,
    /// The box: the table's worst metric and largest cost.
    pub reference: (f64, f64),
    /// The hypervolume of the table's true front.
    pub true_hypervolume: f64,
    /// The table's true front.
    pub true_front: Vec<FrontPoint>,
    /// One row per strategy.
    pub strategies: Vec<ParetoSummary>,
}

/// Scores every run's front against the table's.
pub fn report(shaped: &ShapedTable<'_>, strategies: &[StrategyKind], runs: &[Run]) -> Result<ParetoReport> {
    let (cost, column) = shaped.columns.first().cloned().ok_or_else(|| {
        DomainError::InvalidConfig("a multi-objective simulation needs a cost column".into())
    })?;
    let all: Vec<Point> = shaped
        .table
        .pairs(shaped.table.column(), &column)
        .into_iter()
        .map(|(metric, cost)| Point {
            metric,
            costs: vec![cost],
        })
        .collect();
    let reference = (
        all.iter().map(|p| p.metric).fold(f64::INFINITY, f64::min),
        all.iter().map(|p| p.costs[0]).fold(f64::NEG_INFINITY, f64::max),
    );
    // Points at the box's edge would add nothing: widen it by a tenth of
    // each range so the costliest best and the cheapest worst rows count.
    let reference = (
        reference.0 - 0.1 * (max_metric(&all) - reference.0),
        reference.1 + 0.1 * (reference.1 - min_cost(&all)),
    );
    let true_hypervolume = pareto::hypervolume(&all, reference);
    if !(true_hypervolume.is_finite() && true_hypervolume > 0.0) {
        return Err(DomainError::InvalidConfig(format!(
            "the table's rows with both {} and {column} span no area; no front to compare with",
            shaped.table.column()
        ))
        .into());
    }
    let true_front = front_points(&all);
    let summaries = strategies
        .iter()
        .map(|&strategy| summarize(shaped, strategy, runs, reference, true_hypervolume))
        .collect::<Result<Vec<_>>>()?;
    Ok(ParetoReport {
        objective: shaped.shaping.label(),
        cost,
        reference,
        true_hypervolume,
        true_front,
        strategies: summaries,
    })
}

/// One strategy's fronts and samples to [`TARGET_RATIO`] over its runs.
fn summarize(
    shaped: &ShapedTable<'_>,
    strategy: StrategyKind,
    runs: &[Run],
    reference: (f64, f64),
    true_hypervolume: f64,
) -> Result<ParetoSummary> {
    let mut scored: Vec<(f64, Vec<FrontPoint>)> = Vec::new();
    let mut hits = Vec::new();
    for run in runs.iter().filter(|run| run.strategy == strategy) {
        let mut points = Vec::with_capacity(run.specs.len());
        let mut front = Vec::new();
        let mut hit = None;
        for (sample, spec) in run.specs.iter().enumerate() {
            let Some(point) = shaped.point(spec)? else {
                continue;
            };
            if hit.is_none() && add_to_front(&mut front, &point) {
                let ratio = pareto::hypervolume(&front, reference) / true_hypervolume;
                if ratio >= TARGET_RATIO {
                    hit = Some((sample + 1) as f64);
                }
            }
            points.push(point);
        }
        hits.push(hit);
        let ratio = pareto::hypervolume(&points, reference) / true_hypervolume;
        scored.push((ratio, front_points(&points)));
    }
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let ratios: Vec<f64> = scored.iter().map(|(ratio, _)| *ratio).collect();
    let sizes: Vec<f64> = scored.iter().map(|(_, front)| front.len() as f64).collect();
    let quantile = |q: f64| {
        ratios
            .get(((ratios.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
    };
    Ok(ParetoSummary {
        strategy,
        runs: ratios.len(),
        median_ratio: median(&ratios),
        quartiles: (quantile(0.25).unwrap_or(0.0), quantile(0.75).unwrap_or(0.0)),
        range: (
            ratios.first().copied().unwrap_or(0.0),
            ratios.last().copied().unwrap_or(0.0),
        ),
        median_front_size: median(&sizes),
        median_front: scored
            .get(scored.len() / 2)
            .map(|(_, f)| f.clone())
            .unwrap_or_default(),
        samples_to_target: FrontHitting {
            ratio: TARGET_RATIO,
            median: censored_quantile(&hits, 0.5),
            median_interval: median_interval(&hits),
            censored: hits.iter().filter(|hit| hit.is_none()).count(),
            samples: hits,
        },
    })
}

/// Adds `point` to `front` (the non-dominated points so far: higher metric,
/// lower cost) unless a point there dominates or equals it, dropping the
/// points it dominates; whether the front changed.
fn add_to_front(front: &mut Vec<Point>, point: &Point) -> bool {
    let (metric, cost) = (point.metric, point.costs[0]);
    if front.iter().any(|p| p.metric >= metric && p.costs[0] <= cost) {
        return false;
    }
    front.retain(|p| !(p.metric <= metric && p.costs[0] >= cost));
    front.push(point.clone());
    true
}

fn max_metric(points: &[Point]) -> f64 {
    points.iter().map(|p| p.metric).fold(f64::NEG_INFINITY, f64::max)
}

fn min_cost(points: &[Point]) -> f64 {
    points.iter().map(|p| p.costs[0]).fold(f64::INFINITY, f64::min)
}

fn front_points(points: &[Point]) -> Vec<FrontPoint> {
    pareto::front(points)
        .into_iter()
        .map(|index| FrontPoint {
            metric: points[index].metric,
            cost: points[index].costs[0],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn the_running_front_keeps_the_hypervolume_of_every_point_so_far() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let reference = (0.0, 1.0);
        let mut front = Vec::new();
        let mut all = Vec::new();
        for step in 0..400 {
            // A trade-off (the costlier, the better, give or take), on a
            // grid, so that ties on either axis are common.
            let cost = rng.random_range(0..20u8);
            let point = Point {
                metric: f64::from((cost + rng.random_range(1..5u8)).min(19)) / 20.0,
                costs: vec![f64::from(cost) / 20.0],
            };
            let changed = add_to_front(&mut front, &point);
            let before = pareto::hypervolume(&all, reference);
            all.push(point);
            let after = pareto::hypervolume(&all, reference);
            // The same area (summed over other strips: equal up to rounding).
            let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
            assert!(
                close(pareto::hypervolume(&front, reference), after),
                "step {step}"
            );
            if !changed {
                assert!(close(before, after), "step {step}: a point left out added area");
            }
            // No point of the front dominates another.
            for a in &front {
                for b in &front {
                    if !std::ptr::eq(a, b) {
                        assert!(!(a.metric >= b.metric && a.costs[0] <= b.costs[0]), "{front:?}");
                    }
                }
            }
        }
        assert!(front.len() > 2 && front.len() < 40, "{}", front.len());
    }
}

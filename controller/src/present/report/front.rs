//! The report's Pareto fronts: for each cost the children's results report,
//! the trained children that no other beats on both the metric and that
//! cost, plotted among all children, and which children they are (their ids
//! go to `nas-controller export`).

use nas_domain::objective::Cost;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{ExperimentData, plot_error};
use crate::Result;
use crate::experiment::leaderboard::pareto_front;
use crate::experiment::reward_log::{RecordStatus, RewardRecord};

/// One cost's front.
pub(super) struct CostFront<'a> {
    /// The cost (the x axis).
    pub cost: Cost,
    /// Every trained child that reports the cost: (cost, metric).
    pub all: Vec<(f64, f64)>,
    /// The children on the front, by metric (best first).
    pub front: Vec<&'a RewardRecord>,
}

impl CostFront<'_> {
    /// The front's points, cheapest first: (cost, metric).
    fn front_points(&self) -> Vec<(f64, f64)> {
        let mut points: Vec<(f64, f64)> = self
            .front
            .iter()
            .filter_map(|record| Some((cost_of(record, self.cost)?, record.metric?)))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points
    }

    /// The plot's file stem.
    pub fn stem(&self) -> String {
        format!("front-{}", self.cost)
    }
}

fn cost_of(record: &RewardRecord, cost: Cost) -> Option<f64> {
    record.result.as_ref()?.costs.get(cost)
}

/// The fronts of `data`, one per cost at least two trained children
/// report.
pub(super) fn fronts(data: &ExperimentData) -> Vec<CostFront<'_>> {
    Cost::ALL
        .into_iter()
        .filter_map(|cost| {
            let all: Vec<(f64, f64)> = data
                .records
                .iter()
                .filter(|record| record.status == RecordStatus::Ok)
                .filter_map(|record| Some((cost_of(record, cost)?, record.metric?)))
                .collect();
            (all.len() >= 2).then(|| CostFront {
                cost,
                all,
                front: pareto_front(&data.records, cost),
            })
        })
        .collect()
}

/// Whether `values` spread over two orders of magnitude (then the axis is
/// logarithmic).
fn wide(low: f64, high: f64) -> bool {
    low > 0.0 && high / low > 100.0
}

/// Draws every child as a dot and the front as orange points joined by
/// its staircase.
pub(super) fn draw_front<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    front: &CostFront<'_>,
) -> Result<()> {
    root.fill(&WHITE).map_err(plot_error)?;
    let xs = || front.all.iter().map(|p| p.0);
    let ys = || front.all.iter().map(|p| p.1);
    let (x_low, x_high) = (xs().fold(f64::MAX, f64::min), xs().fold(f64::MIN, f64::max));
    let (y_low, y_high) = (ys().fold(f64::MAX, f64::min), ys().fold(f64::MIN, f64::max));
    let y_margin = ((y_high - y_low) * 0.05).max(1e-6);
    let y_range = y_low - y_margin..y_high + y_margin;
    let caption = format!("Metric against {} (front in orange)", front.cost);
    let cost = front.cost;
    let label = move |x: &f64| cost.format(*x);
    let staircase = staircase(&front.front_points());
    let dot = BLUE.mix(0.35).filled();
    let marked = RGBColor(230, 120, 20).filled();
    macro_rules! draw_on {
        ($x_range:expr) => {{
            let mut chart = ChartBuilder::on(root)
                .caption(caption, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d($x_range, y_range)
                .map_err(plot_error)?;
            chart
                .configure_mesh()
                .x_desc(cost.name())
                .x_label_formatter(&label)
                .y_desc("validation metric")
                .draw()
                .map_err(plot_error)?;
            chart
                .draw_series(front.all.iter().map(|&p| Circle::new(p, 3, dot)))
                .map_err(plot_error)?
                .label("every trained child")
                .legend(move |(x, y)| Circle::new((x + 10, y), 3, dot));
            chart
                .draw_series(LineSeries::new(staircase, RGBColor(230, 120, 20).stroke_width(2)))
                .map_err(plot_error)?;
            chart
                .draw_series(
                    front
                        .front_points()
                        .into_iter()
                        .map(|p| Circle::new(p, 5, marked)),
                )
                .map_err(plot_error)?
                .label("Pareto front")
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, marked));
            super::legend(&mut chart)?;
        }};
    }
    if wide(x_low, x_high) {
        draw_on!((x_low * 0.8..x_high * 1.25).log_scale());
    } else {
        let x_margin = ((x_high - x_low) * 0.05).max(1e-9);
        draw_on!(x_low - x_margin..x_high + x_margin);
    }
    root.present().map_err(plot_error)
}

/// The front's staircase through `points` (cheapest first): each point's
/// metric holds until the next, dearer point.
fn staircase(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut line = Vec::with_capacity(points.len() * 2);
    for (index, &(cost, metric)) in points.iter().enumerate() {
        if index > 0 {
            line.push((cost, points[index - 1].1));
        }
        line.push((cost, metric));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_staircase_steps_up_at_each_dearer_point() {
        let line = staircase(&[(1.0, 0.5), (2.0, 0.7), (4.0, 0.9)]);
        assert_eq!(
            line,
            vec![(1.0, 0.5), (2.0, 0.5), (2.0, 0.7), (4.0, 0.7), (4.0, 0.9)]
        );
    }
}

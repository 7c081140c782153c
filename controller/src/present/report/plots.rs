//! The report's plots: rewards over the search (with the baseline and the
//! best so far), experiments side by side, learning curves and training
//! cost, drawn with plotters into any backend (PNG and SVG).

use std::sync::OnceLock;

use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;

use super::ExperimentData;
use crate::experiment::reward_log::RecordStatus;
use crate::{Error, Result};

const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
];

/// Registers a system font with plotters once.
pub(super) fn font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered = REGISTERED.get_or_init(|| {
        FONT_PATHS.iter().any(|path| match std::fs::read(path) {
            Ok(bytes) => {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            }
            Err(_) => false,
        })
    });
    if *registered {
        Ok(())
    } else {
        Err(Error::Plot(format!(
            "no TrueType font for the plots; install DejaVu Sans (fonts-dejavu-core), looked in {FONT_PATHS:?}"
        )))
    }
}

pub(super) fn plot_error<E: std::fmt::Debug>(error: E) -> Error {
    Error::Plot(format!("{error:?}"))
}

/// Rewards over the search, with the baseline and the best so far.
pub(super) struct Curves {
    pub(super) label: String,
    pub(super) rewards: Vec<f64>,
    pub(super) baseline: Vec<f64>,
    pub(super) best: Vec<f64>,
}

pub(super) fn curves(data: &ExperimentData) -> Curves {
    let decay = data.config.controller.baseline_decay;
    let rewards: Vec<f64> = data.records.iter().map(|r| r.reward).collect();
    let mut baseline = Vec::with_capacity(rewards.len());
    let mut best = Vec::with_capacity(rewards.len());
    let (mut b, mut top) = (None::<f64>, f64::NEG_INFINITY);
    for &reward in &rewards {
        let value = b.map_or(reward, |b| decay * b + (1.0 - decay) * reward);
        b = Some(value);
        baseline.push(value);
        top = top.max(reward);
        best.push(top);
    }
    Curves {
        label: format!("{} ({})", data.config.experiment, data.config.strategy.name()),
        rewards,
        baseline,
        best,
    }
}

pub(super) fn draw_rewards<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, curves: &Curves) -> Result<()> {
    root.fill(&WHITE).map_err(plot_error)?;
    let count = curves.rewards.len().max(2) as f64;
    let top = curves.rewards.iter().copied().fold(f64::MIN, f64::max).max(1e-9);
    let bottom = curves.rewards.iter().copied().fold(f64::MAX, f64::min).min(0.0);
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("Reward of every child: {}", curves.label),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..count, bottom..top * 1.05)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("child (in the order the controller learned from them)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("reward")
        .draw()
        .map_err(plot_error)?;
    let points = curves.rewards.iter().enumerate().map(|(i, &r)| (i as f64, r));
    chart
        .draw_series(points.map(|p| Circle::new(p, 3, BLUE.mix(0.45).filled())))
        .map_err(plot_error)?
        .label("child")
        .legend(|(x, y)| Circle::new((x + 10, y), 3, BLUE.filled()));
    let line = |values: &[f64]| {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as f64, v))
            .collect::<Vec<_>>()
    };
    chart
        .draw_series(LineSeries::new(line(&curves.baseline), RED.stroke_width(2)))
        .map_err(plot_error)?
        .label("moving-average baseline")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(line(&curves.best), GREEN.stroke_width(2)))
        .map_err(plot_error)?
        .label("best so far")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN.stroke_width(2)));
    legend(&mut chart)?;
    root.present().map_err(plot_error)
}

/// Draws the series labels in the lower right corner.
pub(super) fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)
}

pub(super) fn draw_comparison<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    all: &[Curves],
) -> Result<()> {
    root.fill(&WHITE).map_err(plot_error)?;
    let count = all.iter().map(|c| c.rewards.len()).max().unwrap_or(2).max(2) as f64;
    let top = all
        .iter()
        .flat_map(|c| c.best.iter().copied())
        .fold(f64::MIN, f64::max)
        .max(1e-9);
    let bottom = all
        .iter()
        .flat_map(|c| c.best.iter().copied())
        .fold(f64::MAX, f64::min)
        .min(top);
    let mut chart = ChartBuilder::on(root)
        .caption("Best reward so far, side by side", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..count, bottom * 0.98..top * 1.02)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("children")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("best reward")
        .draw()
        .map_err(plot_error)?;
    for (index, curves) in all.iter().enumerate() {
        let colour = Palette99::pick(index).to_rgba();
        let points: Vec<(f64, f64)> = curves
            .best
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as f64, v))
            .collect();
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(plot_error)?
            .label(curves.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    legend(&mut chart)?;
    root.present().map_err(plot_error)
}

/// Every child's metric after each epoch, split by whether it was stopped.
pub(super) struct LearningCurves {
    /// Children trained to the end (or failed, preempted…).
    pub(super) finished: Vec<Vec<f64>>,
    /// Children stopped early.
    pub(super) stopped: Vec<Vec<f64>>,
    /// The budget's epochs (the x axis).
    pub(super) budget: u32,
}

impl LearningCurves {
    pub(super) fn of(data: &ExperimentData) -> LearningCurves {
        let reward = &data.config.reward;
        let mut curves = LearningCurves {
            finished: Vec::new(),
            stopped: Vec::new(),
            budget: data.config.budget.epochs,
        };
        for record in &data.records {
            let Some(result) = &record.result else {
                continue;
            };
            let curve: Vec<f64> = result.epochs.iter().filter_map(|e| reward.metric_of(e)).collect();
            if curve.is_empty() {
                continue;
            }
            match record.status {
                RecordStatus::Stopped => curves.stopped.push(curve),
                _ => curves.finished.push(curve),
            }
        }
        curves
    }

    /// Whether there is a curve worth drawing: some child with two epochs.
    pub(super) fn worth_drawing(&self) -> bool {
        self.finished.iter().chain(&self.stopped).any(|c| c.len() > 1)
    }

    /// Children stopped early.
    pub(super) fn stopped(&self) -> usize {
        self.stopped.len()
    }
}

pub(super) fn draw_learning_curves<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    curves: &LearningCurves,
) -> Result<()> {
    root.fill(&WHITE).map_err(plot_error)?;
    let all = || curves.finished.iter().chain(&curves.stopped).flatten().copied();
    let top = all().fold(f64::MIN, f64::max);
    let bottom = all().fold(f64::MAX, f64::min);
    let margin = ((top - bottom) * 0.05).max(1e-6);
    let epochs = f64::from(curves.budget.max(2));
    let mut chart = ChartBuilder::on(root)
        .caption("Learning curve of every child", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(1.0..epochs, bottom - margin..top + margin)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        // One label per epoch: more would repeat the rounded numbers.
        .x_labels(curves.budget.clamp(2, 20) as usize)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("validation metric")
        .draw()
        .map_err(plot_error)?;
    let line = |curve: &Vec<f64>| {
        curve
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as f64 + 1.0, v))
            .collect::<Vec<_>>()
    };
    let groups = [
        (&curves.finished, BLUE.mix(0.35), "trained to the end"),
        (&curves.stopped, RGBColor(230, 120, 20).mix(0.7), "stopped early"),
    ];
    for (group, colour, label) in groups {
        for (index, curve) in group.iter().enumerate() {
            let series = chart
                .draw_series(LineSeries::new(line(curve), colour.stroke_width(1)))
                .map_err(plot_error)?;
            if index == 0 {
                series.label(label).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            }
        }
    }
    legend(&mut chart)?;
    root.present().map_err(plot_error)
}

pub(super) fn draw_cost<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, seconds: &[f64]) -> Result<()> {
    root.fill(&WHITE).map_err(plot_error)?;
    let count = seconds.len().max(2) as f64;
    let top = seconds.iter().copied().fold(0.0, f64::max).max(1e-3);
    let mut chart = ChartBuilder::on(root)
        .caption("Training seconds per child", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..count, 0.0..top * 1.05)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("child")
        .y_desc("seconds")
        .draw()
        .map_err(plot_error)?;
    chart
        .draw_series(seconds.iter().enumerate().map(|(i, &s)| {
            Rectangle::new(
                [(i as f64 + 0.1, 0.0), (i as f64 + 0.9, s)],
                RGBColor(90, 120, 180).filled(),
            )
        }))
        .map_err(plot_error)?;
    root.present().map_err(plot_error)
}

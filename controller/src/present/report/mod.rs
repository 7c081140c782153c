//! `nas-controller report`: an HTML page about one experiment (or several
//! side by side), with PNG and SVG plots:
//!
//! - the reward of every child over the search, the moving-average baseline
//!   (recomputed from the log with the experiment's decay) and the best so
//!   far;
//! - with `--compare`, the best reward so far of each experiment (for
//!   instance one per strategy) on the same axes;
//! - every child's learning curve (its metric after each epoch), the
//!   children an early-stopping rule stopped apart, with the epochs and
//!   training seconds stopping saved;
//! - the leaderboard, each top architecture as Graphviz DOT and an SVG
//!   diagram;
//! - with costs in the results, the Pareto front of the metric against
//!   each cost, plotted among all children, with the ids on it ([`front`]);
//! - the cost: training seconds per child and in total, by device.
//!
//! The leaderboard ranks by the reward the strategy learned from (shaped,
//! when the experiment has an objective) or by the raw metric, and can
//! leave out children above cost limits ([`ReportOptions`]).
//!
//! Plots need a TrueType font for their labels; DejaVu Sans (or Liberation
//! Sans) is looked up in the usual system folders.

mod front;
mod html;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nas_domain::ExperimentName;
use nas_domain::objective::Cost;
use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;

use crate::experiment::config::ExperimentConfig;
use crate::experiment::reward_log::{RecordStatus, RewardRecord};
use crate::present::export::{self, ExportFormat};
use crate::{Error, Result};
use front::draw_front;

/// One experiment's data for the report.
pub struct ExperimentData {
    /// Its configuration.
    pub config: ExperimentConfig,
    /// Its reward log, in sequence order.
    pub records: Vec<RewardRecord>,
    /// The summaries of its re-evaluations.
    pub reevaluations: Vec<crate::offline::reevaluate::Summary>,
}

/// What the leaderboard ranks by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RankBy {
    /// The reward the strategy learned from (shaped by the objective).
    #[default]
    Reward,
    /// The validation metric alone.
    Metric,
}

impl RankBy {
    fn describe(self) -> &'static str {
        match self {
            RankBy::Reward => "reward",
            RankBy::Metric => "validation metric",
        }
    }

    fn key(self, record: &RewardRecord) -> f64 {
        match self {
            RankBy::Reward => record.reward,
            RankBy::Metric => record.metric.unwrap_or(f64::NEG_INFINITY),
        }
    }
}

/// How the report's leaderboard is ranked and filtered.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    /// What it ranks by.
    pub rank_by: RankBy,
    /// Children with a cost above its limit (or without it) are left out.
    pub max_costs: Vec<(Cost, f64)>,
}

impl ReportOptions {
    /// Whether `record` is within every cost limit.
    fn admits(&self, record: &RewardRecord) -> bool {
        self.max_costs.iter().all(|&(cost, limit)| {
            record
                .result
                .as_ref()
                .and_then(|result| result.costs.get(cost))
                .is_some_and(|value| value <= limit)
        })
    }

    fn limits_text(&self) -> String {
        if self.max_costs.is_empty() {
            return String::new();
        }
        let limits: Vec<String> = self
            .max_costs
            .iter()
            .map(|(cost, limit)| format!("{cost} ≤ {}", cost.format(*limit)))
            .collect();
        format!(" Only children with {}.", limits.join(", "))
    }
}

/// What was written.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReportFiles {
    /// The HTML page.
    pub page: PathBuf,
    /// Every file written.
    pub files: Vec<PathBuf>,
}

const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
];

/// Registers a system font with plotters once.
fn font() -> Result<()> {
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

fn plot_error<E: std::fmt::Debug>(error: E) -> Error {
    Error::Plot(format!("{error:?}"))
}

/// Rewards over the search, with the baseline and the best so far.
struct Curves {
    label: String,
    rewards: Vec<f64>,
    baseline: Vec<f64>,
    best: Vec<f64>,
}

fn curves(data: &ExperimentData) -> Curves {
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

fn draw_rewards<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, curves: &Curves) -> Result<()> {
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
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
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

fn draw_comparison<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, all: &[Curves]) -> Result<()> {
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
    finished: Vec<Vec<f64>>,
    /// Children stopped early.
    stopped: Vec<Vec<f64>>,
    /// The budget's epochs (the x axis).
    budget: u32,
}

impl LearningCurves {
    fn of(data: &ExperimentData) -> LearningCurves {
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
    fn worth_drawing(&self) -> bool {
        self.finished.iter().chain(&self.stopped).any(|c| c.len() > 1)
    }

    /// Children stopped early.
    pub(super) fn stopped(&self) -> usize {
        self.stopped.len()
    }
}

fn draw_learning_curves<DB: DrawingBackend>(
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

fn draw_cost<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, seconds: &[f64]) -> Result<()> {
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

/// Draws with `$draw` (a generic drawing function and its arguments) into
/// `<stem>.svg` and `<stem>.png` in `$dir`, and records both files.
macro_rules! plot_both {
    ($dir:expr, $stem:expr, $files:expr, $draw:ident ( $($arg:expr),* )) => {{
        let svg = $dir.join(format!("{}.svg", $stem));
        let png = $dir.join(format!("{}.png", $stem));
        $draw(&SVGBackend::new(&svg, PLOT_SIZE).into_drawing_area(), $($arg),*)?;
        $draw(&BitMapBackend::new(&png, PLOT_SIZE).into_drawing_area(), $($arg),*)?;
        $files.push(svg);
        $files.push(png);
    }};
}

const PLOT_SIZE: (u32, u32) = (960, 420);

/// Writes the report of `main` (and, side by side, `others`) into `out`.
pub fn write(
    main: &ExperimentData,
    others: &[ExperimentData],
    options: &ReportOptions,
    out: &Path,
) -> Result<ReportFiles> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    font()?;
    let mut files = Vec::new();
    let main_curves = curves(main);
    plot_both!(out, "rewards", files, draw_rewards(&main_curves));
    let compared: Vec<Curves> = std::iter::once(main).chain(others).map(curves).collect();
    if !others.is_empty() {
        plot_both!(out, "comparison", files, draw_comparison(&compared));
    }
    let seconds: Vec<f64> = main
        .records
        .iter()
        .map(|r| r.result.as_ref().map_or(0.0, |result| result.train_seconds))
        .collect();
    plot_both!(out, "cost", files, draw_cost(&seconds));
    let learning = LearningCurves::of(main);
    let learning = learning.worth_drawing().then_some(learning);
    if let Some(learning) = &learning {
        plot_both!(out, "learning-curves", files, draw_learning_curves(learning));
    }
    let fronts = front::fronts(main);
    for cost_front in &fronts {
        plot_both!(out, cost_front.stem(), files, draw_front(cost_front));
    }
    let leaders = leaderboard(&main.records, 5, options);
    for (rank, record) in leaders.iter().enumerate() {
        let stem = format!("architecture-{}", rank + 1);
        let formats: &[(ExportFormat, &str)] = if record.spec.as_categorical().is_some() {
            &[(ExportFormat::Json, "json")]
        } else {
            &[(ExportFormat::Dot, "dot"), (ExportFormat::Svg, "svg")]
        };
        for &(format, extension) in formats {
            let path = out.join(format!("{stem}.{extension}"));
            std::fs::write(&path, export::export(&record.spec, format)?).map_err(|e| Error::io(&path, e))?;
            files.push(path);
        }
    }
    let page = out.join("index.html");
    let plots = html::Plots {
        compared: &compared,
        leaders: &leaders,
        seconds: &seconds,
        learning: learning.as_ref(),
        fronts: &fronts,
        options,
    };
    std::fs::write(&page, html::page(main, others, &plots)).map_err(|e| Error::io(&page, e))?;
    files.push(page.clone());
    Ok(ReportFiles { page, files })
}

/// The best record of each architecture within the cost limits, best
/// first, as `options` rank them.
fn leaderboard(records: &[RewardRecord], count: usize, options: &ReportOptions) -> Vec<RewardRecord> {
    let rank = |record: &RewardRecord| options.rank_by.key(record);
    let mut best: HashMap<&str, &RewardRecord> = HashMap::new();
    let admitted = records
        .iter()
        .filter(|r| r.status == RecordStatus::Ok && options.admits(r));
    for record in admitted {
        let entry = best.entry(record.arch_id.as_str()).or_insert(record);
        if rank(record) > rank(entry) {
            *entry = record;
        }
    }
    let mut leaders: Vec<RewardRecord> = best.into_values().cloned().collect();
    leaders.sort_by(|a, b| rank(b).total_cmp(&rank(a)));
    leaders.truncate(count);
    leaders
}

/// Loads an experiment's configuration and reward log.
pub async fn load(
    store: &nas_infra::store::ObjectStore,
    experiment: &ExperimentName,
) -> Result<ExperimentData> {
    let config = crate::experiment::config::load(store, experiment).await?;
    let records = crate::experiment::reward_log::read_all(store, experiment).await?;
    let prefix = nas_infra::store::keys::reevaluations_prefix(experiment);
    let mut reevaluations = Vec::new();
    for key in store.list(&prefix).await? {
        if key.ends_with("/summary.json")
            && let Some(summary) = store.get_json(&key).await?
        {
            reevaluations.push(summary);
        }
    }
    Ok(ExperimentData {
        config,
        records,
        reevaluations,
    })
}

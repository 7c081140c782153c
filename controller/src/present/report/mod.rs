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
mod plots;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nas_domain::ExperimentName;
use nas_domain::objective::Cost;
use plotters::prelude::*;

use crate::experiment::config::ExperimentConfig;
use crate::experiment::reward_log::{RecordStatus, RewardRecord};
use crate::present::export::{self, ExportFormat};
use crate::{Error, Result};
use front::draw_front;
use plots::{
    Curves, LearningCurves, curves, draw_comparison, draw_cost, draw_learning_curves, draw_rewards, font,
    legend, plot_error,
};

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
    let config = crate::experiment::stored::load(store, experiment).await?;
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

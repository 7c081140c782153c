//! The report's HTML page: the experiment's counts, the reward plots, the
//! learning curves with what early stopping saved, the leaderboard with
//! diagrams, re-evaluations and the training cost.

use std::collections::HashMap;
use std::fmt::Write;

use super::front::CostFront;
use super::{Curves, ExperimentData, LearningCurves, ReportOptions};
use nas_domain::Task;
use nas_domain::objective::Cost;

use crate::experiment::leaderboard::saved_by_stopping;
use crate::experiment::reward_log::{RecordStatus, RewardRecord};
use crate::offline::reevaluate::Summary;

/// HTML-escapes `text`.
pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What the page shows beside the records: the plotted series.
pub(super) struct Plots<'a> {
    /// The best-so-far curves, the main experiment's first.
    pub compared: &'a [Curves],
    /// The leaderboard.
    pub leaders: &'a [RewardRecord],
    /// Training seconds of every child.
    pub seconds: &'a [f64],
    /// The learning curves, when some child trained more than one epoch.
    pub learning: Option<&'a LearningCurves>,
    /// The Pareto front of each cost the results report.
    pub fronts: &'a [CostFront<'a>],
    /// How the leaderboard was ranked and filtered.
    pub options: &'a ReportOptions,
}

/// The whole page.
pub(super) fn page(main: &ExperimentData, others: &[ExperimentData], plots: &Plots<'_>) -> String {
    let Plots {
        compared,
        leaders,
        seconds,
        learning,
        fronts,
        options,
    } = *plots;
    let mut page = String::new();
    header(&mut page, main);
    page.push_str(
        "<h2>Rewards</h2>\n<figure><img src=\"rewards.png\" alt=\"reward of every child\"><figcaption>\
        Every child's reward, the moving-average baseline and the best so far \
        (<a href=\"rewards.svg\">SVG</a>).</figcaption></figure>\n",
    );
    if !others.is_empty() {
        page.push_str(
            "<h2>Side by side</h2>\n<figure><img src=\"comparison.png\" alt=\"comparison\"><figcaption>",
        );
        let names: Vec<String> = compared.iter().map(|c| escape(&c.label)).collect();
        let _ = writeln!(
            page,
            "Best reward so far: {} (<a href=\"comparison.svg\">SVG</a>).</figcaption></figure>",
            names.join(", ")
        );
    }
    if let Some(learning) = learning {
        learning_curves(&mut page, main, learning);
    }
    leaderboard(&mut page, main, leaders, options);
    if !fronts.is_empty() {
        pareto_fronts(&mut page, main, fronts);
    }
    for summary in &main.reevaluations {
        reevaluation(&mut page, summary);
    }
    cost(&mut page, main, seconds);
    page
}

fn header(page: &mut String, main: &ExperimentData) {
    let config = &main.config;
    let count = |status: RecordStatus| main.records.iter().filter(|r| r.status == status).count();
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>NAS report: {name}</title>\n\
         <style>body{{font-family:'DejaVu Sans',sans-serif;max-width:1000px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}\
         th{{background:#eef}}td.l{{text-align:left;font-family:monospace}}img{{max-width:100%}}\
         figure{{margin:1em 0}}</style></head><body>\n\
         <h1>Experiment {name}</h1>\n<p>Task <b>{task:?}</b>, strategy <b>{strategy}</b>, {children} children budgeted. \
         {rewarded} rewarded, {stopped} stopped early, {reused} reused an earlier reward of the same architecture, \
         {failed} failed, {dead} dead-lettered.</p>\n",
        name = escape(config.experiment.as_str()),
        task = config.task,
        strategy = config.strategy.name(),
        children = config.children,
        rewarded = count(RecordStatus::Ok),
        reused = count(RecordStatus::Reused),
        stopped = count(RecordStatus::Stopped),
        failed = count(RecordStatus::Failed),
        dead = count(RecordStatus::DeadLettered),
    );
}

/// The costs of `record`'s result, for people (its parameters when it
/// reports no costs).
fn costs_of(record: &RewardRecord) -> String {
    let Some(result) = &record.result else {
        return "-".into();
    };
    if result.costs.is_empty() {
        return format!(
            "parameters {}",
            Cost::Parameters.format(result.param_count as f64)
        );
    }
    let shown: Vec<String> = result
        .costs
        .iter()
        .map(|(cost, value)| format!("{cost} {}", cost.format(value)))
        .collect();
    shown.join(", ")
}

fn leaderboard(page: &mut String, main: &ExperimentData, leaders: &[RewardRecord], options: &ReportOptions) {
    let reward = match &main.config.objective {
        Some(objective) => format!("shaped by <code>{}</code>", escape(&objective.label())),
        None => "the reward function's".into(),
    };
    let _ = write!(
        page,
        "<h2>Leaderboard</h2>\n<p>Ranked by {rank}; the reward is {reward}.{limits}</p>\n\
         <table><tr><th>rank</th><th>architecture</th><th>reward</th><th>metric</th>\
         <th>costs</th><th>children</th><th>architecture</th></tr>\n",
        rank = options.rank_by.describe(),
        limits = options.limits_text(),
    );
    for (rank, record) in leaders.iter().enumerate() {
        let children = main
            .records
            .iter()
            .filter(|r| r.arch_id == record.arch_id)
            .count();
        let costs = escape(&costs_of(record));
        let shown = match record.spec.as_categorical() {
            Some(arch) => {
                let choices: Vec<String> = arch
                    .decisions
                    .iter()
                    .map(|(name, choice)| format!("{name}={choice}"))
                    .collect();
                format!(
                    "{} (<a href=\"architecture-{}.json\">JSON</a>)",
                    escape(&choices.join(", ")),
                    rank + 1
                )
            }
            None => format!(
                "<a href=\"architecture-{0}.svg\">SVG</a> · <a href=\"architecture-{0}.dot\">DOT</a>",
                rank + 1
            ),
        };
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td class=\"l\">{}</td><td>{:.4}</td><td>{}</td><td class=\"l\">{costs}</td><td>{children}</td>\
             <td class=\"l\">{shown}</td></tr>",
            rank + 1,
            record.arch_id.short(),
            record.reward,
            record
                .metric
                .map_or("-".into(), |m| metric_text(main.config.task, m)),
        );
    }
    page.push_str("</table>\n");
    let drawn = leaders
        .iter()
        .filter(|record| record.spec.as_categorical().is_none());
    for (rank, record) in drawn.take(3).enumerate() {
        let _ = writeln!(
            page,
            "<h3>#{} {}</h3>\n<figure><img src=\"architecture-{}.svg\" alt=\"architecture {}\"></figure>",
            rank + 1,
            record.arch_id.short(),
            rank + 1,
            record.arch_id.short()
        );
    }
}

/// A metric as the leaderboard shows it: character-level perplexities also
/// in bits per character, the unit the paper reports.
fn metric_text(task: Task, metric: f64) -> String {
    if task == Task::PtbChar {
        format!("{metric:.4} ({:.4} bpc)", metric.log2())
    } else {
        format!("{metric:.4}")
    }
}

fn reevaluation(page: &mut String, summary: &Summary) {
    let _ = writeln!(
        page,
        "<h2>Re-evaluation {}</h2>\n<table><tr><th>architecture</th><th>grid point</th><th>metric mean ± std</th>\
         <th>reward mean ± std</th><th>test mean ± std</th><th>runs</th><th>failed</th></tr>",
        escape(summary.run.as_str())
    );
    for row in &summary.results {
        let mut test = row
            .test_metric
            .map_or("-".into(), |t| format!("{:.4} ± {:.4}", t.mean, t.std));
        if let Some(bits) = row.test_bits_per_char {
            let _ = write!(test, " ({:.4} ± {:.4} bpc)", bits.mean, bits.std);
        }
        let metric = match row.bits_per_char {
            Some(bits) => format!(
                "{:.4} ± {:.4} ({:.4} ± {:.4} bpc)",
                row.metric.mean, row.metric.std, bits.mean, bits.std
            ),
            None => format!("{:.4} ± {:.4}", row.metric.mean, row.metric.std),
        };
        let _ = writeln!(
            page,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{metric}</td><td>{:.4} ± {:.4}</td><td>{test}</td>\
             <td>{}</td><td>{}</td></tr>",
            row.architecture_id.short(),
            row.grid_point,
            row.reward.mean,
            row.reward.std,
            row.metric.count,
            row.failed
        );
    }
    page.push_str("</table>\n");
    if let Some(pick) = &summary.pick {
        let _ = writeln!(
            page,
            "<p>Final pick: <code>{}</code> at grid point {} ({}).</p>",
            pick.architecture_id.short(),
            pick.grid_point,
            escape(&serde_json::to_string(&pick.hyperparameters).unwrap_or_default())
        );
    }
}

fn pareto_fronts(page: &mut String, main: &ExperimentData, fronts: &[CostFront<'_>]) {
    let _ = writeln!(
        page,
        "<h2>Pareto fronts</h2>\n<p>For each cost, the children trained to the end that no other child beats \
         on both the validation metric and that cost. Export one with \
         <code>nas-controller export ID --experiment {name} --format pytorch</code>.</p>",
        name = escape(main.config.experiment.as_str()),
    );
    for front in fronts {
        let stem = front.stem();
        let _ = writeln!(
            page,
            "<h3>Metric against {cost}</h3>\n<figure><img src=\"{stem}.png\" alt=\"metric against {cost}\">\
             <figcaption>{children} trained children, {on} on the front (<a href=\"{stem}.svg\">SVG</a>).\
             </figcaption></figure>\n<table><tr><th>architecture</th><th>metric</th><th>{cost}</th>\
             <th>reward</th></tr>",
            cost = front.cost,
            children = front.all.len(),
            on = front.front.len(),
        );
        for record in &front.front {
            let value = record
                .result
                .as_ref()
                .and_then(|result| result.costs.get(front.cost))
                .map_or("-".into(), |value| front.cost.format(value));
            let _ = writeln!(
                page,
                "<tr><td class=\"l\" title=\"{id}\">{short}</td><td>{metric}</td><td>{value}</td><td>{reward:.4}</td></tr>",
                id = record.arch_id.as_str(),
                short = record.arch_id.short(),
                metric = record.metric.map_or("-".into(), |m| format!("{m:.4}")),
                reward = record.reward,
            );
        }
        page.push_str("</table>\n");
    }
}

fn learning_curves(page: &mut String, main: &ExperimentData, learning: &LearningCurves) {
    let budget = main.config.budget.epochs;
    let mut epochs_saved = 0u64;
    let mut seconds_saved = 0.0;
    for record in main.records.iter().filter(|r| r.status == RecordStatus::Stopped) {
        if let Some(result) = &record.result {
            let (epochs, seconds) = saved_by_stopping(result, budget);
            epochs_saved += u64::from(epochs);
            seconds_saved += seconds;
        }
    }
    let _ = writeln!(
        page,
        "<h2>Learning curves</h2>\n<p>Early stopping: rule <b>{rule}</b>; {stopped} children stopped, \
         {epochs_saved} epochs and {seconds_saved:.1} training seconds saved against the full budget of \
         {budget} epochs.</p>\n<figure><img src=\"learning-curves.png\" alt=\"learning curve of every child\">\
         <figcaption>The validation metric of every child after each epoch; stopped children in orange \
         (<a href=\"learning-curves.svg\">SVG</a>).</figcaption></figure>",
        rule = escape(&main.config.stopping.rule.label()),
        stopped = learning.stopped(),
    );
}

fn cost(page: &mut String, main: &ExperimentData, seconds: &[f64]) {
    let total: f64 = seconds.iter().sum();
    let trained = seconds.iter().filter(|s| **s > 0.0).count().max(1);
    let mut devices: HashMap<String, (usize, f64)> = HashMap::new();
    for result in main.records.iter().filter_map(|r| r.result.as_ref()) {
        let entry = devices.entry(result.device.clone()).or_insert((0, 0.0));
        entry.0 += 1;
        entry.1 += result.train_seconds;
    }
    let _ = write!(
        page,
        "<h2>Cost</h2>\n<p>{total:.1} training seconds in total, {mean:.1} per trained child.</p>\n<table><tr><th>device</th>\
         <th>children</th><th>seconds</th></tr>\n",
        mean = total / trained as f64
    );
    let mut devices: Vec<_> = devices.into_iter().collect();
    devices.sort_by(|a, b| a.0.cmp(&b.0));
    for (device, (children, seconds)) in devices {
        let _ = writeln!(
            page,
            "<tr><td class=\"l\">{}</td><td>{children}</td><td>{seconds:.1}</td></tr>",
            escape(&device)
        );
    }
    page.push_str("</table>\n<figure><img src=\"cost.png\" alt=\"training seconds per child\"></figure>\n</body></html>\n");
}

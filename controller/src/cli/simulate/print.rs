//! The tables `simulate` prints for a person (`--output table`).

use std::time::Instant;

use nas_controller::offline::early_stopping::StoppingReport;
use nas_controller::offline::pareto::ParetoReport;
use nas_controller::offline::simulate::{Simulation, StrategySummary};
use nas_controller::offline::tabular::TabularReport;
use nas_controller::strategy::reinforce::Staleness;

/// What ran, and how long it took.
pub(super) fn header(simulation: &Simulation, started: Instant) {
    println!(
        "simulated {} strategies × {} seeds × {} children in {:.1} s",
        simulation.strategies.len(),
        simulation.seeds.len(),
        simulation.budget,
        started.elapsed().as_secs_f64()
    );
}

/// The rewards each strategy found.
pub(super) fn simulation(summary: &[StrategySummary]) {
    println!(
        "{:<12} {:>12} {:>14} {:>15} {:>22}",
        "strategy", "median best", "median last100", "median first100", "best (min..max)"
    );
    for row in summary {
        println!(
            "{:<12} {:>12.4} {:>14.4} {:>15.4} {:>10.4}..{:<10.4}",
            row.strategy.name(),
            row.median_best_reward,
            row.median_mean_last_100,
            row.median_mean_first_100,
            row.best_reward_range.0,
            row.best_reward_range.1
        );
    }
}

/// How stale the rewards were with children in flight.
pub(super) fn staleness(summary: &[StrategySummary], in_flight: usize, staleness: &Staleness) {
    println!(
        "\n{in_flight} in flight, staleness {}: mean policy versions between sampling and reward",
        staleness.label()
    );
    for row in summary {
        println!(
            "{:<12} {:>8.2} versions, {:>5.1}% of rewards left out of the gradient",
            row.strategy.name(),
            row.mean_staleness,
            100.0 * row.stale_dropped_share
        );
    }
}

/// Samples to the top of a table (medians with 95% bootstrap intervals,
/// random search's exact median beside them), and the test value of the
/// picks.
pub(super) fn tabular(report: &TabularReport, budget: usize) {
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
        "{:<16} {:>30} {:>30}   {} of the pick after n samples",
        "strategy",
        "samples to top 1% [95% CI]",
        "samples to top 0.1% [95% CI]",
        report.test.as_deref().unwrap_or("(no test column)")
    );
    let exact: Vec<String> = report
        .thresholds
        .iter()
        .map(|t| {
            t.random_exact.as_ref().map_or("-".into(), |exact| {
                format!(
                    "{:.0} (IQR {:.0}..{:.0})",
                    exact.median, exact.lower_quartile, exact.upper_quartile
                )
            })
        })
        .collect();
    println!("{:<16} {:>30} {:>30}", "random, exact", exact[0], exact[1]);
    for row in &report.strategies {
        let hits: Vec<String> = row
            .hitting
            .iter()
            .map(|h| {
                let censored = if h.censored > 0 {
                    format!(" ({} cens.)", h.censored)
                } else {
                    String::new()
                };
                format!(
                    "{} [{}, {}]{censored}",
                    samples(h.median),
                    samples(h.median_interval.0),
                    samples(h.median_interval.1),
                )
            })
            .collect();
        let picked: Vec<String> = row
            .picked
            .iter()
            .map(|p| format!("{}: {:.4}±{:.4}", p.after, p.mean, p.std))
            .collect();
        println!(
            "{:<16} {:>30} {:>30}   {}",
            row.strategy.name(),
            hits.first().map_or("-", String::as_str),
            hits.get(1).map_or("-", String::as_str),
            picked.join("  ")
        );
    }
}

/// The fronts found against the table's.
pub(super) fn fronts(report: &ParetoReport) {
    println!(
        "\nobjective {}; fronts of the metric against {}: the table's has {} points, hypervolume {:.6}",
        report.objective,
        report.cost,
        report.true_front.len(),
        report.true_hypervolume
    );
    println!(
        "{:<12} {:>32} {:>12} {:>36}",
        "strategy", "hypervolume / true [IQR]", "front size", "samples to 0.99 of it [95% CI]"
    );
    let samples = |value: Option<f64>| value.map_or(">budget".to_owned(), |v| format!("{v:.0}"));
    for row in &report.strategies {
        let hit = &row.samples_to_target;
        let censored = if hit.censored > 0 {
            format!(" ({} cens.)", hit.censored)
        } else {
            String::new()
        };
        println!(
            "{:<12} {:>32} {:>12.0} {:>36}",
            row.strategy.name(),
            format!(
                "{:.3} [{:.3}, {:.3}]",
                row.median_ratio, row.quartiles.0, row.quartiles.1
            ),
            row.median_front_size,
            format!(
                "{} [{}, {}]{censored}",
                samples(hit.median),
                samples(hit.median_interval.0),
                samples(hit.median_interval.1)
            )
        );
    }
}

/// Seconds to the top with each stopping rule.
pub(super) fn stopping(report: &StoppingReport, started: Instant) {
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
        "{:<12} {:<11} {:>28} {:>12} {:>9} {:>9} {:>10}",
        "strategy", "rule", "seconds to top 1% [IQR]", "best metric", "trained", "stopped", "s/child"
    );
    let seconds = |value: Option<f64>| value.map_or(format!(">{:.0}", report.seconds), |v| format!("{v:.0}"));
    for row in &report.summaries {
        println!(
            "{:<12} {:<11} {:>28} {:>12.4} {:>9.0} {:>8.0}% {:>10.2}",
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
}

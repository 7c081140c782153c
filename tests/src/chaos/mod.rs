//! `make chaos`: the distributed pipeline (real RabbitMQ, real S3 server,
//! surrogate workers and a real training worker) driven through scripted
//! faults, each scenario counted from what the store recorded.
//!
//! - [`tally`] counts a finished scenario: children published, trained,
//!   rewarded, failed, lost and counted twice.
//! - [`faults`] injects the faults: `kill -9`, SIGTERM, a broker restart,
//!   an S3 outage, a shortened consumer timeout.
//! - [`crashes`], [`outages`], [`duplicates`] and [`stopping`] are the nine
//!   scenarios.
//!
//! Every scenario passes only with nothing lost and nothing counted twice,
//! plus its own checks (reconnect times, resumed checkpoints, a verified
//! replay, …). `--short` runs smaller versions (what CI runs for 1, 3, 6).

pub mod crashes;
pub mod duplicates;
pub mod faults;
pub mod outages;
pub mod stopping;
pub mod tally;

use std::time::{Duration, Instant};

use faults::delete_queues;
use tally::Tally;

use crate::pipeline::Pipeline;

/// How big the scenarios are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// The full suite: 100 worker kills, a 60 s S3 outage, …
    Full,
    /// A few minutes in all, for CI.
    Short,
}

impl Scale {
    /// `full` or `short`.
    pub fn pick<T>(self, full: T, short: T) -> T {
        match self {
            Scale::Full => full,
            Scale::Short => short,
        }
    }
}

/// One scenario's checks, beyond nothing lost and nothing counted twice.
#[derive(Debug, Default)]
pub struct Checks {
    items: Vec<(String, bool)>,
}

impl Checks {
    /// Records a check.
    pub fn check(&mut self, what: impl Into<String>, ok: bool) {
        self.items.push((what.into(), ok));
    }

    /// Whether every check held.
    pub fn all_passed(&self) -> bool {
        self.items.iter().all(|(_, ok)| *ok)
    }

    /// The failed checks.
    pub fn failures(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(what, _)| what.as_str())
            .collect()
    }
}

/// What one scenario did.
#[derive(Debug)]
pub struct Report {
    /// The scenario's number (1–9).
    pub number: u8,
    /// What it does.
    pub name: &'static str,
    /// The counts.
    pub tally: Tally,
    /// Its own checks.
    pub checks: Checks,
    /// What the faults did (kills, seconds to reconnect, …).
    pub notes: String,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl Report {
    /// Nothing lost, nothing counted twice, every check held.
    pub fn passed(&self) -> bool {
        self.tally.lost == 0 && self.tally.double_counted == 0 && self.checks.all_passed()
    }
}

/// Checks every scenario makes of the controller's final summary.
pub fn check_summary(checks: &mut Checks, summary: Option<&serde_json::Value>) {
    checks.check(
        "the search completed",
        summary.is_some_and(|summary| summary["complete"] == true),
    );
}

/// Counts, cleans up, and returns the scenario's outcome.
pub fn finish(pipeline: &Pipeline, children: u32, checks: Checks, notes: String) -> (Tally, Checks, String) {
    let tally = Tally::of(pipeline, u64::from(children));
    delete_queues(pipeline);
    (tally, checks, notes)
}

/// Polls `condition` every 100 ms for at most `timeout`.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A scenario: its number, name and body.
pub struct Scenario {
    /// 1–9.
    pub number: u8,
    /// What it does.
    pub name: &'static str,
    /// Runs it; returns the tally, checks and notes.
    pub run: fn(Scale) -> (Tally, Checks, String),
}

/// The nine scenarios, in order.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            number: 1,
            name: "kill -9 of random workers",
            run: crashes::killed_workers,
        },
        Scenario {
            number: 2,
            name: "kill -9 of the controller, resumed",
            run: crashes::killed_controller,
        },
        Scenario {
            number: 3,
            name: "broker restart",
            run: outages::broker_restart,
        },
        Scenario {
            number: 4,
            name: "S3 endpoint down",
            run: outages::store_outage,
        },
        Scenario {
            number: 5,
            name: "SIGTERM mid-child (preemption)",
            run: crashes::preempted_workers,
        },
        Scenario {
            number: 6,
            name: "duplicated jobs and results",
            run: duplicates::everything_twice,
        },
        Scenario {
            number: 7,
            name: "child past the consumer timeout",
            run: outages::consumer_timeout,
        },
        Scenario {
            number: 8,
            name: "poisoned job",
            run: crashes::poisoned_job,
        },
        Scenario {
            number: 9,
            name: "early stops amid kills and duplicates",
            run: stopping::stops_amid_faults,
        },
    ]
}

/// Runs one scenario; a panic in it fails its row, not the suite.
pub fn run(scenario: &Scenario, scale: Scale) -> Report {
    let started = Instant::now();
    let run = scenario.run;
    let (tally, checks, notes) = match std::panic::catch_unwind(move || run(scale)) {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panicked".into());
            let mut checks = Checks::default();
            checks.check(format!("the scenario ran to the end ({message})"), false);
            (Tally::default(), checks, String::new())
        }
    };
    Report {
        number: scenario.number,
        name: scenario.name,
        tally,
        checks,
        notes,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// The table's header.
pub fn header() -> String {
    format!(
        "{:<2} {:<36} {:>9} {:>7} {:>8} {:>6} {:>4} {:>6} {:>6}  {}",
        "#", "scenario", "published", "trained", "rewarded", "failed", "lost", "double", "result", "notes"
    )
}

/// One row of the table.
pub fn row(report: &Report) -> String {
    let t = &report.tally;
    let result = if report.passed() { "pass" } else { "FAIL" };
    let mut notes = format!("{} ({:.0} s)", report.notes, report.seconds);
    for failure in report.checks.failures() {
        notes.push_str(&format!("; failed: {failure}"));
    }
    format!(
        "{:<2} {:<36} {:>9} {:>7} {:>8} {:>6} {:>4} {:>6} {:>6}  {}",
        report.number,
        report.name,
        t.published,
        t.trained,
        t.rewarded,
        t.failed,
        t.lost,
        t.double_counted,
        result,
        notes
    )
}

/// The closing line: `chaos: S scenarios, P passed, lost L, double-counted D`.
pub fn closing_line(reports: &[Report]) -> String {
    let passed = reports.iter().filter(|r| r.passed()).count();
    let lost: u64 = reports.iter().map(|r| r.tally.lost).sum();
    let double: u64 = reports.iter().map(|r| r.tally.double_counted).sum();
    format!(
        "chaos: {} scenarios, {passed} passed, lost {lost}, double-counted {double}",
        reports.len()
    )
}

//! The metrics protocol on a trial's standard output: one JSON object per
//! line, e.g. `{"epoch": 3, "metric": 0.71, "valid_accuracy": 0.71}`.
//!
//! - A line is a report when it is a JSON object holding at least one of
//!   `epoch`, `metric`, `train_loss`, `valid_loss`, `valid_accuracy`,
//!   `valid_perplexity` or `final`; other keys in it are ignored. Any other
//!   line (text, other JSON) is only logged.
//! - A report with an `epoch` or a metric is an epoch: epochs are 1-based
//!   and consecutive, and a report without `epoch` is the next one. Missing
//!   losses are recorded as 0; the seconds of an epoch are the worker's
//!   clock between reports.
//! - `"final": true` ends the trial (it may carry the last epoch too);
//!   whatever follows is ignored.
//! - `"costs": {"parameters": 120000, "latency": 0.004}` reports what the
//!   child costs (the names of [`Cost`](nas_domain::objective::Cost)); a
//!   later report of a cost replaces an earlier one. It may stand alone
//!   or ride on an epoch's report.
//! - A malformed report (a metric that is not a finite number, an epoch out
//!   of order, more than [`MAX_EPOCHS`] epochs) fails the trial.
//!
//! [`outcome`] turns the epochs into the reward with the job's reward
//! function: `Metric` reads `metric`; `Accuracy` reads `valid_accuracy`
//! and `Perplexity` reads `valid_perplexity`, each falling back to an
//! epoch's `metric` when the trial reported only that.

use std::time::Instant;

use nas_domain::objective::Costs;
use nas_domain::{EpochMetrics, Outcome, RewardFunction};
use serde::Deserialize;

use super::TrialFailure;

/// The most epochs a trial may report (a result message holds them all).
pub const MAX_EPOCHS: usize = 5_000;

/// The keys that make a JSON object a report.
const KEYS: [&str; 8] = [
    "costs",
    "epoch",
    "metric",
    "train_loss",
    "valid_loss",
    "valid_accuracy",
    "valid_perplexity",
    "final",
];

/// One report line.
#[derive(Debug, Deserialize)]
struct Report {
    epoch: Option<u32>,
    metric: Option<f64>,
    train_loss: Option<f64>,
    valid_loss: Option<f64>,
    valid_accuracy: Option<f64>,
    valid_perplexity: Option<f64>,
    #[serde(default, rename = "final")]
    is_final: bool,
    #[serde(default)]
    costs: Costs,
}

/// What a line was.
#[derive(Debug, PartialEq)]
pub(super) enum Reading {
    /// Not a report: log it.
    Other,
    /// A report of epoch `n` (1-based).
    Epoch(u32),
    /// The final report (after the epoch it may carry).
    Final,
}

/// The reports read so far.
#[derive(Debug)]
pub(super) struct Protocol {
    epochs: Vec<EpochMetrics>,
    costs: Costs,
    last_report: Instant,
    lines: usize,
}

impl Protocol {
    /// A trial that started at `started`.
    pub(super) fn new(started: Instant) -> Self {
        Protocol {
            epochs: Vec::new(),
            costs: Costs::new(),
            last_report: started,
            lines: 0,
        }
    }

    /// The epochs reported so far.
    pub(super) fn epochs(&self) -> &[EpochMetrics] {
        &self.epochs
    }

    /// The costs reported so far.
    pub(super) fn costs(&self) -> &Costs {
        &self.costs
    }

    /// Takes one line of standard output.
    pub(super) fn read(&mut self, line: &str) -> Result<Reading, TrialFailure> {
        self.lines += 1;
        let Ok(serde_json::Value::Object(object)) = serde_json::from_str(line.trim()) else {
            return Ok(Reading::Other);
        };
        if !KEYS.iter().any(|key| object.contains_key(*key)) {
            return Ok(Reading::Other);
        }
        let report: Report = serde_json::from_value(serde_json::Value::Object(object))
            .map_err(|error| self.broken(format!("not a valid report: {error}")))?;
        let is_final = report.is_final;
        let reading = self.record(report)?;
        Ok(if is_final { Reading::Final } else { reading })
    }

    fn record(&mut self, report: Report) -> Result<Reading, TrialFailure> {
        self.costs = report.costs.clone().or(&self.costs);
        let metrics = [
            ("metric", report.metric),
            ("train_loss", report.train_loss),
            ("valid_loss", report.valid_loss),
            ("valid_accuracy", report.valid_accuracy),
            ("valid_perplexity", report.valid_perplexity),
        ];
        if let Some((name, value)) = metrics
            .iter()
            .find_map(|(name, value)| value.filter(|v| !v.is_finite()).map(|v| (name, v)))
        {
            return Err(self.broken(format!("{name} {value} is not a finite number")));
        }
        if report.epoch.is_none() && metrics.iter().all(|(_, value)| value.is_none()) {
            return Ok(Reading::Other);
        }
        let expected = u32::try_from(self.epochs.len() + 1).unwrap_or(u32::MAX);
        let epoch = report.epoch.unwrap_or(expected);
        if epoch != expected {
            return Err(self.broken(format!(
                "epoch {epoch} reported where {expected} was expected (epochs are 1-based and consecutive)"
            )));
        }
        if self.epochs.len() >= MAX_EPOCHS {
            return Err(self.broken(format!("more than {MAX_EPOCHS} epochs reported")));
        }
        let now = Instant::now();
        self.epochs.push(EpochMetrics {
            epoch,
            train_loss: report.train_loss.unwrap_or(0.0),
            valid_loss: report.valid_loss.unwrap_or(0.0),
            valid_accuracy: report.valid_accuracy,
            valid_perplexity: report.valid_perplexity,
            valid_bits_per_char: None,
            metric: report.metric,
            seconds: now.saturating_duration_since(self.last_report).as_secs_f64(),
        });
        self.last_report = now;
        Ok(Reading::Epoch(epoch))
    }

    fn broken(&self, reason: String) -> TrialFailure {
        TrialFailure::Protocol {
            line: self.lines,
            reason,
        }
    }
}

/// The outcome of a trial that ended well: the reward of its epochs under
/// `reward` (see the module docs for the fallback to `metric`).
pub(super) fn outcome(reward: &RewardFunction, epochs: &[EpochMetrics]) -> Result<Outcome, TrialFailure> {
    let seen: Vec<EpochMetrics> = epochs
        .iter()
        .map(|epoch| {
            let mut epoch = epoch.clone();
            match reward {
                RewardFunction::Accuracy { .. } => {
                    epoch.valid_accuracy = epoch.valid_accuracy.or(epoch.metric)
                }
                RewardFunction::Perplexity { .. } => {
                    epoch.valid_perplexity = epoch.valid_perplexity.or(epoch.metric);
                }
                RewardFunction::Metric { .. } => {}
            }
            epoch
        })
        .collect();
    let metric = reward
        .best_metric(&seen)
        .map_err(|_| TrialFailure::NoMetric { reward: *reward })?;
    let value = reward.of_metric(metric);
    if !value.is_finite() {
        return Err(TrialFailure::NoMetric { reward: *reward });
    }
    Ok(Outcome::Ok {
        reward: value,
        metric,
    })
}

#[cfg(test)]
mod tests {
    use nas_domain::Goal;

    use super::*;

    fn read_all(lines: &[&str]) -> (Protocol, Vec<Result<Reading, TrialFailure>>) {
        let mut protocol = Protocol::new(Instant::now());
        let readings = lines.iter().map(|line| protocol.read(line)).collect();
        (protocol, readings)
    }

    #[test]
    fn costs_ride_on_reports_or_stand_alone_and_later_ones_win() {
        use nas_domain::objective::Cost;
        let (protocol, readings) = read_all(&[
            r#"{"costs": {"parameters": 1200, "latency": 0.004}}"#,
            r#"{"epoch": 1, "metric": 0.5, "costs": {"latency": 0.003}}"#,
        ]);
        let readings: Vec<Reading> = readings.into_iter().map(Result::unwrap).collect();
        assert_eq!(readings, [Reading::Other, Reading::Epoch(1)]);
        assert_eq!(protocol.costs().get(Cost::Parameters), Some(1200.0));
        assert_eq!(protocol.costs().get(Cost::Latency), Some(0.003));
        // An unknown or negative cost breaks the protocol, naming it.
        for (line, named) in [
            (r#"{"costs": {"flops": 1}}"#, "flops"),
            (r#"{"costs": {"latency": -1}}"#, "latency"),
        ] {
            let (_, readings) = read_all(&[line]);
            let error = readings[0].as_ref().unwrap_err().to_string();
            assert!(error.contains(named), "{error}");
        }
    }

    #[test]
    fn reports_become_numbered_epochs_and_other_lines_are_left_alone() {
        let (protocol, readings) = read_all(&[
            "loading data",
            r#"{"progress": 0.5}"#,
            r#"{"epoch": 1, "metric": 0.5, "train_loss": 1.5, "lr": 0.1}"#,
            "[1, 2]",
            r#"{"metric": 0.7, "valid_accuracy": 0.6}"#,
            r#"{"epoch": 3, "metric": 0.71, "final": true}"#,
        ]);
        let readings: Vec<Reading> = readings.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            readings,
            [
                Reading::Other,
                Reading::Other,
                Reading::Epoch(1),
                Reading::Other,
                Reading::Epoch(2),
                Reading::Final
            ]
        );
        let epochs = protocol.epochs();
        assert_eq!(epochs.len(), 3);
        assert_eq!(epochs[0].train_loss, 1.5);
        assert_eq!(epochs[0].valid_loss, 0.0);
        assert_eq!(epochs[1].valid_accuracy, Some(0.6));
        assert_eq!(epochs[2].metric, Some(0.71));
        assert!(epochs.iter().all(|epoch| epoch.seconds >= 0.0));
    }

    #[test]
    fn a_final_line_alone_adds_no_epoch() {
        let (protocol, readings) = read_all(&[r#"{"epoch": 1, "metric": 2}"#, r#"{"final": true}"#]);
        assert_eq!(readings[1], Ok(Reading::Final));
        assert_eq!(protocol.epochs().len(), 1);
    }

    #[test]
    fn malformed_reports_fail_with_the_line_number() {
        for (line, needle) in [
            (
                r#"{"epoch": 2, "metric": 0.5}"#,
                "epoch 2 reported where 1 was expected",
            ),
            (r#"{"epoch": 0}"#, "epoch 0 reported where 1 was expected"),
            (r#"{"metric": "high"}"#, "not a valid report"),
            (r#"{"epoch": -1}"#, "not a valid report"),
            (r#"{"final": "yes"}"#, "not a valid report"),
        ] {
            let (_, readings) = read_all(&["text", line]);
            let failure = readings[1].as_ref().expect_err(line).to_string();
            assert!(
                failure.contains("line 2") && failure.contains(needle),
                "{line}: {failure}"
            );
        }
    }

    #[test]
    fn the_reward_reads_metric_or_falls_back_to_it() {
        let (protocol, _) = read_all(&[r#"{"metric": 0.5}"#, r#"{"metric": 0.8}"#, r#"{"metric": 0.6}"#]);
        let epochs = protocol.epochs();
        let maximize = RewardFunction::Metric {
            goal: Goal::Maximize,
            window: 2,
        };
        assert_eq!(
            outcome(&maximize, epochs),
            Ok(Outcome::Ok {
                reward: 0.8,
                metric: 0.8
            })
        );
        let minimize = RewardFunction::Metric {
            goal: Goal::Minimize,
            window: 3,
        };
        assert_eq!(
            outcome(&minimize, epochs),
            Ok(Outcome::Ok {
                reward: -0.5,
                metric: 0.5
            })
        );
        let accuracy = RewardFunction::Accuracy {
            power: 2.0,
            window: 5,
        };
        let Ok(Outcome::Ok { reward, metric }) = outcome(&accuracy, epochs) else {
            panic!("an accuracy reward from metric");
        };
        assert_eq!(metric, 0.8);
        assert!((reward - 0.64).abs() < 1e-12, "{reward}");
        let perplexity = RewardFunction::Perplexity { c: 1.0, window: 1 };
        let Ok(Outcome::Ok { metric, .. }) = outcome(&perplexity, epochs) else {
            panic!("a perplexity reward from metric");
        };
        assert_eq!(metric, 0.6);
    }

    #[test]
    fn reported_accuracy_wins_over_metric_and_no_metric_fails() {
        let (protocol, _) = read_all(&[r#"{"metric": 0.9, "valid_accuracy": 0.5}"#]);
        let accuracy = RewardFunction::Accuracy {
            power: 1.0,
            window: 1,
        };
        assert_eq!(
            outcome(&accuracy, protocol.epochs()),
            Ok(Outcome::Ok {
                reward: 0.5,
                metric: 0.5
            })
        );
        let (protocol, _) = read_all(&[r#"{"epoch": 1, "train_loss": 0.3}"#]);
        let failure = outcome(&RewardFunction::METRIC, protocol.epochs()).unwrap_err();
        assert!(failure.to_string().contains("metric"), "{failure}");
        assert!(outcome(&RewardFunction::METRIC, &[]).is_err());
    }
}

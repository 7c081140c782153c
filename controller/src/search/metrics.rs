//! The controller's Prometheus metrics: the job tracker's counters
//! (published, republished, duplicate, invalid and unknown results, jobs
//! in flight) and the search's own (children rewarded and failed, policy
//! steps, rewards).

use std::sync::atomic::AtomicU64;

use nas_infra::telemetry::Telemetry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, linear_buckets};

use crate::experiment::reward_log::{RecordStatus, RewardRecord};
use crate::jobs::TrackerCounters;

/// Counters and gauges of one search.
#[derive(Clone)]
pub struct ControllerMetrics {
    tracker: TrackerCounters,
    /// Children rewarded by a worker.
    pub rewarded: Counter,
    /// Children failed or dead-lettered.
    pub failed: Counter,
    /// Children stopped early.
    pub stopped: Counter,
    /// Epochs the stopped children did not train (the tally's figure).
    pub epochs_saved: Gauge,
    /// Training seconds those epochs would have taken.
    pub seconds_saved: Gauge<f64, AtomicU64>,
    /// Policy-gradient steps taken.
    pub policy_steps: Gauge,
    /// Rewards of finished children.
    pub reward: Histogram,
    /// Best reward so far.
    pub best_reward: Gauge<f64, AtomicU64>,
}

impl ControllerMetrics {
    /// Creates the metrics and registers them with `telemetry`.
    pub fn new(telemetry: &Telemetry) -> Self {
        let metrics = ControllerMetrics {
            tracker: TrackerCounters::default(),
            rewarded: Counter::default(),
            failed: Counter::default(),
            stopped: Counter::default(),
            epochs_saved: Gauge::default(),
            seconds_saved: Gauge::default(),
            policy_steps: Gauge::default(),
            reward: Histogram::new(linear_buckets(0.0, 0.1, 11)),
            best_reward: Gauge::default(),
        };
        let m = metrics.clone();
        telemetry.register(move |registry| {
            let t = m.tracker;
            registry.register(
                "controller_jobs_published",
                "Jobs published (first attempts)",
                t.published,
            );
            registry.register(
                "controller_jobs_republished",
                "Jobs published again",
                t.republished,
            );
            registry.register(
                "controller_duplicate_results",
                "Results for jobs already counted",
                t.duplicates,
            );
            registry.register(
                "controller_invalid_results",
                "Messages that were not valid results",
                t.invalid,
            );
            registry.register(
                "controller_unknown_results",
                "Results for jobs this experiment never published",
                t.unknown,
            );
            registry.register("controller_jobs_in_flight", "Jobs in flight", t.in_flight);
            registry.register("controller_children_rewarded", "Children rewarded", m.rewarded);
            registry.register(
                "controller_children_failed",
                "Children failed or dead-lettered",
                m.failed,
            );
            registry.register(
                "controller_children_stopped",
                "Children stopped early by the stopping rule",
                m.stopped,
            );
            registry.register(
                "controller_epochs_saved",
                "Epochs the stopped children did not train, against the full budget",
                m.epochs_saved,
            );
            registry.register(
                "controller_gpu_seconds_saved",
                "Training seconds the stopped children did not spend (their own seconds per epoch)",
                m.seconds_saved,
            );
            registry.register(
                "controller_policy_steps",
                "Policy-gradient steps taken",
                m.policy_steps,
            );
            registry.register(
                "controller_child_reward",
                "Rewards of finished children",
                m.reward,
            );
            registry.register("controller_best_reward", "Best reward so far", m.best_reward);
        });
        metrics
    }

    /// The job tracker's counters (shared: they count into these metrics).
    pub fn tracker(&self) -> TrackerCounters {
        self.tracker.clone()
    }

    /// Shows what stopping saved so far (the tally's figures, which a
    /// resumed search rebuilds from the reward log).
    pub fn show_saved(&self, epochs: u64, seconds: f64) {
        self.epochs_saved.set(i64::try_from(epochs).unwrap_or(i64::MAX));
        self.seconds_saved.set(seconds);
    }

    /// Counts a finished child.
    pub fn observe(&self, record: &RewardRecord) {
        match record.status {
            RecordStatus::Ok => {
                self.rewarded.inc();
                self.reward.observe(record.reward);
                if self.rewarded.get() == 1 || record.reward > self.best_reward.get() {
                    self.best_reward.set(record.reward);
                }
            }
            RecordStatus::Reused => {}
            RecordStatus::Stopped => {
                self.stopped.inc();
                self.reward.observe(record.reward);
            }
            RecordStatus::Failed | RecordStatus::DeadLettered => {
                self.failed.inc();
            }
        }
    }
}

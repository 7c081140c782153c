//! The controller's Prometheus metrics: the job tracker's counters
//! (published, republished, duplicate, invalid and unknown results, jobs
//! in flight) and the search's own (children rewarded and failed, policy
//! steps, rewards, training hours and their cost).

use std::sync::atomic::AtomicU64;

use nas_infra::telemetry::Telemetry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, linear_buckets};
use prometheus_client::registry::Registry;

use crate::experiment::leaderboard::Tally;
use crate::experiment::reward_log::{RecordStatus, RewardRecord};
use crate::experiment::spend::Prices;
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
    /// Hours of training the workers reported.
    pub training_hours: Gauge<f64, AtomicU64>,
    /// Their price at the experiment's prices.
    pub cost: Gauge<f64, AtomicU64>,
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
            training_hours: Gauge::default(),
            cost: Gauge::default(),
            policy_steps: Gauge::default(),
            reward: Histogram::new(linear_buckets(0.0, 0.1, 11)),
            best_reward: Gauge::default(),
        };
        let m = metrics.clone();
        telemetry.register(move |registry| {
            register_tracker(registry, &m.tracker);
            m.register(registry);
        });
        metrics
    }

    /// Registers the search's own metrics.
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "controller_children_rewarded",
            "Children rewarded",
            self.rewarded.clone(),
        );
        registry.register(
            "controller_children_failed",
            "Children failed or dead-lettered",
            self.failed.clone(),
        );
        registry.register(
            "controller_children_stopped",
            "Children stopped early by the stopping rule",
            self.stopped.clone(),
        );
        registry.register(
            "controller_epochs_saved",
            "Epochs the stopped children did not train, against the full budget",
            self.epochs_saved.clone(),
        );
        registry.register(
            "controller_gpu_seconds_saved",
            "Training seconds the stopped children did not spend (their own seconds per epoch)",
            self.seconds_saved.clone(),
        );
        registry.register(
            "controller_training_hours",
            "Hours of training the workers reported (every device; stopped and failed children included)",
            self.training_hours.clone(),
        );
        registry.register(
            "controller_cost",
            "What those hours cost at the experiment's prices (0 when it has none)",
            self.cost.clone(),
        );
        registry.register(
            "controller_policy_steps",
            "Policy-gradient steps taken",
            self.policy_steps.clone(),
        );
        registry.register(
            "controller_child_reward",
            "Rewards of finished children",
            self.reward.clone(),
        );
        registry.register(
            "controller_best_reward",
            "Best reward so far",
            self.best_reward.clone(),
        );
    }

    /// The job tracker's counters (shared: they count into these metrics).
    pub fn tracker(&self) -> TrackerCounters {
        self.tracker.clone()
    }

    /// Shows what stopping saved and what training cost so far (the
    /// tally's figures, which a resumed search rebuilds from the reward
    /// log), priced at `prices`.
    pub fn show_tally(&self, tally: &Tally, prices: &Prices) {
        self.epochs_saved
            .set(i64::try_from(tally.epochs_saved).unwrap_or(i64::MAX));
        self.seconds_saved.set(tally.seconds_saved);
        self.training_hours.set(tally.spend.hours());
        self.cost.set(tally.spend.cost(prices).0);
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

/// Registers the job tracker's counters.
fn register_tracker(registry: &mut Registry, t: &TrackerCounters) {
    registry.register(
        "controller_jobs_published",
        "Jobs published (first attempts)",
        t.published.clone(),
    );
    registry.register(
        "controller_jobs_republished",
        "Jobs published again",
        t.republished.clone(),
    );
    registry.register(
        "controller_duplicate_results",
        "Results for jobs already counted",
        t.duplicates.clone(),
    );
    registry.register(
        "controller_invalid_results",
        "Messages that were not valid results",
        t.invalid.clone(),
    );
    registry.register(
        "controller_unknown_results",
        "Results for jobs this experiment never published",
        t.unknown.clone(),
    );
    registry.register("controller_jobs_in_flight", "Jobs in flight", t.in_flight.clone());
}

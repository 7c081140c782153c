//! The controller's Prometheus metrics.

use std::sync::atomic::AtomicU64;

use nas_common::telemetry::Telemetry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, linear_buckets};

/// Counters and gauges of one search.
#[derive(Clone)]
pub struct ControllerMetrics {
    /// Jobs published (first attempts).
    pub published: Counter,
    /// Jobs published again (timeouts, preemptions).
    pub republished: Counter,
    /// Children rewarded by a worker.
    pub rewarded: Counter,
    /// Children failed or dead-lettered.
    pub failed: Counter,
    /// Results received again for a job already counted.
    pub duplicates: Counter,
    /// Messages that were not valid results.
    pub invalid: Counter,
    /// Jobs in flight.
    pub in_flight: Gauge,
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
            published: Counter::default(),
            republished: Counter::default(),
            rewarded: Counter::default(),
            failed: Counter::default(),
            duplicates: Counter::default(),
            invalid: Counter::default(),
            in_flight: Gauge::default(),
            policy_steps: Gauge::default(),
            reward: Histogram::new(linear_buckets(0.0, 0.1, 11)),
            best_reward: Gauge::default(),
        };
        let m = metrics.clone();
        telemetry.register(move |registry| {
            registry.register(
                "controller_jobs_published",
                "Jobs published (first attempts)",
                m.published,
            );
            registry.register(
                "controller_jobs_republished",
                "Jobs published again",
                m.republished,
            );
            registry.register("controller_children_rewarded", "Children rewarded", m.rewarded);
            registry.register(
                "controller_children_failed",
                "Children failed or dead-lettered",
                m.failed,
            );
            registry.register(
                "controller_duplicate_results",
                "Results for jobs already counted",
                m.duplicates,
            );
            registry.register(
                "controller_invalid_results",
                "Messages that were not valid results",
                m.invalid,
            );
            registry.register("controller_jobs_in_flight", "Jobs in flight", m.in_flight);
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
}

//! The worker's Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, linear_buckets};
use std::sync::atomic::AtomicU64;

use nas_infra::telemetry::Telemetry;

/// The status label of finished jobs.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// `ok`, `failed`, `preempted` or `stopped`.
    pub status: &'static str,
}

/// What became of a stop from the controller.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StopLabel {
    /// `honoured` or `not_held`.
    pub outcome: &'static str,
}

/// Why a message was dead-lettered without being trained.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectionLabel {
    /// `malformed` (not JSON, truncated, not UTF-8), `too_large`,
    /// `unsupported_version`, or `invalid` (wrong types, unknown fields,
    /// out-of-range values, an invalid spec).
    pub reason: &'static str,
}

impl RejectionLabel {
    /// The label of a job message's parse error.
    pub fn of(error: &nas_domain::Error) -> Self {
        use nas_domain::Error;
        let reason = match error {
            Error::TooLarge { .. } => "too_large",
            Error::UnsupportedVersion { .. } => "unsupported_version",
            Error::NotUtf8 { .. } => "malformed",
            Error::Json { source, .. } if !source.is_data() => "malformed",
            _ => "invalid",
        };
        RejectionLabel { reason }
    }
}

/// Counters and gauges of one worker process.
#[derive(Clone)]
pub struct WorkerMetrics {
    /// Jobs received.
    pub received: Counter,
    /// Jobs finished, by status.
    pub finished: Family<StatusLabel, Counter>,
    /// Messages dead-lettered because they were not valid jobs, by reason.
    pub rejected: Family<RejectionLabel, Counter>,
    /// Jobs handed back to the queue (store unreachable).
    pub handed_back: Counter,
    /// Stops from the controller, by what became of them.
    pub stops: Family<StopLabel, Counter>,
    /// Jobs training now.
    pub in_flight: Gauge,
    /// Rewards of finished children.
    pub reward: Histogram,
    /// Training throughput of the last child (examples per second).
    pub throughput: Gauge<f64, AtomicU64>,
    /// Seconds spent training.
    pub train_seconds: Counter<f64, AtomicU64>,
}

impl WorkerMetrics {
    /// Creates the metrics and registers them with `telemetry`.
    pub fn new(telemetry: &Telemetry) -> Self {
        let metrics = WorkerMetrics {
            received: Counter::default(),
            finished: Family::default(),
            rejected: Family::default(),
            handed_back: Counter::default(),
            stops: Family::default(),
            in_flight: Gauge::default(),
            reward: Histogram::new(linear_buckets(0.0, 0.1, 11)),
            throughput: Gauge::default(),
            train_seconds: Counter::default(),
        };
        let m = metrics.clone();
        telemetry.register(move |registry| {
            registry.register("worker_jobs_received", "Jobs received", m.received);
            registry.register("worker_jobs_finished", "Jobs finished, by status", m.finished);
            registry.register(
                "worker_jobs_rejected",
                "Invalid job messages dead-lettered, by reason",
                m.rejected,
            );
            registry.register(
                "worker_jobs_handed_back",
                "Jobs requeued because the store was unreachable",
                m.handed_back,
            );
            registry.register("worker_jobs_in_flight", "Jobs training now", m.in_flight);
            registry.register(
                "worker_stops",
                "Stops from the controller, by outcome (honoured, not_held)",
                m.stops,
            );
            registry.register("worker_child_reward", "Rewards of finished children", m.reward);
            registry.register(
                "worker_training_throughput",
                "Examples per second of the last child",
                m.throughput,
            );
            registry.register(
                "worker_training_seconds",
                "Seconds spent training",
                m.train_seconds,
            );
        });
        metrics
    }
}

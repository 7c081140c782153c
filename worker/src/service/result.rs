//! The result a worker publishes, assembled from what training (or a
//! surrogate, or a failure) produced and what the job said.

use std::time::{Duration, Instant};

use nas_domain::messages::MESSAGE_VERSION;
use nas_domain::objective::{Cost, Costs};
use nas_domain::{EpochMetrics, Outcome, TrainJob, TrainResult, TrainResultFields};
use tch::Device;

use super::surrogate::Answer;
use crate::Result;
use crate::train::{TrainReport, device_name};

/// The parts of a result that come from training.
pub(super) struct PartialResult {
    outcome: Outcome,
    test_metric: Option<f64>,
    epochs: Vec<EpochMetrics>,
    parameters: u64,
    train_seconds: f64,
    started: Option<Instant>,
    device: Option<String>,
    /// Costs measured beyond parameters and training seconds.
    measured: Costs,
}

impl PartialResult {
    /// What a training report says.
    pub(super) fn of_report(report: &TrainReport) -> Self {
        PartialResult {
            outcome: report.outcome.clone(),
            test_metric: report.test_metric,
            epochs: report.epochs.clone(),
            parameters: u64::try_from(report.parameters).unwrap_or(0),
            train_seconds: report.train_seconds,
            started: Some(report.started),
            device: Some(report.device.clone()),
            measured: report.costs.clone(),
        }
    }

    /// What a surrogate answered after `delay`.
    pub(super) fn of_answer(answer: Answer, delay: Duration) -> Self {
        PartialResult {
            outcome: answer.outcome,
            test_metric: None,
            epochs: answer.epochs,
            parameters: answer.parameters,
            train_seconds: delay.as_secs_f64(),
            started: None,
            device: Some("surrogate".into()),
            measured: Costs::new(),
        }
    }

    /// A child that failed for `reason` before or while training.
    pub(super) fn failed(job: &TrainJob, reason: String) -> Self {
        tracing::warn!(job_id = %job.job_id, %reason, "the child failed");
        PartialResult {
            outcome: Outcome::Failed { reason },
            test_metric: None,
            epochs: Vec::new(),
            parameters: 0,
            train_seconds: 0.0,
            started: None,
            device: None,
            measured: Costs::new(),
        }
    }

    /// The costs of a child that trained (or was answered): its parameters,
    /// training seconds and whatever training measured (latency,
    /// multiply-adds); none for a failure.
    fn costs(&self) -> Costs {
        if matches!(self.outcome, Outcome::Failed { .. }) {
            return Costs::new();
        }
        let mut costs = self.measured.clone();
        for (cost, value) in [
            (Cost::Parameters, self.parameters as f64),
            (Cost::TrainSeconds, self.train_seconds),
        ] {
            // A value that is not a valid cost is left out, not published.
            let _ = costs.set(cost, value);
        }
        costs
    }

    /// The validated result of `job`, received at `received`.
    pub(super) fn into_result(
        self,
        job: &TrainJob,
        received: Instant,
        device: Device,
        worker_id: &str,
    ) -> Result<TrainResult> {
        let costs = self.costs();
        Ok(TrainResult::new(TrainResultFields {
            schema_version: MESSAGE_VERSION,
            job_id: job.job_id,
            experiment: job.experiment.clone(),
            policy_version: job.policy_version,
            attempt: job.attempt,
            arch_id: job.spec.id(),
            outcome: self.outcome,
            epochs: self.epochs,
            test_metric: self.test_metric,
            param_count: self.parameters,
            costs,
            wall_seconds: received.elapsed().as_secs_f64(),
            train_seconds: self.train_seconds,
            startup_seconds: self
                .started
                .map(|started| started.saturating_duration_since(received).as_secs_f64()),
            device: self.device.unwrap_or_else(|| device_name(device)),
            worker_id: worker_id.to_owned(),
        })?)
    }
}

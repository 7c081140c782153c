//! A worker's result for a job, as the tests build them: one epoch, the
//! given outcome, no costs. `nas-domain`'s own tests include this file by
//! path (it needs nothing but `nas-domain`'s public API).

use nas_domain::objective::Costs;
use nas_domain::{EpochMetrics, Outcome, TrainJob, TrainResultFields};

/// The fields of a result for `job` with `outcome`: one CPU epoch of one
/// second at validation accuracy 0.5, 100 parameters, no costs, from
/// worker `test`; tests change what they need.
pub fn result_fields(job: &TrainJob, outcome: Outcome) -> TrainResultFields {
    TrainResultFields {
        schema_version: 1,
        job_id: job.job_id,
        experiment: job.experiment.clone(),
        policy_version: job.policy_version,
        attempt: job.attempt,
        arch_id: job.spec.id(),
        outcome,
        epochs: vec![EpochMetrics {
            epoch: 1,
            train_loss: 1.0,
            valid_loss: 1.0,
            valid_accuracy: Some(0.5),
            valid_perplexity: None,
            valid_bits_per_char: None,
            metric: None,
            seconds: 1.0,
        }],
        test_metric: None,
        param_count: 100,
        costs: Costs::new(),
        wall_seconds: 1.0,
        train_seconds: 1.0,
        startup_seconds: None,
        device: "cpu".into(),
        worker_id: "test".into(),
    }
}

//! The job loop's side of trial commands ([`crate::trial`]): fetch the
//! task's data set (none for a custom task), run the command under the
//! held delivery (acked early like any long child), and report the result
//! the way a trained child's is reported: ok and failed results are
//! published and acked, a preempted one tells the controller to publish
//! the job again.

use std::path::PathBuf;

use nas_domain::{Task, TrainJob, TrialCommand};
use tokio_util::sync::CancellationToken;

use super::delivery::HeldDelivery;
use super::{Outcome, Worker};
use crate::Result;
use crate::trial;

/// The folder under the cache that holds the trials' folders (a data set's
/// name never starts with a dot, so it cannot collide with one).
const TRIALS_FOLDER: &str = ".trials";

impl Worker {
    /// Runs `trial` for `job` and reports its result.
    pub(super) async fn run_trial_job(
        &self,
        job: &TrainJob,
        trial: &TrialCommand,
        mut message: HeldDelivery,
        shutdown: &CancellationToken,
    ) -> Result<Outcome> {
        let job_id = job.job_id;
        tracing::info!(%job_id, attempt = job.attempt, arch = %job.spec.id().short(),
            command = ?trial.command, "running the trial command");
        let data_dir = match self.trial_data(job, shutdown).await {
            Ok(data_dir) => data_dir,
            Err(error) if error.is_transient() => return self.hand_back(message, job_id, error).await,
            Err(error) => return self.fail(job, message, &error).await,
        };
        let scratch = self.config.cache_dir.join(TRIALS_FOLDER);
        self.metrics.in_flight.inc();
        let trial_run = trial::run(job, trial, data_dir.as_deref(), &scratch, shutdown);
        let report = message.during(job_id, trial_run).await;
        self.metrics.in_flight.dec();
        self.report(job, message, report).await
    }

    /// The local copy of the task's data set, when the task has one the
    /// worker knows (waiting out a store outage).
    async fn trial_data(&self, job: &TrainJob, shutdown: &CancellationToken) -> Result<Option<PathBuf>> {
        match job.task {
            Task::Custom => Ok(None),
            Task::Cifar10 | Task::PtbWord | Task::PtbChar => {
                let directory = self
                    .with_patience(|| self.cache.ensure(&job.dataset.name), shutdown)
                    .await?;
                Ok(Some(directory))
            }
        }
    }
}

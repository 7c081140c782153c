//! The job loop's side of a libtorch child ([`crate::train::job`]):
//! prepare the job (its data set from the cache, and the checkpoint of an
//! earlier attempt that was preempted, waiting out a store outage), train
//! it on a blocking thread under the held delivery (acked early should it
//! outlast the broker's consumer timeout), then report it like any child.
//!
//! While the child trains, shutdown raises its stop flag and a stop from
//! the controller its early-stop flag ([`super::control`]); its progress
//! goes out after every epoch ([`super::progress`]). The data set stays
//! loaded between jobs, so a worker that trains many children of one task
//! reads it once.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nas_domain::TrainJob;
use nas_infra::store::keys;
use tokio_util::sync::CancellationToken;

use super::delivery::HeldDelivery;
use super::{Outcome, Worker};
use crate::Result;
use crate::train::TrainReport;
use crate::train::checkpoint::ChildCheckpoint;
use crate::train::job::{self, JobEnvironment};

/// What a job needs before its child trains: the local data set and,
/// when it was preempted before, its checkpoint.
struct Prepared {
    directory: PathBuf,
    resume: Option<ChildCheckpoint>,
}

impl Worker {
    /// Prepares, trains and reports one job.
    pub(super) async fn train_job(
        &self,
        job: &TrainJob,
        mut message: HeldDelivery,
        shutdown: &CancellationToken,
    ) -> Result<Outcome> {
        let job_id = job.job_id;
        tracing::info!(%job_id, attempt = job.attempt, arch = %job.spec.id().short(), "training");
        let prepared = match self.prepare(job, shutdown).await {
            Ok(prepared) => prepared,
            Err(error) if error.is_transient() => return self.hand_back(message, job_id, error).await,
            Err(error) => return self.fail(job, message, &error).await,
        };
        let trained = self.train(job, prepared, shutdown);
        let report = message.during(job_id, trained).await;
        self.report(job, message, report).await
    }

    /// The job's data set and checkpoint, waiting out a store outage.
    async fn prepare(&self, job: &TrainJob, shutdown: &CancellationToken) -> Result<Prepared> {
        let directory = self
            .with_patience(|| self.cache.ensure(&job.dataset.name), shutdown)
            .await?;
        let key = keys::child_checkpoint(&job.experiment, job.job_id);
        let stored = self
            .with_patience(|| async { Ok(self.store.get(&key).await?) }, shutdown)
            .await?;
        let resume = stored.and_then(|bytes| match ChildCheckpoint::from_bytes(&bytes) {
            Ok(checkpoint) if checkpoint.arch_id == job.spec.id().as_str() => Some(checkpoint),
            Ok(_) | Err(_) => {
                tracing::warn!(job_id = %job.job_id, "ignoring a child checkpoint that does not fit the job");
                None
            }
        });
        if let Some(checkpoint) = &resume {
            tracing::info!(job_id = %job.job_id, epoch = checkpoint.progress.epoch,
                batch = checkpoint.progress.batches_done, "resuming from checkpoint");
        }
        Ok(Prepared { directory, resume })
    }

    /// Trains on a blocking thread; shutdown raises the child's stop flag.
    async fn train(
        &self,
        job: &TrainJob,
        prepared: Prepared,
        shutdown: &CancellationToken,
    ) -> Result<TrainReport> {
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let stop = stop.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                shutdown.cancelled().await;
                stop.store(true, Ordering::Relaxed);
            })
        };
        let active = self.activate(job.job_id);
        let (hook, reporter) = self.progress_reporter(job);
        let environment = JobEnvironment {
            device: self.config.device,
            limits: self.config.limits,
            stop,
            early_stop: active.flag.clone(),
            on_epoch: Some(hook),
        };
        let mut data = self.data.lock().await;
        let previous = data.take();
        let job = job.clone();
        self.metrics.in_flight.inc();
        let trained = tokio::task::spawn_blocking(move || {
            let Prepared { directory, resume } = prepared;
            job::train_job(&job, &directory, previous, &environment, resume.as_ref())
        })
        .await;
        self.metrics.in_flight.dec();
        watcher.abort();
        // The hook went with the environment: the reporter drains and ends.
        let _ = reporter.await;
        drop(active);
        let (loaded, report) = trained?;
        *data = loaded;
        report
    }
}

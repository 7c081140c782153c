//! A child's progress for the controller's stopping rule: after every
//! epoch it completes, its curve so far goes out as an [`EpochProgress`].
//!
//! Training calls the [`EpochHook`] on its own thread; the hook only sends
//! the curve down a channel, and a task on the runtime publishes each one
//! (a failed publish is logged, and the child goes on). The caller drops
//! the hook when the child is done and awaits the task, so every progress
//! message goes out before the result.

use std::sync::Arc;

use nas_domain::messages::{EpochProgressFields, MESSAGE_VERSION};
use nas_domain::{EpochMetrics, EpochProgress, TrainJob};
use tokio::task::JoinHandle;

use super::Worker;
use crate::train::EpochHook;

impl Worker {
    /// A hook that publishes `job`'s progress after every epoch, and the
    /// task that publishes it (awaited after training, so every progress
    /// message goes out before the result).
    pub(super) fn progress_reporter(&self, job: &TrainJob) -> (EpochHook, JoinHandle<()>) {
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(Vec<EpochMetrics>, f64)>();
        let hook = EpochHook(Arc::new(move |epochs: &[EpochMetrics], seconds: f64| {
            let _ = sender.send((epochs.to_vec(), seconds));
        }));
        let queue = self.queue.clone();
        let (job_id, experiment, attempt, arch_id) =
            (job.job_id, job.experiment.clone(), job.attempt, job.spec.id());
        let worker_id = self.config.worker_id.clone();
        let task = tokio::spawn(async move {
            while let Some((epochs, train_seconds)) = receiver.recv().await {
                let progress = EpochProgress::new(EpochProgressFields {
                    schema_version: MESSAGE_VERSION,
                    job_id,
                    experiment: experiment.clone(),
                    attempt,
                    arch_id: arch_id.clone(),
                    epochs,
                    train_seconds,
                    worker_id: worker_id.clone(),
                });
                let published = match progress {
                    Ok(progress) => queue.publish_progress(&progress).await.map_err(|e| e.to_string()),
                    Err(error) => Err(error.to_string()),
                };
                if let Err(error) = published {
                    tracing::warn!(%job_id, %error, "progress could not be published; the child goes on");
                }
            }
        });
        (hook, task)
    }
}

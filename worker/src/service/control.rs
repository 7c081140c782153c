//! The worker's control queue: stops from the controller's stopping rule.
//!
//! Every job that trains here registers its early-stop flag
//! ([`Worker::activate`], unregistered when its [`Active`] guard drops);
//! [`Worker::serve_control`] consumes the worker's own control queue beside
//! the jobs (resubscribed through [`Resubscribing`]) and hands each stop to
//! [`Worker::handle_stop`], which raises the flag of a job it holds (its
//! child ends at the next batch boundary as `stopped`) and ignores a stop
//! for any other job.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nas_domain::{JobId, StopJob};
use nas_infra::queue::Resubscribing;
use tokio_util::sync::CancellationToken;

use super::Worker;
use super::metrics::StopLabel;

/// What became of a stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopOutcome {
    /// The job trains here: its child stops at the next batch boundary.
    Honoured,
    /// This worker does not hold the job (finished, never had it): ignored.
    NotHeld,
}

/// A job registered as training here; unregistered when dropped.
pub(super) struct Active<'w> {
    worker: &'w Worker,
    job_id: JobId,
    /// Raised by a stop for the job.
    pub(super) flag: Arc<AtomicBool>,
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.worker
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.job_id);
    }
}

impl Worker {
    /// Handles a stop from the controller (see the module docs).
    pub fn handle_stop(&self, stop: &StopJob) -> StopOutcome {
        let active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        match active.get(&stop.job_id) {
            Some(flag) => {
                tracing::info!(job_id = %stop.job_id, epoch = stop.epoch, rule = %stop.rule, "stopping the child early");
                flag.store(true, Ordering::Relaxed);
                self.metrics
                    .stops
                    .get_or_create(&StopLabel { outcome: "honoured" })
                    .inc();
                StopOutcome::Honoured
            }
            None => {
                tracing::info!(job_id = %stop.job_id, "ignoring a stop for a job this worker does not hold");
                self.metrics
                    .stops
                    .get_or_create(&StopLabel { outcome: "not_held" })
                    .inc();
                StopOutcome::NotHeld
            }
        }
    }

    /// Registers a job training here: its early-stop flag, unregistered
    /// when the guard drops.
    pub(super) fn activate(&self, job_id: JobId) -> Active<'_> {
        let flag = Arc::new(AtomicBool::new(false));
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job_id, flag.clone());
        Active {
            worker: self,
            job_id,
            flag,
        }
    }

    /// Consumes this worker's control queue until `shutdown`,
    /// resubscribing after connection losses.
    pub(super) async fn serve_control(&self, shutdown: &CancellationToken) {
        let mut control = Resubscribing::new("control");
        let subscribe = || self.queue.control(&self.config.worker_id);
        loop {
            let message = tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                message = control.next_message(subscribe) => message,
            };
            match StopJob::from_json(&message.body) {
                Ok(stop) => {
                    self.handle_stop(&stop);
                }
                Err(error) => tracing::warn!(%error, "ignoring an invalid control message"),
            }
            if let Err(error) = message.ack().await {
                tracing::warn!(%error, "a control message could not be acknowledged");
            }
        }
    }
}

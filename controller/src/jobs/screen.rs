//! Sorting what arrives for a tracker: results and dead letters that need
//! their owner, and the ones the tracker settles itself (invalid, foreign,
//! unknown, duplicate, preempted); then acknowledging, or handing back,
//! what the owner recorded.

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt};
use nas_domain::{EpochProgress, Outcome, TrainJob, TrainResult};
use nas_infra::queue::Message;
use serde::Serialize;

use super::{Arrival, DeadLetter, JobTracker, PUBLISH_CONCURRENCY, ProgressArrival, ResultOutcome};
use crate::Result;

impl<T: Clone + Serialize + Send> JobTracker<T> {
    /// Sorts result messages (see the module docs): the arrivals for the
    /// owner, and the outcome of every message settled here.
    pub async fn screen(&mut self, messages: Vec<Message>) -> Result<(Vec<Arrival>, Vec<ResultOutcome>)> {
        let mut arrivals = Vec::with_capacity(messages.len());
        let mut settled = Vec::new();
        let mut seen = HashSet::new();
        let mut messages = messages.into_iter();
        while let Some(message) = messages.next() {
            match self.screen_one(&message, &mut seen).await {
                Ok(Ok(result)) => arrivals.push(Arrival { message, result }),
                Ok(Err(outcome)) => {
                    message.ack().await?;
                    settled.push(outcome);
                }
                Err(error) => {
                    // The store failed (recording a preempted job's next
                    // attempt): everything not yet settled comes back later.
                    self.hand_back(arrivals).await;
                    for message in std::iter::once(message).chain(messages) {
                        if let Err(nack) = message.requeue().await {
                            tracing::warn!(%nack, "could not hand a result back");
                        }
                    }
                    return Err(error);
                }
            }
        }
        Ok((arrivals, settled))
    }

    /// One result: `Ok` for the owner, or how it was settled (to be acked).
    async fn screen_one(
        &mut self,
        message: &Message,
        seen: &mut HashSet<nas_domain::JobId>,
    ) -> Result<std::result::Result<TrainResult, ResultOutcome>> {
        let ignored = |reason: String| Ok(Err(ResultOutcome::Ignored { reason }));
        let result = match TrainResult::from_json(&message.body) {
            Ok(result) => result,
            Err(error) => {
                self.counters.invalid.inc();
                tracing::warn!(%error, "ignoring an invalid result message");
                return ignored(error.to_string());
            }
        };
        let job_id = result.job_id;
        if result.experiment != self.name {
            self.counters.unknown.inc();
            tracing::warn!(%job_id, experiment = %result.experiment, "ignoring a result of another experiment");
            return ignored(format!("result of another experiment ({})", result.experiment));
        }
        if self.finished.contains(&job_id) || seen.contains(&job_id) {
            self.counters.duplicates.inc();
            tracing::debug!(%job_id, "ignoring a duplicate result");
            return ignored(format!("job {job_id} is already counted"));
        }
        if !self.jobs.contains_key(&job_id) {
            self.counters.unknown.inc();
            tracing::warn!(%job_id, worker = %result.worker_id, "ignoring a result for a job this experiment never published");
            return ignored(format!("job {job_id} was not published by this experiment"));
        }
        if let Outcome::Preempted { epochs_done } = result.outcome {
            tracing::info!(%job_id, epochs_done, worker = %result.worker_id, "child preempted");
            self.republish(job_id, "the worker was preempted").await?;
            return Ok(Err(ResultOutcome::Republished { job_id }));
        }
        seen.insert(job_id);
        Ok(Ok(result))
    }

    /// One dead letter: `Ok` for a job in flight, else how it was settled
    /// (acked here).
    pub async fn screen_dead(
        &mut self,
        message: Message,
    ) -> Result<std::result::Result<DeadLetter, ResultOutcome>> {
        let job = match TrainJob::from_json(&message.body) {
            Ok(job) if self.jobs.contains_key(&job.job_id) && !self.finished.contains(&job.job_id) => job,
            Ok(job) => {
                message.ack().await?;
                let reason = format!("dead-lettered job {} is not in flight", job.job_id);
                return Ok(Err(ResultOutcome::Ignored { reason }));
            }
            Err(error) => {
                tracing::warn!(%error, "a dead-lettered message is not a job");
                message.ack().await?;
                return Ok(Err(ResultOutcome::Ignored {
                    reason: error.to_string(),
                }));
            }
        };
        Ok(Ok(DeadLetter { message, job }))
    }

    /// Marks the arrivals' jobs finished and acknowledges them (after their
    /// owner recorded them).
    pub async fn complete(&mut self, arrivals: Vec<Arrival>) -> Result<()> {
        for arrival in &arrivals {
            self.finish(arrival.result.job_id);
        }
        futures::stream::iter(arrivals.into_iter().map(|arrival| arrival.message.ack()))
            .buffer_unordered(PUBLISH_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    }

    /// Sorts progress messages: those of jobs in flight for the owner;
    /// invalid ones and those of finished or unknown jobs are acked.
    pub async fn screen_progress(&mut self, messages: Vec<Message>) -> Result<Vec<ProgressArrival>> {
        let mut arrivals = Vec::with_capacity(messages.len());
        for message in messages {
            match EpochProgress::from_json(&message.body) {
                Ok(progress) if self.jobs.contains_key(&progress.job_id) => {
                    arrivals.push(ProgressArrival { message, progress });
                }
                Ok(progress) => {
                    tracing::debug!(job_id = %progress.job_id, "ignoring progress of a job not in flight");
                    message.ack().await?;
                }
                Err(error) => {
                    self.counters.invalid.inc();
                    tracing::warn!(%error, "ignoring an invalid progress message");
                    message.ack().await?;
                }
            }
        }
        Ok(arrivals)
    }

    /// Acknowledges recorded progress.
    pub async fn complete_progress(&self, arrivals: Vec<ProgressArrival>) -> Result<()> {
        futures::stream::iter(arrivals.into_iter().map(|arrival| arrival.message.ack()))
            .buffer_unordered(PUBLISH_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    }

    /// Hands progress that could not be recorded back to the broker.
    pub async fn hand_back_progress(&self, arrivals: Vec<ProgressArrival>) {
        for arrival in arrivals {
            if let Err(error) = arrival.message.requeue().await {
                tracing::warn!(%error, "could not hand progress back");
            }
        }
    }

    /// Marks a dead-lettered job finished and acknowledges it.
    pub async fn complete_dead(&mut self, dead: DeadLetter) -> Result<()> {
        self.finish(dead.job.job_id);
        Ok(dead.message.ack().await?)
    }

    /// Returns a dead letter its owner could not record.
    pub async fn hand_back_dead(&self, dead: DeadLetter) {
        if let Err(error) = dead.message.requeue().await {
            tracing::warn!(%error, "could not hand a dead letter back");
        }
    }

    /// Returns arrivals their owner could not record, so the broker
    /// delivers them again.
    pub async fn hand_back(&self, arrivals: Vec<Arrival>) {
        for arrival in arrivals {
            if let Err(error) = arrival.message.requeue().await {
                tracing::warn!(%error, "could not hand a result back");
            }
        }
    }

    /// Closes the broker connection (at the end of a run).
    pub async fn close(&self) {
        self.queue.close().await;
    }
}

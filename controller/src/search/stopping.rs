//! Early stopping in the search: the children's progress messages meet the
//! experiment's stopping rule ([`nas_domain::stopping`]).
//!
//! For every progress message of a job in flight the rule judges the new
//! epochs; the progress and the decision go to the [`progress_log`] before
//! the messages are acknowledged, then each stop is sent to the worker that
//! reported the child. A child already stopped that reports again (the
//! stop was missed, or another worker took the job over) gets its stop
//! again, from the same decision. Finished children's curves (from their
//! results) are shown to the rule too, so children of workers that report
//! no progress still count. With the rule `none`, progress is acknowledged
//! without being recorded: the results carry the whole curve.
//!
//! On resume the rule is rebuilt from the reward log's curves and the
//! progress log's (no decisions are taken again), and the stops decided
//! for children still in flight are sent again. Each progress record notes
//! how many results the rule had been shown, so `replay verify` takes
//! every decision again from the same curves ([`crate::offline::stops`]).

use std::collections::HashMap;

use nas_domain::messages::{MESSAGE_VERSION, StopJobFields};
use nas_domain::{JobId, StopJob, StoppingRule};

use super::Search;
use crate::Result;
use crate::experiment::job_log::now;
use crate::experiment::progress_log::{self, ProgressRecord};
use crate::experiment::reward_log::RewardRecord;
use crate::jobs::ProgressArrival;

impl Search {
    /// Records progress messages and sends the stops the rule decides; the
    /// messages go back to the broker when the record cannot be written.
    pub(super) async fn handle_progress(&mut self, arrivals: Vec<ProgressArrival>) -> Result<()> {
        if self.config.stopping.rule == StoppingRule::None {
            return self.tracker.complete_progress(arrivals).await;
        }
        let mut records = Vec::with_capacity(arrivals.len());
        for arrival in &arrivals {
            let progress = &arrival.progress;
            let scores = self.config.reward.scores(&progress.epochs);
            let stopped_at = self.rule.judge(progress.job_id, &scores);
            records.push(ProgressRecord {
                job_id: progress.job_id,
                attempt: progress.attempt,
                worker_id: progress.worker_id.clone(),
                epochs: progress.epochs.clone(),
                train_seconds: progress.train_seconds,
                stopped_at,
                results_seen: Some(self.rule.results_shown()),
                recorded_at: now(),
            });
        }
        if let Err(error) = progress_log::append(&self.store, &self.config.experiment, &records).await {
            // The decisions stay in memory: a child stopped here is stopped
            // again when it next reports.
            self.tracker.hand_back_progress(arrivals).await;
            return Err(error);
        }
        for record in &records {
            if let Some(epoch) = record.stopped_at {
                self.send_stop(record.job_id, epoch, &record.worker_id).await;
            }
        }
        self.tracker.complete_progress(arrivals).await
    }

    /// Sends a stop to `worker_id`; a stop that cannot be sent is only
    /// logged (the child finishes, or gets it at its next report).
    async fn send_stop(&self, job_id: JobId, epoch: u32, worker_id: &str) {
        let stop = StopJob::new(StopJobFields {
            schema_version: MESSAGE_VERSION,
            job_id,
            experiment: self.config.experiment.clone(),
            epoch,
            rule: self.config.stopping.rule.name().to_owned(),
        });
        let sent = match stop {
            Ok(stop) => self
                .tracker
                .queue()
                .publish_stop(worker_id, &stop)
                .await
                .map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match sent {
            Ok(()) => tracing::info!(%job_id, epoch, worker = worker_id, "stop sent"),
            Err(error) => tracing::warn!(%job_id, %error, "a stop could not be sent"),
        }
    }

    /// Shows the rule a finished child's whole curve.
    pub(super) fn observe_finished(&mut self, record: &RewardRecord) {
        let scores = record
            .result
            .as_ref()
            .map(|result| self.config.reward.scores(&result.epochs));
        self.rule.finish(&record.job_id, scores.as_deref());
    }

    /// Rebuilds the rule from the progress log (after the reward log) and
    /// sends again the stops of children still in flight.
    pub(super) async fn restore_stopping(&mut self) -> Result<()> {
        if self.config.stopping.rule == StoppingRule::None {
            return Ok(());
        }
        let records = progress_log::read_all(&self.store, &self.config.experiment).await?;
        let mut resend: HashMap<JobId, (u32, String)> = HashMap::new();
        for record in records {
            if self.tracker.get(&record.job_id).is_none() {
                continue; // finished: its result's curve is in already
            }
            let scores = self.config.reward.scores(&record.epochs);
            self.rule.restore(record.job_id, &scores, record.stopped_at);
            if let Some(epoch) = record.stopped_at {
                resend.insert(record.job_id, (epoch, record.worker_id));
            }
        }
        tracing::info!(
            finished = self.rule.stopper().finished(),
            stops_sent_again = resend.len(),
            "early stopping restored"
        );
        for (job_id, (epoch, worker_id)) in resend {
            self.send_stop(job_id, epoch, &worker_id).await;
        }
        Ok(())
    }
}

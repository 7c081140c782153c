//! Proposals become jobs: the strategy proposes children until the target
//! number is in flight; their records are written (one object per batch)
//! before anything is published; a child whose architecture was trained
//! (or stopped, [`nas_domain::SampledAgain`]) before reuses that reward
//! instead of training again (unless the search trains duplicates); the
//! rest go to the tracker.

use nas_domain::messages::MESSAGE_VERSION;
use nas_domain::{DatasetRef, JobId, TrainJob, TrainJobFields};

use super::results::Finished;
use super::{JobRecord, Sample, Search};
use crate::Result;
use crate::experiment::job_log::now;
use crate::experiment::reward_log::RecordStatus;
use crate::jobs::InFlight;
use crate::strategy::Proposal;

impl Search {
    /// Publishes new jobs until the target number is in flight.
    pub async fn publish_more(&mut self) -> Result<()> {
        // Children that reuse a known reward free their slot at once, so keep
        // proposing until the target is in flight or the budget is spent.
        loop {
            let room = self.config.in_flight.saturating_sub(self.tracker.len());
            let left = self.config.children.saturating_sub(self.tally.published);
            let count = (room as u64).min(left) as usize;
            if count == 0 || self.budget_reached().is_some() {
                return Ok(());
            }
            let proposals = self
                .strategy
                .run(move |strategy| strategy.propose(count))
                .await??;
            let records = proposals
                .into_iter()
                .map(|proposal| self.job_record(proposal))
                .collect::<Result<Vec<_>>>()?;
            self.publish_batch(records).await?;
        }
    }

    /// Makes a batch of new jobs durable, then publishes those without a
    /// known reward and records the others as reused.
    async fn publish_batch(&mut self, records: Vec<JobRecord>) -> Result<()> {
        let Some(first) = records.first() else {
            return Ok(());
        };
        let batch = format!("{:012}-{}", first.payload.sample_index, first.job.job_id);
        self.log.write(&batch, &records).await?;
        let mut fresh = Vec::with_capacity(records.len());
        let mut reused = Vec::new();
        for record in records {
            self.tally.published += 1;
            let known = self
                .config
                .reuse_rewards
                .then(|| {
                    self.tally
                        .known(&record.job.spec.id(), self.config.stopping.sampled_again)
                })
                .flatten();
            let job_id = record.job.job_id;
            let entry = InFlight::from(record);
            match known {
                Some(known) => {
                    self.tracker.track(entry);
                    let reason = if known.stopped {
                        "an identical architecture was stopped early before; its reward is reused"
                    } else {
                        "an identical architecture was trained before; its reward is reused"
                    };
                    reused.push(Finished {
                        job_id,
                        status: RecordStatus::Reused,
                        reward: known.reward,
                        metric: known.metric,
                        reason: Some(reason.into()),
                        result: None,
                    });
                }
                None => fresh.push(entry),
            }
        }
        self.tracker.publish(fresh).await;
        self.record(reused).await?;
        Ok(())
    }

    fn job_record(&self, proposal: Proposal) -> Result<JobRecord> {
        let config = &self.config;
        let job = TrainJob::new(TrainJobFields {
            schema_version: MESSAGE_VERSION,
            job_id: JobId::random(),
            experiment: config.experiment.clone(),
            policy_version: proposal.policy_version,
            attempt: 1,
            spec: proposal.spec,
            task: config.task,
            dataset: DatasetRef {
                name: config.dataset.clone(),
                manifest_sha256: None,
            },
            budget: config.budget.clone(),
            hyperparameters: config.hyperparameters.clone(),
            reward: config.reward,
            seed: config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ proposal.sample_index,
            trial: config.trial.clone(),
        })?;
        Ok(JobRecord {
            job,
            payload: Sample {
                actions: proposal.actions,
                depth: proposal.depth,
                sample_index: proposal.sample_index,
                log_prob: proposal.log_prob,
                observed: Some(self.next_sequence),
            },
            published_at: now(),
        })
    }
}

//! Rebuilding a search from the store: the strategy from its latest
//! checkpoint (or fresh, warm-started from earlier experiments' reward
//! logs when configured, checkpointed as step 0), fed the rewards logged
//! after that checkpoint; the counts and the leaderboard from the reward
//! log; the jobs in flight from the job records (and the strategy told of
//! them); the sample sequence moved on past the highest sample index
//! recorded; and the stopping rule
//! from the curves of both logs.

use nas_infra::store::keys;

use super::{Sample, Search};
use crate::experiment::reward_log::RecordStatus;
use crate::experiment::{PolicyPointer, reward_log, stored};
use crate::strategy::checkpoint::Checkpoint;
use crate::strategy::warm::{self, PriorChild};
use crate::strategy::{self, Strategy};
use crate::{Error, Result};

impl Search {
    /// Rebuilds the state from the store (a fresh experiment has none).
    pub(super) async fn restore(&mut self) -> Result<()> {
        let (strategy, replay_from, fresh) = self.restore_strategy().await?;
        self.strategy.set(strategy);
        if fresh {
            self.save_checkpoint().await?; // step 0: where replay verify starts
        }
        let records = reward_log::read_all(&self.store, &self.config.experiment).await?;
        let mut observations = Vec::new();
        for record in &records {
            self.tracker.finish(record.job_id);
            self.tally.count(record);
            self.observe_finished(record);
            if record.sequence >= replay_from {
                observations.push((
                    record.observation(self.config.objective.as_ref()),
                    record.sequence + 1,
                ));
            }
        }
        if let Some(live) = self.live.as_ref().filter(|_| !records.is_empty()) {
            // The listener ends only at shutdown; then nothing needs it.
            let _ = live.send(records.clone());
        }
        let replayed = observations.len();
        self.next_sequence = records.last().map_or(0, |record| record.sequence + 1);
        self.learn(observations).await?;
        let mut highest_sample = None;
        let mut in_flight = Vec::new();
        for record in self.log.read_latest::<Sample>().await? {
            self.tally.published += 1;
            highest_sample = highest_sample.max(Some(record.payload.sample_index));
            if !self.tracker.is_finished(&record.job.job_id) {
                in_flight.push((record.payload.actions.clone(), record.payload.depth));
            }
            self.tracker.track(record.into());
        }
        if let Some(highest) = highest_sample {
            self.strategy
                .run(move |strategy| {
                    strategy.in_flight(&in_flight);
                    strategy.advance_samples(highest + 1)
                })
                .await?;
        }
        self.restore_stopping().await?;
        if let Some(best) = self.tally.best_reward() {
            self.metrics.best_reward.set(best);
        }
        self.metrics.show_tally(&self.tally, &self.config.prices);
        if self.tally.published > 0 {
            tracing::info!(
                experiment = %self.config.experiment,
                published = self.tally.published,
                finished = self.tracker.finished_count(),
                in_flight = self.tracker.len(),
                replayed,
                "resumed"
            );
        }
        Ok(())
    }

    /// The strategy at its latest checkpoint and the first sequence number
    /// that checkpoint lacks, or a fresh one (`true`).
    async fn restore_strategy(&self) -> Result<(Box<dyn Strategy>, u64, bool)> {
        let experiment = &self.config.experiment;
        let latest = keys::policy_latest(experiment);
        let pointer: Option<PolicyPointer> = self.store.get_json(&latest).await?;
        let Some(pointer) = pointer else {
            let mut fresh = strategy::create(
                self.config.strategy,
                self.config.space.clone(),
                &self.config.strategy_settings(),
                self.config.seed,
            )?;
            if !self.config.warm_start.is_empty() {
                let prior = self.warm_start_prior().await?;
                tracing::info!(children = prior.len(), sources = ?self.config.warm_start, "warm start");
                fresh.warm_start(prior)?;
            }
            return Ok((fresh, 0, true));
        };
        let bytes =
            self.store.get(&pointer.key).await?.ok_or_else(|| {
                Error::Checkpoint(format!("{latest} names {}, which is missing", pointer.key))
            })?;
        let checkpoint = Checkpoint::from_bytes(&bytes)?;
        Ok((strategy::restore(&checkpoint)?, pointer.next_sequence, false))
    }

    /// The trained children of the experiments the search warm-starts
    /// from, matched to its space by decision name (the step-0 checkpoint
    /// keeps them, so a resume and `replay verify` need not read them again).
    async fn warm_start_prior(&self) -> Result<Vec<PriorChild>> {
        let mut prior = Vec::new();
        for source in &self.config.warm_start {
            stored::load(&self.store, source).await?;
            let records = reward_log::read_all(&self.store, source).await?;
            for record in records.iter().filter(|record| record.status == RecordStatus::Ok) {
                let Some(arch) = record.spec.as_categorical() else {
                    return Err(Error::Config(format!(
                        "experiment {source} did not search a categorical space, so its children cannot be \
                         matched by decision name for a warm start"
                    )));
                };
                let tokens = warm::tokens_of(&self.config.space, arch)?;
                prior.push(PriorChild {
                    source: source.to_string(),
                    tokens,
                    reward: record.reward,
                });
            }
        }
        Ok(prior)
    }
}

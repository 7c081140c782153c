//! The strategy's side of a search: it runs on a blocking thread (a policy
//! step is tensor work), learns from observations in reward-log order, and
//! after every completed step its checkpoint goes to the store with the
//! first sequence number it does not contain.

use futures::{StreamExt, TryStreamExt};
use nas_infra::store::keys;

use super::Search;
use crate::experiment::PolicyPointer;
use crate::strategy::{Observation, Strategy};
use crate::{Error, Result};

/// Store writes (checkpoints) in flight at once.
const STORE_CONCURRENCY: usize = 32;

/// The strategy, lent to a blocking thread for each operation.
pub(super) struct StrategySlot {
    strategy: Option<Box<dyn Strategy>>,
    version: u64,
}

impl StrategySlot {
    /// No strategy yet (until the search restores or creates one).
    pub(super) fn empty() -> Self {
        StrategySlot {
            strategy: None,
            version: 0,
        }
    }

    /// Puts `strategy` in the slot.
    pub(super) fn set(&mut self, strategy: Box<dyn Strategy>) {
        self.version = strategy.policy_version();
        self.strategy = Some(strategy);
    }

    /// The policy version after the last operation.
    pub(super) fn policy_version(&self) -> u64 {
        self.version
    }

    /// Runs `operation` on the strategy on a blocking thread.
    pub(super) async fn run<R: Send + 'static>(
        &mut self,
        operation: impl FnOnce(&mut dyn Strategy) -> R + Send + 'static,
    ) -> Result<R> {
        let mut strategy = self.strategy.take().ok_or(Error::StrategyLost)?;
        let (strategy, output) = tokio::task::spawn_blocking(move || {
            let output = operation(strategy.as_mut());
            (strategy, output)
        })
        .await?;
        self.set(strategy);
        Ok(output)
    }
}

impl Search {
    /// Feeds observations in order, each with the first reward sequence
    /// number after it; checkpoints after every completed step (the
    /// checkpoint of a step taken mid-batch holds exactly the rewards up to
    /// it). Returns, per observation, whether it completed a step.
    pub(super) async fn learn(&mut self, observations: Vec<(Observation, u64)>) -> Result<Vec<bool>> {
        if observations.is_empty() {
            return Ok(Vec::new());
        }
        let stepped = self
            .strategy
            .run(move |strategy| {
                let mut steps = Vec::with_capacity(observations.len());
                for (observation, next_sequence) in observations {
                    let step = match strategy.observe(observation)? {
                        Some(report) => Some((report, strategy.checkpoint()?.to_bytes()?, next_sequence)),
                        None => None,
                    };
                    steps.push(step);
                }
                Ok::<_, Error>(steps)
            })
            .await??;
        let flags = stepped.iter().map(Option::is_some).collect();
        let mut checkpoints = Vec::new();
        for (report, bytes, next_sequence) in stepped.into_iter().flatten() {
            self.metrics.policy_steps.set(report.step as i64);
            tracing::info!(
                step = report.step,
                mean_reward = report.mean_reward,
                baseline = report.baseline,
                entropy = report.entropy,
                staleness = report.max_staleness,
                stale_dropped = report.stale_dropped,
                importance_weight = report.importance_weight,
                "policy step"
            );
            checkpoints.push((report.step, bytes, next_sequence));
        }
        self.write_checkpoints(checkpoints).await?;
        Ok(flags)
    }

    /// Checkpoints the strategy as it is now (step 0 of a new experiment).
    pub(super) async fn save_checkpoint(&mut self) -> Result<()> {
        let (bytes, step) = self
            .strategy
            .run(|strategy| {
                strategy
                    .checkpoint()
                    .and_then(|c| c.to_bytes())
                    .map(|b| (b, strategy.policy_version()))
            })
            .await??;
        self.write_checkpoints(vec![(step, bytes, self.next_sequence)])
            .await
    }

    /// Writes `(step, bytes, next_sequence)` checkpoints, then points
    /// `policy/latest.json` at the last one.
    async fn write_checkpoints(&self, checkpoints: Vec<(u64, Vec<u8>, u64)>) -> Result<()> {
        let experiment = &self.config.experiment;
        let Some(&(step, _, next_sequence)) = checkpoints.last() else {
            return Ok(());
        };
        let store = &self.store;
        futures::stream::iter(checkpoints.into_iter().map(|(step, bytes, _)| async move {
            store
                .put(&keys::policy_checkpoint(experiment, step), bytes.into())
                .await
        }))
        .buffered(STORE_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
        let pointer = PolicyPointer {
            step,
            key: keys::policy_checkpoint(experiment, step),
            next_sequence,
        };
        store.put_json(&keys::policy_latest(experiment), &pointer).await?;
        Ok(())
    }
}

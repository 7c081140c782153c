//! The reward log: one record per finished child, written before its result
//! is acknowledged. The records of results handled together go into one
//! object, `experiments/<name>/rewards/<first_sequence>.jsonl` (JSON lines),
//! so a busy controller writes one object per batch, not per child.
//! Records are numbered by `sequence`, so a resumed controller (and
//! `replay`) feeds the rewards to the strategy in exactly the original
//! order. A job id appears once: should a write that reported failure have
//! landed after all, the job's later record (the one the controller
//! counted) wins when the log is read.
//!
//! A record carries `arch_id` and `reward` at the top level, so a reward log
//! is also a reward table for `simulate --oracle table:FILE`.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};
use nas_domain::objective::RewardShaping;
use nas_domain::{Actions, ArchId, ArchSpec, ExperimentName, JobId, Outcome, TrainResult};
use nas_infra::store::{ObjectStore, keys};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::strategy::{Objectives, Observation};

/// Where a search sends every reward record it logs (and, on resume, those
/// it read back), in sequence order: a plain channel, so the search knows
/// nothing of who listens (the live report).
pub type RecordSender = tokio::sync::mpsc::UnboundedSender<Vec<RewardRecord>>;

/// How a logged child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Trained; the reward is the worker's.
    Ok,
    /// Training failed; the reward is the experiment's `failed_reward`.
    Failed,
    /// The job kept crashing workers and was dead-lettered.
    DeadLettered,
    /// Not trained: an identical architecture (same id) was trained before
    /// and its best reward is reused.
    Reused,
    /// Stopped early by the experiment's stopping rule; the reward is the
    /// partial curve's (or the configured penalty), the result says after
    /// how many epochs.
    Stopped,
}

/// One finished child.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RewardRecord {
    /// Position in the order the controller learned from (0-based).
    pub sequence: u64,
    /// The job.
    pub job_id: JobId,
    /// The architecture id.
    pub arch_id: ArchId,
    /// The reward the strategy learned from.
    pub reward: f64,
    /// How the child ended.
    pub status: RecordStatus,
    /// The validation metric behind the reward, when trained.
    pub metric: Option<f64>,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// The architecture.
    pub spec: ArchSpec,
    /// The controller's tokens for it.
    pub actions: Actions,
    /// Its depth (which fixes the decision plan).
    pub depth: usize,
    /// Its position in the strategy's sample sequence.
    pub sample_index: u64,
    /// The policy version that sampled it.
    pub policy_version: u64,
    /// The log-probability the sampling policy gave its tokens (REINFORCE;
    /// absent in logs written before it was stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_prob: Option<f64>,
    /// Seconds since the Unix epoch when its job was last published (absent
    /// in logs written before this field existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<f64>,
    /// Seconds since the Unix epoch when it was recorded.
    pub recorded_at: f64,
    /// The worker's result, when there was one.
    pub result: Option<TrainResult>,
}

impl RewardRecord {
    /// The observation this record gives its strategy in an experiment
    /// shaped by `shaping`: with the child's objectives (its reward before
    /// shaping and the shaping's costs) when it trained, or stopped with a
    /// partial reward, and its result measured every cost.
    pub fn observation(&self, shaping: Option<&RewardShaping>) -> Observation {
        Observation {
            actions: self.actions.clone(),
            depth: self.depth,
            policy_version: self.policy_version,
            log_prob: self.log_prob,
            reward: self.reward,
            objectives: self.objectives(shaping),
        }
    }

    fn objectives(&self, shaping: Option<&RewardShaping>) -> Option<Objectives> {
        let result = self.result.as_ref()?;
        let unshaped = match (&self.status, &result.outcome) {
            (RecordStatus::Ok, Outcome::Ok { reward, .. })
            | (RecordStatus::Stopped, Outcome::Stopped { reward, .. }) => *reward,
            _ => return None,
        };
        Objectives::of(shaping, unshaped, &result.costs)
    }
}

/// Writes records logged together (before their results are
/// acknowledged) as one object, keyed by the first record's sequence.
pub async fn append(
    store: &ObjectStore,
    experiment: &ExperimentName,
    records: &[RewardRecord],
) -> Result<()> {
    let Some(first) = records.first() else {
        return Ok(());
    };
    Ok(store
        .put_json_lines(&keys::reward_batch(experiment, first.sequence), records)
        .await?)
}

/// Every record of an experiment, in sequence order, one per job.
pub async fn read_all(store: &ObjectStore, experiment: &ExperimentName) -> Result<Vec<RewardRecord>> {
    let keys = store.list(&keys::rewards_prefix(experiment)).await?;
    // Fetch in parallel: a long search has thousands of objects.
    let batches: Vec<Option<Vec<RewardRecord>>> =
        futures::stream::iter(keys.iter().map(|key| store.get_json_lines::<RewardRecord>(key)))
            .buffered(32)
            .try_collect()
            .await?;
    let mut latest: HashMap<JobId, RewardRecord> = HashMap::new();
    for record in batches.into_iter().flatten().flatten() {
        match latest.get(&record.job_id) {
            Some(kept) if kept.sequence >= record.sequence => {}
            _ => {
                latest.insert(record.job_id, record);
            }
        }
    }
    let mut records: Vec<RewardRecord> = latest.into_values().collect();
    records.sort_by_key(|record| record.sequence);
    Ok(records)
}

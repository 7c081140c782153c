//! The reward log: one record per finished child at
//! `experiments/<name>/rewards/<job_id>.json`, written before the result is
//! acknowledged and never rewritten. Keyed by job id, so a result is counted
//! once however often it is delivered; numbered by `sequence`, so a resumed
//! controller (and `replay`) feeds the rewards to the strategy in exactly
//! the original order.
//!
//! A record carries `arch_id` and `reward` at the top level, so a reward log
//! is also a reward table for `simulate --oracle table:FILE`.

use nas_common::store::{ObjectStore, keys};
use nas_common::{Actions, ArchId, ArchSpec, ExperimentName, JobId, TrainResult};
use serde::{Deserialize, Serialize};

use crate::Result;

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
    /// Seconds since the Unix epoch when its job was last published (absent
    /// in logs written before this field existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<f64>,
    /// Seconds since the Unix epoch when it was recorded.
    pub recorded_at: f64,
    /// The worker's result, when there was one.
    pub result: Option<TrainResult>,
}

/// Writes a record (before its result is acknowledged).
pub async fn append(store: &ObjectStore, experiment: &ExperimentName, record: &RewardRecord) -> Result<()> {
    Ok(store
        .put_json(&keys::reward(experiment, record.job_id), record)
        .await?)
}

/// Every record of an experiment, in sequence order.
pub async fn read_all(store: &ObjectStore, experiment: &ExperimentName) -> Result<Vec<RewardRecord>> {
    let keys = store.list(&keys::rewards_prefix(experiment)).await?;
    let mut records = Vec::with_capacity(keys.len());
    // Fetch in parallel batches: a long search has thousands of records.
    for chunk in keys.chunks(64) {
        let fetched =
            futures::future::join_all(chunk.iter().map(|key| store.get_json::<RewardRecord>(key))).await;
        for record in fetched {
            if let Some(record) = record? {
                records.push(record);
            }
        }
    }
    records.sort_by_key(|record| record.sequence);
    Ok(records)
}

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

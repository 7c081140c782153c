//! The progress log: the learning curves of children while they train, as
//! their workers reported them, and the stop each one got
//! (`progress/<batch>.jsonl`, one object per batch of progress messages,
//! written before they are acknowledged).
//!
//! Finished children's curves are in the reward log (their results carry
//! every epoch); this log holds what the stopping rule saw of the children
//! still in flight, so a resumed controller rebuilds its rungs and sends
//! again the stops it had decided.

use std::time::{SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt};
use nas_domain::{EpochMetrics, ExperimentName, JobId};
use nas_infra::store::{ObjectStore, keys};
use serde::{Deserialize, Serialize};

use crate::Result;

/// One progress message as recorded, with the decision taken on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgressRecord {
    /// The job.
    pub job_id: JobId,
    /// The attempt that reported.
    pub attempt: u32,
    /// The worker that reported (where a stop goes).
    pub worker_id: String,
    /// The epochs so far.
    pub epochs: Vec<EpochMetrics>,
    /// Training seconds so far.
    pub train_seconds: f64,
    /// The epoch after which the rule stopped the child, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<u32>,
    /// How many results (reward-log records with a curve, in the log's
    /// order) the rule had been shown when it judged this report, so
    /// `replay verify` can show it the same ones (absent in logs written
    /// before 2026-12-07).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results_seen: Option<u64>,
    /// Seconds since the Unix epoch when it was recorded.
    pub recorded_at: f64,
}

/// Writes records received together as one object.
pub async fn append(
    store: &ObjectStore,
    experiment: &ExperimentName,
    records: &[ProgressRecord],
) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let batch = format!("{nanos:024}-{}", records[0].job_id);
    Ok(store
        .put_json_lines(&keys::progress_batch(experiment, &batch), records)
        .await?)
}

/// Every record of an experiment, in the order they were written.
pub async fn read_all(store: &ObjectStore, experiment: &ExperimentName) -> Result<Vec<ProgressRecord>> {
    let mut keys = store.list(&keys::progress_prefix(experiment)).await?;
    keys.sort();
    let batches: Vec<Option<Vec<ProgressRecord>>> =
        futures::stream::iter(keys.iter().map(|key| store.get_json_lines::<ProgressRecord>(key)))
            .buffered(32)
            .try_collect()
            .await?;
    Ok(batches.into_iter().flatten().flatten().collect())
}

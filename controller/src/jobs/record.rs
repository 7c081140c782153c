//! The durable record of a published job: `experiments/<name>/jobs/<batch>.jsonl`
//! holds one JSON line per job published together (the first attempts of
//! a batch, or one new attempt), written before the jobs go out, so a
//! resumed controller knows every job it may still get a result for.

use futures::{StreamExt, TryStreamExt};
use nas_domain::{ExperimentName, JobId, TrainJob};
use nas_infra::store::{ObjectStore, keys};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::Result;

/// Store reads in flight at once when a log is read back.
const READ_CONCURRENCY: usize = 32;

/// A published job, with what its owner needs to learn from its result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobRecord<T> {
    /// The job as published (the latest attempt).
    pub job: TrainJob,
    /// The owner's part (a search's sample: actions, depth, index).
    #[serde(flatten)]
    pub payload: T,
    /// Seconds since the Unix epoch of the latest publication.
    pub published_at: f64,
}

/// Where an experiment's job records go.
#[derive(Clone, Debug)]
pub struct JobLog {
    store: ObjectStore,
    experiment: ExperimentName,
}

impl JobLog {
    /// The job records of `experiment` in `store`.
    pub fn new(store: ObjectStore, experiment: ExperimentName) -> Self {
        JobLog { store, experiment }
    }

    /// Writes `records` as one object named after `batch`.
    pub async fn write<T: Serialize>(&self, batch: &str, records: &[JobRecord<T>]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let key = keys::job_batch(&self.experiment, batch);
        Ok(self.store.put_json_lines(&key, records).await?)
    }

    /// Every job's latest record (the highest attempt), in no order.
    pub async fn read_latest<T: DeserializeOwned>(&self) -> Result<Vec<JobRecord<T>>> {
        let job_keys = self.store.list(&keys::jobs_prefix(&self.experiment)).await?;
        let batches = futures::stream::iter(
            job_keys
                .iter()
                .map(|key| self.store.get_json_lines::<JobRecord<T>>(key)),
        )
        .buffered(READ_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
        let mut latest: HashMap<JobId, JobRecord<T>> = HashMap::new();
        for record in batches.into_iter().flatten().flatten() {
            match latest.get(&record.job.job_id) {
                Some(kept) if kept.job.attempt >= record.job.attempt => {}
                _ => {
                    latest.insert(record.job.job_id, record);
                }
            }
        }
        Ok(latest.into_values().collect())
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

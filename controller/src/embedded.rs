//! The embedded mode: the controller and N workers in one process, over an
//! in-process queue and a local directory store. Nothing to install but the
//! binary; the store has the same layout as the S3 prefix, so every later
//! command works on it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nas_common::Task;
use nas_common::dataset_sync::{self, DatasetKind};
use nas_common::queue::JobQueue;
use nas_common::store::{ObjectStore, keys};
use nas_common::telemetry::Telemetry;
use nas_worker::guardrails::Limits;
use nas_worker::job_loop::{Worker, WorkerConfig};
use nas_worker::worker_metrics::WorkerMetrics;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Result;

/// Uploads the data at `source` as data set `name` unless the store has it.
pub async fn ensure_dataset(store: &ObjectStore, name: &str, task: Task, source: &Path) -> Result<()> {
    if store.get(&keys::dataset_manifest(name)).await?.is_some() {
        return Ok(());
    }
    let kind = match task {
        Task::Cifar10 => DatasetKind::Cifar10,
        Task::PtbWord | Task::PtbChar => DatasetKind::Ptb,
    };
    tracing::info!(data_set = name, source = %source.display(), "copying the data set into the store");
    dataset_sync::upload(store, name, kind, source).await?;
    Ok(())
}

/// Starts `count` workers in this process; they stop when `shutdown` is
/// cancelled.
pub fn start_workers(
    count: usize,
    queue: &JobQueue,
    store: &ObjectStore,
    cache_dir: PathBuf,
    telemetry: &Telemetry,
    shutdown: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let metrics = WorkerMetrics::new(telemetry);
    (0..count)
        .map(|index| {
            let config = WorkerConfig {
                worker_id: format!("embedded-{index}"),
                prefetch: 1,
                cache_dir: cache_dir.clone(),
                device: tch::Device::cuda_if_available(),
                limits: Limits::default(),
                store_patience: Duration::from_secs(60),
                surrogate: None,
                // The in-process queue has no consumer timeout.
                ack_deadline: None,
            };
            let worker = Worker::new(config, queue.clone(), store.clone(), metrics.clone());
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                if let Err(error) = worker.run_until_stopped(shutdown, |_| {}).await {
                    tracing::error!(%error, "embedded worker stopped");
                }
            })
        })
        .collect()
}

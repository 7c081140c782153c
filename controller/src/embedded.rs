//! The embedded mode: the controller and N workers in one process, over an
//! in-process queue and a local directory store. Nothing to install but the
//! binary; the store has the same layout as the S3 prefix, so every later
//! command works on it. This is the only module that uses the worker crate,
//! and only with the `embedded` cargo feature (on by default): a controller
//! built without it (`--no-default-features`) links no worker code and
//! answers `--embedded` with an error that says so.

use std::path::{Path, PathBuf};

use nas_domain::Task;
use nas_domain::datasets::manifest::DatasetKind;
use nas_infra::queue::{InProcessQueue, JobQueue};
use nas_infra::store::{ObjectStore, datasets, keys};
use nas_infra::telemetry::Telemetry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{Error, Result};

/// How the embedded mode runs workers in this process.
#[derive(Clone, Debug)]
pub struct Embedding {
    /// Workers to start.
    pub workers: usize,
    /// Local data to copy into the store when it lacks the data set.
    pub data: Option<PathBuf>,
    /// The data set's name in the store.
    pub dataset: String,
    /// What the children train on.
    pub task: Task,
    /// Deliveries of a job before it is dead-lettered.
    pub delivery_limit: u32,
}

/// The workers running in this process.
pub struct Workers {
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Waits for every worker to stop (after the shutdown token fired).
    pub async fn join(self) {
        for handle in self.handles {
            let _ = handle.await;
        }
    }
}

/// Starts the workers of `embedding` over an in-process queue and `store`;
/// they stop when `shutdown` is cancelled. Returns the queue the
/// controller publishes to.
pub async fn start(
    embedding: &Embedding,
    store: &ObjectStore,
    telemetry: &Telemetry,
    shutdown: &CancellationToken,
) -> Result<(JobQueue, Workers)> {
    if let Some(data) = &embedding.data {
        ensure_dataset(store, &embedding.dataset, embedding.task, data).await?;
    }
    let queue = JobQueue::InProcess(InProcessQueue::new(embedding.delivery_limit));
    let handles = spawn_workers(embedding, &queue, store, telemetry, shutdown)?;
    Ok((queue, Workers { handles }))
}

/// The workers' tasks, serving `queue`.
#[cfg(feature = "embedded")]
fn spawn_workers(
    embedding: &Embedding,
    queue: &JobQueue,
    store: &ObjectStore,
    telemetry: &Telemetry,
    shutdown: &CancellationToken,
) -> Result<Vec<JoinHandle<()>>> {
    use std::time::Duration;

    use nas_worker::model::guardrails::Limits;
    use nas_worker::service::metrics::WorkerMetrics;
    use nas_worker::service::{Worker, WorkerConfig};

    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    tch::set_num_threads(((cores / embedding.workers.max(1)).max(1)) as i32);
    let cache_dir = match store {
        ObjectStore::Local(local) => local.root().join(".cache"),
        ObjectStore::S3(_) => std::env::temp_dir().join("nas-embedded-cache"),
    };
    let metrics = WorkerMetrics::new(telemetry);
    Ok((0..embedding.workers)
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
        .collect())
}

/// Without the `embedded` feature there are no workers to run.
#[cfg(not(feature = "embedded"))]
fn spawn_workers(
    _embedding: &Embedding,
    _queue: &JobQueue,
    _store: &ObjectStore,
    _telemetry: &Telemetry,
    _shutdown: &CancellationToken,
) -> Result<Vec<JoinHandle<()>>> {
    Err(Error::Config(
        "this nas-controller was built without the `embedded` feature, so it cannot run workers \
         in its own process: rebuild it with the default features, or run nas-worker processes \
         with RabbitMQ"
            .into(),
    ))
}

/// Uploads the data at `source` as data set `name` unless the store has it.
pub async fn ensure_dataset(store: &ObjectStore, name: &str, task: Task, source: &Path) -> Result<()> {
    if store.get(&keys::dataset_manifest(name)).await?.is_some() {
        return Ok(());
    }
    let kind = match task {
        Task::Cifar10 => DatasetKind::Cifar10,
        Task::PtbWord | Task::PtbChar => DatasetKind::Ptb,
        Task::Custom => {
            return Err(Error::Config(format!(
                "task custom has no built-in data set format to copy {} as",
                source.display()
            )));
        }
    };
    tracing::info!(data_set = name, source = %source.display(), "copying the data set into the store");
    datasets::upload(store, name, kind, source).await?;
    Ok(())
}

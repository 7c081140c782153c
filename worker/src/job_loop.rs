//! The worker service: consume jobs, train each off the async runtime,
//! publish the result, then ack.
//!
//! Layers: [`Worker::run_until_stopped`] (subscribe, resubscribe after a
//! lost connection, stop on shutdown) → its loop → [`Worker::process_one`]
//! (one delivery → one [`Outcome`]), which tests drive directly.
//!
//! - An unparseable or invalid message is rejected without requeue, so the
//!   broker dead-letters it; the reason is logged and counted.
//! - A job is acked only after its result is confirmed by the broker; a
//!   failed training publishes a failed result with its reason.
//! - Shutdown (SIGTERM on spot preemption or scale-down) stops the child at
//!   the next batch boundary; its checkpoint goes to the store and a
//!   `preempted` result tells the controller to publish the job again, so
//!   another worker resumes it from that batch.
//! - When the store is unreachable the worker retries with backoff for
//!   `store_patience`, then hands the job back to the queue.
//! - A child that trains past the ack deadline (a margin before the
//!   broker's consumer timeout) has its job acknowledged early
//!   ([`crate::held_delivery`]), so the broker never redelivers it.
//! - A job this worker finished recently and receives again (a redelivery
//!   after a lost ack) is answered from memory instead of training again.

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nas_common::queue::{JobQueue, Message, backoff};
use nas_common::store::{ObjectStore, keys};
use nas_common::{JobId, Outcome as TrainOutcome, TrainJob, TrainResult, TrainResultFields};
use tch::Device;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::child_checkpoint::ChildCheckpoint;
use crate::dataset_cache::{CacheError, DatasetCache};
use crate::guardrails::Limits;
use crate::held_delivery::HeldDelivery;
use crate::job_training::{self, JobEnvironment, LoadedData};
use crate::surrogate::Surrogate;
use crate::trainer::TrainReport;
use crate::worker_metrics::{RejectionLabel, StatusLabel, WorkerMetrics};
use crate::{Error, Result};

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// This worker's name in results and logs.
    pub worker_id: String,
    /// Unacked jobs at a time (1: one child trains at a time).
    pub prefetch: u16,
    /// The data-set cache folder (shared by the workers of a node).
    pub cache_dir: PathBuf,
    /// Where children train.
    pub device: Device,
    /// Limits on children.
    pub limits: Limits,
    /// How long to retry an unreachable store before handing a job back.
    pub store_patience: Duration,
    /// Answer from an oracle instead of training (a surrogate worker).
    pub surrogate: Option<Surrogate>,
    /// When to acknowledge a job whose child is still training, ahead of
    /// the broker's consumer timeout (see [`crate::held_delivery`]).
    pub ack_deadline: Option<Duration>,
}

/// What became of one delivery.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Trained; the result (`ok` or `failed`) is published and the job acked.
    Trained {
        /// The job.
        job_id: JobId,
        /// The result's outcome.
        outcome: TrainOutcome,
    },
    /// Stopped by shutdown; checkpoint saved, `preempted` result published.
    Preempted {
        /// The job.
        job_id: JobId,
    },
    /// Not a valid job: dead-lettered.
    Rejected {
        /// Why.
        reason: String,
    },
    /// Finished before by this worker; the stored result was published again.
    Duplicate {
        /// The job.
        job_id: JobId,
    },
    /// The store stayed unreachable; the job went back to the queue.
    HandedBack {
        /// The job.
        job_id: JobId,
        /// Why.
        reason: String,
    },
}

/// How many finished results a worker remembers for redeliveries.
const REMEMBERED: usize = 64;

/// A worker process's service.
pub struct Worker {
    config: WorkerConfig,
    queue: JobQueue,
    store: ObjectStore,
    cache: DatasetCache,
    metrics: WorkerMetrics,
    data: Mutex<Option<LoadedData>>,
    recent: std::sync::Mutex<VecDeque<TrainResult>>,
}

impl Worker {
    /// A worker over `queue` and `store`.
    pub fn new(config: WorkerConfig, queue: JobQueue, store: ObjectStore, metrics: WorkerMetrics) -> Self {
        let cache = DatasetCache::new(config.cache_dir.clone(), store.clone());
        Worker {
            config,
            queue,
            store,
            cache,
            metrics,
            data: Mutex::new(None),
            recent: std::sync::Mutex::new(VecDeque::new()),
        }
    }

    /// Serves jobs until `shutdown`, resubscribing after connection losses.
    pub async fn run_until_stopped(&self, shutdown: CancellationToken, ready: impl Fn(bool)) -> Result<()> {
        let mut attempt = 0;
        while !shutdown.is_cancelled() {
            let subscribed = async {
                self.queue.declare(None).await?;
                self.queue.jobs(self.config.prefetch).await
            };
            let mut subscription = tokio::select! {
                subscription = subscribed => match subscription {
                    Ok(subscription) => subscription,
                    Err(error) => {
                        ready(false);
                        tracing::warn!(%error, "cannot subscribe to jobs; retrying");
                        tokio::select! {
                            () = tokio::time::sleep(backoff(attempt)) => {}
                            () = shutdown.cancelled() => break,
                        }
                        attempt += 1;
                        continue;
                    }
                },
                () = shutdown.cancelled() => break,
            };
            attempt = 0;
            ready(true);
            tracing::info!(worker = %self.config.worker_id, "waiting for jobs");
            loop {
                let delivery = tokio::select! {
                    delivery = subscription.next() => delivery,
                    () = shutdown.cancelled() => break,
                };
                match delivery {
                    Some(Ok(message)) => match self.process_one(message, &shutdown).await {
                        Ok(outcome) => tracing::info!(?outcome, "job done"),
                        Err(error) => {
                            tracing::error!(%error, "job could not be completed; it will be redelivered")
                        }
                    },
                    Some(Err(error)) => {
                        tracing::warn!(%error, "lost the jobs subscription");
                        break;
                    }
                    None => {
                        tracing::warn!("the jobs subscription ended; resubscribing");
                        break;
                    }
                }
            }
            ready(false);
        }
        self.queue.close().await;
        Ok(())
    }

    /// Handles one delivery (see the module docs).
    pub async fn process_one(&self, message: Message, shutdown: &CancellationToken) -> Result<Outcome> {
        let received = Instant::now();
        self.metrics.received.inc();
        let mut message = HeldDelivery::new(message, received, self.config.ack_deadline);
        let job = match TrainJob::from_json(message.body()) {
            Ok(job) => job,
            Err(error) => {
                let reason = error.to_string();
                tracing::warn!(%reason, "dead-lettering an invalid job message");
                self.metrics
                    .rejected
                    .get_or_create(&RejectionLabel::of(&error))
                    .inc();
                message.reject(false).await?;
                return Ok(Outcome::Rejected { reason });
            }
        };
        let job_id = job.job_id;
        if let Some(result) = self.remembered(job_id) {
            self.queue.publish_result(&result).await?;
            message.ack().await?;
            return Ok(Outcome::Duplicate { job_id });
        }
        if let Some(surrogate) = &self.config.surrogate {
            return self
                .answer_from_surrogate(surrogate, &job, message, received, shutdown)
                .await;
        }
        tracing::info!(%job_id, attempt = job.attempt, arch = %job.spec.id().short(), "training");
        let directory = match self
            .with_patience(|| self.cache.ensure(&job.dataset.name), shutdown)
            .await
        {
            Ok(directory) => directory,
            Err(CacheError::Invalid(error)) => {
                let result = self.result(&job, received, failed(&job, error.to_string()))?;
                return self.finish(message, result).await;
            }
            Err(CacheError::Unavailable(error)) => return self.hand_back(message, job_id, error).await,
        };
        let checkpoint_key = keys::child_checkpoint(&job.experiment, job_id);
        let stored = self
            .with_patience(
                || async {
                    self.store
                        .get(&checkpoint_key)
                        .await
                        .map_err(|error| CacheError::Unavailable(Error::Common(error)))
                },
                shutdown,
            )
            .await;
        let resume = match stored {
            Ok(Some(bytes)) => match ChildCheckpoint::from_bytes(&bytes) {
                Ok(checkpoint) if checkpoint.arch_id == job.spec.id().as_str() => Some(checkpoint),
                Ok(_) | Err(_) => {
                    tracing::warn!(%job_id, "ignoring a child checkpoint that does not fit the job");
                    None
                }
            },
            Ok(None) => None,
            Err(CacheError::Unavailable(error) | CacheError::Invalid(error)) => {
                return self.hand_back(message, job_id, error).await;
            }
        };
        if let Some(checkpoint) = &resume {
            tracing::info!(%job_id, epoch = checkpoint.progress.epoch, batch = checkpoint.progress.batches_done, "resuming from checkpoint");
        }
        let report = message
            .during(job_id, self.train(&job, directory, resume, shutdown))
            .await;
        match report {
            Ok(report) if matches!(report.outcome, TrainOutcome::Preempted { .. }) => {
                if let Some(checkpoint) = &report.checkpoint {
                    let bytes = checkpoint.to_bytes()?;
                    self.store.put(&checkpoint_key, bytes.into()).await?;
                }
                let result = self.result(&job, received, report_fields(&job, &report))?;
                self.queue.publish_result(&result).await?;
                message.ack().await?;
                self.metrics
                    .finished
                    .get_or_create(&StatusLabel { status: "preempted" })
                    .inc();
                Ok(Outcome::Preempted { job_id })
            }
            Ok(report) => {
                self.metrics.throughput.set(report.throughput);
                self.metrics.train_seconds.inc_by(report.train_seconds);
                let result = self.result(&job, received, report_fields(&job, &report))?;
                self.finish(message, result).await
            }
            Err(error) => {
                let result = self.result(&job, received, failed(&job, error.to_string()))?;
                self.finish(message, result).await
            }
        }
    }

    /// A surrogate's answer: wait the configured delay (handing the job
    /// back on shutdown), then publish the oracle's result.
    async fn answer_from_surrogate(
        &self,
        surrogate: &Surrogate,
        job: &TrainJob,
        message: HeldDelivery,
        received: Instant,
        shutdown: &CancellationToken,
    ) -> Result<Outcome> {
        tokio::select! {
            () = tokio::time::sleep(surrogate.delay) => {}
            () = shutdown.cancelled() => {
                return self.hand_back(message, job.job_id, Error::Config("shutting down".into())).await;
            }
        }
        let answer = surrogate.answer(job);
        let fields = PartialResult {
            outcome: answer.outcome,
            test_metric: None,
            epochs: answer.epochs,
            parameters: answer.parameters,
            train_seconds: surrogate.delay.as_secs_f64(),
            started: None,
            device: Some("surrogate".into()),
        };
        let result = self.result(job, received, fields)?;
        self.finish(message, result).await
    }

    /// Publishes a final result, acks the job and remembers the result.
    async fn finish(&self, message: HeldDelivery, result: TrainResult) -> Result<Outcome> {
        self.queue.publish_result(&result).await?;
        message.ack().await?;
        let status = match &result.outcome {
            TrainOutcome::Ok { reward, .. } => {
                self.metrics.reward.observe(*reward);
                "ok"
            }
            TrainOutcome::Failed { .. } => "failed",
            TrainOutcome::Preempted { .. } => "preempted",
        };
        self.metrics.finished.get_or_create(&StatusLabel { status }).inc();
        let outcome = Outcome::Trained {
            job_id: result.job_id,
            outcome: result.outcome.clone(),
        };
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.push_back(result);
        if recent.len() > REMEMBERED {
            recent.pop_front();
        }
        Ok(outcome)
    }

    async fn hand_back(&self, message: HeldDelivery, job_id: JobId, error: Error) -> Result<Outcome> {
        tracing::warn!(%job_id, %error, "handing the job back to the queue");
        self.metrics.handed_back.inc();
        message.reject(true).await?;
        Ok(Outcome::HandedBack {
            job_id,
            reason: error.to_string(),
        })
    }

    fn remembered(&self, job_id: JobId) -> Option<TrainResult> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.iter().find(|result| result.job_id == job_id).cloned()
    }

    /// Retries `operation` while the store is unavailable, for at most the
    /// configured patience.
    async fn with_patience<T, F, Fut>(
        &self,
        operation: F,
        shutdown: &CancellationToken,
    ) -> std::result::Result<T, CacheError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = std::result::Result<T, CacheError>>,
    {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            match operation().await {
                Err(CacheError::Unavailable(error))
                    if started.elapsed() < self.config.store_patience && !shutdown.is_cancelled() =>
                {
                    tracing::warn!(%error, attempt, "the object store is unavailable; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Trains on a blocking thread; shutdown raises the child's stop flag.
    async fn train(
        &self,
        job: &TrainJob,
        directory: PathBuf,
        resume: Option<ChildCheckpoint>,
        shutdown: &CancellationToken,
    ) -> Result<TrainReport> {
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let stop = stop.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                shutdown.cancelled().await;
                stop.store(true, Ordering::Relaxed);
            })
        };
        let environment = JobEnvironment {
            device: self.config.device,
            limits: self.config.limits,
            stop,
        };
        let mut data = self.data.lock().await;
        let previous = data.take();
        let job = job.clone();
        self.metrics.in_flight.inc();
        let trained = tokio::task::spawn_blocking(move || {
            job_training::train_job(&job, &directory, previous, &environment, resume.as_ref())
        })
        .await;
        self.metrics.in_flight.dec();
        watcher.abort();
        let (loaded, report) =
            trained.map_err(|e| Error::Config(format!("the training thread failed: {e}")))?;
        *data = loaded;
        report
    }

    fn result(&self, job: &TrainJob, received: Instant, fields: PartialResult) -> Result<TrainResult> {
        Ok(TrainResult::new(TrainResultFields {
            schema_version: nas_common::messages::MESSAGE_VERSION,
            job_id: job.job_id,
            experiment: job.experiment.clone(),
            policy_version: job.policy_version,
            attempt: job.attempt,
            arch_id: job.spec.id(),
            outcome: fields.outcome,
            epochs: fields.epochs,
            test_metric: fields.test_metric,
            param_count: fields.parameters,
            wall_seconds: received.elapsed().as_secs_f64(),
            train_seconds: fields.train_seconds,
            startup_seconds: fields
                .started
                .map(|started| started.saturating_duration_since(received).as_secs_f64()),
            device: fields
                .device
                .unwrap_or_else(|| crate::trainer::device_name(self.config.device)),
            worker_id: self.config.worker_id.clone(),
        })?)
    }
}

/// The parts of a result that come from training.
struct PartialResult {
    outcome: TrainOutcome,
    test_metric: Option<f64>,
    epochs: Vec<nas_common::EpochMetrics>,
    parameters: u64,
    train_seconds: f64,
    started: Option<Instant>,
    device: Option<String>,
}

fn report_fields(_job: &TrainJob, report: &TrainReport) -> PartialResult {
    PartialResult {
        outcome: report.outcome.clone(),
        test_metric: report.test_metric,
        epochs: report.epochs.clone(),
        parameters: u64::try_from(report.parameters).unwrap_or(0),
        train_seconds: report.train_seconds,
        started: Some(report.started),
        device: Some(report.device.clone()),
    }
}

fn failed(job: &TrainJob, reason: String) -> PartialResult {
    tracing::warn!(job_id = %job.job_id, %reason, "the child failed");
    PartialResult {
        outcome: TrainOutcome::Failed { reason },
        test_metric: None,
        epochs: Vec::new(),
        parameters: 0,
        train_seconds: 0.0,
        started: None,
        device: None,
    }
}

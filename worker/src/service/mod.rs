//! The worker service: consume jobs, train each off the async runtime,
//! publish the result, then ack.
//!
//! Layers: [`Worker::run_until_stopped`] (subscribe, resubscribe after a
//! lost connection through [`Resubscribing`], stop on shutdown) → its loop
//! → [`Worker::process_one`] (one delivery → one [`Outcome`]), which tests
//! drive directly.
//!
//! This file holds the loop and what every kind of job shares: the held
//! delivery ([`delivery`]), publishing and remembering results
//! (`result`), handing a job back, and waiting out a store outage. Each
//! kind of job has its own part: a libtorch child (`libtorch`), a trial
//! command (`trial`) and a surrogate's answer ([`surrogate`]); beside them
//! the control queue (`control`: stops from the controller) and the
//! progress a child reports after every epoch (`progress`).
//!
//! - An unparseable or invalid message is dead-lettered; the reason is
//!   logged and counted.
//! - A job is acked only after its result is confirmed by the broker
//!   ([`delivery::HeldDelivery`]); a failed training publishes a failed
//!   result with its reason.
//! - Shutdown (SIGTERM on spot preemption or scale-down) stops the child at
//!   the next batch boundary; its checkpoint goes to the store and a
//!   `preempted` result tells the controller to publish the job again, so
//!   another worker resumes it from that batch.
//! - While the store is unreachable (a transient error) the worker retries
//!   with backoff for `store_patience`, then hands the job back to the
//!   queue; a permanent store error (refused credentials, a missing bucket)
//!   fails the job at once, its reason naming the bucket.
//! - A child that trains past the ack deadline (a margin before the
//!   broker's consumer timeout) has its job acknowledged early, so the
//!   broker never redelivers it.
//! - A job this worker finished recently and receives again (a redelivery
//!   after a lost ack) is answered from memory instead of training again.
//! - A job with a trial command ([`crate::trial`]) is trained by
//!   that command instead of a libtorch model: on shutdown the command gets
//!   SIGTERM, then SIGKILL after its grace period, and a `preempted` result
//!   hands the job back (it starts over elsewhere: a trial has no
//!   checkpoint).
//! - A surrogate worker ([`surrogate`]) answers from an oracle instead,
//!   trial command or not.
//! - After every epoch a child completes, the worker publishes its curve so
//!   far ([`nas_domain::EpochProgress`]) for the controller's stopping rule; beside the
//!   jobs it consumes its own control queue ([`Worker::handle_stop`]): a
//!   stop for a job it trains ends that child at the next batch boundary
//!   as `stopped` (rewarded from its completed epochs), a stop for a job it
//!   does not hold is ignored.

mod control;
pub mod delivery;
mod libtorch;
pub mod metrics;
mod progress;
mod result;
pub mod surrogate;
mod trial;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use nas_domain::{JobId, Outcome as TrainOutcome, TrainJob, TrainResult};
use nas_infra::queue::{JobQueue, Message, Resubscribing, backoff};
use nas_infra::store::{ObjectStore, keys};
use tch::Device;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::data::cache::DatasetCache;
use crate::model::guardrails::Limits;
use crate::train::TrainReport;
use crate::train::job::LoadedData;
use crate::{Error, Result};
pub use control::StopOutcome;
use delivery::HeldDelivery;
use metrics::{RejectionLabel, StatusLabel, WorkerMetrics};
use result::PartialResult;
use surrogate::Surrogate;

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
    /// the broker's consumer timeout (see [`delivery`]).
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
    /// The early-stop flag of every job training here.
    active: std::sync::Mutex<HashMap<JobId, Arc<AtomicBool>>>,
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
            active: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Serves jobs until `shutdown`, resubscribing after connection losses;
    /// `ready` hears whether the worker is subscribed.
    pub async fn run_until_stopped(&self, shutdown: CancellationToken, ready: impl Fn(bool)) -> Result<()> {
        let mut jobs = Resubscribing::new("jobs");
        let subscribe = || async move {
            self.queue.declare(None).await?;
            self.queue.jobs(self.config.prefetch).await
        };
        while !shutdown.is_cancelled() {
            tokio::select! {
                () = jobs.subscribed(subscribe) => {}
                () = shutdown.cancelled() => break,
            }
            ready(true);
            // The control queue lives exactly as long as serving: a
            // shutdown lets the job in hand finish its hand-back before
            // either ends (never dropped mid-job).
            let served = CancellationToken::new();
            let serving = async {
                self.serve(&mut jobs, &shutdown).await;
                served.cancel();
            };
            tokio::join!(Box::pin(serving), Box::pin(self.serve_control(&served)));
            ready(false);
        }
        self.queue.close().await;
        Ok(())
    }

    /// Processes deliveries until the subscription ends (then `jobs` is
    /// due for a resubscription after its backoff) or `shutdown`.
    async fn serve(&self, jobs: &mut Resubscribing, shutdown: &CancellationToken) {
        tracing::info!(worker = %self.config.worker_id, "waiting for jobs");
        loop {
            let delivery = tokio::select! {
                delivery = jobs.next() => delivery,
                () = shutdown.cancelled() => return,
            };
            match delivery {
                Some(Ok(message)) => {
                    jobs.delivered();
                    match self.process_one(message, shutdown).await {
                        Ok(outcome) => tracing::info!(?outcome, "job done"),
                        Err(error) => {
                            tracing::error!(%error, "job could not be completed; it will be redelivered")
                        }
                    }
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "lost the jobs subscription");
                    jobs.lost();
                    return;
                }
                None => {
                    tracing::warn!("the jobs subscription ended; resubscribing");
                    jobs.lost();
                    return;
                }
            }
        }
    }

    /// Handles one delivery (see the module docs).
    pub async fn process_one(&self, message: Message, shutdown: &CancellationToken) -> Result<Outcome> {
        self.metrics.received.inc();
        let message = HeldDelivery::new(message, self.config.ack_deadline);
        let job = match TrainJob::from_json(message.body()) {
            Ok(job) => job,
            Err(error) => {
                let reason = error.to_string();
                tracing::warn!(%reason, "dead-lettering an invalid job message");
                self.metrics
                    .rejected
                    .get_or_create(&RejectionLabel::of(&error))
                    .inc();
                message.dead_letter().await?;
                return Ok(Outcome::Rejected { reason });
            }
        };
        if let Some(result) = self.remembered(job.job_id) {
            self.queue.publish_result(&result).await?;
            message.ack().await?;
            return Ok(Outcome::Duplicate { job_id: job.job_id });
        }
        match &self.config.surrogate {
            Some(surrogate) => {
                self.answer_from_surrogate(surrogate, &job, message, shutdown)
                    .await
            }
            None => match &job.trial {
                Some(trial) => self.run_trial_job(&job, trial, message, shutdown).await,
                None => self.train_job(&job, message, shutdown).await,
            },
        }
    }

    /// Publishes what training (or a trial command) produced: a stopped
    /// child's checkpoint and `preempted` result, or the final result.
    async fn report(
        &self,
        job: &TrainJob,
        message: HeldDelivery,
        trained: Result<TrainReport>,
    ) -> Result<Outcome> {
        match trained {
            Ok(report) if matches!(report.outcome, TrainOutcome::Preempted { .. }) => {
                self.preempted(job, message, report).await
            }
            Ok(report) => {
                if let TrainOutcome::Failed { reason } = &report.outcome {
                    tracing::warn!(job_id = %job.job_id, %reason, "the child failed");
                }
                // A trial command measures no throughput.
                if report.throughput > 0.0 {
                    self.metrics.throughput.set(report.throughput);
                }
                self.metrics.train_seconds.inc_by(report.train_seconds);
                let result = self.result(job, &message, PartialResult::of_report(&report))?;
                self.finish(message, result).await
            }
            Err(error) => self.fail(job, message, &error).await,
        }
    }

    /// Publishes a failed result for `error` and acks the job.
    async fn fail(&self, job: &TrainJob, message: HeldDelivery, error: &Error) -> Result<Outcome> {
        let result = self.result(job, &message, PartialResult::failed(job, error.to_string()))?;
        self.finish(message, result).await
    }

    /// Saves a stopped child's checkpoint and tells the controller.
    async fn preempted(&self, job: &TrainJob, message: HeldDelivery, report: TrainReport) -> Result<Outcome> {
        if let Some(checkpoint) = &report.checkpoint {
            let bytes = checkpoint.to_bytes()?;
            let key = keys::child_checkpoint(&job.experiment, job.job_id);
            self.store.put(&key, bytes.into()).await?;
        }
        let result = self.result(job, &message, PartialResult::of_report(&report))?;
        self.queue.publish_result(&result).await?;
        message.ack().await?;
        self.metrics
            .finished
            .get_or_create(&StatusLabel { status: "preempted" })
            .inc();
        Ok(Outcome::Preempted { job_id: job.job_id })
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
            TrainOutcome::Stopped { .. } => "stopped",
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
        message.requeue().await?;
        Ok(Outcome::HandedBack {
            job_id,
            reason: error.to_string(),
        })
    }

    fn remembered(&self, job_id: JobId) -> Option<TrainResult> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.iter().find(|result| result.job_id == job_id).cloned()
    }

    /// Retries `operation` while it fails transiently, for at most the
    /// configured patience; a permanent failure returns at once.
    async fn with_patience<T, F, Fut>(&self, operation: F, shutdown: &CancellationToken) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            match operation().await {
                Err(error)
                    if error.is_transient()
                        && started.elapsed() < self.config.store_patience
                        && !shutdown.is_cancelled() =>
                {
                    tracing::warn!(%error, attempt, "the object store is unavailable; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The result of `job`, held as `message`, from what produced it.
    fn result(&self, job: &TrainJob, message: &HeldDelivery, fields: PartialResult) -> Result<TrainResult> {
        fields.into_result(
            job,
            message.received(),
            self.config.device,
            &self.config.worker_id,
        )
    }
}

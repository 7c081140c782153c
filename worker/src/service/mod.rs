//! The worker service: consume jobs, train each off the async runtime,
//! publish the result, then ack.
//!
//! Layers: [`Worker::run_until_stopped`] (subscribe, resubscribe after a
//! lost connection, stop on shutdown) → its loop → [`Worker::process_one`]
//! (one delivery → one [`Outcome`]), which tests drive directly.
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
//!   far ([`EpochProgress`]) for the controller's stopping rule; beside the
//!   jobs it consumes its own control queue ([`Worker::handle_stop`]): a
//!   stop for a job it trains ends that child at the next batch boundary
//!   as `stopped` (rewarded from its completed epochs), a stop for a job it
//!   does not hold is ignored.

pub mod delivery;
pub mod metrics;
mod result;
pub mod surrogate;
mod trial;

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::collections::HashMap;

use nas_domain::messages::{EpochProgressFields, MESSAGE_VERSION};
use nas_domain::{
    EpochMetrics, EpochProgress, JobId, Outcome as TrainOutcome, StopJob, TrainJob, TrainResult,
};
use nas_infra::queue::{JobQueue, Message, backoff};
use nas_infra::store::{ObjectStore, keys};
use tch::Device;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::data::cache::DatasetCache;
use crate::model::guardrails::Limits;
use crate::train::checkpoint::ChildCheckpoint;
use crate::train::job::{self, JobEnvironment, LoadedData};
use crate::train::{EpochHook, TrainReport};
use crate::{Error, Result};
use delivery::HeldDelivery;
use metrics::{RejectionLabel, StatusLabel, StopLabel, WorkerMetrics};
use result::PartialResult;
use surrogate::{Answer, Surrogate};

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

/// What became of a stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopOutcome {
    /// The job trains here: its child stops at the next batch boundary.
    Honoured,
    /// This worker does not hold the job (finished, never had it): ignored.
    NotHeld,
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

/// A job registered as training here; unregistered when dropped.
struct Active<'w> {
    worker: &'w Worker,
    job_id: JobId,
    flag: Arc<AtomicBool>,
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.worker
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.job_id);
    }
}

/// What a job needs before its child trains: the local data set and,
/// when it was preempted before, its checkpoint.
struct Prepared {
    directory: PathBuf,
    resume: Option<ChildCheckpoint>,
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

    /// Handles a stop from the controller (see the module docs).
    pub fn handle_stop(&self, stop: &StopJob) -> StopOutcome {
        let active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        match active.get(&stop.job_id) {
            Some(flag) => {
                tracing::info!(job_id = %stop.job_id, epoch = stop.epoch, rule = %stop.rule, "stopping the child early");
                flag.store(true, Ordering::Relaxed);
                self.metrics
                    .stops
                    .get_or_create(&StopLabel { outcome: "honoured" })
                    .inc();
                StopOutcome::Honoured
            }
            None => {
                tracing::info!(job_id = %stop.job_id, "ignoring a stop for a job this worker does not hold");
                self.metrics
                    .stops
                    .get_or_create(&StopLabel { outcome: "not_held" })
                    .inc();
                StopOutcome::NotHeld
            }
        }
    }

    /// Registers a job training here: its early-stop flag, unregistered
    /// when the guard drops.
    fn activate(&self, job_id: JobId) -> Active<'_> {
        let flag = Arc::new(AtomicBool::new(false));
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job_id, flag.clone());
        Active {
            worker: self,
            job_id,
            flag,
        }
    }

    /// Consumes this worker's control queue until `shutdown`,
    /// resubscribing after connection losses.
    async fn serve_control(&self, shutdown: &CancellationToken) {
        let mut attempt = 0;
        while !shutdown.is_cancelled() {
            let subscribed = tokio::select! {
                subscription = self.queue.control(&self.config.worker_id) => subscription,
                () = shutdown.cancelled() => return,
            };
            let mut subscription = match subscribed {
                Ok(subscription) => {
                    attempt = 0;
                    subscription
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot subscribe to the control queue; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(backoff(attempt)) => {}
                        () = shutdown.cancelled() => return,
                    }
                    attempt += 1;
                    continue;
                }
            };
            loop {
                let delivery = tokio::select! {
                    delivery = subscription.next() => delivery,
                    () = shutdown.cancelled() => return,
                };
                let Some(Ok(message)) = delivery else {
                    tracing::warn!("the control subscription ended; subscribing again");
                    break;
                };
                match StopJob::from_json(&message.body) {
                    Ok(stop) => {
                        self.handle_stop(&stop);
                    }
                    Err(error) => tracing::warn!(%error, "ignoring an invalid control message"),
                }
                if let Err(error) = message.ack().await {
                    tracing::warn!(%error, "a control message could not be acknowledged");
                }
            }
        }
    }

    /// A hook that publishes `job`'s progress after every epoch, and the
    /// task that publishes it (awaited after training, so every progress
    /// message goes out before the result).
    fn progress_reporter(&self, job: &TrainJob) -> (EpochHook, tokio::task::JoinHandle<()>) {
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(Vec<EpochMetrics>, f64)>();
        let hook = EpochHook(Arc::new(move |epochs: &[EpochMetrics], seconds: f64| {
            let _ = sender.send((epochs.to_vec(), seconds));
        }));
        let queue = self.queue.clone();
        let (job_id, experiment, attempt, arch_id) =
            (job.job_id, job.experiment.clone(), job.attempt, job.spec.id());
        let worker_id = self.config.worker_id.clone();
        let task = tokio::spawn(async move {
            while let Some((epochs, train_seconds)) = receiver.recv().await {
                let progress = EpochProgress::new(EpochProgressFields {
                    schema_version: MESSAGE_VERSION,
                    job_id,
                    experiment: experiment.clone(),
                    attempt,
                    arch_id: arch_id.clone(),
                    epochs,
                    train_seconds,
                    worker_id: worker_id.clone(),
                });
                let published = match progress {
                    Ok(progress) => queue.publish_progress(&progress).await.map_err(|e| e.to_string()),
                    Err(error) => Err(error.to_string()),
                };
                if let Err(error) = published {
                    tracing::warn!(%job_id, %error, "progress could not be published; the child goes on");
                }
            }
        });
        (hook, task)
    }

    /// Serves jobs until `shutdown`, resubscribing after connection losses;
    /// `ready` hears whether the worker is subscribed.
    pub async fn run_until_stopped(&self, shutdown: CancellationToken, ready: impl Fn(bool)) -> Result<()> {
        let mut attempt = 0;
        while !shutdown.is_cancelled() {
            let subscribed = async {
                self.queue.declare(None).await?;
                self.queue.jobs(self.config.prefetch).await
            };
            let subscription = tokio::select! {
                subscription = subscribed => subscription,
                () = shutdown.cancelled() => break,
            };
            match subscription {
                Ok(subscription) => {
                    attempt = 0;
                    ready(true);
                    // The control queue lives exactly as long as serving: a
                    // shutdown lets the job in hand finish its hand-back
                    // before either ends (never dropped mid-job).
                    let served = CancellationToken::new();
                    let serving = async {
                        self.serve(subscription, &shutdown).await;
                        served.cancel();
                    };
                    tokio::join!(Box::pin(serving), Box::pin(self.serve_control(&served)));
                    ready(false);
                }
                Err(error) => {
                    ready(false);
                    tracing::warn!(%error, transient = error.is_transient(), "cannot subscribe to jobs; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(backoff(attempt)) => {}
                        () = shutdown.cancelled() => break,
                    }
                    attempt += 1;
                }
            }
        }
        self.queue.close().await;
        Ok(())
    }

    /// Processes deliveries until the subscription ends or `shutdown`.
    async fn serve(&self, mut subscription: nas_infra::queue::Subscription, shutdown: &CancellationToken) {
        tracing::info!(worker = %self.config.worker_id, "waiting for jobs");
        loop {
            let delivery = tokio::select! {
                delivery = subscription.next() => delivery,
                () = shutdown.cancelled() => return,
            };
            match delivery {
                Some(Ok(message)) => match self.process_one(message, shutdown).await {
                    Ok(outcome) => tracing::info!(?outcome, "job done"),
                    Err(error) => {
                        tracing::error!(%error, "job could not be completed; it will be redelivered")
                    }
                },
                Some(Err(error)) => {
                    tracing::warn!(%error, "lost the jobs subscription");
                    return;
                }
                None => {
                    tracing::warn!("the jobs subscription ended; resubscribing");
                    return;
                }
            }
        }
    }

    /// Handles one delivery (see the module docs).
    pub async fn process_one(&self, message: Message, shutdown: &CancellationToken) -> Result<Outcome> {
        let received = Instant::now();
        self.metrics.received.inc();
        let message = HeldDelivery::new(message, received, self.config.ack_deadline);
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
                self.answer_from_surrogate(surrogate, &job, message, received, shutdown)
                    .await
            }
            None => match &job.trial {
                Some(trial) => self.run_trial_job(&job, trial, message, received, shutdown).await,
                None => self.train_job(&job, message, received, shutdown).await,
            },
        }
    }

    /// Prepares, trains and reports one job.
    async fn train_job(
        &self,
        job: &TrainJob,
        mut message: HeldDelivery,
        received: Instant,
        shutdown: &CancellationToken,
    ) -> Result<Outcome> {
        let job_id = job.job_id;
        tracing::info!(%job_id, attempt = job.attempt, arch = %job.spec.id().short(), "training");
        let prepared = match self.prepare(job, shutdown).await {
            Ok(prepared) => prepared,
            Err(error) if error.is_transient() => return self.hand_back(message, job_id, error).await,
            Err(error) => return self.fail(job, message, received, &error).await,
        };
        let trained = self.train(job, prepared, shutdown);
        let report = message.during(job_id, trained).await;
        self.report(job, message, received, report).await
    }

    /// Publishes what training (or a trial command) produced: a stopped
    /// child's checkpoint and `preempted` result, or the final result.
    async fn report(
        &self,
        job: &TrainJob,
        message: HeldDelivery,
        received: Instant,
        trained: Result<TrainReport>,
    ) -> Result<Outcome> {
        match trained {
            Ok(report) if matches!(report.outcome, TrainOutcome::Preempted { .. }) => {
                self.preempted(job, message, received, report).await
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
                let result = self.result(job, received, PartialResult::of_report(&report))?;
                self.finish(message, result).await
            }
            Err(error) => self.fail(job, message, received, &error).await,
        }
    }

    /// Publishes a failed result for `error` and acks the job.
    async fn fail(
        &self,
        job: &TrainJob,
        message: HeldDelivery,
        received: Instant,
        error: &Error,
    ) -> Result<Outcome> {
        let result = self.result(job, received, PartialResult::failed(job, error.to_string()))?;
        self.finish(message, result).await
    }

    /// The job's data set and checkpoint, waiting out a store outage.
    async fn prepare(&self, job: &TrainJob, shutdown: &CancellationToken) -> Result<Prepared> {
        let directory = self
            .with_patience(|| self.cache.ensure(&job.dataset.name), shutdown)
            .await?;
        let key = keys::child_checkpoint(&job.experiment, job.job_id);
        let stored = self
            .with_patience(|| async { Ok(self.store.get(&key).await?) }, shutdown)
            .await?;
        let resume = stored.and_then(|bytes| match ChildCheckpoint::from_bytes(&bytes) {
            Ok(checkpoint) if checkpoint.arch_id == job.spec.id().as_str() => Some(checkpoint),
            Ok(_) | Err(_) => {
                tracing::warn!(job_id = %job.job_id, "ignoring a child checkpoint that does not fit the job");
                None
            }
        });
        if let Some(checkpoint) = &resume {
            tracing::info!(job_id = %job.job_id, epoch = checkpoint.progress.epoch,
                batch = checkpoint.progress.batches_done, "resuming from checkpoint");
        }
        Ok(Prepared { directory, resume })
    }

    /// Saves a stopped child's checkpoint and tells the controller.
    async fn preempted(
        &self,
        job: &TrainJob,
        message: HeldDelivery,
        received: Instant,
        report: TrainReport,
    ) -> Result<Outcome> {
        if let Some(checkpoint) = &report.checkpoint {
            let bytes = checkpoint.to_bytes()?;
            let key = keys::child_checkpoint(&job.experiment, job.job_id);
            self.store.put(&key, bytes.into()).await?;
        }
        let result = self.result(job, received, PartialResult::of_report(&report))?;
        self.queue.publish_result(&result).await?;
        message.ack().await?;
        self.metrics
            .finished
            .get_or_create(&StatusLabel { status: "preempted" })
            .inc();
        Ok(Outcome::Preempted { job_id: job.job_id })
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
        if let Some(curve) = surrogate.curve(job) {
            return self
                .answer_curve(surrogate, curve, job, message, received, shutdown)
                .await;
        }
        tokio::select! {
            () = tokio::time::sleep(surrogate.delay) => {}
            () = shutdown.cancelled() => {
                return self.hand_back(message, job.job_id, Error::ShuttingDown).await;
            }
        }
        let answer = surrogate.answer(job);
        let result = self.result(job, received, PartialResult::of_answer(answer, surrogate.delay))?;
        self.finish(message, result).await
    }

    /// A surrogate's answer from a learning curve: one epoch per delay, its
    /// progress published after each, stopped when the controller says so.
    async fn answer_curve(
        &self,
        surrogate: &Surrogate,
        curve: std::result::Result<Vec<EpochMetrics>, String>,
        job: &TrainJob,
        message: HeldDelivery,
        received: Instant,
        shutdown: &CancellationToken,
    ) -> Result<Outcome> {
        let parameters = Surrogate::parameters(job);
        let answer = |outcome, epochs| Answer {
            outcome,
            epochs,
            parameters,
        };
        let curve = match curve {
            Ok(curve) => curve,
            Err(reason) => {
                let failed = answer(TrainOutcome::Failed { reason }, Vec::new());
                let result = self.result(job, received, PartialResult::of_answer(failed, Duration::ZERO))?;
                return self.finish(message, result).await;
            }
        };
        let active = self.activate(job.job_id);
        let (hook, reporter) = self.progress_reporter(job);
        let mut done = 0;
        for epoch in 1..=curve.len() {
            tokio::select! {
                () = tokio::time::sleep(surrogate.delay) => {}
                () = shutdown.cancelled() => {
                    drop(hook);
                    let _ = reporter.await;
                    return self.hand_back(message, job.job_id, Error::ShuttingDown).await;
                }
            }
            done = epoch;
            (hook.0)(&curve[..epoch], surrogate.delay.as_secs_f64() * epoch as f64);
            if epoch < curve.len() && active.flag.load(Ordering::Relaxed) {
                break;
            }
        }
        drop(hook);
        let _ = reporter.await;
        drop(active);
        let epochs = curve[..done].to_vec();
        let outcome = match job.reward.best_metric(&epochs) {
            Ok(metric) if done < curve.len() => TrainOutcome::Stopped {
                reward: job.reward.of_metric(metric),
                metric,
                epochs_done: done as u32,
            },
            Ok(metric) => TrainOutcome::Ok {
                reward: job.reward.of_metric(metric),
                metric,
            },
            Err(error) => TrainOutcome::Failed {
                reason: error.to_string(),
            },
        };
        let seconds = surrogate.delay * done as u32;
        let result = self.result(
            job,
            received,
            PartialResult::of_answer(answer(outcome, epochs), seconds),
        )?;
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

    /// Trains on a blocking thread; shutdown raises the child's stop flag.
    async fn train(
        &self,
        job: &TrainJob,
        prepared: Prepared,
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
        let active = self.activate(job.job_id);
        let (hook, reporter) = self.progress_reporter(job);
        let environment = JobEnvironment {
            device: self.config.device,
            limits: self.config.limits,
            stop,
            early_stop: active.flag.clone(),
            on_epoch: Some(hook),
        };
        let mut data = self.data.lock().await;
        let previous = data.take();
        let job = job.clone();
        self.metrics.in_flight.inc();
        let trained = tokio::task::spawn_blocking(move || {
            let Prepared { directory, resume } = prepared;
            job::train_job(&job, &directory, previous, &environment, resume.as_ref())
        })
        .await;
        self.metrics.in_flight.dec();
        watcher.abort();
        // The hook went with the environment: the reporter drains and ends.
        let _ = reporter.await;
        drop(active);
        let (loaded, report) = trained?;
        *data = loaded;
        report
    }

    fn result(&self, job: &TrainJob, received: Instant, fields: PartialResult) -> Result<TrainResult> {
        fields.into_result(job, received, self.config.device, &self.config.worker_id)
    }
}

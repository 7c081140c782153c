//! Jobs in flight: the one lifecycle of a published job, shared by the
//! search ([`crate::search`]) and re-evaluation
//! ([`crate::offline::reevaluate`]).
//!
//! A [`JobTracker`] holds every job published and not yet finished. It
//!
//! - publishes jobs with their confirms awaited; a job whose publication
//!   fails stays in flight and goes out again on the next tick;
//! - keeps two subscriptions, results and dead letters, and subscribes
//!   again (with backoff) to whichever ends or fails ([`streams`]);
//! - sorts arriving results ([`JobTracker::screen`]): invalid messages,
//!   results of other experiments or of jobs never published, and
//!   duplicates are acked, logged and counted; a preempted child is
//!   published again as its next attempt; what is left are
//!   [`Arrival`]s for its owner to record and then [`JobTracker::complete`];
//! - publishes again every job whose result is overdue;
//! - when its owner asks ([`JobTracker::with_progress`]), keeps a third
//!   subscription to the children's progress and hands over the progress
//!   of jobs in flight ([`Event::Progress`]), acking the rest.
//!
//! A new attempt is written to the [`JobLog`](crate::experiment::job_log::JobLog) before it goes out
//! when the owner gave one (the search does; re-evaluation re-plans from
//! its own table). Owners drive it with [`JobTracker::next_event`].

mod screen;
pub mod streams;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use nas_domain::{EpochProgress, ExperimentName, JobId, TrainJob, TrainResult};
use nas_infra::queue::{JobQueue, Message, backoff};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Result;
use crate::experiment::job_log::{JobLog, JobRecord, now};
use streams::{Feed, Slot};

/// Publications (and acks) awaiting their confirms at once.
pub const PUBLISH_CONCURRENCY: usize = 256;

/// A job in flight with its owner's payload.
#[derive(Clone, Debug)]
pub struct InFlight<T> {
    /// The job as last published.
    pub job: TrainJob,
    /// The owner's part.
    pub payload: T,
    /// Seconds since the Unix epoch of the latest publication.
    pub published_at: f64,
}

impl<T: Clone> InFlight<T> {
    /// The durable record of this job.
    pub fn record(&self) -> JobRecord<T> {
        JobRecord {
            job: self.job.clone(),
            payload: self.payload.clone(),
            published_at: self.published_at,
        }
    }
}

impl<T> From<JobRecord<T>> for InFlight<T> {
    fn from(record: JobRecord<T>) -> Self {
        InFlight {
            job: record.job,
            payload: record.payload,
            published_at: record.published_at,
        }
    }
}

/// A result for a job in flight, to be recorded and then completed.
pub struct Arrival {
    /// The delivery, acked by [`JobTracker::complete`].
    pub message: Message,
    /// The validated result (`ok` or `failed`).
    pub result: TrainResult,
}

/// A job in flight that kept crashing its workers.
pub struct DeadLetter {
    /// The delivery, acked by [`JobTracker::complete_dead`].
    pub message: Message,
    /// The job.
    pub job: TrainJob,
}

/// A progress message for a job in flight, to be recorded and acked.
pub struct ProgressArrival {
    /// The delivery.
    pub message: Message,
    /// The validated progress.
    pub progress: EpochProgress,
}

/// What [`JobTracker::next_event`] woke up for.
pub enum Event {
    /// Results for jobs in flight (everything else is already handled).
    Results(Vec<Arrival>),
    /// Progress of jobs in flight.
    Progress(Vec<ProgressArrival>),
    /// A job in flight was dead-lettered.
    DeadLettered(Box<DeadLetter>),
    /// The owner's deadline passed.
    Deadline,
    /// Shutdown was requested.
    Stopped,
}

/// What became of one message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ResultOutcome {
    /// Logged and learned from.
    Counted {
        /// The job.
        job_id: JobId,
        /// Its reward.
        reward: f64,
        /// Whether it completed a policy step.
        stepped: bool,
    },
    /// The job was preempted; it was published again.
    Republished {
        /// The job.
        job_id: JobId,
    },
    /// Already counted, or not ours; acknowledged and ignored.
    Ignored {
        /// Why.
        reason: String,
    },
}

/// The counters a tracker keeps (the search registers them as metrics).
#[derive(Clone, Debug, Default)]
pub struct TrackerCounters {
    /// First publications.
    pub published: Counter,
    /// Publications again (timeouts, preemptions).
    pub republished: Counter,
    /// Results for jobs already finished.
    pub duplicates: Counter,
    /// Messages that were not valid results.
    pub invalid: Counter,
    /// Valid results for jobs this experiment never published.
    pub unknown: Counter,
    /// Jobs in flight.
    pub in_flight: Gauge,
}

/// The jobs in flight of one experiment (see the module docs).
pub struct JobTracker<T> {
    queue: JobQueue,
    name: ExperimentName,
    timeout: Duration,
    log: Option<JobLog>,
    jobs: HashMap<JobId, InFlight<T>>,
    unpublished: HashSet<JobId>,
    finished: HashSet<JobId>,
    results: Slot,
    dead: Slot,
    progress: Option<Slot>,
    ticker: tokio::time::Interval,
    counters: TrackerCounters,
}

impl<T: Clone + Serialize + Send> JobTracker<T> {
    /// A tracker for the jobs that travel under `name`; a job without a
    /// result after `timeout` is published again, its new attempt written
    /// to `log` first when there is one.
    pub fn new(
        queue: JobQueue,
        name: ExperimentName,
        timeout: Duration,
        log: Option<JobLog>,
        counters: TrackerCounters,
    ) -> Self {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        JobTracker {
            queue,
            name,
            timeout,
            log,
            jobs: HashMap::new(),
            unpublished: HashSet::new(),
            finished: HashSet::new(),
            results: Slot::new(Feed::Results),
            dead: Slot::new(Feed::DeadLetters),
            progress: None,
            ticker,
            counters,
        }
    }

    /// Also consume the experiment's progress messages.
    pub fn with_progress(mut self) -> Self {
        self.progress = Some(Slot::new(Feed::Progress));
        self
    }

    /// The queue the tracker publishes to.
    pub fn queue(&self) -> &JobQueue {
        &self.queue
    }

    /// Jobs in flight.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether no job is in flight.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The job in flight with this id.
    pub fn get(&self, job_id: &JobId) -> Option<&InFlight<T>> {
        self.jobs.get(job_id)
    }

    /// Whether `job_id` finished (was completed) already.
    pub fn is_finished(&self, job_id: &JobId) -> bool {
        self.finished.contains(job_id)
    }

    /// How many jobs finished.
    pub fn finished_count(&self) -> usize {
        self.finished.len()
    }

    /// Takes a job in flight without publishing it: a job restored from
    /// its record (overdue from its stored publication time), or one whose
    /// reward is known without training.
    pub fn track(&mut self, entry: InFlight<T>) {
        if !self.finished.contains(&entry.job.job_id) {
            self.jobs.insert(entry.job.job_id, entry);
            self.counters.in_flight.set(self.jobs.len() as i64);
        }
    }

    /// Marks a job finished (it leaves the jobs in flight, if it was there).
    pub fn finish(&mut self, job_id: JobId) -> Option<InFlight<T>> {
        self.finished.insert(job_id);
        self.unpublished.remove(&job_id);
        let entry = self.jobs.remove(&job_id);
        self.counters.in_flight.set(self.jobs.len() as i64);
        entry
    }

    /// Puts `entries` in flight and publishes them, confirms awaited
    /// together. A job whose publication fails stays in flight and is
    /// published again on the next tick.
    pub async fn publish(&mut self, entries: Vec<InFlight<T>>) {
        let jobs: Vec<TrainJob> = entries.iter().map(|entry| entry.job.clone()).collect();
        for entry in entries {
            self.jobs.insert(entry.job.job_id, entry);
        }
        self.counters.in_flight.set(self.jobs.len() as i64);
        let published = self.send(jobs).await;
        self.counters.published.inc_by(published as u64);
    }

    /// Publishes `jobs`; the ones that fail are kept for the next tick.
    /// Returns how many went out.
    async fn send(&mut self, jobs: Vec<TrainJob>) -> usize {
        let queue = &self.queue;
        let outcomes: Vec<(JobId, nas_infra::Result<()>)> = futures::stream::iter(
            jobs.iter()
                .map(|job| async move { (job.job_id, queue.publish_job(job).await) }),
        )
        .buffer_unordered(PUBLISH_CONCURRENCY)
        .collect()
        .await;
        let mut sent = 0;
        for (job_id, outcome) in outcomes {
            match outcome {
                Ok(()) => {
                    self.unpublished.remove(&job_id);
                    sent += 1;
                }
                Err(error) => {
                    tracing::warn!(%job_id, %error, "publishing failed; retrying on the next tick");
                    self.unpublished.insert(job_id);
                }
            }
        }
        sent
    }

    /// Publishes `job_id` again as its next attempt (recorded first when
    /// the tracker has a log).
    pub async fn republish(&mut self, job_id: JobId, why: &str) -> Result<()> {
        let Some(entry) = self.jobs.get(&job_id) else {
            return Ok(());
        };
        let mut entry = entry.clone();
        entry.job = entry.job.with_attempt(entry.job.attempt + 1)?;
        entry.published_at = now();
        if let Some(log) = &self.log {
            let batch = format!("{job_id}-attempt-{}", entry.job.attempt);
            log.write(&batch, &[entry.record()]).await?;
        }
        tracing::warn!(%job_id, attempt = entry.job.attempt, why, "publishing the job again");
        let job = entry.job.clone();
        self.jobs.insert(job_id, entry);
        self.send(vec![job]).await;
        self.counters.republished.inc();
        Ok(())
    }

    /// Publishes again every job whose result is overdue, and every job
    /// whose publication failed.
    pub async fn on_tick(&mut self) -> Result<()> {
        let now = now();
        let timeout = self.timeout.as_secs_f64();
        let overdue: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, entry)| now - entry.published_at > timeout)
            .map(|(id, _)| *id)
            .collect();
        for job_id in overdue {
            self.republish(job_id, "no result within the job timeout").await?;
        }
        let unsent: Vec<TrainJob> = self
            .unpublished
            .iter()
            .filter_map(|id| self.jobs.get(id).map(|entry| entry.job.clone()))
            .collect();
        if !unsent.is_empty() {
            let sent = self.send(unsent).await;
            tracing::info!(
                sent,
                left = self.unpublished.len(),
                "published jobs that had failed to go out"
            );
        }
        Ok(())
    }

    /// Waits for the next thing its owner must handle, subscribing,
    /// resubscribing and republishing along the way; at `deadline` (a time
    /// budget) it returns [`Event::Deadline`].
    pub async fn next_event(&mut self, shutdown: &CancellationToken, deadline: Option<Instant>) -> Event {
        loop {
            let subscribed = async {
                self.results.ensure(&self.queue, &self.name).await;
                self.dead.ensure(&self.queue, &self.name).await;
                if let Some(progress) = self.progress.as_mut() {
                    progress.ensure(&self.queue, &self.name).await;
                }
            };
            tokio::select! {
                () = subscribed => {}
                () = shutdown.cancelled() => return Event::Stopped,
            }
            let retry = [
                self.results.retry_at(),
                self.dead.retry_at(),
                self.progress.as_ref().and_then(Slot::retry_at),
            ]
            .into_iter()
            .flatten()
            .min();
            let wake = {
                let (results, dead, ticker) = (&mut self.results, &mut self.dead, &mut self.ticker);
                let progress = self.progress.as_mut();
                tokio::select! {
                    delivery = results.next() => Wake::Result(delivery),
                    delivery = dead.next() => Wake::Dead(delivery),
                    delivery = next_of(progress) => Wake::Progress(delivery),
                    _ = ticker.tick() => Wake::Tick,
                    () = sleep_until(retry) => Wake::Retry,
                    () = sleep_until(deadline) => Wake::Deadline,
                    () = shutdown.cancelled() => Wake::Stop,
                }
            };
            if let Some(event) = self.handle(wake, shutdown).await {
                return event;
            }
        }
    }

    async fn handle(&mut self, wake: Wake, shutdown: &CancellationToken) -> Option<Event> {
        match wake {
            Wake::Result(Some(Ok(message))) => {
                self.results.delivered();
                let batch = self.results.drain_ready(message);
                match self.screen(batch).await {
                    Ok((arrivals, _)) if !arrivals.is_empty() => return Some(Event::Results(arrivals)),
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "results could not be sorted; they will be redelivered");
                        pause(shutdown).await;
                    }
                }
            }
            Wake::Progress(Some(Ok(message))) => {
                let slot = self.progress.as_mut()?;
                slot.delivered();
                let batch = slot.drain_ready(message);
                match self.screen_progress(batch).await {
                    Ok(arrivals) if !arrivals.is_empty() => return Some(Event::Progress(arrivals)),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "progress could not be acknowledged"),
                }
            }
            Wake::Progress(Some(Err(error))) => {
                tracing::warn!(%error, "lost the progress subscription; subscribing again");
                if let Some(slot) = self.progress.as_mut() {
                    slot.lost();
                }
            }
            Wake::Progress(None) => {
                tracing::warn!("the progress subscription ended; subscribing again");
                if let Some(slot) = self.progress.as_mut() {
                    slot.lost();
                }
            }
            Wake::Dead(Some(Ok(message))) => {
                self.dead.delivered();
                match self.screen_dead(message).await {
                    Ok(Ok(dead)) => return Some(Event::DeadLettered(Box::new(dead))),
                    Ok(Err(outcome)) => tracing::debug!(?outcome, "dead letter ignored"),
                    Err(error) => tracing::warn!(%error, "a dead letter could not be acknowledged"),
                }
            }
            Wake::Result(Some(Err(error))) => {
                tracing::warn!(%error, "lost the results subscription; subscribing again");
                self.results.lost();
            }
            Wake::Dead(Some(Err(error))) => {
                tracing::warn!(%error, "lost the dead-letter subscription; subscribing again");
                self.dead.lost();
            }
            Wake::Result(None) => {
                tracing::warn!("the results subscription ended; subscribing again");
                self.results.lost();
            }
            Wake::Dead(None) => {
                tracing::warn!("the dead-letter subscription ended; subscribing again");
                self.dead.lost();
            }
            Wake::Tick => {
                if let Err(error) = self.on_tick().await {
                    tracing::warn!(%error, "republishing overdue jobs failed");
                }
            }
            Wake::Retry => {}
            Wake::Deadline => return Some(Event::Deadline),
            Wake::Stop => return Some(Event::Stopped),
        }
        None
    }
}

/// What woke [`JobTracker::next_event`].
enum Wake {
    Result(Option<nas_infra::Result<Message>>),
    Progress(Option<nas_infra::Result<Message>>),
    Dead(Option<nas_infra::Result<Message>>),
    Tick,
    Retry,
    Deadline,
    Stop,
}

/// The next delivery of a slot the tracker may not have.
async fn next_of(slot: Option<&mut Slot>) -> Option<nas_infra::Result<Message>> {
    match slot {
        Some(slot) => slot.next().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `at`; never wakes without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Waits a moment after a failure to record (the store is likely down)
/// before the same messages come back, unless shutdown comes first.
pub async fn pause(shutdown: &CancellationToken) {
    tokio::select! {
        () = tokio::time::sleep(backoff(2)) => {}
        () = shutdown.cancelled() => {}
    }
}

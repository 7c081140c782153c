//! The controller service: keep jobs in flight, learn from their rewards,
//! checkpoint, and resume after any crash with nothing lost or counted twice.
//!
//! Layers: [`Search::run_until_stopped`] (publish, wait for results, dead
//! letters and timeouts, stop at the budget or on shutdown) → its loop →
//! [`Search::process_result`] (one result message → one [`ResultOutcome`]).
//!
//! Durability, in the order things happen:
//!
//! 1. Before a job is published, its record (job, actions, sample index) is
//!    written to `jobs/<job_id>.json`.
//! 2. A result is written to the reward log (`rewards/<job_id>.json`, with
//!    the next sequence number) before it is acknowledged; a job id already
//!    in the log is a duplicate and only acknowledged.
//! 3. After each policy step the strategy's checkpoint goes to
//!    `policy/<step>.ckpt` and `policy/latest.json` records it together with
//!    the first sequence number it does not contain.
//!
//! On resume the controller restores the latest checkpoint, feeds it the
//! logged rewards from that sequence number on (so its state is exactly the
//! one before the crash), continues sampling after the highest recorded
//! sample index, and waits for the jobs that have no reward yet, publishing
//! them again when they time out.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use nas_common::messages::MESSAGE_VERSION;
use nas_common::queue::{JobQueue, Message, Subscription, backoff};
use nas_common::store::{ObjectStore, keys};
use nas_common::{
    Actions, ArchId, ArchSpec, DatasetRef, ExperimentName, JobId, Outcome, TrainJob, TrainJobFields,
    TrainResult,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::checkpoint::Checkpoint;
use crate::controller_metrics::ControllerMetrics;
use crate::experiment::ExperimentConfig;
use crate::reward_log::{self, RecordStatus, RewardRecord};
use crate::strategy::{self, Observation, Proposal, Strategy};
use crate::{Error, Result};

/// A published job and what the strategy needs to learn from its reward.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobRecord {
    /// The job as published (the latest attempt).
    pub job: TrainJob,
    /// The controller's tokens.
    pub actions: Actions,
    /// The depth that fixes the plan.
    pub depth: usize,
    /// Position in the strategy's sample sequence.
    pub sample_index: u64,
    /// Seconds since the Unix epoch of the latest publication.
    pub published_at: f64,
}

/// `policy/latest.json`: the newest checkpoint and the first reward
/// sequence number it does not contain.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PolicyPointer {
    /// Policy steps taken at the checkpoint.
    pub step: u64,
    /// The checkpoint's key.
    pub key: String,
    /// Rewards with this sequence number or later came after it.
    pub next_sequence: u64,
}

/// One row of the leaderboard.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LeaderboardEntry {
    /// The architecture.
    pub architecture_id: ArchId,
    /// Its best reward.
    pub reward: f64,
    /// The metric behind that reward.
    pub metric: Option<f64>,
    /// How many children had this architecture.
    pub children: u64,
    /// The architecture itself.
    pub spec: ArchSpec,
}

/// What a search did.
#[derive(Clone, Debug, Serialize)]
pub struct SearchSummary {
    /// The experiment.
    pub experiment: ExperimentName,
    /// Distinct jobs published.
    pub children_published: u64,
    /// Children rewarded by a worker.
    pub children_rewarded: u64,
    /// Children whose architecture was trained before, so its reward was
    /// reused instead of training again.
    pub children_reused: u64,
    /// Children failed or dead-lettered.
    pub children_failed: u64,
    /// Duplicate results ignored.
    pub duplicates: u64,
    /// Jobs published again after a timeout or a preemption.
    pub republished: u64,
    /// Policy-gradient steps taken.
    pub policy_steps: u64,
    /// Whether the search reached its budget (false: stopped early).
    pub complete: bool,
    /// Best architectures, best first.
    pub leaderboard: Vec<LeaderboardEntry>,
    /// Where the experiment is stored.
    pub store: String,
    /// Seconds this run took.
    pub wall_seconds: f64,
}

/// What became of one result message.
#[derive(Clone, Debug, PartialEq)]
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
    /// Already counted (or not ours); acknowledged and ignored.
    Ignored {
        /// Why.
        reason: String,
    },
}

/// A finished child on its way into the reward log.
struct Finished {
    job_id: JobId,
    status: RecordStatus,
    reward: f64,
    metric: Option<f64>,
    reason: Option<String>,
    result: Option<TrainResult>,
}

/// What [`Search::screen`] made of a result message.
enum Screened {
    /// Fully handled (acked).
    Done(ResultOutcome),
    /// To be recorded, then acked.
    Accepted(Message, Box<Finished>),
}

/// Store writes (job records, reward records, checkpoints) in flight at once.
const STORE_CONCURRENCY: usize = 32;
/// Publications (and acks) awaiting their confirms at once.
const PUBLISH_CONCURRENCY: usize = 256;
/// Result messages taken in one batch when the broker has that many ready.
const RESULT_BATCH: usize = 256;
/// Unacked results the broker may push to the controller.
const RESULTS_PREFETCH: u16 = 512;

/// A running (or resumed) search.
pub struct Search {
    config: ExperimentConfig,
    queue: JobQueue,
    store: ObjectStore,
    strategy: Option<Box<dyn Strategy>>,
    in_flight: HashMap<JobId, JobRecord>,
    finished: HashSet<JobId>,
    next_sequence: u64,
    published: u64,
    rewarded: u64,
    reused: u64,
    failed: u64,
    duplicates: u64,
    republished: u64,
    leaderboard: HashMap<ArchId, LeaderboardEntry>,
    metrics: ControllerMetrics,
    started: Instant,
}

/// Whether a search starts a new experiment or continues a stored one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeMode {
    /// Start a new experiment; fail when one of that name exists.
    New,
    /// Continue the stored experiment; fail when there is none.
    Resume,
    /// Continue it when it exists, else start it (for restarting services).
    Auto,
}

/// Budget changes allowed when resuming.
#[derive(Clone, Debug, Default)]
pub struct ResumeOverrides {
    /// New total of children.
    pub children: Option<u64>,
    /// New time budget.
    pub max_hours: Option<f64>,
    /// New number of jobs in flight.
    pub in_flight: Option<usize>,
    /// New job timeout.
    pub job_timeout_seconds: Option<u64>,
}

impl Search {
    /// Starts a new experiment, or continues the stored one named like
    /// `config`'s (whose stored settings then apply, with the budget
    /// `overrides`), as `mode` says.
    pub async fn open(
        config: ExperimentConfig,
        mode: ResumeMode,
        overrides: ResumeOverrides,
        queue: JobQueue,
        store: ObjectStore,
        metrics: ControllerMetrics,
    ) -> Result<Self> {
        let experiment = config.experiment.clone();
        let stored: Option<ExperimentConfig> = store.get_json(&keys::experiment_config(&experiment)).await?;
        let config = match (stored, mode) {
            (Some(_), ResumeMode::New) => {
                return Err(Error::Config(format!(
                    "experiment {experiment} already exists in {}; resume it with --resume or pick another --experiment",
                    store.describe()
                )));
            }
            (None, ResumeMode::Resume) => {
                return Err(Error::Config(format!(
                    "there is no experiment {experiment} in {} to resume",
                    store.describe()
                )));
            }
            (Some(mut stored), ResumeMode::Resume | ResumeMode::Auto) => {
                stored.children = overrides.children.unwrap_or(stored.children);
                stored.max_hours = overrides.max_hours.or(stored.max_hours);
                stored.in_flight = overrides.in_flight.unwrap_or(stored.in_flight);
                stored.job_timeout_seconds = overrides
                    .job_timeout_seconds
                    .unwrap_or(stored.job_timeout_seconds);
                stored.validate()?;
                store
                    .put_json(&keys::experiment_config(&experiment), &stored)
                    .await?;
                stored
            }
            (None, ResumeMode::New | ResumeMode::Auto) => {
                config.validate()?;
                store
                    .put_json(&keys::experiment_config(&experiment), &config)
                    .await?;
                config
            }
        };
        queue.declare(Some(&experiment)).await?;
        let mut search = Search {
            config,
            queue,
            store,
            strategy: None,
            in_flight: HashMap::new(),
            finished: HashSet::new(),
            next_sequence: 0,
            published: 0,
            rewarded: 0,
            reused: 0,
            failed: 0,
            duplicates: 0,
            republished: 0,
            leaderboard: HashMap::new(),
            metrics,
            started: Instant::now(),
        };
        search.restore().await?;
        Ok(search)
    }

    /// The configuration in force.
    pub fn config(&self) -> &ExperimentConfig {
        &self.config
    }

    /// Rebuilds the state from the store (a fresh experiment has none).
    async fn restore(&mut self) -> Result<()> {
        let experiment = self.config.experiment.clone();
        let pointer: Option<PolicyPointer> = self.store.get_json(&keys::policy_latest(&experiment)).await?;
        let (strategy, replay_from) = match &pointer {
            Some(pointer) => {
                let bytes = self.store.get(&pointer.key).await?.ok_or_else(|| {
                    Error::Checkpoint(format!(
                        "{} names {}, which is missing",
                        keys::policy_latest(&experiment),
                        pointer.key
                    ))
                })?;
                let checkpoint = Checkpoint::from_bytes(&bytes)?;
                (strategy::restore(&checkpoint)?, pointer.next_sequence)
            }
            None => {
                let fresh = strategy::create(
                    self.config.strategy,
                    self.config.space.clone(),
                    &self.config.strategy_settings(),
                    self.config.seed,
                )?;
                (fresh, 0)
            }
        };
        self.strategy = Some(strategy);
        if pointer.is_none() {
            self.save_checkpoint().await?; // step 0: where replay --verify starts
        }
        let records = reward_log::read_all(&self.store, &experiment).await?;
        let mut observations = Vec::new();
        for record in &records {
            self.count(record);
            if record.sequence >= replay_from {
                observations.push((observation_of(record), record.sequence + 1));
            }
        }
        let replayed = observations.len();
        self.next_sequence = records.last().map_or(0, |record| record.sequence + 1);
        self.learn(observations).await?;
        let job_keys = self.store.list(&keys::jobs_prefix(&experiment)).await?;
        let mut highest_sample = None;
        let batches = futures::stream::iter(
            job_keys
                .iter()
                .map(|key| self.store.get_json_lines::<JobRecord>(key)),
        )
        .buffered(STORE_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
        // A job published again has a newer record with a higher attempt.
        let mut latest: HashMap<JobId, JobRecord> = HashMap::new();
        for record in batches.into_iter().flatten().flatten() {
            match latest.get(&record.job.job_id) {
                Some(kept) if kept.job.attempt >= record.job.attempt => {}
                _ => {
                    latest.insert(record.job.job_id, record);
                }
            }
        }
        for record in latest.into_values() {
            self.published += 1;
            highest_sample = highest_sample.max(Some(record.sample_index));
            if !self.finished.contains(&record.job.job_id) {
                self.in_flight.insert(record.job.job_id, record);
            }
        }
        if let Some(highest) = highest_sample {
            self.with_strategy(move |strategy| strategy.advance_samples(highest + 1))
                .await?;
        }
        if self.published > 0 {
            tracing::info!(
                experiment = %experiment,
                published = self.published,
                finished = self.finished.len(),
                in_flight = self.in_flight.len(),
                replayed,
                "resumed"
            );
        }
        self.metrics.in_flight.set(self.in_flight.len() as i64);
        Ok(())
    }

    fn count(&mut self, record: &RewardRecord) {
        self.finished.insert(record.job_id);
        match record.status {
            RecordStatus::Ok => {
                self.rewarded += 1;
                let entry =
                    self.leaderboard
                        .entry(record.arch_id.clone())
                        .or_insert_with(|| LeaderboardEntry {
                            architecture_id: record.arch_id.clone(),
                            reward: f64::NEG_INFINITY,
                            metric: None,
                            children: 0,
                            spec: record.spec.clone(),
                        });
                entry.children += 1;
                if record.reward > entry.reward {
                    entry.reward = record.reward;
                    entry.metric = record.metric;
                }
                if record.reward > self.metrics.best_reward.get() || self.rewarded == 1 {
                    self.metrics.best_reward.set(record.reward);
                }
            }
            RecordStatus::Reused => {
                self.reused += 1;
                if let Some(entry) = self.leaderboard.get_mut(&record.arch_id) {
                    entry.children += 1;
                }
            }
            RecordStatus::Failed | RecordStatus::DeadLettered => self.failed += 1,
        }
    }

    /// Runs `operation` on the strategy on a blocking thread (a policy step
    /// is tensor work).
    async fn with_strategy<R: Send + 'static>(
        &mut self,
        operation: impl FnOnce(&mut dyn Strategy) -> R + Send + 'static,
    ) -> Result<R> {
        let mut strategy = self
            .strategy
            .take()
            .ok_or_else(|| Error::Config("the strategy was lost by an earlier failure".into()))?;
        let (strategy, output) = tokio::task::spawn_blocking(move || {
            let output = operation(strategy.as_mut());
            (strategy, output)
        })
        .await
        .map_err(|e| Error::Config(format!("the strategy thread failed: {e}")))?;
        self.strategy = Some(strategy);
        Ok(output)
    }

    /// Feeds observations in order, each with the first reward sequence
    /// number after it; checkpoints after every completed step (the
    /// checkpoint of a step taken mid-batch holds exactly the rewards up to
    /// it). Returns, per observation, whether it completed a step.
    async fn learn(&mut self, observations: Vec<(Observation, u64)>) -> Result<Vec<bool>> {
        if observations.is_empty() {
            return Ok(Vec::new());
        }
        let stepped = self
            .with_strategy(move |strategy| {
                let mut steps = Vec::with_capacity(observations.len());
                for (observation, next_sequence) in observations {
                    let step = match strategy.observe(observation)? {
                        Some(report) => {
                            let bytes = strategy.checkpoint()?.to_bytes()?;
                            Some((report, bytes, next_sequence))
                        }
                        None => None,
                    };
                    steps.push(step);
                }
                Ok::<_, Error>(steps)
            })
            .await??;
        let flags = stepped.iter().map(Option::is_some).collect();
        let taken: Vec<_> = stepped.into_iter().flatten().collect();
        for (report, _, _) in &taken {
            self.metrics.policy_steps.set(report.step as i64);
            tracing::info!(
                step = report.step,
                mean_reward = report.mean_reward,
                baseline = report.baseline,
                entropy = report.entropy,
                staleness = report.max_staleness,
                "policy step"
            );
        }
        let checkpoints = taken
            .into_iter()
            .map(|(report, bytes, next_sequence)| (report.step, bytes, next_sequence))
            .collect();
        self.write_checkpoints(checkpoints).await?;
        Ok(flags)
    }

    /// Checkpoints the strategy as it is now (step 0 of a new experiment).
    async fn save_checkpoint(&mut self) -> Result<()> {
        let (bytes, step) = self
            .with_strategy(|strategy| {
                strategy
                    .checkpoint()
                    .and_then(|c| c.to_bytes())
                    .map(|b| (b, strategy.policy_version()))
            })
            .await??;
        self.write_checkpoints(vec![(step, bytes, self.next_sequence)])
            .await
    }

    /// Writes `(step, bytes, next_sequence)` checkpoints, then points
    /// `policy/latest.json` at the last one.
    async fn write_checkpoints(&self, checkpoints: Vec<(u64, Vec<u8>, u64)>) -> Result<()> {
        let experiment = &self.config.experiment;
        let Some(&(step, _, next_sequence)) = checkpoints.last() else {
            return Ok(());
        };
        let store = &self.store;
        futures::stream::iter(checkpoints.into_iter().map(|(step, bytes, _)| async move {
            store
                .put(&keys::policy_checkpoint(experiment, step), bytes.into())
                .await
        }))
        .buffered(STORE_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
        let pointer = PolicyPointer {
            step,
            key: keys::policy_checkpoint(experiment, step),
            next_sequence,
        };
        store.put_json(&keys::policy_latest(experiment), &pointer).await?;
        Ok(())
    }

    fn budget_spent(&self) -> bool {
        self.config
            .max_hours
            .is_some_and(|hours| self.started.elapsed() >= Duration::from_secs_f64(hours * 3600.0))
    }

    fn complete(&self) -> bool {
        self.finished.len() as u64 >= self.config.children
    }

    /// Publishes new jobs until the target number is in flight.
    pub async fn publish_more(&mut self) -> Result<()> {
        // Children that reuse a known reward free their slot at once, so keep
        // proposing until the target is in flight or the budget is spent.
        loop {
            let room = self.config.in_flight.saturating_sub(self.in_flight.len());
            let left = self.config.children.saturating_sub(self.published);
            let count = (room as u64).min(left) as usize;
            if count == 0 || self.budget_spent() {
                break;
            }
            let proposals = self
                .with_strategy(move |strategy| strategy.propose(count))
                .await??;
            let records = proposals
                .into_iter()
                .map(|proposal| self.job_record(proposal))
                .collect::<Result<Vec<_>>>()?;
            self.publish_batch(records).await?;
        }
        self.metrics.in_flight.set(self.in_flight.len() as i64);
        Ok(())
    }

    /// Makes a batch of new jobs durable (concurrently), puts them in
    /// flight, then publishes those without a known reward with their
    /// confirms awaited together. A job whose publication fails stays in
    /// flight and goes out again at its timeout.
    async fn publish_batch(&mut self, records: Vec<JobRecord>) -> Result<()> {
        let Some(first) = records.first() else {
            return Ok(());
        };
        let batch = format!("{:012}-{}", first.sample_index, first.job.job_id);
        self.store
            .put_json_lines(&keys::job_batch(&self.config.experiment, &batch), &records)
            .await?;
        let mut fresh = Vec::with_capacity(records.len());
        let mut known = Vec::new();
        for record in records {
            self.published += 1;
            let job_id = record.job.job_id;
            let reward = if self.config.reuse_rewards {
                self.leaderboard
                    .get(&record.job.spec.id())
                    .map(|entry| (entry.reward, entry.metric))
            } else {
                None
            };
            match reward {
                Some(reward) => known.push((job_id, reward)),
                None => fresh.push(record.job.clone()),
            }
            self.in_flight.insert(job_id, record);
        }
        let queue = &self.queue;
        futures::stream::iter(fresh.iter().map(|job| queue.publish_job(job)))
            .buffer_unordered(PUBLISH_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        self.metrics.published.inc_by(fresh.len() as u64);
        let reason = "an identical architecture was trained before; its reward is reused";
        let reused = known
            .into_iter()
            .map(|(job_id, (reward, metric))| Finished {
                job_id,
                status: RecordStatus::Reused,
                reward,
                metric,
                reason: Some(reason.to_owned()),
                result: None,
            })
            .collect();
        self.record(reused).await?;
        Ok(())
    }

    fn job_record(&self, proposal: Proposal) -> Result<JobRecord> {
        let config = &self.config;
        let job = TrainJob::new(TrainJobFields {
            schema_version: MESSAGE_VERSION,
            job_id: JobId::random(),
            experiment: config.experiment.clone(),
            policy_version: proposal.policy_version,
            attempt: 1,
            spec: proposal.spec,
            task: config.task,
            dataset: DatasetRef {
                name: config.dataset.clone(),
                manifest_sha256: None,
            },
            budget: config.budget.clone(),
            hyperparameters: config.hyperparameters.clone(),
            reward: config.reward,
            seed: config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ proposal.sample_index,
        })?;
        Ok(JobRecord {
            job,
            actions: proposal.actions,
            depth: proposal.depth,
            sample_index: proposal.sample_index,
            published_at: reward_log::now(),
        })
    }

    /// Publishes `job_id` again as its next attempt.
    async fn republish(&mut self, job_id: JobId, why: &str) -> Result<()> {
        let Some(record) = self.in_flight.get(&job_id) else {
            return Ok(());
        };
        let mut record = record.clone();
        record.job = record.job.with_attempt(record.job.attempt + 1)?;
        record.published_at = reward_log::now();
        let batch = format!("{job_id}-attempt-{}", record.job.attempt);
        self.store
            .put_json_lines(
                &keys::job_batch(&self.config.experiment, &batch),
                std::slice::from_ref(&record),
            )
            .await?;
        self.queue.publish_job(&record.job).await?;
        tracing::warn!(%job_id, attempt = record.job.attempt, why, "published the job again");
        self.republished += 1;
        self.metrics.republished.inc();
        self.in_flight.insert(job_id, record);
        Ok(())
    }

    /// Publishes again every job whose result is overdue.
    pub async fn republish_overdue(&mut self) -> Result<()> {
        let now = reward_log::now();
        let timeout = self.config.job_timeout_seconds as f64;
        let overdue: Vec<JobId> = self
            .in_flight
            .iter()
            .filter(|(_, record)| now - record.published_at > timeout)
            .map(|(id, _)| *id)
            .collect();
        for job_id in overdue {
            self.republish(job_id, "no result within the job timeout").await?;
        }
        Ok(())
    }

    /// Handles one result message (see the module docs).
    pub async fn process_result(&mut self, message: Message) -> Result<ResultOutcome> {
        let mut outcomes = self.process_results(vec![message]).await?;
        Ok(outcomes.pop().unwrap_or_else(|| ResultOutcome::Ignored {
            reason: "nothing to process".into(),
        }))
    }

    /// Handles a batch of result messages (those the broker had ready): the
    /// new results' reward records are written concurrently, learned from
    /// in sequence order, and acknowledged after both. One outcome per
    /// message, in no particular order.
    pub async fn process_results(&mut self, messages: Vec<Message>) -> Result<Vec<ResultOutcome>> {
        let mut outcomes = Vec::with_capacity(messages.len());
        let mut accepted = Vec::with_capacity(messages.len());
        let mut seen = HashSet::new();
        for message in messages {
            match self.screen(message, &mut seen).await? {
                Screened::Done(outcome) => outcomes.push(outcome),
                Screened::Accepted(message, finished) => accepted.push((message, *finished)),
            }
        }
        let (messages, finished): (Vec<Message>, Vec<Finished>) = accepted.into_iter().unzip();
        let counted = match self.record(finished).await {
            Ok(counted) => counted,
            Err(error) => {
                // Hand them back now rather than when the channel closes.
                for message in messages {
                    if let Err(nack) = message.reject(true).await {
                        tracing::warn!(%nack, "could not hand a result back");
                    }
                }
                return Err(error);
            }
        };
        futures::stream::iter(messages.into_iter().map(Message::ack))
            .buffer_unordered(PUBLISH_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        outcomes.extend(counted);
        Ok(outcomes)
    }

    /// Sorts one result message out: invalid, foreign, duplicate (acked
    /// and ignored), preempted (published again), or a child to record.
    async fn screen(&mut self, message: Message, seen: &mut HashSet<JobId>) -> Result<Screened> {
        let result = match TrainResult::from_json(&message.body) {
            Ok(result) => result,
            Err(error) => {
                self.metrics.invalid.inc();
                tracing::warn!(%error, "ignoring an invalid result message");
                message.ack().await?;
                return Ok(Screened::Done(ResultOutcome::Ignored {
                    reason: error.to_string(),
                }));
            }
        };
        let job_id = result.job_id;
        let ignored = if result.experiment != self.config.experiment {
            Some(format!("result of another experiment ({})", result.experiment))
        } else if self.finished.contains(&job_id) || seen.contains(&job_id) {
            self.duplicates += 1;
            self.metrics.duplicates.inc();
            Some(format!("job {job_id} is already counted"))
        } else if !self.in_flight.contains_key(&job_id) {
            Some(format!("job {job_id} was not published by this experiment"))
        } else {
            None
        };
        if let Some(reason) = ignored {
            tracing::debug!(%reason, "ignoring a result");
            message.ack().await?;
            return Ok(Screened::Done(ResultOutcome::Ignored { reason }));
        }
        let (status, reward, metric, reason) = match &result.outcome {
            Outcome::Ok { reward, metric } => (RecordStatus::Ok, *reward, Some(*metric), None),
            Outcome::Failed { reason } => (
                RecordStatus::Failed,
                self.config.failed_reward,
                None,
                Some(reason.clone()),
            ),
            Outcome::Preempted { epochs_done } => {
                tracing::info!(%job_id, epochs_done, worker = %result.worker_id, "child preempted");
                self.republish(job_id, "the worker was preempted").await?;
                message.ack().await?;
                return Ok(Screened::Done(ResultOutcome::Republished { job_id }));
            }
        };
        seen.insert(job_id);
        Ok(Screened::Accepted(
            message,
            Box::new(Finished {
                job_id,
                status,
                reward,
                metric,
                reason,
                result: Some(result),
            }),
        ))
    }

    /// Logs finished children (their records written concurrently, with
    /// consecutive sequence numbers), then learns from them in that order.
    async fn record(&mut self, finished: Vec<Finished>) -> Result<Vec<ResultOutcome>> {
        let mut records = Vec::with_capacity(finished.len());
        for child in finished {
            let Some(job) = self.in_flight.get(&child.job_id) else {
                continue;
            };
            records.push(RewardRecord {
                sequence: self.next_sequence + records.len() as u64,
                job_id: child.job_id,
                arch_id: job.job.spec.id(),
                reward: child.reward,
                status: child.status,
                metric: child.metric,
                reason: child.reason,
                spec: job.job.spec.clone(),
                actions: job.actions.clone(),
                depth: job.depth,
                sample_index: job.sample_index,
                policy_version: job.job.policy_version,
                published_at: Some(job.published_at),
                recorded_at: reward_log::now(),
                result: child.result,
            });
        }
        if records.is_empty() {
            return Ok(Vec::new());
        }
        // Numbers of a batch whose writes fail are skipped, never reused:
        // gaps in the sequence are harmless, duplicates would not be.
        self.next_sequence += records.len() as u64;
        reward_log::append(&self.store, &self.config.experiment, &records).await?;
        let mut observations = Vec::with_capacity(records.len());
        for record in &records {
            self.in_flight.remove(&record.job_id);
            self.count(record);
            match record.status {
                RecordStatus::Ok => {
                    self.metrics.rewarded.inc();
                    self.metrics.reward.observe(record.reward);
                }
                RecordStatus::Reused => {}
                RecordStatus::Failed | RecordStatus::DeadLettered => {
                    self.metrics.failed.inc();
                }
            }
            observations.push((observation_of(record), record.sequence + 1));
        }
        self.metrics.in_flight.set(self.in_flight.len() as i64);
        let stepped = self.learn(observations).await?;
        Ok(records
            .iter()
            .zip(stepped)
            .map(|(record, stepped)| ResultOutcome::Counted {
                job_id: record.job_id,
                reward: record.reward,
                stepped,
            })
            .collect())
    }

    /// Handles one dead-lettered job: the child is recorded as failed.
    pub async fn process_dead_letter(&mut self, message: Message) -> Result<ResultOutcome> {
        let job = match TrainJob::from_json(&message.body) {
            Ok(job) => job,
            Err(error) => {
                tracing::warn!(%error, "a dead-lettered message is not a job");
                message.ack().await?;
                return Ok(ResultOutcome::Ignored {
                    reason: error.to_string(),
                });
            }
        };
        let job_id = job.job_id;
        if self.finished.contains(&job_id) || !self.in_flight.contains_key(&job_id) {
            message.ack().await?;
            return Ok(ResultOutcome::Ignored {
                reason: format!("dead-lettered job {job_id} is not in flight"),
            });
        }
        let reason = format!(
            "dead-lettered after {} deliveries: it keeps crashing its workers",
            message.delivery_count + 1
        );
        tracing::warn!(%job_id, %reason, "child failed");
        let dead = Finished {
            job_id,
            status: RecordStatus::DeadLettered,
            reward: self.config.failed_reward,
            metric: None,
            reason: Some(reason),
            result: None,
        };
        let mut outcomes = self.record(vec![dead]).await?;
        message.ack().await?;
        Ok(outcomes.pop().unwrap_or_else(|| ResultOutcome::Ignored {
            reason: format!("dead-lettered job {job_id} is not in flight"),
        }))
    }

    /// Runs until the budget is spent or `shutdown`, then writes the
    /// leaderboard.
    pub async fn run_until_stopped(
        &mut self,
        shutdown: CancellationToken,
        progress: &ProgressBar,
    ) -> Result<SearchSummary> {
        let experiment = self.config.experiment.clone();
        progress.set_length(self.config.children);
        progress.set_position(self.finished.len() as u64);
        let mut results: Option<Subscription> = None;
        let mut dead: Option<Subscription> = None;
        let mut attempt = 0;
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        while !self.complete() && !shutdown.is_cancelled() {
            if self.budget_spent() {
                tracing::info!("the time budget is spent");
                break;
            }
            if results.is_none() || dead.is_none() {
                match self.subscribe(&experiment).await {
                    Ok((r, d)) => {
                        tracing::info!(%experiment, "subscribed to results");
                        results = Some(r);
                        dead = Some(d);
                        attempt = 0;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot subscribe to results; retrying");
                        tokio::select! {
                            () = tokio::time::sleep(backoff(attempt)) => {}
                            () = shutdown.cancelled() => break,
                        }
                        attempt += 1;
                        continue;
                    }
                }
            }
            if let Err(error) = self.publish_more().await {
                tracing::warn!(%error, "publishing failed; retrying");
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
                continue;
            }
            let (Some(result_stream), Some(dead_stream)) = (results.as_mut(), dead.as_mut()) else {
                continue;
            };
            tokio::select! {
                delivery = result_stream.next() => match delivery {
                    Some(Ok(message)) => {
                        let batch = drain_ready(message, result_stream);
                        match self.process_results(batch).await {
                            Ok(outcomes) => tracing::debug!(results = outcomes.len(), "results"),
                            Err(error) => {
                                tracing::error!(%error, "results could not be recorded; they will be redelivered");
                                // The store is likely down: give it a moment
                                // before the same results come back.
                                tokio::time::sleep(backoff(2)).await;
                            }
                        }
                    }
                    Some(Err(error)) => { tracing::warn!(%error, "lost the results subscription"); results = None; }
                    None => results = None,
                },
                delivery = dead_stream.next() => match delivery {
                    Some(Ok(message)) => {
                        if let Err(error) = self.process_dead_letter(message).await {
                            tracing::error!(%error, "a dead letter could not be recorded");
                        }
                    }
                    Some(Err(_)) | None => dead = None,
                },
                _ = ticker.tick() => {
                    if let Err(error) = self.republish_overdue().await {
                        tracing::warn!(%error, "republishing overdue jobs failed");
                    }
                }
                () = shutdown.cancelled() => break,
            }
            progress.set_position(self.finished.len() as u64);
            let best = self.metrics.best_reward.get();
            progress.set_message(format!(
                "best reward {best:.4}, {} in flight",
                self.in_flight.len()
            ));
        }
        progress.finish_and_clear();
        self.queue.close().await;
        let summary = self.summary();
        self.store
            .put_json(&keys::leaderboard(&experiment), &summary.leaderboard)
            .await?;
        Ok(summary)
    }

    async fn subscribe(&self, experiment: &ExperimentName) -> Result<(Subscription, Subscription)> {
        self.queue.declare(Some(experiment)).await?;
        let results = self.queue.results(experiment, RESULTS_PREFETCH).await?;
        let dead = self.queue.dead_jobs(experiment).await?;
        Ok((results, dead))
    }

    /// The summary so far.
    pub fn summary(&self) -> SearchSummary {
        let mut leaderboard: Vec<LeaderboardEntry> = self.leaderboard.values().cloned().collect();
        leaderboard.sort_by(|a, b| b.reward.total_cmp(&a.reward));
        leaderboard.truncate(10);
        SearchSummary {
            experiment: self.config.experiment.clone(),
            children_published: self.published,
            children_rewarded: self.rewarded,
            children_reused: self.reused,
            children_failed: self.failed,
            duplicates: self.duplicates,
            republished: self.republished,
            policy_steps: self.strategy.as_ref().map_or(0, |s| s.policy_version()),
            complete: self.complete(),
            leaderboard,
            store: self.store.describe(),
            wall_seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}

/// `first` and whatever further results the subscription has ready now,
/// up to [`RESULT_BATCH`], without waiting.
fn drain_ready(first: Message, subscription: &mut Subscription) -> Vec<Message> {
    let mut batch = vec![first];
    while batch.len() < RESULT_BATCH {
        match subscription.next().now_or_never() {
            Some(Some(Ok(message))) => batch.push(message),
            _ => break,
        }
    }
    batch
}

fn observation_of(record: &RewardRecord) -> Observation {
    Observation {
        actions: record.actions.clone(),
        depth: record.depth,
        policy_version: record.policy_version,
        reward: record.reward,
    }
}

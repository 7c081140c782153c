//! The controller service: keep jobs in flight, learn from their rewards,
//! checkpoint, and resume after any crash with nothing lost or counted twice.
//!
//! Layers: [`Search::run_until_stopped`] (publish, wait for the tracker's
//! next event, stop at the budget, its deadline or on shutdown) → its loop
//! → recording what the tracker hands over (arrived results, dead
//! letters). Tests drive the same path one message at a time with
//! [`Search::process_results`] / [`Search::process_dead_letter`] (messages
//! → [`ResultOutcome`]s). The jobs in flight, their subscriptions,
//! timeouts and preemptions belong to the [`JobTracker`] that
//! re-evaluation uses too.
//!
//! The parts, in the order a child travels: [`config`] (what is searched),
//! [`publish`](Search::publish_more) (proposals become job records, then
//! jobs), the tracker, `results` (the [`reward_log`], the
//! [`leaderboard`], the strategy's step and its checkpoint), and
//! `restore` (all of it rebuilt from the store on resume). [`metrics`]
//! are served on `/metrics`.
//!
//! Durability, in the order things happen:
//!
//! 1. Before a job is published, its record (job, actions, sample index) is
//!    written to `jobs/<batch>.jsonl`.
//! 2. A result is written to the reward log (`rewards/<sequence>.jsonl`,
//!    with the next sequence number) before it is acknowledged; a job id
//!    already in the log is a duplicate and only acknowledged.
//! 3. After each policy step the strategy's checkpoint goes to
//!    `policy/<step>.ckpt` and `policy/latest.json` records it together with
//!    the first sequence number it does not contain.
//!
//! On resume the controller restores the latest checkpoint, feeds it the
//! logged rewards from that sequence number on (so its state is exactly the
//! one before the crash), continues sampling after the highest recorded
//! sample index, and waits for the jobs that have no reward yet, publishing
//! them again when they time out.

mod learn;
pub mod metrics;
mod publish;
mod restore;
mod results;
pub mod rule_state;
mod stopping;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use nas_domain::objective::RewardShaping;
use nas_domain::{Actions, ExperimentName, JobId, Stopper};
use nas_infra::queue::{JobQueue, backoff};
use nas_infra::store::{ObjectStore, keys};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::Result;
use crate::experiment::config::ExperimentConfig;
use crate::experiment::job_log::{self, JobLog};
use crate::experiment::leaderboard::{LeaderboardEntry, Tally};
use crate::experiment::reward_log::RecordSender;
use crate::experiment::spend::{AtBudget, Budget};
use crate::jobs::{Event, JobTracker, pause};
use learn::StrategySlot;
use metrics::ControllerMetrics;
use rule_state::RuleState;

pub use crate::experiment::stored::ResumeMode;
pub use crate::jobs::ResultOutcome;

/// What the strategy needs of a published job to learn from its reward.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The controller's tokens.
    pub actions: Actions,
    /// The depth that fixes the plan.
    pub depth: usize,
    /// Position in the strategy's sample sequence.
    pub sample_index: u64,
    /// The log-probability the sampling policy gave the tokens (REINFORCE;
    /// absent in records written before it was stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_prob: Option<f64>,
    /// The reward sequence number the strategy had learned up to when it
    /// proposed the child: every reward numbered below it was observed
    /// (absent in records written before it was stored). `replay verify`
    /// proposes the child again from it ([`crate::offline::proposals`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<u64>,
}

/// A search's job record (`jobs/<batch>.jsonl`).
pub type JobRecord = job_log::JobRecord<Sample>;

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
    /// Children stopped early by the stopping rule.
    pub children_stopped: u64,
    /// Epochs the stopped children did not train (against the full budget).
    pub epochs_saved: u64,
    /// Training seconds those epochs would have taken.
    pub gpu_seconds_saved: f64,
    /// The stopping rule (`none`, `median`, `asha`).
    pub stopping_rule: &'static str,
    /// The objective that shaped the rewards, when the experiment has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objective: Option<String>,
    /// Children the stopping rule saw reach each epoch (index 0: epoch 1),
    /// from their progress or their result, each child once.
    pub children_reached: Vec<usize>,
    /// Duplicate results ignored.
    pub duplicates: u64,
    /// Jobs published again after a timeout or a preemption.
    pub republished: u64,
    /// Policy-gradient steps taken.
    pub policy_steps: u64,
    /// Whether the search reached its budget (false: stopped early).
    pub complete: bool,
    /// The time or GPU-hour budget that stopped it before its children.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_by_budget: Option<Budget>,
    /// Hours of training the workers reported (every device; stopped and
    /// failed children included, reused rewards not).
    pub training_hours: f64,
    /// Those hours by device kind (`cuda`, `cpu`).
    pub training_hours_by_device: BTreeMap<String, f64>,
    /// The money those hours cost at the experiment's prices, when it has
    /// any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Device kinds that trained but have no price (not in `cost`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unpriced_devices: Vec<String>,
    /// Best architectures, best first.
    pub leaderboard: Vec<LeaderboardEntry>,
    /// Where the experiment is stored.
    pub store: String,
    /// Seconds this run took.
    pub wall_seconds: f64,
}

/// Where a running search stands, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Children finished (rewarded, reused or failed).
    pub finished: u64,
    /// The budget of children.
    pub children: u64,
    /// Jobs in flight.
    pub in_flight: usize,
    /// The best reward so far.
    pub best_reward: Option<f64>,
}

/// A running (or resumed) search.
pub struct Search {
    config: ExperimentConfig,
    store: ObjectStore,
    log: JobLog,
    tracker: JobTracker<Sample>,
    strategy: StrategySlot,
    next_sequence: u64,
    tally: Tally,
    rule: RuleState,
    metrics: ControllerMetrics,
    live: Option<RecordSender>,
    started: Instant,
}

impl Search {
    /// Opens the search of `config` (as [`settle`](crate::experiment::stored::settle) settled it):
    /// the configuration is written to the store, and the strategy, the
    /// counts and the jobs in flight are restored from it. Every reward
    /// record, restored or new, goes to `live` too (the live report).
    pub async fn open(
        config: ExperimentConfig,
        queue: JobQueue,
        store: ObjectStore,
        metrics: ControllerMetrics,
        live: Option<RecordSender>,
    ) -> Result<Self> {
        let experiment = config.experiment.clone();
        store
            .put_json(&keys::experiment_config(&experiment), &config)
            .await?;
        queue.declare(Some(&experiment)).await?;
        let log = JobLog::new(store.clone(), experiment.clone());
        let timeout = Duration::from_secs(config.job_timeout_seconds);
        let tracker =
            JobTracker::new(queue, experiment, timeout, Some(log.clone()), metrics.tracker()).with_progress();
        let rule = RuleState::new(config.stopping.rule, config.budget.epochs);
        let budget_epochs = config.budget.epochs;
        let mut search = Search {
            config,
            store,
            log,
            tracker,
            strategy: StrategySlot::empty(),
            next_sequence: 0,
            tally: Tally::new(budget_epochs),
            rule,
            metrics,
            live,
            started: Instant::now(),
        };
        search.restore().await?;
        Ok(search)
    }

    /// The stopping rule's state (the children's scores at every epoch).
    pub fn stopper(&self) -> &Stopper<JobId> {
        self.rule.stopper()
    }

    /// The configuration in force.
    pub fn config(&self) -> &ExperimentConfig {
        &self.config
    }

    /// Runs until the budget is spent or `shutdown`, telling `on_progress`
    /// after every event; then writes the leaderboard.
    pub async fn run_until_stopped(
        &mut self,
        shutdown: CancellationToken,
        mut on_progress: impl FnMut(&Progress),
    ) -> Result<SearchSummary> {
        let mut failures = 0;
        on_progress(&self.progress());
        while !self.complete() && !shutdown.is_cancelled() {
            if let Some(budget) = self.budget_reached() {
                // Nothing more is published. A time budget is a deadline;
                // at a GPU-hour budget with `wait` the children in flight
                // (already paid for) are recorded first.
                let wait = budget == Budget::MaxGpuHours && self.config.at_budget == AtBudget::Wait;
                if !wait || self.tracker.is_empty() {
                    tracing::info!(%budget, in_flight = self.tracker.len(), "the budget is reached");
                    break;
                }
            }
            if let Err(error) = self.publish_more().await {
                tracing::warn!(%error, "publishing failed; retrying");
                tokio::select! {
                    () = tokio::time::sleep(backoff(failures)) => {}
                    () = shutdown.cancelled() => break,
                }
                failures += 1;
                continue;
            }
            failures = 0;
            match self.tracker.next_event(&shutdown, self.deadline()).await {
                Event::Results(arrivals) => self.handle_results(arrivals, &shutdown).await,
                Event::Progress(arrivals) => {
                    if let Err(error) = self.handle_progress(arrivals).await {
                        tracing::warn!(%error, "progress could not be recorded; it will be redelivered");
                        pause(&shutdown).await;
                    }
                }
                Event::DeadLettered(dead) => {
                    if let Err(error) = self.record_dead_letter(*dead).await {
                        tracing::error!(%error, "a dead letter could not be recorded; it will come back");
                        pause(&shutdown).await;
                    }
                }
                Event::Deadline | Event::Stopped => {}
            }
            on_progress(&self.progress());
        }
        self.tracker.close().await;
        let summary = self.summary();
        self.store
            .put_json(&keys::leaderboard(&self.config.experiment), &summary.leaderboard)
            .await?;
        Ok(summary)
    }

    /// Records arrived results; when the store fails they go back to the
    /// broker and the search pauses before they come again.
    async fn handle_results(&mut self, arrivals: Vec<crate::jobs::Arrival>, shutdown: &CancellationToken) {
        match self.record_arrivals(arrivals).await {
            Ok(outcomes) => tracing::debug!(results = outcomes.len(), "results"),
            Err(error) => {
                tracing::error!(%error, "results could not be recorded; they will be redelivered");
                pause(shutdown).await;
            }
        }
    }

    /// When the time budget runs out, if there is one.
    fn deadline(&self) -> Option<tokio::time::Instant> {
        let hours = self.config.max_hours?;
        let budget = Duration::try_from_secs_f64(hours * 3600.0).ok()?;
        tokio::time::Instant::from_std(self.started).checked_add(budget)
    }

    /// The budget the search has reached, if any: its time, or the
    /// training hours the workers reported.
    fn budget_reached(&self) -> Option<Budget> {
        if self
            .deadline()
            .is_some_and(|deadline| tokio::time::Instant::now() >= deadline)
        {
            return Some(Budget::MaxHours);
        }
        let gpu_hours = self.config.max_gpu_hours?;
        (self.tally.spend.hours() >= gpu_hours).then_some(Budget::MaxGpuHours)
    }

    fn complete(&self) -> bool {
        self.tracker.finished_count() as u64 >= self.config.children
    }

    /// Where the search stands.
    pub fn progress(&self) -> Progress {
        Progress {
            finished: self.tracker.finished_count() as u64,
            children: self.config.children,
            in_flight: self.tracker.len(),
            best_reward: self.tally.best_reward(),
        }
    }

    /// The summary so far.
    pub fn summary(&self) -> SearchSummary {
        let counters = self.metrics.tracker();
        let spend = &self.tally.spend;
        let (cost, unpriced_devices) = match self.config.prices.is_empty() {
            true => (None, Vec::new()),
            false => {
                let (cost, unpriced) = spend.cost(&self.config.prices);
                (Some(cost), unpriced)
            }
        };
        SearchSummary {
            experiment: self.config.experiment.clone(),
            children_published: self.tally.published,
            children_rewarded: self.tally.rewarded,
            children_reused: self.tally.reused,
            children_failed: self.tally.failed,
            children_stopped: self.tally.stopped,
            epochs_saved: self.tally.epochs_saved,
            gpu_seconds_saved: self.tally.seconds_saved,
            stopping_rule: self.config.stopping.rule.name(),
            objective: self.config.objective.as_ref().map(RewardShaping::label),
            children_reached: (1..=self.config.budget.epochs)
                .map(|epoch| self.rule.stopper().reached(epoch))
                .collect(),
            duplicates: counters.duplicates.get(),
            republished: counters.republished.get(),
            policy_steps: self.strategy.policy_version(),
            complete: self.complete(),
            stopped_by_budget: (!self.complete()).then(|| self.budget_reached()).flatten(),
            training_hours: spend.hours(),
            training_hours_by_device: spend.hours_by_device(),
            cost,
            unpriced_devices,
            leaderboard: self.tally.leaderboard(10),
            store: self.store.describe(),
            wall_seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}

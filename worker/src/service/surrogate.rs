//! The surrogate worker: answers jobs over the real queue from an oracle
//! instead of training, optionally after a fixed delay per job. It lets the
//! whole distributed pipeline, autoscaling and failure tests run without
//! GPUs, and a search run on a tabular benchmark through the real queue.
//!
//! - `synthetic`: the synthetic metric of the spec, through the job's reward
//!   function;
//! - `table:FILE`: a recorded reward per architecture (a reward log);
//! - `table:FILE#COLUMN`: a benchmark table's metric column (e.g.
//!   NAS-Bench-Graph's `valid_perf`), through the job's reward function;
//! - `curves:FILE#COLUMN`: a learning-curve table; the worker answers epoch
//!   by epoch (the delay is per epoch), reporting progress after each, so
//!   early stopping runs over the real queue ([`Surrogate::curve`]).
//!
//! The job loop's side ([`Worker::answer_from_surrogate`]) waits the delay
//! (handing the job back on shutdown) and publishes the oracle's answer as
//! a trained child's result; with a curve table it answers epoch by epoch,
//! publishing the progress after each and ending early as `stopped` when
//! the controller's stop comes.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nas_domain::oracle::{
    CurveTable, MetricTable, Missing, Oracle, OracleSource, RewardTable, SyntheticOracle,
};
use nas_domain::{Architecture, EpochMetrics, Outcome, TrainJob};
use tokio_util::sync::CancellationToken;

use super::Worker;
use super::delivery::HeldDelivery;
use super::result::PartialResult;
use crate::Error;
use crate::model::cnn::{CnnShapes, ImageShape};
use crate::model::language_model::{self, LanguageModelOptions};

/// Where a surrogate's answers come from.
#[derive(Clone)]
enum Source {
    Synthetic,
    Rewards(Arc<RewardTable>),
    Metrics(Arc<MetricTable>),
    Curves(Arc<CurveTable>),
}

/// Where a surrogate worker's rewards come from (a `--surrogate`
/// [`nas_domain::oracle::OracleSource`]).
#[derive(Clone)]
pub struct Surrogate {
    source: Source,
    /// Time spent per job, standing in for training.
    pub delay: Duration,
}

impl std::fmt::Debug for Surrogate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Source::Synthetic => "synthetic",
            Source::Rewards(_) => "reward table",
            Source::Metrics(_) => "metric table",
            Source::Curves(_) => "curve table",
        };
        f.debug_struct("Surrogate")
            .field("source", &source)
            .field("delay", &self.delay)
            .finish()
    }
}

/// What a surrogate answers for a job.
pub struct Answer {
    /// Ok with the oracle's reward, or failed when it has none.
    pub outcome: Outcome,
    /// One epoch with the metric.
    pub epochs: Vec<EpochMetrics>,
    /// The parameter count the real child would have.
    pub parameters: u64,
}

impl Surrogate {
    /// A surrogate answering from `source` after `delay` per job.
    pub fn new(source: &OracleSource, delay: Duration) -> crate::Result<Self> {
        let source = match source {
            OracleSource::Synthetic => Source::Synthetic,
            OracleSource::Table(path) => Source::Rewards(Arc::new(RewardTable::load(path, Missing::Fail)?)),
            OracleSource::Metric { path, column } => {
                Source::Metrics(Arc::new(MetricTable::load(path, column, Missing::Fail)?))
            }
            OracleSource::Curves { path, column } => {
                Source::Curves(Arc::new(CurveTable::load(path, column, Missing::Fail)?))
            }
        };
        Ok(Surrogate { source, delay })
    }

    /// With a curve table: the epochs `job` trains (its budget, at most
    /// the recorded curve), the metric where its reward function reads it
    /// and each epoch taking the delay; `None` for the other sources.
    pub fn curve(&self, job: &TrainJob) -> Option<Result<Vec<EpochMetrics>, String>> {
        let Source::Curves(table) = &self.source else {
            return None;
        };
        Some(match table.curve(&job.spec) {
            Some(curve) => {
                let mut epochs = curve.epochs(job.budget.epochs as usize, &job.reward);
                for epoch in &mut epochs {
                    epoch.seconds = self.delay.as_secs_f64();
                }
                Ok(epochs)
            }
            None => Err(table.not_in_table(&job.spec).to_string()),
        })
    }

    /// The parameter count the real child of `job` would have.
    pub fn parameters(job: &TrainJob) -> u64 {
        parameters(job)
    }

    /// The answer for `job`.
    pub fn answer(&self, job: &TrainJob) -> Answer {
        let parameters = parameters(job);
        let scored = match &self.source {
            Source::Curves(table) => match table.curve(&job.spec) {
                Some(curve) => job
                    .reward
                    .best_metric(&curve.epochs(job.budget.epochs as usize, &job.reward))
                    .map(Scored::Metric),
                None => Err(table.not_in_table(&job.spec)),
            },
            Source::Synthetic => Ok(Scored::Metric(SyntheticOracle::metric(&job.spec))),
            Source::Rewards(table) => table.reward(&job.spec).map(Scored::Reward),
            Source::Metrics(table) => table
                .metric(&job.spec)
                .and_then(|metric| metric.ok_or_else(|| table.not_in_table(&job.spec)))
                .map(Scored::Metric),
        };
        let (reward, metric) = match scored {
            Ok(Scored::Reward(reward)) => (reward, reward),
            Ok(Scored::Metric(metric)) => (job.reward.of_metric(metric), metric),
            Err(error) => {
                return Answer {
                    outcome: Outcome::Failed {
                        reason: error.to_string(),
                    },
                    epochs: Vec::new(),
                    parameters,
                };
            }
        };
        Answer {
            outcome: Outcome::Ok { reward, metric },
            epochs: vec![self.epoch(job, metric)],
            parameters,
        }
    }

    /// The one epoch a surrogate reports: the metric where the job's reward
    /// function looks for it.
    fn epoch(&self, job: &TrainJob, metric: f64) -> EpochMetrics {
        job.reward.epoch_with(1, metric, self.delay.as_secs_f64())
    }
}

/// What an oracle gave: a reward as is, or a metric for the job's reward
/// function.
enum Scored {
    Reward(f64),
    Metric(f64),
}

/// The parameter count of the child the job describes (CIFAR-10 shapes, or
/// a 10,000-word language model of hidden size 200 unless the job sizes
/// it by hidden size or parameters); 0
/// for categorical specs, whose network only their trainer knows.
fn parameters(job: &TrainJob) -> u64 {
    let count = match job.spec.architecture() {
        Architecture::Cnn(cnn) => CnnShapes::of(cnn, ImageShape::CIFAR10).parameter_count(cnn, 10),
        Architecture::Cell(cell) => {
            let options = LanguageModelOptions {
                vocabulary: 10_000,
                hidden: job.hyperparameters.hidden_size.map_or(200, i64::from),
                layers: 2,
                dropout: 0.0,
                tied: true,
                init_range: language_model::INIT_RANGE,
            };
            let leaves = i64::from(cell.leaves);
            let hidden = match job
                .hyperparameters
                .parameters
                .and_then(|count| i64::try_from(count).ok())
            {
                Some(target) => language_model::hidden_for_parameters(&options, leaves, target),
                None => options.hidden,
            };
            language_model::parameter_count(&LanguageModelOptions { hidden, ..options }, leaves)
        }
        Architecture::Categorical(_) => 0,
    };
    u64::try_from(count).unwrap_or(0)
}

impl Worker {
    /// A surrogate's answer: wait the configured delay (handing the job
    /// back on shutdown), then publish the oracle's result.
    pub(super) async fn answer_from_surrogate(
        &self,
        surrogate: &Surrogate,
        job: &TrainJob,
        message: HeldDelivery,
        shutdown: &CancellationToken,
    ) -> crate::Result<super::Outcome> {
        if let Some(curve) = surrogate.curve(job) {
            return self.answer_curve(surrogate, curve, job, message, shutdown).await;
        }
        tokio::select! {
            () = tokio::time::sleep(surrogate.delay) => {}
            () = shutdown.cancelled() => {
                return self.hand_back(message, job.job_id, Error::ShuttingDown).await;
            }
        }
        let answer = surrogate.answer(job);
        let result = self.result(job, &message, PartialResult::of_answer(answer, surrogate.delay))?;
        self.finish(message, result).await
    }

    /// A surrogate's answer from a learning curve: one epoch per delay, its
    /// progress published after each, stopped when the controller says so.
    async fn answer_curve(
        &self,
        surrogate: &Surrogate,
        curve: Result<Vec<EpochMetrics>, String>,
        job: &TrainJob,
        message: HeldDelivery,
        shutdown: &CancellationToken,
    ) -> crate::Result<super::Outcome> {
        let parameters = Surrogate::parameters(job);
        let answer = |outcome, epochs| Answer {
            outcome,
            epochs,
            parameters,
        };
        let curve = match curve {
            Ok(curve) => curve,
            Err(reason) => {
                let failed = answer(Outcome::Failed { reason }, Vec::new());
                let result = self.result(job, &message, PartialResult::of_answer(failed, Duration::ZERO))?;
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
            Ok(metric) if done < curve.len() => Outcome::Stopped {
                reward: job.reward.of_metric(metric),
                metric,
                epochs_done: done as u32,
            },
            Ok(metric) => Outcome::Ok {
                reward: job.reward.of_metric(metric),
                metric,
            },
            Err(error) => Outcome::Failed {
                reason: error.to_string(),
            },
        };
        let seconds = surrogate.delay * done as u32;
        let result = self.result(
            job,
            &message,
            PartialResult::of_answer(answer(outcome, epochs), seconds),
        )?;
        self.finish(message, result).await
    }
}

//! The epoch driver both tasks share. [`run_epochs`] owns the loop:
//! each epoch it lets the task set its learning rate, train its batches
//! and validate ([`EpochTraining`]); it records the epoch's metrics, stops
//! on a non-finite loss or metric (a failed child, with its reason), on
//! the stop flag (a preempted child, with a [`ChildCheckpoint`] to resume
//! from at the same batch) or when the time budget is spent, and finally
//! turns the best validation metric into the reward.
//!
//! The loss is read back every [`CHECK_EVERY`] steps, so the device is not
//! synchronised on every step. On CPU, a fixed seed and thread count give
//! the same result every run, as long as one child trains at a time in the
//! process: initialisation, augmentation and dropout draw from libtorch's
//! process-wide generator, which the tasks seed; the data order of each
//! epoch comes from its own seeded stream ([`super::epoch_order`]).

use std::sync::atomic::Ordering;
use std::time::Instant;

use nas_domain::objective::Costs;
use nas_domain::{EpochMetrics, Outcome, RewardFunction};
use tch::nn;
use tch::{Kind, Tensor};

use super::checkpoint::{ChildCheckpoint, Progress};
use super::sgd::Sgd;
use super::{TrainReport, TrainSettings, device_name, trainable_parameters};
use crate::Result;

/// Steps between reads of the running loss.
pub const CHECK_EVERY: u64 = 25;

/// What a task does in one epoch; [`run_epochs`] drives it.
pub trait EpochTraining {
    /// Prepares epoch `run.progress.epoch` (the learning-rate schedule).
    fn begin_epoch(&mut self, run: &mut Run<'_>);

    /// Trains the epoch's batches from `run.progress.batches_done` on,
    /// calling [`Run::after_step`] after each, and stops at its first
    /// interrupt.
    fn train_batches(&mut self, run: &mut Run<'_>) -> Result<(), Interrupt>;

    /// Scores the child on the validation split.
    fn validate(&mut self) -> Validation;

    /// Reacts to the epoch's validation (a plateau schedule); nothing by
    /// default.
    fn end_epoch(&mut self, _run: &mut Run<'_>, _validation: &Validation) {}

    /// Scores the trained child on the test split.
    fn test(&mut self) -> Result<f64>;

    /// The child's variables and optimizer, for the checkpoint and the
    /// parameter count.
    fn state(&self) -> (&nn::VarStore, &Sgd);

    /// What the trained child costs beyond its parameters and training
    /// seconds ([`super::costs`]); nothing by default.
    fn measure_costs(&mut self) -> Costs {
        Costs::new()
    }
}

/// What validation measured after an epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Validation {
    /// Mean validation loss.
    pub loss: f64,
    /// Accuracy (classification).
    pub accuracy: Option<f64>,
    /// Perplexity (language models).
    pub perplexity: Option<f64>,
    /// Bits per character (character-level language models).
    pub bits_per_char: Option<f64>,
}

impl Validation {
    /// Why the child cannot go on after `epoch`, when a number is not finite.
    fn non_finite(&self, epoch: u32) -> Option<String> {
        let values = [
            ("loss", Some(self.loss)),
            ("accuracy", self.accuracy),
            ("perplexity", self.perplexity),
        ];
        values.into_iter().find_map(|(name, value)| {
            value
                .filter(|value| !value.is_finite())
                .map(|value| format!("the validation {name} is {value} after epoch {epoch}"))
        })
    }
}

/// Trains `task` from `run` on through the epochs of its settings.
pub fn run_epochs(
    task: &mut impl EpochTraining,
    mut run: Run<'_>,
    reward: RewardFunction,
) -> Result<TrainReport> {
    let settings = run.settings;
    let mut interrupt = None;
    while run.progress.epoch <= settings.epochs {
        let epoch = run.progress.epoch;
        let epoch_start = Instant::now();
        task.begin_epoch(&mut run);
        let trained = task.train_batches(&mut run);
        let train_loss = match run.end_training(trained, epoch_start) {
            Ok(loss) => loss,
            Err(stop) => {
                interrupt = Some(stop);
                break;
            }
        };
        let validation = task.validate();
        run.progress.completed.push(EpochMetrics {
            epoch,
            train_loss,
            valid_loss: validation.loss,
            valid_accuracy: validation.accuracy,
            valid_perplexity: validation.perplexity.filter(|p| p.is_finite()),
            valid_bits_per_char: validation.bits_per_char.filter(|b| b.is_finite()),
            metric: None,
            seconds: epoch_start.elapsed().as_secs_f64(),
        });
        tracing::debug!(epoch, train_loss, ?validation, "epoch done");
        if let Some(reason) = validation.non_finite(epoch) {
            interrupt = Some(Interrupt::NonFinite(reason));
            break;
        }
        if let Some(hook) = &settings.on_epoch {
            let seconds = run.progress.train_seconds + run.started.elapsed().as_secs_f64();
            (hook.0)(&run.progress.completed, seconds);
        }
        if epoch < settings.epochs && run.early_stopped() {
            interrupt = Some(Interrupt::EarlyStopped);
            break;
        }
        task.end_epoch(&mut run, &validation);
        if run.over_time() {
            break;
        }
        run.next_epoch();
    }
    let tested = interrupt.is_none() && settings.evaluate_test;
    let (vs, optimizer) = task.state();
    let mut report = run.finish(interrupt, reward, vs, optimizer);
    if tested && matches!(report.outcome, Outcome::Ok { .. }) {
        report.test_metric = Some(task.test()?);
    }
    if matches!(report.outcome, Outcome::Ok { .. } | Outcome::Stopped { .. }) {
        report.costs = task.measure_costs();
    }
    Ok(report)
}

/// Why an epoch loop stopped early.
pub enum Interrupt {
    /// The loss or a metric is not finite (the reason says which).
    NonFinite(String),
    /// The stop flag was raised (preemption, shutdown).
    Stopped,
    /// The early-stop flag was raised (the controller's stopping rule).
    EarlyStopped,
}

/// Everything an epoch loop carries from step to step.
pub struct Run<'a> {
    /// How the child trains.
    pub settings: &'a TrainSettings,
    /// When this run (or resumption) started.
    pub started: Instant,
    /// Where training stands.
    pub progress: Progress,
    arch_id: String,
    running: Tensor,
    steps_read: u64,
}

impl<'a> Run<'a> {
    /// A run from scratch, or from a checkpoint's progress.
    pub fn new(
        settings: &'a TrainSettings,
        arch_id: String,
        learning_rate: f64,
        resume: Option<&ChildCheckpoint>,
    ) -> Self {
        let progress = match resume {
            Some(checkpoint) => checkpoint.progress.clone(),
            None => Progress {
                epoch: 1,
                batches_done: 0,
                completed: Vec::new(),
                loss_sum: 0.0,
                examples: 0.0,
                train_seconds: 0.0,
                fit_seconds: 0.0,
                learning_rate,
                best: None,
            },
        };
        let running = Tensor::from(progress.loss_sum)
            .to_kind(Kind::Float)
            .to_device(settings.device);
        Run {
            settings,
            arch_id,
            started: Instant::now(),
            progress,
            running,
            steps_read: 0,
        }
    }

    /// Starts the next epoch's bookkeeping.
    pub fn next_epoch(&mut self) {
        self.progress.epoch += 1;
        self.progress.batches_done = 0;
        self.progress.loss_sum = 0.0;
        self.running = Tensor::zeros([], (Kind::Float, self.settings.device));
        self.steps_read = 0;
    }

    /// Records a trained batch of `examples`; checks the stop flag, and the
    /// running loss every [`CHECK_EVERY`] steps.
    pub fn after_step(&mut self, loss: &Tensor, examples: f64) -> Result<(), Interrupt> {
        self.running += loss.detach();
        self.progress.batches_done += 1;
        self.progress.examples += examples;
        if self.early_stopped() {
            return Err(Interrupt::EarlyStopped);
        }
        if self
            .settings
            .stop
            .as_deref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
        {
            return Err(Interrupt::Stopped);
        }
        if self.progress.batches_done.is_multiple_of(CHECK_EVERY) {
            self.mean_loss()?;
        }
        Ok(())
    }

    /// Whether the stopping rule stopped the child (honoured only once an
    /// epoch is complete, so there is a curve to reward).
    fn early_stopped(&self) -> bool {
        !self.progress.completed.is_empty()
            && self
                .settings
                .early_stop
                .as_deref()
                .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    /// Closes an epoch's training steps that began at `started` and ended
    /// with `result`: the mean training loss, or why the run must stop.
    fn end_training(&mut self, result: Result<(), Interrupt>, started: Instant) -> Result<f64, Interrupt> {
        self.progress.fit_seconds += started.elapsed().as_secs_f64();
        result.and_then(|()| self.mean_loss())
    }

    /// The mean training loss of this epoch so far; fails when non-finite.
    pub fn mean_loss(&mut self) -> Result<f64, Interrupt> {
        let total = self.running.double_value(&[]);
        self.progress.loss_sum = total;
        if total.is_finite() {
            Ok(total / self.progress.batches_done.max(1) as f64)
        } else {
            Err(Interrupt::NonFinite(format!(
                "the training loss became non-finite in epoch {} (by batch {})",
                self.progress.epoch, self.progress.batches_done
            )))
        }
    }

    /// Whether the time budget is spent.
    pub fn over_time(&self) -> bool {
        self.settings
            .max_seconds
            .is_some_and(|limit| self.progress.train_seconds + self.started.elapsed().as_secs_f64() >= limit)
    }

    /// Ends the run: the outcome from the interrupt or the reward function.
    fn finish(
        mut self,
        interrupt: Option<Interrupt>,
        reward: RewardFunction,
        vs: &nn::VarStore,
        optimizer: &Sgd,
    ) -> TrainReport {
        let elapsed = self.started.elapsed().as_secs_f64();
        self.progress.train_seconds += elapsed;
        let epochs = self.progress.completed.clone();
        let mut checkpoint = None;
        let outcome = match interrupt {
            Some(Interrupt::NonFinite(reason)) => Outcome::Failed { reason },
            Some(Interrupt::EarlyStopped) => match reward.best_metric(&epochs) {
                Ok(metric) if metric.is_finite() => Outcome::Stopped {
                    reward: reward.of_metric(metric),
                    metric,
                    epochs_done: epochs.len() as u32,
                },
                Ok(metric) => Outcome::Failed {
                    reason: format!("the validation metric is {metric}"),
                },
                Err(error) => Outcome::Failed {
                    reason: error.to_string(),
                },
            },
            Some(Interrupt::Stopped) => {
                let _ = self.mean_loss();
                checkpoint = Some(ChildCheckpoint {
                    arch_id: self.arch_id.clone(),
                    progress: self.progress.clone(),
                    variables: vs.variables().into_iter().collect(),
                    momentum: optimizer.buffers(),
                });
                Outcome::Preempted {
                    epochs_done: epochs.len() as u32,
                }
            }
            None => match reward.best_metric(&epochs) {
                Ok(metric) if metric.is_finite() => Outcome::Ok {
                    reward: reward.of_metric(metric),
                    metric,
                },
                Ok(metric) => Outcome::Failed {
                    reason: format!("the validation metric is {metric}"),
                },
                Err(error) => Outcome::Failed {
                    reason: error.to_string(),
                },
            },
        };
        let fit = self.progress.fit_seconds;
        TrainReport {
            outcome,
            epochs,
            parameters: trainable_parameters(vs),
            train_seconds: self.progress.train_seconds,
            throughput: if fit > 0.0 {
                self.progress.examples / fit
            } else {
                0.0
            },
            device: device_name(self.settings.device),
            checkpoint,
            test_metric: None,
            started: self.started,
            costs: Costs::new(),
        }
    }
}

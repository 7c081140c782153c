//! Training children, shared parts: the settings, the report, the step
//! guard that watches the loss and the stop flag, and the epoch bookkeeping.
//! The loops themselves are in [`crate::train_cnn`] and
//! [`crate::train_language_model`], whose docs give the paper's settings.
//!
//! A non-finite training loss ends the child with a failed outcome and its
//! reason. A raised stop flag ends it as preempted at the next batch
//! boundary, with a [`ChildCheckpoint`] from which another worker resumes
//! at the same batch. The loss is read back every [`CHECK_EVERY`] steps, so
//! the device is not synchronised on every step. On CPU, a fixed seed and
//! thread count give the same result every run, as long as one child trains
//! at a time in the process: initialisation, augmentation and dropout draw
//! from libtorch's process-wide generator, which the loops seed; the data
//! order of each epoch comes from its own seeded stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use nas_common::{EpochMetrics, Outcome, RewardFunction};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use tch::nn;
use tch::{Device, Kind, Tensor};

use crate::child_checkpoint::{ChildCheckpoint, Progress};
use crate::cnn::Precision;
use crate::guardrails::Limits;
use crate::sgd::Sgd;

/// Steps between reads of the running loss.
pub const CHECK_EVERY: u64 = 25;

/// How to train a child; `None` means the task's default.
#[derive(Clone, Debug)]
pub struct TrainSettings {
    /// Epochs (at least 1).
    pub epochs: u32,
    /// Mini-batch size.
    pub batch_size: Option<i64>,
    /// Initial learning rate.
    pub learning_rate: Option<f64>,
    /// Weight decay (CNN).
    pub weight_decay: Option<f64>,
    /// Epoch after which the CNN learning rate drops tenfold.
    pub lr_decay_epoch: Option<u32>,
    /// Batch-norm epsilon (CNN).
    pub bn_epsilon: Option<f64>,
    /// Convolution precision (CNN); `bf16` on CUDA and `f32` on CPU when
    /// absent.
    pub precision: Option<Precision>,
    /// Hidden size of the language model.
    pub hidden: Option<i64>,
    /// Seed of initialisation, data order and augmentation.
    pub seed: u64,
    /// Where to train.
    pub device: Device,
    /// Stop after the epoch during which this many seconds have passed.
    pub max_seconds: Option<f64>,
    /// Limits checked before anything is allocated.
    pub limits: Limits,
    /// Raised to stop (preemption): the child ends as preempted.
    pub stop: Option<Arc<AtomicBool>>,
    /// Score the trained child on the test split too.
    pub evaluate_test: bool,
}

impl TrainSettings {
    /// Defaults for `epochs` epochs on the CPU.
    pub fn new(epochs: u32) -> Self {
        TrainSettings {
            epochs,
            batch_size: None,
            learning_rate: None,
            weight_decay: None,
            lr_decay_epoch: None,
            bn_epsilon: None,
            precision: None,
            hidden: None,
            seed: 0,
            device: Device::Cpu,
            max_seconds: None,
            limits: Limits::default(),
            stop: None,
            evaluate_test: false,
        }
    }
}

/// What training produced.
pub struct TrainReport {
    /// Ok with reward, failed with reason, or preempted.
    pub outcome: Outcome,
    /// Metrics of every completed epoch.
    pub epochs: Vec<EpochMetrics>,
    /// Trainable parameters.
    pub parameters: i64,
    /// Seconds spent training and evaluating.
    pub train_seconds: f64,
    /// Training examples (images or tokens) per second of training.
    pub throughput: f64,
    /// Where it trained.
    pub device: String,
    /// When preempted: the state to resume from.
    pub checkpoint: Option<ChildCheckpoint>,
    /// Test accuracy or perplexity, when asked for and trained to the end.
    pub test_metric: Option<f64>,
    /// When the training loop started (just before the first step).
    pub started: Instant,
}

/// The device's name for reports (`cpu`, `cuda:0`).
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(index) => format!("cuda:{index}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Trainable scalars in a variable store, counted from the tensors (the
/// guardrails' formula is checked against this count by the tests).
pub fn trainable_parameters(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
}

/// The named trainable parameters of a variable store.
pub fn named_trainable(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    vs.variables()
        .into_iter()
        .filter(|(_, tensor)| tensor.requires_grad())
        .collect()
}

/// The data order of one epoch: a permutation of `0..count` from the
/// child's seed and the epoch number, so a resumed child sees the same order.
pub fn epoch_order(seed: u64, epoch: u32, count: i64, device: Device) -> Tensor {
    let mut order: Vec<i64> = (0..count).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::from(epoch));
    order.shuffle(&mut rng);
    Tensor::from_slice(&order).to_device(device)
}

/// Why an epoch loop stopped early.
pub(crate) enum Interrupt {
    NonFinite(String),
    Stopped,
}

/// Everything an epoch loop carries from step to step.
pub(crate) struct Run<'a> {
    pub settings: &'a TrainSettings,
    pub started: Instant,
    pub progress: Progress,
    running: Tensor,
    steps_read: u64,
}

impl<'a> Run<'a> {
    /// A run from scratch, or from a checkpoint's progress.
    pub fn new(settings: &'a TrainSettings, learning_rate: f64, resume: Option<&ChildCheckpoint>) -> Self {
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

    /// Closes an epoch's training steps that began at `started` and ended
    /// with `result`: the mean training loss, or why the run must stop.
    pub fn end_training(
        &mut self,
        result: Result<(), Interrupt>,
        started: Instant,
    ) -> Result<f64, Interrupt> {
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
    pub fn finish(
        mut self,
        interrupt: Option<Interrupt>,
        reward: RewardFunction,
        vs: &nn::VarStore,
        optimizer: &Sgd,
        arch_id: String,
    ) -> TrainReport {
        let elapsed = self.started.elapsed().as_secs_f64();
        self.progress.train_seconds += elapsed;
        let epochs = self.progress.completed.clone();
        let mut checkpoint = None;
        let outcome = match interrupt {
            Some(Interrupt::NonFinite(reason)) => Outcome::Failed { reason },
            Some(Interrupt::Stopped) => {
                let _ = self.mean_loss();
                checkpoint = Some(ChildCheckpoint {
                    arch_id,
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
        }
    }
}

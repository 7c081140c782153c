//! Training and evaluation of children, as in the paper.
//!
//! - **CNN** (CIFAR-10): SGD with Nesterov momentum 0.9, learning rate 0.1,
//!   weight decay 1e-4 (on every parameter), batch 128; the learning rate
//!   drops tenfold after epoch `lr_decay_epoch` (default: three quarters of
//!   the epochs, rounded up). Training batches are augmented; validation
//!   after every epoch.
//! - **Language model** (PTB): plain SGD, learning rate 5, gradients clipped
//!   to a global norm of 0.25, batch 20, truncated BPTT over 35 steps, dropout
//!   0.2, tied embeddings; the learning rate is divided by 4 after an epoch
//!   that did not improve the validation perplexity. These are the settings
//!   of PyTorch's word-language-model example except the learning rate: its
//!   20 makes many sampled cells diverge in the first epoch, 5 trains 11 of
//!   12 fresh-policy samples on synthetic PTB.
//!
//! A non-finite training loss ends the child with a failed outcome and its
//! reason; a raised stop flag ends it as preempted after the current step.
//! The loss is read back every [`CHECK_EVERY`] steps, so the device is not
//! synchronised on every step. On CPU, a fixed seed and thread count give
//! the same result every run, as long as one child trains at a time in the
//! process: initialisation, shuffling, augmentation and dropout draw from
//! libtorch's process-wide generator, which [`train_cnn`] and
//! [`train_language_model`] seed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use nas_common::spec::{CellArch, CnnArch};
use nas_common::{EpochMetrics, Outcome, RewardFunction};
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::cifar10::{Cifar10, ImageBatcher, Split};
use crate::cnn::{CnnChild, CnnOptions, ImageShape, Precision};
use crate::guardrails::Limits;
use crate::language_model::{LanguageModel, LanguageModelOptions, State};
use crate::ptb::{self, Corpus};
use crate::{Error, Result};

/// Steps between reads of the running loss.
pub const CHECK_EVERY: usize = 25;

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
        }
    }
}

/// What training produced.
#[derive(Clone, Debug)]
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
}

/// Default CNN settings.
const CNN_BATCH: i64 = 128;
const CNN_LR: f64 = 0.1;
const CNN_MOMENTUM: f64 = 0.9;
const CNN_WEIGHT_DECAY: f64 = 1e-4;
const EVAL_BATCH: i64 = 500;

/// Default language-model settings.
const LM_BATCH: i64 = 20;
const LM_EVAL_BATCH: i64 = 10;
const LM_STEPS: i64 = 35;
const LM_LR: f64 = 5.0;
const LM_CLIP: f64 = 0.25;
const LM_DROPOUT: f64 = 0.2;
const LM_HIDDEN: i64 = 200;
const LM_LAYERS: i64 = 2;

/// The device's name for reports (`cpu`, `cuda:0`).
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(index) => format!("cuda:{index}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Why an epoch loop stopped early.
enum Interrupt {
    NonFinite(String),
    Stopped,
}

/// Tracks the running loss and the stop flag.
struct StepGuard<'a> {
    stop: Option<&'a AtomicBool>,
    running: Tensor,
    steps: usize,
    epoch: u32,
}

impl<'a> StepGuard<'a> {
    fn new(settings: &'a TrainSettings, epoch: u32) -> Self {
        StepGuard {
            stop: settings.stop.as_deref(),
            running: Tensor::zeros([], (Kind::Float, settings.device)),
            steps: 0,
            epoch,
        }
    }

    /// Adds a step's loss; every `CHECK_EVERY` steps, fails on a non-finite
    /// running loss.
    fn after_step(&mut self, loss: &Tensor) -> std::result::Result<(), Interrupt> {
        self.running += loss.detach();
        self.steps += 1;
        if self.stop.is_some_and(|flag| flag.load(Ordering::Relaxed)) {
            return Err(Interrupt::Stopped);
        }
        if self.steps.is_multiple_of(CHECK_EVERY) {
            self.check()?;
        }
        Ok(())
    }

    fn check(&self) -> std::result::Result<f64, Interrupt> {
        let total = self.running.double_value(&[]);
        if total.is_finite() {
            Ok(total / self.steps.max(1) as f64)
        } else {
            Err(Interrupt::NonFinite(format!(
                "the training loss became non-finite in epoch {} (by step {})",
                self.epoch, self.steps
            )))
        }
    }
}

/// Assembles the report once the epoch loop has ended.
fn finish(
    epochs: Vec<EpochMetrics>,
    interrupt: Option<Interrupt>,
    reward: RewardFunction,
    parameters: i64,
    started: Instant,
    trained: (f64, f64),
    device: Device,
) -> TrainReport {
    let outcome = match interrupt {
        Some(Interrupt::NonFinite(reason)) => Outcome::Failed { reason },
        Some(Interrupt::Stopped) => Outcome::Preempted {
            epochs_done: epochs.len() as u32,
        },
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
    let (examples, seconds) = trained;
    TrainReport {
        outcome,
        epochs,
        parameters,
        train_seconds: started.elapsed().as_secs_f64(),
        throughput: if seconds > 0.0 { examples / seconds } else { 0.0 },
        device: device_name(device),
    }
}

fn over_time(settings: &TrainSettings, started: Instant) -> bool {
    settings
        .max_seconds
        .is_some_and(|limit| started.elapsed().as_secs_f64() >= limit)
}

/// Trains a CNN child on CIFAR-10.
pub fn train_cnn(
    arch: &CnnArch,
    data: &Cifar10,
    settings: &TrainSettings,
    reward: RewardFunction,
) -> Result<TrainReport> {
    let batch = settings.batch_size.unwrap_or(CNN_BATCH);
    let options = CnnOptions {
        bn_epsilon: settings.bn_epsilon.unwrap_or(CnnOptions::default().bn_epsilon),
        precision: settings.precision.unwrap_or(match settings.device {
            Device::Cuda(_) => Precision::Bf16,
            _ => Precision::F32,
        }),
        ..CnnOptions::default()
    };
    settings
        .limits
        .check_cnn(arch, ImageShape::CIFAR10, options.classes, batch)?;
    let started = Instant::now();
    tch::manual_seed(settings.seed as i64);
    let vs = nn::VarStore::new(settings.device);
    let model = CnnChild::new(&vs.root(), arch, ImageShape::CIFAR10, options);
    let learning_rate = settings.learning_rate.unwrap_or(CNN_LR);
    let mut optimizer = nn::Sgd {
        momentum: CNN_MOMENTUM,
        dampening: 0.0,
        wd: settings.weight_decay.unwrap_or(CNN_WEIGHT_DECAY),
        nesterov: true,
    }
    .build(&vs, learning_rate)?;
    let decay_epoch = settings
        .lr_decay_epoch
        .unwrap_or_else(|| (3 * settings.epochs).div_ceil(4));
    let batcher = ImageBatcher::new(data);
    let train_count = data.train.len();
    let (mut examples, mut train_time) = (0.0, 0.0);
    let mut epochs = Vec::new();
    let mut interrupt = None;
    for epoch in 1..=settings.epochs {
        let epoch_start = Instant::now();
        optimizer.set_lr(if epoch > decay_epoch {
            learning_rate * 0.1
        } else {
            learning_rate
        });
        let mut guard = StepGuard::new(settings, epoch);
        let order = Tensor::randperm(train_count, (Kind::Int64, settings.device));
        let mut result = Ok(());
        for start in (0..train_count).step_by(batch as usize) {
            let size = batch.min(train_count - start);
            if size < 2 {
                break; // batch norm needs two images
            }
            let (images, labels) = batcher.batch(&data.train, &order.narrow(0, start, size), true);
            let loss = model.forward_t(&images, true).cross_entropy_for_logits(&labels);
            optimizer.backward_step(&loss);
            examples += size as f64;
            result = guard.after_step(&loss);
            if result.is_err() {
                break;
            }
        }
        let train_loss = result.and_then(|()| guard.check());
        train_time += epoch_start.elapsed().as_secs_f64();
        let train_loss = match train_loss {
            Ok(loss) => loss,
            Err(stop) => {
                interrupt = Some(stop);
                break;
            }
        };
        let (valid_loss, accuracy) = evaluate_cnn(&model, &batcher, &data.valid);
        epochs.push(EpochMetrics {
            epoch,
            train_loss,
            valid_loss,
            valid_accuracy: Some(accuracy),
            valid_perplexity: None,
            seconds: epoch_start.elapsed().as_secs_f64(),
        });
        if !valid_loss.is_finite() {
            interrupt = Some(Interrupt::NonFinite(format!(
                "the validation loss is {valid_loss} after epoch {epoch}"
            )));
            break;
        }
        if over_time(settings, started) {
            break;
        }
    }
    Ok(finish(
        epochs,
        interrupt,
        reward,
        trainable_parameters(&vs),
        started,
        (examples, train_time),
        settings.device,
    ))
}

/// Mean loss and accuracy of `model` on `split`.
pub fn evaluate_cnn(model: &CnnChild, batcher: &ImageBatcher, split: &Split) -> (f64, f64) {
    let count = split.len();
    let device = split.images.device();
    tch::no_grad(|| {
        let mut loss = Tensor::zeros([], (Kind::Double, device));
        let mut correct = Tensor::zeros([], (Kind::Int64, device));
        for start in (0..count).step_by(EVAL_BATCH as usize) {
            let size = EVAL_BATCH.min(count - start);
            let indices = Tensor::arange_start(start, start + size, (Kind::Int64, device));
            let (images, labels) = batcher.batch(split, &indices, false);
            let logits = model.forward_t(&images, false);
            loss += logits.cross_entropy_for_logits(&labels).to_kind(Kind::Double) * size as f64;
            correct += logits.argmax(-1, false).eq_tensor(&labels).sum(Kind::Int64);
        }
        let count = count.max(1) as f64;
        (
            loss.double_value(&[]) / count,
            correct.int64_value(&[]) as f64 / count,
        )
    })
}

/// Trains a language model around `cell` on a PTB corpus. `train_tokens`
/// limits the training stream (a subset for small runs).
pub fn train_language_model(
    cell: &CellArch,
    corpus: &Corpus,
    train_tokens: Option<i64>,
    settings: &TrainSettings,
    reward: RewardFunction,
) -> Result<TrainReport> {
    let batch = settings.batch_size.unwrap_or(LM_BATCH);
    let options = LanguageModelOptions {
        vocabulary: corpus.vocabulary.len() as i64,
        hidden: settings.hidden.unwrap_or(LM_HIDDEN),
        layers: LM_LAYERS,
        dropout: LM_DROPOUT,
        tied: true,
    };
    let leaves = i64::from(cell.leaves);
    settings
        .limits
        .check_language_model(&options, leaves, batch, LM_STEPS)?;
    let available = corpus.train.size()[0];
    let tokens = train_tokens.unwrap_or(available).min(available);
    if tokens < batch * 2 {
        return Err(Error::Config(format!(
            "{tokens} training tokens cannot fill {batch} streams"
        )));
    }
    let started = Instant::now();
    tch::manual_seed(settings.seed as i64);
    let vs = nn::VarStore::new(settings.device);
    let model = LanguageModel::new(&vs.root(), cell, options);
    let mut learning_rate = settings.learning_rate.unwrap_or(LM_LR);
    let mut optimizer = nn::Sgd::default().build(&vs, learning_rate)?;
    let streams = ptb::batchify(&corpus.train.narrow(0, 0, tokens), batch);
    let valid = ptb::batchify(&corpus.valid, LM_EVAL_BATCH);
    let (mut examples, mut train_time) = (0.0, 0.0);
    let mut best = f64::INFINITY;
    let mut epochs = Vec::new();
    let mut interrupt = None;
    for epoch in 1..=settings.epochs {
        let epoch_start = Instant::now();
        let mut guard = StepGuard::new(settings, epoch);
        let mut state = model.zero_state(batch, settings.device);
        let mut result = Ok(());
        for (inputs, targets) in ptb::windows(&streams, LM_STEPS) {
            state = detach(&state);
            let (logits, next) = model.forward(&inputs, &state, true);
            state = next;
            let loss = logits.cross_entropy_for_logits(&targets.reshape([-1]));
            optimizer.zero_grad();
            loss.backward();
            optimizer.clip_grad_norm(LM_CLIP);
            optimizer.step();
            examples += targets.numel() as f64;
            result = guard.after_step(&loss);
            if result.is_err() {
                break;
            }
        }
        let train_loss = result.and_then(|()| guard.check());
        train_time += epoch_start.elapsed().as_secs_f64();
        let train_loss = match train_loss {
            Ok(loss) => loss,
            Err(stop) => {
                interrupt = Some(stop);
                break;
            }
        };
        let valid_loss = evaluate_language_model(&model, &valid, settings.device);
        let perplexity = valid_loss.exp();
        epochs.push(EpochMetrics {
            epoch,
            train_loss,
            valid_loss,
            valid_accuracy: None,
            valid_perplexity: perplexity.is_finite().then_some(perplexity),
            seconds: epoch_start.elapsed().as_secs_f64(),
        });
        if !perplexity.is_finite() {
            interrupt = Some(Interrupt::NonFinite(format!(
                "the validation perplexity is {perplexity} after epoch {epoch}"
            )));
            break;
        }
        if perplexity < best {
            best = perplexity;
        } else {
            learning_rate /= 4.0;
            optimizer.set_lr(learning_rate);
        }
        if over_time(settings, started) {
            break;
        }
    }
    Ok(finish(
        epochs,
        interrupt,
        reward,
        trainable_parameters(&vs),
        started,
        (examples, train_time),
        settings.device,
    ))
}

/// Mean per-token loss of `model` over batchified `streams`.
pub fn evaluate_language_model(model: &LanguageModel, streams: &Tensor, device: Device) -> f64 {
    tch::no_grad(|| {
        let mut state = model.zero_state(streams.size()[0], device);
        let mut total = Tensor::zeros([], (Kind::Double, device));
        let mut count = 0i64;
        for (inputs, targets) in ptb::windows(streams, LM_STEPS) {
            let (logits, next) = model.forward(&inputs, &state, false);
            state = next;
            let tokens = targets.numel() as i64;
            total += logits
                .cross_entropy_for_logits(&targets.reshape([-1]))
                .to_kind(Kind::Double)
                * tokens as f64;
            count += tokens;
        }
        total.double_value(&[]) / count.max(1) as f64
    })
}

/// Trainable scalars in a variable store, counted from the tensors (the
/// guardrails' formula is checked against this count by the tests).
pub fn trainable_parameters(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
}

fn detach(state: &State) -> State {
    state.iter().map(|(h, c)| (h.detach(), c.detach())).collect()
}

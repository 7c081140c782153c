//! Training children: a job's settings and data go in, a [`TrainReport`]
//! comes out.
//!
//! - [`job`] turns a `TrainJob` into settings and keeps the loaded data
//!   between jobs;
//! - [`epochs`] is the one epoch driver both tasks share: it runs the
//!   epochs, watches the loss and the stop flag, validates, checkpoints a
//!   stopped child and turns the metrics into the reward;
//! - [`cnn`] and [`language_model`] say what an epoch is for each task
//!   (their docs give the paper's settings), with [`sgd`] as the optimizer;
//! - [`checkpoint`] is the state a preempted child resumes from.
//!
//! A non-finite training loss ends the child with a failed outcome and its
//! reason. A raised stop flag ends it as preempted at the next batch
//! boundary, with a [`ChildCheckpoint`] from which another worker resumes
//! at the same batch. A raised early-stop flag (the controller's stopping
//! rule) ends it as stopped at the next batch boundary once an epoch is
//! complete, rewarded from its completed epochs; an [`EpochHook`] hears
//! every completed epoch. The loss is read back every [`CHECK_EVERY`] steps, so
//! the device is not synchronised on every step. On CPU, a fixed seed and
//! thread count give the same result every run, as long as one child trains
//! at a time in the process: initialisation, augmentation and dropout draw
//! from libtorch's process-wide generator, which the loops seed; the data
//! order of each epoch comes from its own seeded stream.

pub mod checkpoint;
pub mod cnn;
pub mod costs;
pub mod epochs;
pub mod job;
pub mod language_model;
pub mod local;
pub mod sgd;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use nas_domain::{EpochMetrics, Outcome, RewardFunction};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use tch::nn;
use tch::{Device, Tensor};

use crate::model::cnn::Precision;
use crate::model::guardrails::Limits;
use checkpoint::ChildCheckpoint;

pub use epochs::CHECK_EVERY;

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
    /// Language models: pick the hidden size whose model is nearest this
    /// many parameters (instead of `hidden`).
    pub parameters: Option<i64>,
    /// Language models: dropout on embeddings, between layers and before
    /// the decoder (default 0.2).
    pub dropout: Option<f64>,
    /// Language models: the embedding starts uniform in `±init_range`
    /// (default 0.1).
    pub init_range: Option<f64>,
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
    /// Raised by the controller's stopping rule: once an epoch is complete
    /// the child ends as stopped, its reward from the epochs it completed.
    pub early_stop: Option<Arc<AtomicBool>>,
    /// Told every completed epoch (the progress a worker reports).
    pub on_epoch: Option<EpochHook>,
    /// Score the trained child on the test split too.
    pub evaluate_test: bool,
    /// Language models: train on only this many tokens of the training
    /// stream.
    pub train_tokens: Option<i64>,
    /// How the validation metric becomes the reward; the default for the
    /// child's kind when absent.
    pub reward: Option<RewardFunction>,
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
            parameters: None,
            dropout: None,
            init_range: None,
            seed: 0,
            device: Device::Cpu,
            max_seconds: None,
            limits: Limits::default(),
            stop: None,
            early_stop: None,
            on_epoch: None,
            evaluate_test: false,
            train_tokens: None,
            reward: None,
        }
    }
}

/// What an [`EpochHook`] calls: the epochs so far, the training seconds so
/// far.
pub type EpochCallback = dyn Fn(&[EpochMetrics], f64) + Send + Sync;

/// Called after every completed epoch with the epochs so far and the
/// training seconds so far (from the blocking training thread).
#[derive(Clone)]
pub struct EpochHook(pub Arc<EpochCallback>);

impl std::fmt::Debug for EpochHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EpochHook")
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
    /// What the child costs beyond its parameters and training seconds
    /// (latency, multiply-adds), measured after it trained or stopped.
    pub costs: nas_domain::objective::Costs,
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

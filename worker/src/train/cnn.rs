//! Training a CNN child on CIFAR-10, as in the paper: SGD with Nesterov
//! momentum 0.9, learning rate 0.1, weight decay 1e-4 (on every parameter),
//! batch 128; the learning rate drops tenfold after epoch `lr_decay_epoch`
//! (default: three quarters of the epochs, rounded up). Training batches are
//! augmented (pad 4, random crop, horizontal flip); validation after every
//! epoch. The epochs themselves are run by [`super::epochs::run_epochs`].

use nas_domain::spec::CnnArch;
use nas_domain::{ArchKind, ArchSpec, RewardFunction};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

use nas_domain::objective::{Cost, Costs};

use super::checkpoint::ChildCheckpoint;
use super::costs;
use super::epochs::{EpochTraining, Interrupt, Run, Validation, run_epochs};
use super::sgd::{Sgd, SgdConfig};
use super::{TrainReport, TrainSettings, epoch_order, named_trainable};
use crate::data::cifar10::{Augmentation, Cifar10, ImageBatcher, Split};
use crate::model::cnn::{CnnChild, CnnOptions, CnnShapes, ImageShape, Precision};
use crate::model::guardrails;
use crate::{Error, Result};

const BATCH: i64 = 128;
const LEARNING_RATE: f64 = 0.1;
const MOMENTUM: f64 = 0.9;
const WEIGHT_DECAY: f64 = 1e-4;
const EVAL_BATCH: i64 = 500;

/// Trains a CNN child on CIFAR-10, from scratch or from `resume`.
pub fn train_cnn(
    arch: &CnnArch,
    data: &Cifar10,
    settings: &TrainSettings,
    resume: Option<&ChildCheckpoint>,
) -> Result<TrainReport> {
    let batch = settings.batch_size.unwrap_or(BATCH);
    let options = options_for(arch, settings);
    check_limits(arch, settings)?;
    tch::manual_seed(settings.seed as i64);
    let vs = nn::VarStore::new(settings.device);
    let model = CnnChild::new(&vs.root(), arch, ImageShape::CIFAR10, options);
    let shapes = CnnShapes::of(arch, ImageShape::CIFAR10);
    let multiply_adds = shapes.conv_macs(arch).iter().sum::<i64>() + shapes.final_channels * options.classes;
    let learning_rate = settings.learning_rate.unwrap_or(LEARNING_RATE);
    let mut optimizer = Sgd::new(
        SgdConfig {
            learning_rate,
            momentum: MOMENTUM,
            weight_decay: settings.weight_decay.unwrap_or(WEIGHT_DECAY),
            nesterov: true,
        },
        named_trainable(&vs),
    );
    if let Some(checkpoint) = resume {
        checkpoint.restore_variables(&vs)?;
        optimizer.restore_buffers(&checkpoint.momentum);
    }
    let mut task = CnnTraining {
        model,
        vs,
        optimizer,
        batcher: ImageBatcher::new(data),
        data,
        batch,
        learning_rate,
        decay_epoch: settings
            .lr_decay_epoch
            .unwrap_or_else(|| (3 * settings.epochs).div_ceil(4)),
        multiply_adds,
    };
    let arch_id = ArchSpec::cnn(arch.clone())?.id().to_string();
    let run = Run::new(settings, arch_id, learning_rate, resume);
    let reward = settings
        .reward
        .unwrap_or_else(|| RewardFunction::default_for(ArchKind::Cnn));
    run_epochs(&mut task, run, reward)
}

/// Precision and memory layout for `arch` on the settings' device.
/// The parameters and activation estimate of `arch` on CIFAR-10 under
/// `settings` (its batch size), or the error naming the limit it passes;
/// training checks this before it allocates anything.
pub fn check_limits(arch: &CnnArch, settings: &TrainSettings) -> Result<guardrails::Cost> {
    let batch = settings.batch_size.unwrap_or(BATCH);
    let classes = CnnOptions::default().classes;
    settings
        .limits
        .check_cnn(arch, ImageShape::CIFAR10, classes, batch)
}

fn options_for(arch: &CnnArch, settings: &TrainSettings) -> CnnOptions {
    let cuda = matches!(settings.device, Device::Cuda(_));
    CnnOptions {
        bn_epsilon: settings.bn_epsilon.unwrap_or(CnnOptions::default().bn_epsilon),
        precision: settings
            .precision
            .unwrap_or(if cuda { Precision::Bf16 } else { Precision::F32 }),
        // Tensor cores want NHWC on CUDA; on the CPU it depends on the child.
        channels_last: cuda || CnnShapes::of(arch, ImageShape::CIFAR10).prefers_channels_last(arch),
        ..CnnOptions::default()
    }
}

/// A CNN child's epoch: augmented batches in a seeded order, then accuracy
/// on the validation split.
struct CnnTraining<'a> {
    model: CnnChild,
    vs: nn::VarStore,
    optimizer: Sgd,
    batcher: ImageBatcher,
    data: &'a Cifar10,
    batch: i64,
    learning_rate: f64,
    decay_epoch: u32,
    /// Multiply-adds of one image's forward pass.
    multiply_adds: i64,
}

impl EpochTraining for CnnTraining<'_> {
    fn begin_epoch(&mut self, run: &mut Run<'_>) {
        let decayed = run.progress.epoch > self.decay_epoch;
        let factor = if decayed { 0.1 } else { 1.0 };
        self.optimizer.set_learning_rate(self.learning_rate * factor);
    }

    fn train_batches(&mut self, run: &mut Run<'_>) -> Result<(), Interrupt> {
        let settings = run.settings;
        let count = self.data.train.len();
        let order = epoch_order(settings.seed, run.progress.epoch, count, settings.device);
        let first = run.progress.batches_done as i64 * self.batch;
        for start in (first..count).step_by(self.batch as usize) {
            let size = self.batch.min(count - start);
            if size < 2 {
                break; // batch norm needs two images
            }
            let indices = order.narrow(0, start, size);
            let (images, labels) = self
                .batcher
                .batch(&self.data.train, &indices, Augmentation::PadCropFlip);
            let loss = self
                .model
                .forward_t(&images, true)
                .cross_entropy_for_logits(&labels);
            self.optimizer.zero_grad();
            loss.backward();
            self.optimizer.step();
            run.after_step(&loss, size as f64)?;
        }
        Ok(())
    }

    fn validate(&mut self) -> Validation {
        let (loss, accuracy) = evaluate_cnn(&self.model, &self.batcher, &self.data.valid);
        Validation {
            loss,
            accuracy: Some(accuracy),
            perplexity: None,
            bits_per_char: None,
        }
    }

    fn test(&mut self) -> Result<f64> {
        let test = self
            .data
            .test
            .as_ref()
            .ok_or_else(|| Error::Config("the test split was not loaded".into()))?;
        Ok(evaluate_cnn(&self.model, &self.batcher, test).1)
    }

    fn state(&self) -> (&nn::VarStore, &Sgd) {
        (&self.vs, &self.optimizer)
    }

    /// Latency at batch 1 and at the training batch on random images, and
    /// the multiply-adds of the convolutions and the classifier per image.
    fn measure_costs(&mut self) -> Costs {
        let device = self.vs.device();
        let model = &self.model;
        let shape = ImageShape::CIFAR10;
        let images = |batch: i64| {
            Tensor::randn(
                [batch, shape.channels, shape.height, shape.width],
                (Kind::Float, device),
            )
        };
        let (one, full) = (images(1), images(self.batch));
        let mut costs = tch::no_grad(|| {
            costs::latencies(device, self.batch, |batch| {
                let input = if batch == 1 { &one } else { &full };
                let _ = model.forward_t(input, false);
            })
        });
        let _ = costs.set(Cost::MultiplyAdds, self.multiply_adds as f64);
        costs
    }
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
            let (images, labels) = batcher.batch(split, &indices, Augmentation::None);
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

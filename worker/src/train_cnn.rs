//! Training a CNN child on CIFAR-10, as in the paper: SGD with Nesterov
//! momentum 0.9, learning rate 0.1, weight decay 1e-4 (on every parameter),
//! batch 128; the learning rate drops tenfold after epoch `lr_decay_epoch`
//! (default: three quarters of the epochs, rounded up). Training batches are
//! augmented (pad 4, random crop, horizontal flip); validation after every
//! epoch.

use std::time::Instant;

use nas_common::spec::CnnArch;
use nas_common::{EpochMetrics, RewardFunction};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

use crate::Result;
use crate::child_checkpoint::ChildCheckpoint;
use crate::cifar10::{Cifar10, ImageBatcher, Split};
use crate::cnn::{CnnChild, CnnOptions, CnnShapes, ImageShape, Precision};
use crate::sgd::{Sgd, SgdConfig};
use crate::trainer::{self, Interrupt, Run, TrainReport, TrainSettings};

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
    reward: RewardFunction,
    resume: Option<&ChildCheckpoint>,
    arch_id: String,
) -> Result<TrainReport> {
    let batch = settings.batch_size.unwrap_or(BATCH);
    let options = CnnOptions {
        bn_epsilon: settings.bn_epsilon.unwrap_or(CnnOptions::default().bn_epsilon),
        precision: settings.precision.unwrap_or(match settings.device {
            Device::Cuda(_) => Precision::Bf16,
            _ => Precision::F32,
        }),
        // Tensor cores want NHWC on CUDA; on the CPU it depends on the child.
        channels_last: matches!(settings.device, Device::Cuda(_))
            || CnnShapes::of(arch, ImageShape::CIFAR10).prefers_channels_last(arch),
        ..CnnOptions::default()
    };
    settings
        .limits
        .check_cnn(arch, ImageShape::CIFAR10, options.classes, batch)?;
    tch::manual_seed(settings.seed as i64);
    let vs = nn::VarStore::new(settings.device);
    let model = CnnChild::new(&vs.root(), arch, ImageShape::CIFAR10, options);
    let learning_rate = settings.learning_rate.unwrap_or(LEARNING_RATE);
    let mut optimizer = Sgd::new(
        SgdConfig {
            learning_rate,
            momentum: MOMENTUM,
            weight_decay: settings.weight_decay.unwrap_or(WEIGHT_DECAY),
            nesterov: true,
        },
        trainer::named_trainable(&vs),
    );
    if let Some(checkpoint) = resume {
        checkpoint.restore_variables(&vs)?;
        optimizer.restore_buffers(&checkpoint.momentum);
    }
    let decay_epoch = settings
        .lr_decay_epoch
        .unwrap_or_else(|| (3 * settings.epochs).div_ceil(4));
    let batcher = ImageBatcher::new(data);
    let train_count = data.train.len();
    let mut run = Run::new(settings, learning_rate, resume);
    let mut interrupt = None;
    while run.progress.epoch <= settings.epochs {
        let epoch = run.progress.epoch;
        let epoch_start = Instant::now();
        optimizer.set_learning_rate(if epoch > decay_epoch {
            learning_rate * 0.1
        } else {
            learning_rate
        });
        let order = trainer::epoch_order(settings.seed, epoch, train_count, settings.device);
        let first = run.progress.batches_done as i64 * batch;
        let mut result = Ok(());
        for start in (first..train_count).step_by(batch as usize) {
            let size = batch.min(train_count - start);
            if size < 2 {
                break; // batch norm needs two images
            }
            let (images, labels) = batcher.batch(&data.train, &order.narrow(0, start, size), true);
            let loss = model.forward_t(&images, true).cross_entropy_for_logits(&labels);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            result = run.after_step(&loss, size as f64);
            if result.is_err() {
                break;
            }
        }
        let train_loss = match run.end_training(result, epoch_start) {
            Ok(loss) => loss,
            Err(stop) => {
                interrupt = Some(stop);
                break;
            }
        };
        let (valid_loss, accuracy) = evaluate_cnn(&model, &batcher, &data.valid);
        run.progress.completed.push(EpochMetrics {
            epoch,
            train_loss,
            valid_loss,
            valid_accuracy: Some(accuracy),
            valid_perplexity: None,
            seconds: epoch_start.elapsed().as_secs_f64(),
        });
        tracing::debug!(epoch, train_loss, accuracy, "epoch done");
        if !valid_loss.is_finite() {
            interrupt = Some(Interrupt::NonFinite(format!(
                "the validation loss is {valid_loss} after epoch {epoch}"
            )));
            break;
        }
        if run.over_time() {
            break;
        }
        run.next_epoch();
    }
    let tested = interrupt.is_none() && settings.evaluate_test;
    let mut report = run.finish(interrupt, reward, &vs, &optimizer, arch_id);
    if tested && matches!(report.outcome, nas_common::Outcome::Ok { .. }) {
        let test = data
            .test
            .as_ref()
            .ok_or_else(|| crate::Error::Config("the test split was not loaded".into()))?;
        report.test_metric = Some(evaluate_cnn(&model, &batcher, test).1);
    }
    Ok(report)
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

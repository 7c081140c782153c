//! Training on every device this machine has: the CPU always, CUDA when a
//! GPU is present (the CUDA cases print why they are skipped otherwise).
//! A child learns on the device, bf16 and fp32 agree on one step, and a
//! child's checkpoint written on one device resumes on another.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use nas_domain::datasets::synth;
use nas_domain::{ArchSpec, Outcome};
use nas_worker::data::cifar10::{self, CifarOptions};
use nas_worker::model::cnn::Precision;
use nas_worker::train::checkpoint::ChildCheckpoint;
use nas_worker::train::cnn::train_cnn;
use nas_worker::train::{TrainReport, TrainSettings};
use tch::Device;

const SMALL_CNN: &str = r#"{"version":1,"kind":"cnn","layers":[
    {"filters":8,"kernel_height":3,"kernel_width":3,"stride_height":2,"stride_width":2,"inputs":[]},
    {"filters":8,"kernel_height":3,"kernel_width":3,"stride_height":1,"stride_width":1,"inputs":[0]},
    {"filters":12,"kernel_height":5,"kernel_width":3,"stride_height":2,"stride_width":2,"inputs":[0,1]}]}"#;

/// Training images of the synthetic set below (5 files of 200, 200 held out).
const TRAIN_IMAGES: i64 = 800;

/// libtorch's generator is process-wide: training tests take turns.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static TRAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TRAINING.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// CUDA device 0, or `None` after saying why the test is skipped.
fn cuda(test: &str) -> Option<Device> {
    if tch::Cuda::is_available() {
        Some(Device::Cuda(0))
    } else {
        eprintln!("{test}: skipped, no CUDA device (libtorch sees none)");
        None
    }
}

fn data(dir: &std::path::Path, device: Device) -> cifar10::Cifar10 {
    if !dir.join("data_batch_1.bin").exists() {
        synth::write_cifar10(dir, 200, 10, 7).unwrap();
    }
    let options = CifarOptions {
        valid_size: Some(200),
        ..CifarOptions::default()
    };
    cifar10::load(dir, &options, device).unwrap()
}

fn settings(device: Device, epochs: u32) -> TrainSettings {
    TrainSettings {
        batch_size: Some(32),
        seed: 3,
        device,
        ..TrainSettings::new(epochs)
    }
}

fn metric(report: &TrainReport) -> f64 {
    match report.outcome {
        Outcome::Ok { metric, .. } => metric,
        ref other => panic!("training failed: {other:?}"),
    }
}

fn learns_on(device: Device) {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path(), device);
    let spec = ArchSpec::from_json(SMALL_CNN).unwrap();
    let report = train_cnn(spec.as_cnn().unwrap(), &data, &settings(device, 2), None).unwrap();
    let accuracy = metric(&report);
    assert!(
        accuracy > 0.5,
        "{device:?}: accuracy {accuracy} is not far above chance"
    );
    assert!(report.throughput > 0.0);
}

/// The first-step loss (one batch of all the training images, one epoch)
/// in fp32 and in bf16 autocast.
fn one_step_losses(device: Device) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path(), device);
    let spec = ArchSpec::from_json(SMALL_CNN).unwrap();
    let loss = |precision| {
        let one_step = TrainSettings {
            batch_size: Some(TRAIN_IMAGES),
            precision: Some(precision),
            ..settings(device, 1)
        };
        let report = train_cnn(spec.as_cnn().unwrap(), &data, &one_step, None).unwrap();
        report.epochs[0].train_loss
    };
    (loss(Precision::F32), loss(Precision::Bf16))
}

fn assert_agree(device: Device) {
    let (f32_loss, bf16_loss) = one_step_losses(device);
    assert!(f32_loss.is_finite() && bf16_loss.is_finite());
    // ln 10 ≈ 2.30 at initialisation; bf16 keeps about 3 significant digits.
    assert!(
        (f32_loss - bf16_loss).abs() < 0.02 * f32_loss,
        "{device:?}: fp32 loss {f32_loss} vs bf16 {bf16_loss}"
    );
}

/// Stops a child on `from` after its first batch, then resumes its
/// checkpoint (through bytes, as the store keeps it) on `to`.
fn resumes_across(from: Device, to: Device) {
    let dir = tempfile::tempdir().unwrap();
    let spec = ArchSpec::from_json(SMALL_CNN).unwrap();
    let arch = spec.as_cnn().unwrap();
    let stopping = TrainSettings {
        stop: Some(Arc::new(AtomicBool::new(true))),
        ..settings(from, 2)
    };
    let stopped = train_cnn(arch, &data(dir.path(), from), &stopping, None).unwrap();
    assert_eq!(stopped.outcome, Outcome::Preempted { epochs_done: 0 });
    let bytes = stopped.checkpoint.unwrap().to_bytes().unwrap();
    let checkpoint = ChildCheckpoint::from_bytes(&bytes).unwrap();
    let resumed = train_cnn(arch, &data(dir.path(), to), &settings(to, 2), Some(&checkpoint)).unwrap();
    assert_eq!(resumed.epochs.len(), 2);
    let accuracy = metric(&resumed);
    assert!(accuracy > 0.5, "{from:?} -> {to:?}: resumed accuracy {accuracy}");
}

#[test]
fn a_child_learns_on_the_cpu() {
    let _turn = serial();
    learns_on(Device::Cpu);
}

#[test]
fn a_child_learns_on_cuda() {
    let _turn = serial();
    if let Some(device) = cuda("a_child_learns_on_cuda") {
        learns_on(device);
    }
}

#[test]
fn bf16_and_fp32_agree_on_one_step_on_the_cpu() {
    let _turn = serial();
    assert_agree(Device::Cpu);
}

#[test]
fn bf16_and_fp32_agree_on_one_step_on_cuda() {
    let _turn = serial();
    if let Some(device) = cuda("bf16_and_fp32_agree_on_one_step_on_cuda") {
        assert_agree(device);
    }
}

#[test]
fn a_checkpoint_written_on_cuda_resumes_on_the_cpu_and_back() {
    let _turn = serial();
    if let Some(device) = cuda("a_checkpoint_written_on_cuda_resumes_on_the_cpu_and_back") {
        resumes_across(device, Device::Cpu);
        resumes_across(Device::Cpu, device);
    }
}

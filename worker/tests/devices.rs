//! Training on every device: the CPU always; CUDA in the tests marked
//! `#[ignore]`, which a GPU machine runs with `cargo test -- --ignored`
//! (and `NAS_REQUIRE_CUDA=1` makes a machine without CUDA fail instead of
//! passing quietly). A child learns on the device, bf16 autocast computes
//! the same logits and gradients as fp32 within bf16's precision, and a
//! child's checkpoint written on one device resumes on another.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use nas_domain::datasets::synth;
use nas_domain::{ArchSpec, Outcome};
use nas_test_support::serial;
use nas_worker::data::cifar10::{self, Augmentation, CifarOptions, ImageBatcher};
use nas_worker::model::cnn::{CnnChild, CnnOptions, ImageShape, Precision};
use nas_worker::train::checkpoint::ChildCheckpoint;
use nas_worker::train::cnn::train_cnn;
use nas_worker::train::{TrainReport, TrainSettings};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

const SMALL_CNN: &str = r#"{"version":1,"kind":"cnn","layers":[
    {"filters":8,"kernel_height":3,"kernel_width":3,"stride_height":2,"stride_width":2,"inputs":[]},
    {"filters":8,"kernel_height":3,"kernel_width":3,"stride_height":1,"stride_width":1,"inputs":[0]},
    {"filters":12,"kernel_height":5,"kernel_width":3,"stride_height":2,"stride_width":2,"inputs":[0,1]}]}"#;

/// Set (to anything but `0`) on a machine that must have CUDA.
const REQUIRE_CUDA: &str = "NAS_REQUIRE_CUDA";

/// CUDA device 0; the CUDA tests are `#[ignore]`d, so this runs only when
/// asked for, and then a machine without CUDA fails.
fn cuda() -> Device {
    assert!(
        tch::Cuda::is_available(),
        "this test needs a CUDA GPU and libtorch sees none"
    );
    Device::Cuda(0)
}

#[test]
fn a_machine_that_requires_cuda_has_it() {
    let required = std::env::var(REQUIRE_CUDA).is_ok_and(|value| value != "0");
    assert!(
        !required || tch::Cuda::is_available(),
        "{REQUIRE_CUDA} is set but libtorch sees no CUDA device"
    );
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

/// The logits of one batch of 200 training images and the gradient of
/// their loss for every parameter, through one network in fp32 and
/// through the same network (the same weights) in bf16 autocast: per
/// output, its name and its values in fp32 and in bf16.
fn forward_backward(device: Device) -> Vec<(String, Vec<f64>, Vec<f64>)> {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path(), device);
    let spec = ArchSpec::from_json(SMALL_CNN).unwrap();
    let arch = spec.as_cnn().unwrap();
    let indices = Tensor::arange(200, (Kind::Int64, device));
    let (images, labels) = ImageBatcher::new(&data).batch(&data.train, &indices, Augmentation::None);
    let options = |precision| CnnOptions {
        precision,
        ..CnnOptions::default()
    };
    tch::manual_seed(3);
    let f32_vs = nn::VarStore::new(device);
    let f32_net = CnnChild::new(&f32_vs.root(), arch, ImageShape::CIFAR10, options(Precision::F32));
    let mut bf16_vs = nn::VarStore::new(device);
    let bf16_net = CnnChild::new(
        &bf16_vs.root(),
        arch,
        ImageShape::CIFAR10,
        options(Precision::Bf16),
    );
    bf16_vs.copy(&f32_vs).unwrap();
    let flat = |t: &Tensor| {
        Vec::<f64>::try_from(
            t.to_kind(Kind::Double)
                .to_device(Device::Cpu)
                .contiguous()
                .view(-1),
        )
        .unwrap()
    };
    let mut outputs = [(&f32_vs, &f32_net), (&bf16_vs, &bf16_net)].map(|(vs, net)| {
        let logits = net.forward_t(&images, true);
        assert_eq!(logits.kind(), Kind::Float);
        logits.cross_entropy_for_logits(&labels).backward();
        let mut parameters: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        parameters.sort_by(|a, b| a.0.cmp(&b.0));
        let mut named = vec![("logits".to_owned(), flat(&logits))];
        named.extend(
            parameters
                .iter()
                .map(|(name, t)| (format!("the gradient of {name}"), flat(&t.grad()))),
        );
        named
    });
    let bf16 = std::mem::take(&mut outputs[1]);
    let f32 = std::mem::take(&mut outputs[0]);
    assert!(f32.len() > 4, "{} outputs", f32.len());
    f32.into_iter()
        .zip(bf16)
        .map(|((name, a), (other, b))| {
            assert_eq!(name, other);
            (name, a, b)
        })
        .collect()
}

/// bf16 keeps 8 significant bits (a relative rounding of 2⁻⁹ per value,
/// compounded through the layers and back): every logit and every
/// gradient element of the bf16 network is within a tenth of its tensor's
/// largest fp32 magnitude of the fp32 value (3% at most on the CPU), and
/// each tensor points the same way (cosine similarity above 0.999; 0.9998
/// at least on the CPU). The loss alone would not do: at initialisation
/// it is ln 10 ≈ 2.30 whatever the convolutions compute.
fn assert_agree(device: Device) {
    let norm = |values: &[f64]| values.iter().map(|v| v * v).sum::<f64>().sqrt();
    for (name, f32_values, bf16_values) in forward_backward(device) {
        let scale = f32_values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(
            scale > 0.0 && scale.is_finite(),
            "{device:?} {name}: scale {scale}"
        );
        let worst = f32_values
            .iter()
            .zip(&bf16_values)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f64, f64::max);
        let dot: f64 = f32_values.iter().zip(&bf16_values).map(|(a, b)| a * b).sum();
        let cosine = dot / (norm(&f32_values) * norm(&bf16_values));
        assert!(
            worst <= 0.1 * scale && cosine > 0.999,
            "{device:?} {name}: bf16 differs from fp32 by up to {worst} (largest fp32 magnitude \
             {scale}), cosine similarity {cosine}"
        );
    }
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
#[ignore = "needs a CUDA GPU: run with --ignored on a GPU machine"]
fn a_child_learns_on_cuda() {
    let _turn = serial();
    learns_on(cuda());
}

#[test]
fn bf16_and_fp32_agree_on_logits_and_gradients_on_the_cpu() {
    let _turn = serial();
    assert_agree(Device::Cpu);
}

#[test]
#[ignore = "needs a CUDA GPU: run with --ignored on a GPU machine"]
fn bf16_and_fp32_agree_on_logits_and_gradients_on_cuda() {
    let _turn = serial();
    assert_agree(cuda());
}

#[test]
#[ignore = "needs a CUDA GPU: run with --ignored on a GPU machine"]
fn a_checkpoint_written_on_cuda_resumes_on_the_cpu_and_back() {
    let _turn = serial();
    let device = cuda();
    resumes_across(device, Device::Cpu);
    resumes_across(Device::Cpu, device);
}

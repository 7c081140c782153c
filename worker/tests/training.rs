//! Training on small synthetic data: children learn, runs are deterministic
//! on the CPU, and failures end as failed or preempted results.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use nas_domain::datasets::synth;
use nas_domain::spec::CnnArch;
use nas_domain::{ArchSpec, Outcome};
use nas_test_support::serial;
use nas_worker::Error;
use nas_worker::data::cifar10::{self, CifarOptions};
use nas_worker::data::ptb::{self, Level};
use nas_worker::model::cnn::Precision;
use nas_worker::model::guardrails::Limits;
use nas_worker::train::checkpoint::ChildCheckpoint;
use nas_worker::train::cnn::train_cnn;
use nas_worker::train::language_model::train_language_model;
use nas_worker::train::{TrainReport, TrainSettings};
use tch::Device;

const SMALL_CNN: &str = r#"{"version":1,"kind":"cnn","layers":[
    {"filters":8,"kernel_height":3,"kernel_width":3,"stride_height":2,"stride_width":2,"inputs":[]},
    {"filters":8,"kernel_height":3,"kernel_width":3,"stride_height":1,"stride_width":1,"inputs":[0]},
    {"filters":12,"kernel_height":5,"kernel_width":3,"stride_height":2,"stride_width":2,"inputs":[0,1]}]}"#;

const LSTM_LIKE_CELL: &str = r#"{"version":1,"kind":"cell","leaves":2,"nodes":[
    {"combination":"add","activation":"tanh"},{"combination":"add","activation":"sigmoid"},
    {"combination":"mul","activation":"tanh"}],
    "inject":{"combination":"add","activation":"identity"},"inject_node":0,"memory_node":0}"#;

fn cifar(dir: &std::path::Path) -> cifar10::Cifar10 {
    synth::write_cifar10(dir, 200, 10, 7).unwrap();
    let options = CifarOptions {
        valid_size: Some(200),
        ..CifarOptions::default()
    };
    cifar10::load(dir, &options, Device::Cpu).unwrap()
}

fn small_cnn() -> CnnArch {
    ArchSpec::from_json(SMALL_CNN).unwrap().as_cnn().unwrap().clone()
}

fn settings(epochs: u32) -> TrainSettings {
    TrainSettings {
        batch_size: Some(32),
        seed: 3,
        ..TrainSettings::new(epochs)
    }
}

#[test]
fn a_small_cnn_learns_synthetic_cifar_far_above_chance_and_deterministically() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = cifar(dir.path());
    let spec = ArchSpec::from_json(SMALL_CNN).unwrap();
    let arch = spec.as_cnn().unwrap();
    let report = train_cnn(arch, &data, &settings(2), None).unwrap();
    let Outcome::Ok { reward, metric } = report.outcome else {
        panic!("training failed: {:?}", report.outcome)
    };
    assert!(
        metric > 0.5,
        "validation accuracy {metric} is not far above chance (0.1)"
    );
    assert!((reward - metric.powi(3)).abs() < 1e-12);
    assert_eq!(report.epochs.len(), 2);
    assert!(report.throughput > 0.0);
    assert_eq!(
        report.parameters,
        3 * 8 * 9 + 16 + 8 * 8 * 9 + 16 + 12 * 16 * 15 + 24 + 13 * 10
    );
    let again = train_cnn(arch, &data, &settings(2), None).unwrap();
    let losses = |r: &TrainReport| {
        r.epochs
            .iter()
            .map(|e| (e.train_loss, e.valid_loss))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        losses(&report),
        losses(&again),
        "the same seed must give the same run on the CPU"
    );
}

#[test]
fn bf16_mixed_precision_trains_too() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = cifar(dir.path());
    let mixed = TrainSettings {
        precision: Some(Precision::Bf16),
        ..settings(1)
    };
    let report = train_cnn(&small_cnn(), &data, &mixed, None).unwrap();
    let Outcome::Ok { metric, .. } = report.outcome else {
        panic!("bf16 training failed: {:?}", report.outcome)
    };
    assert!(metric > 0.3, "bf16 validation accuracy {metric}");
}

#[test]
fn a_tiny_language_model_falls_far_below_its_vocabulary_size() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    synth::write_ptb(dir.path(), 3000, 100, 5).unwrap();
    let corpus = ptb::load(dir.path(), Level::Word, false, Device::Cpu).unwrap();
    let vocabulary = corpus.vocabulary.len() as f64;
    let spec = ArchSpec::from_json(LSTM_LIKE_CELL).unwrap();
    let settings = TrainSettings {
        hidden: Some(48),
        seed: 1,
        ..TrainSettings::new(3)
    };
    let report = train_language_model(spec.as_cell().unwrap(), &corpus, &settings, None).unwrap();
    let Outcome::Ok { metric, reward } = report.outcome else {
        panic!("training failed: {:?}", report.outcome)
    };
    assert!(
        metric < vocabulary / 4.0,
        "perplexity {metric} with a vocabulary of {vocabulary}"
    );
    assert!((reward - 80.0 / (metric * metric)).abs() < 1e-12);
    let first = report.epochs[0].valid_perplexity.unwrap();
    assert!(metric < first, "perplexity did not fall: {first} then {metric}");
}

#[test]
fn a_non_finite_loss_ends_the_child_as_failed_with_a_reason() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = cifar(dir.path());
    let exploding = TrainSettings {
        learning_rate: Some(1e38),
        ..settings(1)
    };
    let report = train_cnn(&small_cnn(), &data, &exploding, None).unwrap();
    match report.outcome {
        Outcome::Failed { reason } => assert!(reason.contains("non-finite"), "{reason}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn a_raised_stop_flag_ends_the_child_as_preempted() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = cifar(dir.path());
    let stopping = TrainSettings {
        stop: Some(Arc::new(AtomicBool::new(true))),
        ..settings(3)
    };
    let report = train_cnn(&small_cnn(), &data, &stopping, None).unwrap();
    assert_eq!(report.outcome, Outcome::Preempted { epochs_done: 0 });
    assert!(report.checkpoint.is_some());
}

#[test]
fn children_over_the_limits_are_rejected_before_allocation() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = cifar(dir.path());
    let tight = TrainSettings {
        limits: Limits {
            max_parameters: 1000,
            ..Limits::default()
        },
        ..settings(1)
    };
    let err = train_cnn(&small_cnn(), &data, &tight, None).err().unwrap();
    assert!(matches!(err, Error::TooLarge(_)), "{err}");
    assert!(err.to_string().contains("above the limit of 1000"), "{err}");
    let small_memory = TrainSettings {
        limits: Limits {
            max_activation_bytes: 1 << 20,
            ..Limits::default()
        },
        ..settings(1)
    };
    let err = train_cnn(&small_cnn(), &data, &small_memory, None).err().unwrap();
    assert!(err.to_string().contains("GiB of activations"), "{err}");
}

#[test]
fn a_preempted_child_resumes_from_its_checkpoint() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = cifar(dir.path());
    let spec = ArchSpec::from_json(SMALL_CNN).unwrap();
    let arch = spec.as_cnn().unwrap();
    let stopping = TrainSettings {
        stop: Some(Arc::new(AtomicBool::new(true))),
        ..settings(2)
    };
    let stopped = train_cnn(arch, &data, &stopping, None).unwrap();
    let bytes = stopped.checkpoint.unwrap().to_bytes().unwrap();
    let checkpoint = ChildCheckpoint::from_bytes(&bytes).unwrap();
    assert_eq!(checkpoint.arch_id, spec.id().to_string());
    assert_eq!(
        (checkpoint.progress.epoch, checkpoint.progress.batches_done),
        (1, 1)
    );
    assert!(
        !checkpoint.momentum.is_empty(),
        "the momentum buffers travel with the checkpoint"
    );
    let resumed = train_cnn(arch, &data, &settings(2), Some(&checkpoint)).unwrap();
    let Outcome::Ok { metric, .. } = resumed.outcome else {
        panic!("the resumed child failed: {:?}", resumed.outcome)
    };
    assert_eq!(resumed.epochs.len(), 2);
    assert!(metric > 0.5, "resumed accuracy {metric}");
    // A checkpoint for another architecture does not fit.
    let other = ArchSpec::from_json(&SMALL_CNN.replace("\"filters\":12", "\"filters\":16")).unwrap();
    let err = train_cnn(other.as_cnn().unwrap(), &data, &settings(1), Some(&checkpoint))
        .err()
        .unwrap();
    assert!(err.to_string().contains("shape"), "{err}");
}

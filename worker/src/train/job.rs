//! Turning a job into a trained child, on a blocking thread: load (or
//! reuse) the data, pick the settings from the job, train, and report.
//!
//! The loaded data set stays in memory between jobs ([`LoadedData`]), so a
//! worker that trains many children on the same data reads it once. Tensors
//! are `Send` but not `Sync`, so the data moves into the blocking task and
//! comes back out with the report.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use nas_domain::{Architecture, Task, TrainJob};
use tch::Device;

use super::checkpoint::ChildCheckpoint;
use super::cnn::train_cnn;
use super::language_model::train_language_model;
use super::{EpochHook, TrainReport, TrainSettings};
use crate::data::cifar10::{self, Cifar10, CifarOptions};
use crate::data::ptb::{self, Corpus, Level};
use crate::model::guardrails::Limits;
use crate::{Error, Result};

/// What identifies a loaded data set.
#[derive(Clone, Debug, PartialEq, Eq)]
struct DataKey {
    directory: PathBuf,
    task: Task,
    train_subset: Option<u64>,
    valid_subset: Option<u64>,
    with_test: bool,
}

enum Data {
    Cifar10(Cifar10),
    Ptb(Corpus),
}

/// A data set held in memory between jobs.
pub struct LoadedData {
    key: DataKey,
    data: Data,
}

/// Everything a job's training needs besides the job.
pub struct JobEnvironment {
    /// Where to train.
    pub device: Device,
    /// Limits on children.
    pub limits: Limits,
    /// Raised on shutdown or preemption.
    pub stop: Arc<AtomicBool>,
    /// Raised when the controller stops the child early.
    pub early_stop: Arc<AtomicBool>,
    /// Told every completed epoch.
    pub on_epoch: Option<EpochHook>,
}

/// The training settings a job asks for.
pub fn settings_for(job: &TrainJob, environment: &JobEnvironment) -> TrainSettings {
    let h = &job.hyperparameters;
    TrainSettings {
        batch_size: job.budget.batch_size.map(i64::from),
        learning_rate: h.learning_rate,
        weight_decay: h.weight_decay,
        lr_decay_epoch: h.lr_decay_epoch,
        bn_epsilon: h.bn_epsilon,
        hidden: h.hidden_size.map(i64::from),
        parameters: h.parameters.and_then(|count| i64::try_from(count).ok()),
        dropout: h.dropout,
        init_range: h.init_range,
        seed: job.seed,
        device: environment.device,
        max_seconds: job.budget.max_seconds,
        limits: environment.limits,
        stop: Some(environment.stop.clone()),
        early_stop: Some(environment.early_stop.clone()),
        on_epoch: environment.on_epoch.clone(),
        evaluate_test: job.budget.evaluate_test,
        train_tokens: job
            .budget
            .train_examples
            .filter(|_| job.task != Task::Cifar10)
            .map(|tokens| i64::try_from(tokens).unwrap_or(i64::MAX)),
        reward: Some(job.reward),
        ..TrainSettings::new(job.budget.epochs)
    }
}

fn load(key: &DataKey, device: Device) -> Result<Data> {
    let to_usize = |value: Option<u64>| value.map(|v| usize::try_from(v).unwrap_or(usize::MAX));
    match key.task {
        Task::Cifar10 => {
            let options = CifarOptions {
                train_subset: to_usize(key.train_subset),
                valid_subset: to_usize(key.valid_subset),
                with_test: key.with_test,
                ..CifarOptions::default()
            };
            Ok(Data::Cifar10(cifar10::load(&key.directory, &options, device)?))
        }
        Task::PtbWord | Task::PtbChar => {
            let level = if key.task == Task::PtbChar {
                Level::Char
            } else {
                Level::Word
            };
            let corpus = ptb::load(&key.directory, level, key.with_test, device)?;
            Ok(Data::Ptb(corpus.with_valid_subset(to_usize(key.valid_subset))))
        }
        Task::Custom => Err(needs_trial_command("task custom")),
    }
}

/// Trains `job` on the data in `directory`, reusing `previous` when it holds
/// the same data. Returns the data (for the next job) and the report.
pub fn train_job(
    job: &TrainJob,
    directory: &Path,
    previous: Option<LoadedData>,
    environment: &JobEnvironment,
    resume: Option<&ChildCheckpoint>,
) -> (Option<LoadedData>, Result<TrainReport>) {
    let key = DataKey {
        directory: directory.to_path_buf(),
        task: job.task,
        train_subset: job.budget.train_examples.filter(|_| job.task == Task::Cifar10),
        valid_subset: job.budget.valid_examples,
        with_test: job.budget.evaluate_test,
    };
    let loaded = match previous {
        Some(previous) if previous.key == key => previous,
        _ => match load(&key, environment.device) {
            Ok(data) => LoadedData { key, data },
            Err(error) => return (None, Err(error)),
        },
    };
    let settings = settings_for(job, environment);
    let report = match (job.spec.architecture(), &loaded.data) {
        (Architecture::Cnn(cnn), Data::Cifar10(data)) => train_cnn(cnn, data, &settings, resume),
        (Architecture::Cell(cell), Data::Ptb(corpus)) => {
            train_language_model(cell, corpus, &settings, resume)
        }
        (Architecture::Categorical(_), _) => Err(needs_trial_command("a categorical spec")),
        _ => Err(Error::Config(format!(
            "a {:?} spec cannot train on {:?}",
            job.spec.kind(),
            job.task
        ))),
    };
    (Some(loaded), report)
}

/// The error for a job only a trial command (or a surrogate) can train.
pub fn needs_trial_command(what: &str) -> Error {
    Error::Config(format!(
        "{what} has no built-in trainer: give the experiment a [trial] command, or answer it with a surrogate worker"
    ))
}

//! Training one spec on local data files, outside the job loop: the
//! `nas-worker train` command, benchmarks and experiments.

use std::path::Path;
use std::time::Instant;

use nas_domain::{ArchSpec, Architecture, Task};

use super::cnn::train_cnn;
use super::language_model::train_language_model;
use super::{TrainReport, TrainSettings};
use crate::data::cifar10::{self, CifarOptions};
use crate::data::ptb::{self, Level};
use crate::{Error, Result};

/// Which part of the local data to use.
#[derive(Clone, Debug, Default)]
pub struct LocalData {
    /// Validation images drawn from the CIFAR-10 training files (the
    /// loader's default when absent).
    pub valid_size: Option<usize>,
    /// Train on only this many images (CIFAR-10); language models take
    /// `TrainSettings::train_tokens` instead.
    pub train_subset: Option<usize>,
    /// Validate on only this many images or tokens.
    pub valid_subset: Option<usize>,
}

/// A trained child and how long its data took to load.
pub struct LocalRun {
    /// The training report.
    pub report: TrainReport,
    /// Seconds spent reading the data into tensors.
    pub data_seconds: f64,
}

/// Loads the data of `task` from `path` and trains `spec` on it.
pub fn train_spec(
    spec: &ArchSpec,
    task: Task,
    path: &Path,
    data: &LocalData,
    settings: &TrainSettings,
) -> Result<LocalRun> {
    match task.arch_kind() {
        None => return Err(super::job::needs_trial_command("task custom")),
        Some(kind) if kind != spec.kind() => {
            return Err(Error::Config(format!(
                "task {task:?} trains {kind:?} specs, but the spec is a {:?} spec",
                spec.kind()
            )));
        }
        Some(_) => {}
    }
    let loading = Instant::now();
    let report = match spec.architecture() {
        Architecture::Cnn(cnn) => {
            let options = CifarOptions {
                valid_size: data.valid_size,
                train_subset: data.train_subset,
                valid_subset: data.valid_subset,
                with_test: settings.evaluate_test,
                ..CifarOptions::default()
            };
            let images = cifar10::load(path, &options, settings.device)?;
            tracing::info!(
                train = images.train.len(),
                valid = images.valid.len(),
                seconds = loading.elapsed().as_secs_f64(),
                "CIFAR-10 loaded"
            );
            train_cnn(cnn, &images, settings, None)?
        }
        Architecture::Cell(cell) => {
            let level = if task == Task::PtbChar {
                Level::Char
            } else {
                Level::Word
            };
            let corpus = ptb::load(path, level, settings.evaluate_test, settings.device)?
                .with_valid_subset(data.valid_subset);
            tracing::info!(
                vocabulary = corpus.vocabulary.len(),
                train_tokens = corpus.train.size()[0],
                seconds = loading.elapsed().as_secs_f64(),
                "PTB loaded"
            );
            train_language_model(cell, &corpus, settings, None)?
        }
        Architecture::Categorical(_) => return Err(super::job::needs_trial_command("a categorical spec")),
    };
    let data_seconds = loading.elapsed().as_secs_f64() - report.train_seconds;
    Ok(LocalRun { report, data_seconds })
}

//! The wire contract between the controller and the workers.
//!
//! A [`TrainJob`] travels controller → worker; a [`TrainResult`] travels
//! worker → controller. Both are JSON objects with a top-level
//! `schema_version`; both exist only validated (serde goes through
//! `TryFrom`), and [`TrainJob::from_json`] / [`TrainResult::from_json`]
//! report an unknown `schema_version` before anything else. The JSON Schema
//! of each is generated into `schemas/` from these types.

use std::fmt;
use std::ops::Deref;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::canonical_json;
use crate::reward::RewardFunction;
use crate::spec::{ArchId, ArchKind, ArchSpec};
use crate::{Error, Result};

/// The message schema version this build writes and reads.
pub const MESSAGE_VERSION: u32 = 1;

/// Largest message this build accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// The unique id of one training job (all its attempts share it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct JobId(pub Uuid);

impl JobId {
    /// A fresh random id.
    pub fn random() -> Self {
        JobId(Uuid::new_v4())
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An experiment name: 1 to 63 characters of `a-z`, `0-9`, `-` and `_`,
/// starting with a letter or digit, so it is safe in object keys and queue
/// names.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct ExperimentName(String);

impl ExperimentName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ExperimentName {
    type Error = Error;

    fn try_from(name: String) -> Result<Self> {
        let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
        let valid = (1..=63).contains(&name.len())
            && name.bytes().all(allowed)
            && name.as_bytes()[0].is_ascii_alphanumeric();
        if valid {
            Ok(ExperimentName(name))
        } else {
            Err(Error::InvalidConfig(format!(
                "experiment name {name:?} must be 1-63 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"
            )))
        }
    }
}

impl std::str::FromStr for ExperimentName {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        Self::try_from(name.to_owned())
    }
}

impl From<ExperimentName> for String {
    fn from(name: ExperimentName) -> Self {
        name.0
    }
}

impl fmt::Display for ExperimentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a child is trained on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// CIFAR-10 image classification (CNN children).
    Cifar10,
    /// Word-level Penn Treebank language modelling (cell children).
    PtbWord,
    /// Character-level Penn Treebank language modelling (cell children).
    PtbChar,
}

impl Task {
    /// The kind of architecture this task trains.
    pub fn arch_kind(self) -> ArchKind {
        match self {
            Task::Cifar10 => ArchKind::Cnn,
            Task::PtbWord | Task::PtbChar => ArchKind::Cell,
        }
    }
}

/// Where the data set of a job lives in the object store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetRef {
    /// The data set's name: it lives under `datasets/<name>/`.
    pub name: String,
    /// SHA-256 of its manifest, when the controller pinned a version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
}

/// How much training a child gets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingBudget {
    /// Epochs to train (the paper: 50 for CNNs, 35 for cells).
    pub epochs: u32,
    /// Mini-batch size; the worker's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    /// Train on only this many training examples (images or tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_examples: Option<u64>,
    /// Validate on only this many examples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_examples: Option<u64>,
    /// Stop after the epoch during which this many seconds have passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seconds: Option<f64>,
    /// Also score the trained child on the test set (re-evaluation of a
    /// final pick); the search itself never looks at the test set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub evaluate_test: bool,
}

/// Training hyperparameters that override the worker's defaults (used by
/// re-evaluation's grid); every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hyperparameters {
    /// Initial learning rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// L2 weight decay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// Batch-norm epsilon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bn_epsilon: Option<f64>,
    /// Epoch after which the learning rate decays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_decay_epoch: Option<u32>,
    /// Hidden size of a language-model child (cells only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_size: Option<u32>,
}

/// The fields of a [`TrainJob`], as they appear in JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainJobFields {
    /// Message schema version ([`MESSAGE_VERSION`]).
    pub schema_version: u32,
    /// The job's id, shared by all its attempts.
    pub job_id: JobId,
    /// The experiment the job belongs to.
    pub experiment: ExperimentName,
    /// The policy version whose sample this is.
    pub policy_version: u64,
    /// 1 for the first publication, then 2, 3… when re-published.
    pub attempt: u32,
    /// The architecture to train.
    pub spec: ArchSpec,
    /// What to train it on.
    pub task: Task,
    /// The data set in the object store.
    pub dataset: DatasetRef,
    /// How long to train.
    pub budget: TrainingBudget,
    /// Overrides of the worker's training defaults.
    #[serde(default)]
    pub hyperparameters: Hyperparameters,
    /// How the worker turns metrics into a reward.
    pub reward: RewardFunction,
    /// Seed for initialisation, data order and augmentation.
    pub seed: u64,
}

/// A validated training job; read it through [`Deref`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "TrainJobFields", into = "TrainJobFields")]
#[schemars(with = "TrainJobFields")]
pub struct TrainJob(TrainJobFields);

impl TryFrom<TrainJobFields> for TrainJob {
    type Error = Error;

    fn try_from(job: TrainJobFields) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidMessage {
            what: "train job",
            reason,
        };
        check_message_version("train job", job.schema_version)?;
        if job.attempt == 0 {
            return Err(invalid("attempt starts at 1".into()));
        }
        if job.spec.kind() != job.task.arch_kind() {
            return Err(invalid(format!(
                "task {:?} trains {:?} children but the spec is a {:?}",
                job.task,
                job.task.arch_kind(),
                job.spec.kind()
            )));
        }
        if job.dataset.name.is_empty()
            || job.dataset.name.contains(['/', '\\'])
            || job.dataset.name.starts_with('.')
        {
            return Err(invalid(format!(
                "dataset name {:?} must be a plain non-empty name",
                job.dataset.name
            )));
        }
        validate_budget(&job.budget).map_err(invalid)?;
        validate_hyperparameters(&job.hyperparameters).map_err(invalid)?;
        job.reward.validate()?;
        Ok(TrainJob(job))
    }
}

impl From<TrainJob> for TrainJobFields {
    fn from(job: TrainJob) -> Self {
        job.0
    }
}

impl Deref for TrainJob {
    type Target = TrainJobFields;

    fn deref(&self) -> &TrainJobFields {
        &self.0
    }
}

impl TrainJob {
    /// Validates the fields of a job.
    pub fn new(fields: TrainJobFields) -> Result<Self> {
        Self::try_from(fields)
    }

    /// Parses and validates a job from its wire bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        decode("train job", bytes)
    }

    /// The wire bytes.
    pub fn to_json(&self) -> Vec<u8> {
        encode(self)
    }

    /// The same job, published again as attempt `attempt`.
    pub fn with_attempt(&self, attempt: u32) -> Result<Self> {
        Self::try_from(TrainJobFields {
            attempt,
            ..self.0.clone()
        })
    }
}

/// Validation metrics after one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: u32,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Mean validation loss.
    pub valid_loss: f64,
    /// Validation accuracy in `[0, 1]` (classification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_accuracy: Option<f64>,
    /// Validation perplexity (language modelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_perplexity: Option<f64>,
    /// Seconds the epoch took (training and evaluation).
    pub seconds: f64,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    /// Trained to the end of its budget.
    Ok {
        /// The reward from the job's reward function.
        reward: f64,
        /// The metric the reward came from (best accuracy or perplexity).
        metric: f64,
    },
    /// Could not be trained; will not be retried.
    Failed {
        /// What went wrong (a non-finite loss, a spec that does not fit…).
        reason: String,
    },
    /// Stopped early (spot preemption, shutdown); may resume elsewhere.
    Preempted {
        /// Epochs completed and checkpointed.
        epochs_done: u32,
    },
}

/// The fields of a [`TrainResult`], as they appear in JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainResultFields {
    /// Message schema version ([`MESSAGE_VERSION`]).
    pub schema_version: u32,
    /// The job this answers.
    pub job_id: JobId,
    /// The job's experiment.
    pub experiment: ExperimentName,
    /// The job's policy version.
    pub policy_version: u64,
    /// The job's attempt.
    pub attempt: u32,
    /// The id of the trained architecture.
    pub arch_id: ArchId,
    /// How it ended.
    pub outcome: Outcome,
    /// Metrics of every completed epoch.
    pub epochs: Vec<EpochMetrics>,
    /// Test accuracy or perplexity, when the job asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_metric: Option<f64>,
    /// Trainable parameters of the child.
    pub param_count: u64,
    /// Seconds from receiving the job to publishing the result.
    pub wall_seconds: f64,
    /// Seconds spent training and evaluating.
    pub train_seconds: f64,
    /// Seconds from receiving the job to its first training step (data
    /// loading, checkpoint lookup and model construction), when it trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_seconds: Option<f64>,
    /// Where it trained (`cpu`, `cuda:0 NVIDIA H100`…).
    pub device: String,
    /// Which worker trained it.
    pub worker_id: String,
}

/// A validated training result; read it through [`Deref`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "TrainResultFields", into = "TrainResultFields")]
#[schemars(with = "TrainResultFields")]
pub struct TrainResult(TrainResultFields);

impl TryFrom<TrainResultFields> for TrainResult {
    type Error = Error;

    fn try_from(result: TrainResultFields) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidMessage {
            what: "train result",
            reason,
        };
        check_message_version("train result", result.schema_version)?;
        if result.attempt == 0 {
            return Err(invalid("attempt starts at 1".into()));
        }
        match &result.outcome {
            Outcome::Ok { reward, metric } => {
                if !reward.is_finite() || !metric.is_finite() {
                    return Err(invalid(format!(
                        "reward {reward} and metric {metric} must be finite"
                    )));
                }
            }
            Outcome::Failed { reason } if reason.trim().is_empty() => {
                return Err(invalid("a failed result needs a reason".into()));
            }
            Outcome::Failed { .. } | Outcome::Preempted { .. } => {}
        }
        for (index, epoch) in result.epochs.iter().enumerate() {
            validate_epoch(index, epoch).map_err(invalid)?;
        }
        for (name, value) in [
            ("wall_seconds", result.wall_seconds),
            ("train_seconds", result.train_seconds),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(invalid(format!("{name} {value} must be finite and non-negative")));
            }
        }
        Ok(TrainResult(result))
    }
}

impl From<TrainResult> for TrainResultFields {
    fn from(result: TrainResult) -> Self {
        result.0
    }
}

impl Deref for TrainResult {
    type Target = TrainResultFields;

    fn deref(&self) -> &TrainResultFields {
        &self.0
    }
}

impl TrainResult {
    /// Validates the fields of a result.
    pub fn new(fields: TrainResultFields) -> Result<Self> {
        Self::try_from(fields)
    }

    /// Parses and validates a result from its wire bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        decode("train result", bytes)
    }

    /// The wire bytes.
    pub fn to_json(&self) -> Vec<u8> {
        encode(self)
    }

    /// The reward, when the child trained to the end.
    pub fn reward(&self) -> Option<f64> {
        match self.0.outcome {
            Outcome::Ok { reward, .. } => Some(reward),
            Outcome::Failed { .. } | Outcome::Preempted { .. } => None,
        }
    }
}

fn check_message_version(what: &'static str, found: u32) -> Result<()> {
    if found == MESSAGE_VERSION {
        Ok(())
    } else {
        Err(Error::UnsupportedVersion {
            what,
            found,
            supported: MESSAGE_VERSION,
        })
    }
}

fn decode<T: serde::de::DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(Error::TooLarge {
            what,
            bytes: bytes.len(),
            limit: MAX_MESSAGE_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|source| Error::NotUtf8 { what, source })?;
    canonical_json::check_version(text, what, MESSAGE_VERSION)?;
    serde_json::from_str(text).map_err(|source| Error::Json { what, source })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Validated messages hold only finite numbers and string keys.
    serde_json::to_vec(value).unwrap_or_default()
}

fn validate_budget(budget: &TrainingBudget) -> std::result::Result<(), String> {
    if budget.epochs == 0 {
        return Err("budget.epochs must be at least 1".into());
    }
    if budget.batch_size == Some(0) || budget.train_examples == Some(0) || budget.valid_examples == Some(0) {
        return Err("budget sizes must be at least 1 when given".into());
    }
    match budget.max_seconds {
        Some(seconds) if !seconds.is_finite() || seconds <= 0.0 => {
            Err(format!("budget.max_seconds {seconds} must be positive"))
        }
        _ => Ok(()),
    }
}

fn validate_hyperparameters(h: &Hyperparameters) -> std::result::Result<(), String> {
    if h.hidden_size == Some(0) || h.lr_decay_epoch == Some(0) {
        return Err("hyperparameters.hidden_size and lr_decay_epoch must be at least 1 when given".into());
    }
    for (name, value) in [
        ("learning_rate", h.learning_rate),
        ("weight_decay", h.weight_decay),
        ("bn_epsilon", h.bn_epsilon),
    ] {
        if let Some(value) = value
            && (!value.is_finite() || value < 0.0 || (name != "weight_decay" && value == 0.0))
        {
            return Err(format!("hyperparameters.{name} {value} is out of range"));
        }
    }
    Ok(())
}

fn validate_epoch(index: usize, epoch: &EpochMetrics) -> std::result::Result<(), String> {
    let expected = u32::try_from(index + 1).unwrap_or(u32::MAX);
    if epoch.epoch != expected {
        return Err(format!(
            "epochs[{index}] is numbered {} instead of {expected}",
            epoch.epoch
        ));
    }
    let values = [
        Some(epoch.train_loss),
        Some(epoch.valid_loss),
        epoch.valid_accuracy,
        epoch.valid_perplexity,
        Some(epoch.seconds),
    ];
    if values.into_iter().flatten().any(|value| !value.is_finite()) {
        return Err(format!("epochs[{index}] holds a non-finite number"));
    }
    Ok(())
}

//! The training job: what to train, on which data, for how long, and how
//! the metrics become a reward. Built only through [`TrainJob::new`] or
//! [`TrainJob::from_json`], which check every field.

use std::ops::Deref;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[cfg(doc)]
use super::MESSAGE_VERSION;
use super::{DatasetRef, ExperimentName, JobId, Task, check_message_version, decode, encode};
use crate::reward::RewardFunction;
use crate::spec::ArchSpec;
use crate::{Error, Result};

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

impl TrainingBudget {
    /// The paper's budget for `task`: 50 epochs for CNNs, 35 for cells
    /// (and for a custom task, which its command may ignore), every size the
    /// worker's default.
    pub fn default_for(task: Task) -> Self {
        TrainingBudget {
            epochs: match task {
                Task::Cifar10 => 50,
                Task::PtbWord | Task::PtbChar | Task::Custom => 35,
            },
            batch_size: None,
            train_examples: None,
            valid_examples: None,
            max_seconds: None,
            evaluate_test: false,
        }
    }
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
    /// Size a language-model child to about this many parameters (the
    /// hidden size nearest it; cells only, instead of `hidden_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<u64>,
    /// Dropout of a language-model child (cells only), in [0, 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout: Option<f64>,
    /// A language-model child's embedding starts uniform in ±this (cells
    /// only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_range: Option<f64>,
}

/// A user command that trains the child instead of the worker's own
/// models (the experiment's `[trial]`): the worker runs it with the path of
/// a JSON file holding the job in `NAS_TRIAL_JOB` and reads metrics from
/// its standard output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrialCommand {
    /// The program and its arguments, e.g. `["python", "train.py"]`.
    pub command: Vec<String>,
    /// Kill the trial (a failed child) after this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<f64>,
    /// After SIGTERM, seconds the trial gets before it is killed.
    #[serde(default = "default_grace_seconds")]
    pub grace_seconds: f64,
}

fn default_grace_seconds() -> f64 {
    10.0
}

impl TrialCommand {
    /// A command with no time limit and the default grace period.
    pub fn new(command: Vec<String>) -> Self {
        TrialCommand {
            command,
            timeout_seconds: None,
            grace_seconds: default_grace_seconds(),
        }
    }

    /// Checks the command and its limits.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.command.is_empty() || self.command.len() > 256 {
            return Err("trial.command needs a program and at most 255 arguments".into());
        }
        if self.command.iter().any(|part| part.contains('\0')) || self.command[0].is_empty() {
            return Err("trial.command must name a program and hold no NUL bytes".into());
        }
        if let Some(limit) = self.timeout_seconds
            && (!limit.is_finite() || limit <= 0.0)
        {
            return Err(format!("trial.timeout_seconds {limit} must be positive"));
        }
        if !self.grace_seconds.is_finite() || !(0.0..=3600.0).contains(&self.grace_seconds) {
            return Err(format!(
                "trial.grace_seconds {} must be between 0 and 3600",
                self.grace_seconds
            ));
        }
        Ok(())
    }
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
    /// Train with this command instead of the worker's own models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<TrialCommand>,
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
        if !job.task.accepts(job.spec.kind()) {
            return Err(invalid(format!(
                "task {:?} cannot train a {:?} spec",
                job.task,
                job.spec.kind()
            )));
        }
        if let Some(trial) = &job.trial {
            trial.validate().map_err(invalid)?;
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
        job.hyperparameters.validate().map_err(invalid)?;
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

impl Hyperparameters {
    /// Checks every given value's range, and that the model is sized one
    /// way only.
    pub fn validate(&self) -> std::result::Result<(), String> {
        validate_hyperparameters(self)
    }
}

fn validate_hyperparameters(h: &Hyperparameters) -> std::result::Result<(), String> {
    if h.hidden_size == Some(0) || h.lr_decay_epoch == Some(0) || h.parameters == Some(0) {
        return Err(
            "hyperparameters.hidden_size, parameters and lr_decay_epoch must be at least 1 when given".into(),
        );
    }
    if h.hidden_size.is_some() && h.parameters.is_some() {
        return Err("hyperparameters.hidden_size and parameters both size the model: give one".into());
    }
    if let Some(dropout) = h.dropout
        && !(0.0..1.0).contains(&dropout)
    {
        return Err(format!("hyperparameters.dropout {dropout} must be in [0, 1)"));
    }
    for (name, value) in [
        ("learning_rate", h.learning_rate),
        ("weight_decay", h.weight_decay),
        ("bn_epsilon", h.bn_epsilon),
        ("init_range", h.init_range),
    ] {
        if let Some(value) = value
            && (!value.is_finite() || value < 0.0 || (name != "weight_decay" && value == 0.0))
        {
            return Err(format!("hyperparameters.{name} {value} is out of range"));
        }
    }
    Ok(())
}

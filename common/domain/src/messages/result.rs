//! The training result: how a job ended (a reward, a failure with its
//! reason, or a preemption), with the metrics of every epoch and where and
//! how fast it trained. Built only through [`TrainResult::new`] or
//! [`TrainResult::from_json`].

use std::ops::Deref;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[cfg(doc)]
use super::MESSAGE_VERSION;
use super::{ExperimentName, JobId, check_message_version, decode, encode};
use crate::objective::Costs;
use crate::spec::ArchId;
use crate::{Error, Result};

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
    /// Validation bits per character (character-level language modelling):
    /// the mean validation loss in bits, `valid_loss / ln 2`, which is
    /// `log2(valid_perplexity)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_bits_per_char: Option<f64>,
    /// The metric a trial command reports (or a table surrogate answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<f64>,
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
    /// Stopped by the controller's early-stopping rule: the child is done;
    /// its reward and metric come from the epochs it completed.
    Stopped {
        /// The job's reward function applied to the completed epochs.
        reward: f64,
        /// The metric that reward came from.
        metric: f64,
        /// Epochs completed.
        epochs_done: u32,
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
    /// What the child costs, as measured (parameters, latency, …); absent
    /// in results of workers that measure none.
    #[serde(default, skip_serializing_if = "Costs::is_empty")]
    pub costs: Costs,
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
            Outcome::Ok { reward, metric } | Outcome::Stopped { reward, metric, .. } => {
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
        if let Outcome::Stopped { epochs_done, .. } = result.outcome
            && (epochs_done == 0 || epochs_done as usize != result.epochs.len())
        {
            return Err(invalid(format!(
                "a stopped result after {epochs_done} epochs must carry that many (it has {}), at least one",
                result.epochs.len()
            )));
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
            Outcome::Failed { .. } | Outcome::Preempted { .. } | Outcome::Stopped { .. } => None,
        }
    }
}

pub(super) fn validate_epoch(index: usize, epoch: &EpochMetrics) -> std::result::Result<(), String> {
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
        epoch.metric,
        Some(epoch.seconds),
    ];
    if values.into_iter().flatten().any(|value| !value.is_finite()) {
        return Err(format!("epochs[{index}] holds a non-finite number"));
    }
    Ok(())
}

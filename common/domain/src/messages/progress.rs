//! The messages of early stopping: [`EpochProgress`] travels worker →
//! controller after every epoch a child completes; [`StopJob`] travels
//! controller → the worker that reported, when a stopping rule stops the
//! child. Both are versioned like the job and the result, and built only
//! through their validating constructors, serde included.

use std::ops::Deref;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[cfg(doc)]
use super::MESSAGE_VERSION;
use super::{EpochMetrics, ExperimentName, JobId, check_message_version, decode, encode};
use crate::spec::ArchId;
use crate::{Error, Result};

/// The fields of an [`EpochProgress`], as they appear in JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EpochProgressFields {
    /// Message schema version ([`MESSAGE_VERSION`]).
    pub schema_version: u32,
    /// The job.
    pub job_id: JobId,
    /// The job's experiment.
    pub experiment: ExperimentName,
    /// The job's attempt.
    pub attempt: u32,
    /// The architecture.
    pub arch_id: ArchId,
    /// Every epoch completed so far (the latest last), resumed ones included.
    pub epochs: Vec<EpochMetrics>,
    /// Seconds spent training so far.
    pub train_seconds: f64,
    /// The worker that trains it: where a stop goes.
    pub worker_id: String,
}

/// A child's learning curve so far; read it through [`Deref`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "EpochProgressFields", into = "EpochProgressFields")]
#[schemars(with = "EpochProgressFields")]
pub struct EpochProgress(EpochProgressFields);

impl TryFrom<EpochProgressFields> for EpochProgress {
    type Error = Error;

    fn try_from(progress: EpochProgressFields) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidMessage {
            what: "epoch progress",
            reason,
        };
        check_message_version("epoch progress", progress.schema_version)?;
        if progress.attempt == 0 {
            return Err(invalid("attempt starts at 1".into()));
        }
        if progress.epochs.is_empty() {
            return Err(invalid("a progress message needs at least one epoch".into()));
        }
        for (index, epoch) in progress.epochs.iter().enumerate() {
            super::result::validate_epoch(index, epoch).map_err(invalid)?;
        }
        if !progress.train_seconds.is_finite() || progress.train_seconds < 0.0 {
            return Err(invalid(format!(
                "train_seconds {} must be finite and non-negative",
                progress.train_seconds
            )));
        }
        check_worker_id(&progress.worker_id).map_err(invalid)?;
        Ok(EpochProgress(progress))
    }
}

impl From<EpochProgress> for EpochProgressFields {
    fn from(progress: EpochProgress) -> Self {
        progress.0
    }
}

impl Deref for EpochProgress {
    type Target = EpochProgressFields;

    fn deref(&self) -> &EpochProgressFields {
        &self.0
    }
}

impl EpochProgress {
    /// Validates the fields.
    pub fn new(fields: EpochProgressFields) -> Result<Self> {
        Self::try_from(fields)
    }

    /// Parses and validates a progress message from its wire bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        decode("epoch progress", bytes)
    }

    /// The wire bytes.
    pub fn to_json(&self) -> Vec<u8> {
        encode(self)
    }

    /// The latest epoch (1-based).
    pub fn epoch(&self) -> u32 {
        self.0.epochs.len() as u32
    }
}

/// The fields of a [`StopJob`], as they appear in JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StopJobFields {
    /// Message schema version ([`MESSAGE_VERSION`]).
    pub schema_version: u32,
    /// The job to stop (whatever its attempt).
    pub job_id: JobId,
    /// The job's experiment.
    pub experiment: ExperimentName,
    /// The epoch after which the rule stopped it.
    pub epoch: u32,
    /// The rule that stopped it (`median`, `asha`, `predict`).
    pub rule: String,
}

/// An order to stop a child early; read it through [`Deref`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "StopJobFields", into = "StopJobFields")]
#[schemars(with = "StopJobFields")]
pub struct StopJob(StopJobFields);

impl TryFrom<StopJobFields> for StopJob {
    type Error = Error;

    fn try_from(stop: StopJobFields) -> Result<Self> {
        check_message_version("stop", stop.schema_version)?;
        if stop.epoch == 0 || stop.rule.is_empty() || stop.rule.len() > 32 {
            return Err(Error::InvalidMessage {
                what: "stop",
                reason: "a stop names its epoch (≥ 1) and its rule (1-32 characters)".into(),
            });
        }
        Ok(StopJob(stop))
    }
}

impl From<StopJob> for StopJobFields {
    fn from(stop: StopJob) -> Self {
        stop.0
    }
}

impl Deref for StopJob {
    type Target = StopJobFields;

    fn deref(&self) -> &StopJobFields {
        &self.0
    }
}

impl StopJob {
    /// Validates the fields.
    pub fn new(fields: StopJobFields) -> Result<Self> {
        Self::try_from(fields)
    }

    /// Parses and validates a stop from its wire bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        decode("stop", bytes)
    }

    /// The wire bytes.
    pub fn to_json(&self) -> Vec<u8> {
        encode(self)
    }
}

/// A worker id is 1 to 200 visible characters (it is a routing key).
fn check_worker_id(id: &str) -> std::result::Result<(), String> {
    if (1..=200).contains(&id.len()) && id.chars().all(|c| c.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(format!("worker_id {id:?} must be 1-200 visible ASCII characters"))
    }
}

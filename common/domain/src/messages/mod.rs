//! The wire contract between the controller and the workers.
//!
//! A [`TrainJob`] (in [`job`]) travels controller → worker; a
//! [`TrainResult`] (in [`result`]) travels worker → controller. Both are
//! JSON objects with a top-level `schema_version`; both exist only
//! validated (serde goes through `TryFrom`), and [`TrainJob::from_json`] /
//! [`TrainResult::from_json`] report an unknown `schema_version` before
//! anything else. While a child trains, [`EpochProgress`] travels worker
//! → controller after every epoch and [`StopJob`] controller → worker when
//! a stopping rule stops it (in [`progress`]). The JSON Schema of each is generated into `schemas/` from
//! these types. This module holds the names both share: job ids,
//! experiment names, tasks and data-set references.

mod job;
mod progress;
mod result;

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use job::{Hyperparameters, TrainJob, TrainJobFields, TrainingBudget, TrialCommand};
pub use progress::{EpochProgress, EpochProgressFields, StopJob, StopJobFields};
pub use result::{EpochMetrics, Outcome, TrainResult, TrainResultFields};

use crate::canonical_json;
use crate::spec::ArchKind;
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
    /// Whatever the experiment's trial command (or a surrogate worker's
    /// table) measures: children of any kind, the data set passed on.
    Custom,
}

impl Task {
    /// The kind of architecture the paper trains on this task (`None` for
    /// a custom task).
    pub fn arch_kind(self) -> Option<ArchKind> {
        match self {
            Task::Cifar10 => Some(ArchKind::Cnn),
            Task::PtbWord | Task::PtbChar => Some(ArchKind::Cell),
            Task::Custom => None,
        }
    }

    /// Whether children of `kind` can be trained on this task: the paper's
    /// kind, a categorical spec (trained by a command), or anything for a
    /// custom task.
    pub fn accepts(self, kind: ArchKind) -> bool {
        kind == ArchKind::Categorical || self.arch_kind().is_none_or(|own| own == kind)
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

pub(crate) fn check_message_version(what: &'static str, found: u32) -> Result<()> {
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

pub(crate) fn decode<T: serde::de::DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T> {
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

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Validated messages hold only finite numbers and string keys.
    serde_json::to_vec(value).unwrap_or_default()
}

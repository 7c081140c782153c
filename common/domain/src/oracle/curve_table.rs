//! A learning-curve table: every row holds one architecture (by its
//! `arch_id`) with a metric after every epoch and, optionally, the seconds
//! each epoch took:
//!
//! ```text
//! {"arch_id": "81d0…", "valid_accuracy": [0.158, 0.195, …], "epoch_seconds": [0.78, 0.73, …]}
//! ```
//!
//! It lets early stopping be measured without training (`nas-controller
//! simulate --stopping`) and lets a surrogate worker answer epoch by epoch
//! over the real queue. As an [`Oracle`] it answers the reward of the
//! whole curve through its reward function (the accuracy reward by
//! default). The first row of a repeated architecture wins.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Missing, Oracle, json_lines, read_text};
use crate::messages::EpochMetrics;
use crate::reward::RewardFunction;
use crate::spec::ArchSpec;
use crate::{Error, Result};

/// The column with each epoch's seconds, when the table has it.
pub const SECONDS_COLUMN: &str = "epoch_seconds";

/// One architecture's curve.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// The metric after each epoch.
    pub metrics: Vec<f64>,
    /// Seconds of each epoch (1 each when the table has none).
    pub seconds: Vec<f64>,
}

impl Curve {
    /// The curve's first `epochs` epochs as a worker would report them,
    /// the metric where `reward` looks for it.
    pub fn epochs(&self, epochs: usize, reward: &RewardFunction) -> Vec<EpochMetrics> {
        self.metrics
            .iter()
            .zip(&self.seconds)
            .take(epochs)
            .enumerate()
            .map(|(index, (&metric, &seconds))| reward.epoch_with(index as u32 + 1, metric, seconds))
            .collect()
    }
}

/// A learning-curve table (see the module docs).
pub struct CurveTable {
    path: PathBuf,
    column: String,
    curves: Vec<Curve>,
    by_id: HashMap<String, usize>,
    missing: Missing,
    /// How a curve becomes a reward ([`RewardFunction::ACCURACY`]).
    pub reward_function: RewardFunction,
}

impl std::fmt::Debug for CurveTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveTable")
            .field("path", &self.path)
            .field("column", &self.column)
            .field("rows", &self.curves.len())
            .finish_non_exhaustive()
    }
}

impl CurveTable {
    /// Reads a table (JSON lines, optionally gzipped) whose `column` holds
    /// each row's curve.
    pub fn load(path: &Path, column: &str, missing: Missing) -> Result<Self> {
        let text = read_text(path)?;
        let mut table = Self::parse(&text, column, missing).map_err(|reason| Error::Dataset {
            path: path.to_path_buf(),
            reason,
        })?;
        table.path = path.to_path_buf();
        Ok(table)
    }

    /// Parses the text of a table.
    pub fn parse(text: &str, column: &str, missing: Missing) -> std::result::Result<Self, String> {
        let mut curves = Vec::new();
        let mut by_id = HashMap::new();
        for (number, value) in json_lines(text) {
            let at = |reason: String| format!("line {number}: {reason}");
            let value = value.map_err(at)?;
            let id = value
                .get("arch_id")
                .and_then(|id| id.as_str())
                .ok_or_else(|| at("no string arch_id".into()))?;
            let metrics = numbers(value.get(column)).ok_or_else(|| at(format!("no curve {column:?}")))?;
            if metrics.is_empty() {
                return Err(at(format!("the curve {column:?} is empty")));
            }
            let seconds = match value.get(SECONDS_COLUMN) {
                None => vec![1.0; metrics.len()],
                Some(seconds) => numbers(Some(seconds))
                    .filter(|s| s.len() == metrics.len() && s.iter().all(|&s| s >= 0.0))
                    .ok_or_else(|| {
                        at(format!(
                            "{SECONDS_COLUMN} must hold one non-negative number per epoch"
                        ))
                    })?,
            };
            by_id.entry(id.to_owned()).or_insert(curves.len());
            curves.push(Curve { metrics, seconds });
        }
        if curves.is_empty() {
            return Err("the table has no rows".into());
        }
        Ok(CurveTable {
            path: PathBuf::new(),
            column: column.to_owned(),
            curves,
            by_id,
            missing,
            reward_function: RewardFunction::ACCURACY,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.curves.len()
    }

    /// Whether there are no rows (never true for a parsed table).
    pub fn is_empty(&self) -> bool {
        self.curves.is_empty()
    }

    /// The curve column.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// Every row's curve.
    pub fn curves(&self) -> &[Curve] {
        &self.curves
    }

    /// The curve of `spec`, when the table has it.
    pub fn curve(&self, spec: &ArchSpec) -> Option<&Curve> {
        self.by_id.get(spec.id().as_str()).map(|&row| &self.curves[row])
    }

    /// The error for a spec the table has no row for.
    pub fn not_in_table(&self, spec: &ArchSpec) -> Error {
        Error::UnknownArchitecture(format!("{} (not in table {})", spec.id(), self.path.display()))
    }
}

impl Oracle for CurveTable {
    fn reward(&self, spec: &ArchSpec) -> Result<f64> {
        match (self.curve(spec), self.missing) {
            (Some(curve), _) => {
                let epochs = curve.epochs(curve.metrics.len(), &self.reward_function);
                self.reward_function.reward(&epochs)
            }
            (None, Missing::Reward(reward)) => Ok(reward),
            (None, Missing::Fail) => Err(self.not_in_table(spec)),
        }
    }
}

fn numbers(value: Option<&serde_json::Value>) -> Option<Vec<f64>> {
    value?
        .as_array()?
        .iter()
        .map(|item| item.as_f64().filter(|v| v.is_finite()))
        .collect()
}

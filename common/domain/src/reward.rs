//! Reward functions: how a child's per-epoch validation metrics become the
//! scalar reward the controller learns from.
//!
//! - CNNs: the maximum validation accuracy over the last `window` epochs,
//!   raised to `power` (the paper cubes it; its slides say squared).
//! - Language models: `c / perplexity²` with the minimum validation
//!   perplexity over the last `window` epochs (the paper's `c` is about 80).
//! - Anything else (a trial command's `metric`, a benchmark table's
//!   column): the metric itself, best of the last `window` epochs, negated
//!   when the goal is to minimise it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::messages::{EpochMetrics, Task};
use crate::spec::ArchKind;
use crate::{Error, Result};

/// A reward function and its constants.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RewardFunction {
    /// `max(validation accuracy over the last window epochs) ^ power`.
    Accuracy {
        /// The exponent (default 3).
        power: f64,
        /// How many final epochs to take the maximum over (default 5).
        window: u32,
    },
    /// `c / min(validation perplexity over the last window epochs)²`.
    Perplexity {
        /// The constant (default 80).
        c: f64,
        /// How many final epochs to take the minimum over (default 5).
        window: u32,
    },
    /// The best reported `metric` of the last window epochs (negated when
    /// minimising).
    Metric {
        /// Whether larger or smaller metrics are better.
        goal: Goal,
        /// How many final epochs to take the best over (default 1).
        window: u32,
    },
}

/// Whether a metric is to be maximised or minimised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// Larger is better (accuracy).
    Maximize,
    /// Smaller is better (a loss, an error rate).
    Minimize,
}

impl RewardFunction {
    /// The paper's accuracy reward: cubed, best of the last 5 epochs.
    pub const ACCURACY: RewardFunction = RewardFunction::Accuracy {
        power: 3.0,
        window: 5,
    };
    /// The paper's perplexity reward: `80 / ppl²`, best of the last 5 epochs.
    pub const PERPLEXITY: RewardFunction = RewardFunction::Perplexity { c: 80.0, window: 5 };
    /// The reported metric itself, larger is better, of the last epoch.
    pub const METRIC: RewardFunction = RewardFunction::Metric {
        goal: Goal::Maximize,
        window: 1,
    };

    /// The default reward for a kind of child.
    pub fn default_for(kind: ArchKind) -> Self {
        match kind {
            ArchKind::Cnn => Self::ACCURACY,
            ArchKind::Cell => Self::PERPLEXITY,
            ArchKind::Categorical => Self::METRIC,
        }
    }

    /// The default reward for a task: the paper's for its tasks, the metric
    /// itself for a custom task.
    pub fn default_for_task(task: Task) -> Self {
        task.arch_kind().map_or(Self::METRIC, Self::default_for)
    }

    /// Checks that the constants are usable.
    pub fn validate(&self) -> Result<()> {
        let (name, value, window) = match *self {
            RewardFunction::Accuracy { power, window } => ("power", power, window),
            RewardFunction::Perplexity { c, window } => ("c", c, window),
            RewardFunction::Metric { window, .. } => ("window", 1.0, window),
        };
        if !value.is_finite() || value <= 0.0 {
            return Err(Error::InvalidConfig(format!(
                "reward {name} must be a positive finite number, got {value}"
            )));
        }
        if window == 0 {
            return Err(Error::InvalidConfig("reward window must be at least 1".into()));
        }
        Ok(())
    }

    /// The reward for a single summary metric (accuracy in `[0, 1]`, a
    /// perplexity ≥ 1, or any metric).
    pub fn of_metric(&self, metric: f64) -> f64 {
        match *self {
            RewardFunction::Accuracy { power, .. } => metric.clamp(0.0, 1.0).powf(power),
            RewardFunction::Perplexity { c, .. } => c / (metric * metric),
            RewardFunction::Metric {
                goal: Goal::Maximize, ..
            } => metric,
            RewardFunction::Metric {
                goal: Goal::Minimize, ..
            } => -metric,
        }
    }

    /// The best metric of the last `window` epochs (max accuracy or min
    /// perplexity).
    pub fn best_metric(&self, epochs: &[EpochMetrics]) -> Result<f64> {
        let window = match *self {
            RewardFunction::Accuracy { window, .. }
            | RewardFunction::Perplexity { window, .. }
            | RewardFunction::Metric { window, .. } => usize::try_from(window).unwrap_or(usize::MAX),
        };
        let tail = &epochs[epochs.len().saturating_sub(window)..];
        let values: Vec<f64> = match self {
            RewardFunction::Accuracy { .. } => tail.iter().filter_map(|e| e.valid_accuracy).collect(),
            RewardFunction::Perplexity { .. } => tail.iter().filter_map(|e| e.valid_perplexity).collect(),
            RewardFunction::Metric { .. } => tail.iter().filter_map(|e| e.metric).collect(),
        };
        if values.is_empty() {
            return Err(Error::InvalidMessage {
                what: "train result",
                reason: format!("no epoch reports the metric {self:?} needs"),
            });
        }
        let largest = || values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let smallest = || values.iter().copied().fold(f64::INFINITY, f64::min);
        let best = match self {
            RewardFunction::Accuracy { .. }
            | RewardFunction::Metric {
                goal: Goal::Maximize, ..
            } => largest(),
            RewardFunction::Perplexity { .. }
            | RewardFunction::Metric {
                goal: Goal::Minimize, ..
            } => smallest(),
        };
        Ok(best)
    }

    /// The metric this function reads from one epoch, when it is there.
    pub fn metric_of(&self, epoch: &EpochMetrics) -> Option<f64> {
        match self {
            RewardFunction::Accuracy { .. } => epoch.valid_accuracy,
            RewardFunction::Perplexity { .. } => epoch.valid_perplexity,
            RewardFunction::Metric { .. } => epoch.metric,
        }
    }

    /// An epoch that reports `metric` where this function reads it (and in
    /// `metric`), as a surrogate or a curve table answers.
    pub fn epoch_with(&self, epoch: u32, metric: f64, seconds: f64) -> EpochMetrics {
        let (accuracy, perplexity) = match self {
            RewardFunction::Accuracy { .. } => (Some(metric), None),
            RewardFunction::Perplexity { .. } => (None, Some(metric)),
            RewardFunction::Metric { .. } => (None, None),
        };
        EpochMetrics {
            epoch,
            train_loss: 0.0,
            valid_loss: 0.0,
            valid_accuracy: accuracy,
            valid_perplexity: perplexity,
            valid_bits_per_char: None,
            metric: Some(metric),
            seconds,
        }
    }

    /// After each epoch, the reward of the best metric so far (larger is
    /// better whatever the metric): what early stopping compares. An epoch
    /// before the first that reports the metric scores −∞.
    pub fn scores(&self, epochs: &[EpochMetrics]) -> Vec<f64> {
        let mut best = f64::NEG_INFINITY;
        epochs
            .iter()
            .map(|epoch| {
                if let Some(metric) = self.metric_of(epoch).filter(|m| m.is_finite()) {
                    best = best.max(self.of_metric(metric));
                }
                best
            })
            .collect()
    }

    /// The reward of a child from its per-epoch metrics.
    pub fn reward(&self, epochs: &[EpochMetrics]) -> Result<f64> {
        Ok(self.of_metric(self.best_metric(epochs)?))
    }
}

//! Early stopping: which children stop before their full budget, judged on
//! their learning curves as they arrive.
//!
//! - [`StoppingRule::Median`] (Vizier's median stopping rule, as Optuna's
//!   median pruner applies it): at epoch `e` a child stops when its best
//!   score so far is below the median of the other children's best scores
//!   at `e`, once at least `min_children` others reached `e` and
//!   `e ≥ min_epochs`.
//! - [`StoppingRule::Asha`] (asynchronous successive halving, Li et al.
//!   2020, as Ray Tune's ASHA scheduler stops trials): rungs at epochs
//!   `min_epochs · reductionᵏ` below the full budget; a child reaching a
//!   rung goes on only when its score is at least the `1 − 1/reduction`
//!   quantile of the scores recorded at that rung before it (the first
//!   child at a rung always goes on).
//! - [`StoppingRule::Predict`] (a learning-curve predictor, after Baker
//!   et al. 2017, "Accelerating Neural Architecture Search using
//!   Performance Prediction"): after each epoch a regression fitted on the
//!   children that finished their budget predicts the child's final score
//!   from its partial curve ([`predict`]); the child stops when the
//!   `quantile` upper bound of that prediction is below the `top_k`-th best
//!   final score so far, once `min_finished` children finished. It learns
//!   during the search how well early epochs predict the last: where they
//!   predict it poorly the bound is wide and few children stop.
//! - [`StoppingRule::None`]: every child trains to its budget (the paper).
//!
//! A score is the reward of the best metric so far
//! ([`RewardFunction::scores`](crate::RewardFunction::scores)), so larger
//! is better for every metric. A [`Stopper`] is a pure function of the
//! curves it was shown: the controller rebuilds it after a crash by showing
//! it the recorded curves again ([`Mode::Restore`]), with no decisions.
//!
//! What a stopped child teaches the strategy is [`StoppedReward`]: the
//! reward of its partial curve through the experiment's reward function, or
//! a fixed penalty. Both are biased: a partial curve underestimates the
//! child's reward at its full budget, most for architectures that learn
//! slowly but end well, so the strategy is pushed towards fast starters;
//! a penalty also hides how close a stopped child came. Under `predict` it
//! can also be the final score the rule's model expects
//! ([`StoppedReward::Predicted`]), unbiased where the model is right.
//!
//! An architecture stopped before that the strategy samples again
//! ([`SampledAgain`]) reuses the reward it taught when it was stopped, as a
//! trained one reuses its reward, or trains again from scratch. Reusing
//! makes a stop final for that architecture: the partial reward's bias
//! stays with it, and an architecture a rung judged wrongly (another seed
//! would have passed it) is not tried again.

mod predict;
mod stopper;
#[cfg(test)]
mod tests;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use stopper::{Decision, Mode, Stopper};

use crate::{Error, Result};

/// Which children stop early (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum StoppingRule {
    /// Every child trains to its budget.
    #[default]
    None,
    /// The median stopping rule.
    Median {
        /// No child stops before this epoch (default 1).
        #[serde(default = "one")]
        min_epochs: u32,
        /// Children that must have reached an epoch before anyone stops
        /// there (default 5).
        #[serde(default = "five")]
        min_children: u32,
    },
    /// Asynchronous successive halving.
    Asha {
        /// The first rung's epoch (default 1).
        #[serde(default = "one")]
        min_epochs: u32,
        /// η: the rungs are `min_epochs · ηᵏ` and one child in η goes on
        /// (default 3).
        #[serde(default = "three")]
        reduction: u32,
    },
    /// The learning-curve predictor.
    Predict {
        /// Children that must have finished their budget before anyone
        /// stops (default 8).
        #[serde(default = "eight")]
        min_finished: u32,
        /// A child stops when its optimistic final score is below the
        /// `top_k`-th best final score so far (default 2).
        #[serde(default = "two")]
        top_k: u32,
        /// How optimistic: the quantile of the predicted final score that
        /// must fall below that score (default 0.99).
        #[serde(default = "ninety_nine_percent")]
        quantile: f64,
    },
}

fn one() -> u32 {
    1
}
fn two() -> u32 {
    2
}
fn eight() -> u32 {
    8
}
fn ninety_nine_percent() -> f64 {
    0.99
}
fn three() -> u32 {
    3
}
fn five() -> u32 {
    5
}

impl StoppingRule {
    /// The rule's name (`none`, `median`, `asha`).
    pub fn name(&self) -> &'static str {
        match self {
            StoppingRule::None => "none",
            StoppingRule::Median { .. } => "median",
            StoppingRule::Asha { .. } => "asha",
            StoppingRule::Predict { .. } => "predict",
        }
    }

    /// A rule as a command line gives it: a name with its default settings
    /// (`none`, `median`, `asha`, `predict`), or with its settings,
    /// `median:MIN_EPOCHS:MIN_CHILDREN`, `asha:MIN_EPOCHS:REDUCTION` or
    /// `predict:MIN_FINISHED:TOP_K[:QUANTILE]`.
    pub fn from_name(text: &str) -> Result<Self> {
        let mut parts = text.split(':');
        let name = parts.next().unwrap_or_default();
        let settings: Vec<&str> = parts.collect();
        if settings.is_empty() {
            return Self::by_name(name);
        }
        let malformed = || {
            Error::InvalidConfig(format!(
                "stopping rule {text:?} is not none, median[:MIN_EPOCHS:MIN_CHILDREN], \
                 asha[:MIN_EPOCHS:REDUCTION] or predict[:MIN_FINISHED:TOP_K[:QUANTILE]]"
            ))
        };
        let count = |part: &str| part.parse::<u32>().map_err(|_| malformed());
        let rule = match (name, settings.as_slice()) {
            ("median", [min_epochs, min_children]) => StoppingRule::Median {
                min_epochs: count(min_epochs)?,
                min_children: count(min_children)?,
            },
            ("asha", [min_epochs, reduction]) => StoppingRule::Asha {
                min_epochs: count(min_epochs)?,
                reduction: count(reduction)?,
            },
            ("predict", [min_finished, top_k, rest @ ..]) if rest.len() <= 1 => StoppingRule::Predict {
                min_finished: count(min_finished)?,
                top_k: count(top_k)?,
                quantile: match rest {
                    [quantile] => quantile.parse::<f64>().map_err(|_| malformed())?,
                    _ => ninety_nine_percent(),
                },
            },
            _ => return Err(malformed()),
        };
        rule.validate()?;
        Ok(rule)
    }

    /// A rule by name with its default settings.
    fn by_name(name: &str) -> Result<Self> {
        match name {
            "none" => Ok(StoppingRule::None),
            "median" => Ok(StoppingRule::Median {
                min_epochs: 1,
                min_children: 5,
            }),
            "asha" => Ok(StoppingRule::Asha {
                min_epochs: 1,
                reduction: 3,
            }),
            "predict" => Ok(StoppingRule::Predict {
                min_finished: eight(),
                top_k: two(),
                quantile: ninety_nine_percent(),
            }),
            other => Err(Error::InvalidConfig(format!(
                "stopping rule {other:?} is not one of none, median, asha, predict"
            ))),
        }
    }

    /// The rule with its settings, as [`StoppingRule::from_name`] reads it
    /// (`none`, `median:1:5`, `asha:1:3`, `predict:8:2:0.99`).
    pub fn label(&self) -> String {
        match *self {
            StoppingRule::None => "none".into(),
            StoppingRule::Median {
                min_epochs,
                min_children,
            } => format!("median:{min_epochs}:{min_children}"),
            StoppingRule::Asha {
                min_epochs,
                reduction,
            } => format!("asha:{min_epochs}:{reduction}"),
            StoppingRule::Predict {
                min_finished,
                top_k,
                quantile,
            } => format!("predict:{min_finished}:{top_k}:{quantile}"),
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: &str| Err(Error::InvalidConfig(format!("stopping: {reason}")));
        match *self {
            StoppingRule::None => Ok(()),
            StoppingRule::Median {
                min_epochs,
                min_children,
            } => {
                if min_epochs == 0 || min_children == 0 {
                    return invalid("median needs min_epochs and min_children of at least 1");
                }
                Ok(())
            }
            StoppingRule::Asha {
                min_epochs,
                reduction,
            } => {
                if min_epochs == 0 || reduction < 2 {
                    return invalid("asha needs min_epochs ≥ 1 and reduction ≥ 2");
                }
                Ok(())
            }
            StoppingRule::Predict {
                min_finished,
                top_k,
                quantile,
            } => {
                if top_k == 0 || min_finished < top_k.max(predict::MIN_ROWS) {
                    return invalid(&format!(
                        "predict needs top_k ≥ 1 and min_finished ≥ top_k and ≥ {} (the model's smallest fit)",
                        predict::MIN_ROWS
                    ));
                }
                if quantile.is_nan() || quantile <= 0.5 || quantile >= 1.0 {
                    return invalid(&format!("predict's quantile {quantile} is not between 0.5 and 1"));
                }
                Ok(())
            }
        }
    }

    /// The epochs at which ASHA judges a child whose budget is `epochs`
    /// (none for the other rules).
    pub fn rungs(&self, epochs: u32) -> Vec<u32> {
        let StoppingRule::Asha {
            min_epochs,
            reduction,
        } = *self
        else {
            return Vec::new();
        };
        let mut rungs = Vec::new();
        let mut rung = u64::from(min_epochs);
        while rung < u64::from(epochs) {
            rungs.push(rung as u32);
            rung *= u64::from(reduction.max(2));
        }
        rungs
    }
}

/// What a stopped child's reward is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StoppedReward {
    /// The reward function applied to its partial curve (the default).
    #[default]
    Partial,
    /// This reward instead.
    Penalty(f64),
    /// The final score the `predict` rule's model expects from its partial
    /// curve (its partial reward under the other rules, or before the
    /// model has its `min_finished` children).
    Predicted,
}

/// What an architecture stopped before does when it is sampled again
/// (with `reuse_rewards`; without it every child trains).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SampledAgain {
    /// It reuses the reward it taught when it was stopped (the default): the
    /// curve that was stopped would most likely be stopped again.
    #[default]
    Reuse,
    /// It trains again from scratch, with another seed.
    Retrain,
}

impl std::str::FromStr for SampledAgain {
    type Err = Error;

    /// [`SampledAgain::from_name`], so a command line can take one directly.
    fn from_str(text: &str) -> Result<Self> {
        Self::from_name(text)
    }
}

impl std::str::FromStr for StoppingRule {
    type Err = Error;

    /// [`StoppingRule::from_name`], so a command line can take one directly.
    fn from_str(text: &str) -> Result<Self> {
        Self::from_name(text)
    }
}

impl SampledAgain {
    /// `reuse` or `retrain`, as a command line gives it.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "reuse" => Ok(SampledAgain::Reuse),
            "retrain" => Ok(SampledAgain::Retrain),
            other => Err(Error::InvalidConfig(format!(
                "stopping.sampled_again {other:?} is not reuse or retrain"
            ))),
        }
    }

    /// The setting's name.
    pub fn name(&self) -> &'static str {
        match self {
            SampledAgain::Reuse => "reuse",
            SampledAgain::Retrain => "retrain",
        }
    }
}

/// An experiment's early stopping (`[stopping]` in its configuration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StoppingConfig {
    /// The rule.
    #[serde(flatten)]
    pub rule: StoppingRule,
    /// What a stopped child's reward is.
    #[serde(default)]
    pub stopped_reward: StoppedReward,
    /// What a stopped architecture sampled again does.
    #[serde(default)]
    pub sampled_again: SampledAgain,
}

impl StoppingConfig {
    /// Checks the rule and the penalty, and that a predicted reward has
    /// the rule that predicts it.
    pub fn validate(&self) -> Result<()> {
        self.rule.validate()?;
        if self.stopped_reward == StoppedReward::Predicted
            && !matches!(self.rule, StoppingRule::Predict { .. })
        {
            return Err(Error::InvalidConfig(format!(
                "stopping.stopped_reward \"predicted\" needs rule = \"predict\" (the rule is {})",
                self.rule.name()
            )));
        }
        if let StoppedReward::Penalty(value) = self.stopped_reward
            && !value.is_finite()
        {
            return Err(Error::InvalidConfig(format!(
                "stopping.stopped_reward penalty {value} must be finite"
            )));
        }
        Ok(())
    }

    /// The reward a stopped child teaches: its partial reward, the penalty,
    /// or the final score `predicted` for it (when there is one).
    pub fn reward_of_stopped(&self, partial: f64, predicted: Option<f64>) -> f64 {
        match self.stopped_reward {
            StoppedReward::Partial => partial,
            StoppedReward::Penalty(value) => value,
            StoppedReward::Predicted => predicted.unwrap_or(partial),
        }
    }
}

/// The `q` quantile of `values` with linear interpolation (numpy's
/// default); `values` must not be empty.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

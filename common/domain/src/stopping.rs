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
//! a penalty also hides how close a stopped child came.
//!
//! An architecture stopped before that the strategy samples again
//! ([`SampledAgain`]) reuses the reward it taught when it was stopped, as a
//! trained one reuses its reward, or trains again from scratch. Reusing
//! makes a stop final for that architecture: the partial reward's bias
//! stays with it, and an architecture a rung judged wrongly (another seed
//! would have passed it) is not tried again.

use std::collections::HashMap;
use std::hash::Hash;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
}

fn one() -> u32 {
    1
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
        }
    }

    /// A rule as a command line gives it: a name with its default settings
    /// (`none`, `median`, `asha`), or with its two settings,
    /// `median:MIN_EPOCHS:MIN_CHILDREN` or `asha:MIN_EPOCHS:REDUCTION`.
    pub fn from_name(text: &str) -> Result<Self> {
        let mut parts = text.split(':');
        let name = parts.next().unwrap_or_default();
        let settings: Vec<&str> = parts.collect();
        if settings.is_empty() {
            return Self::by_name(name);
        }
        let numbers: Option<Vec<u32>> = settings.iter().map(|part| part.parse().ok()).collect();
        let rule = match (name, numbers.as_deref()) {
            ("median", Some(&[min_epochs, min_children])) => StoppingRule::Median {
                min_epochs,
                min_children,
            },
            ("asha", Some(&[min_epochs, reduction])) => StoppingRule::Asha {
                min_epochs,
                reduction,
            },
            _ => {
                return Err(Error::InvalidConfig(format!(
                    "stopping rule {text:?} is not none, median[:MIN_EPOCHS:MIN_CHILDREN] or asha[:MIN_EPOCHS:REDUCTION]"
                )));
            }
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
            other => Err(Error::InvalidConfig(format!(
                "stopping rule {other:?} is not one of none, median, asha"
            ))),
        }
    }

    /// The rule with its settings, as [`StoppingRule::from_name`] reads it
    /// (`none`, `median:1:5`, `asha:1:3`).
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
    /// Checks the rule and the penalty.
    pub fn validate(&self) -> Result<()> {
        self.rule.validate()?;
        if let StoppedReward::Penalty(value) = self.stopped_reward
            && !value.is_finite()
        {
            return Err(Error::InvalidConfig(format!(
                "stopping.stopped_reward penalty {value} must be finite"
            )));
        }
        Ok(())
    }

    /// The reward a stopped child teaches: its partial reward, or the penalty.
    pub fn reward_of_stopped(&self, partial: f64) -> f64 {
        match self.stopped_reward {
            StoppedReward::Partial => partial,
            StoppedReward::Penalty(value) => value,
        }
    }
}

/// Whether a curve is judged or only recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Record the new epochs and decide whether the child goes on.
    Decide,
    /// Record them only (rebuilding after a crash, finished children).
    Restore,
}

/// What a stopper says about a child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Train on.
    Continue,
    /// Stop after this epoch.
    Stop {
        /// The epoch judged.
        epoch: u32,
    },
}

/// A rule's state: the scores every child showed at every epoch.
#[derive(Clone, Debug)]
pub struct Stopper<K> {
    rule: StoppingRule,
    rungs: Vec<u32>,
    /// Per epoch (0-based), the score of each child that reached it.
    by_epoch: Vec<Vec<(K, f64)>>,
    /// Epochs recorded per child.
    seen: HashMap<K, usize>,
}

impl<K: Clone + Eq + Hash> Stopper<K> {
    /// A stopper for children trained for `epochs`.
    pub fn new(rule: StoppingRule, epochs: u32) -> Self {
        Stopper {
            rule,
            rungs: rule.rungs(epochs),
            by_epoch: Vec::new(),
            seen: HashMap::new(),
        }
    }

    /// The rule.
    pub fn rule(&self) -> StoppingRule {
        self.rule
    }

    /// The ASHA rungs (epochs).
    pub fn rungs(&self) -> &[u32] {
        &self.rungs
    }

    /// Children recorded at `epoch` (1-based).
    pub fn reached(&self, epoch: u32) -> usize {
        self.by_epoch.get(epoch as usize - 1).map_or(0, Vec::len)
    }

    /// The scores recorded at `epoch` (1-based), in arrival order.
    pub fn scores_at(&self, epoch: u32) -> Vec<f64> {
        self.by_epoch
            .get(epoch.saturating_sub(1) as usize)
            .map(|row| row.iter().map(|(_, score)| *score).collect())
            .unwrap_or_default()
    }

    /// Shows the stopper `child`'s scores so far (one per epoch, see
    /// [`RewardFunction::scores`](crate::RewardFunction::scores)): epochs it
    /// saw before are skipped; in [`Mode::Decide`] the new ones are judged.
    pub fn observe(&mut self, child: &K, scores: &[f64], mode: Mode) -> Decision {
        let seen = self.seen.get(child).copied().unwrap_or(0);
        let mut decision = Decision::Continue;
        for (index, &score) in scores.iter().enumerate().skip(seen) {
            let epoch = index as u32 + 1;
            if mode == Mode::Decide && decision == Decision::Continue && self.stops(child, epoch, score) {
                decision = Decision::Stop { epoch };
            }
            if self.by_epoch.len() <= index {
                self.by_epoch.resize_with(index + 1, Vec::new);
            }
            self.by_epoch[index].push((child.clone(), score));
        }
        self.seen.insert(child.clone(), scores.len().max(seen));
        decision
    }

    /// Whether `child` stops at `epoch` with `score`, judged against what
    /// was recorded before it.
    fn stops(&self, child: &K, epoch: u32, score: f64) -> bool {
        let others = || {
            self.by_epoch
                .get(epoch as usize - 1)
                .into_iter()
                .flatten()
                .filter(|(key, _)| key != child)
                .map(|(_, score)| *score)
                .collect::<Vec<f64>>()
        };
        match self.rule {
            StoppingRule::None => false,
            StoppingRule::Median {
                min_epochs,
                min_children,
            } => {
                let others = others();
                epoch >= min_epochs && others.len() >= min_children as usize && score < quantile(&others, 0.5)
            }
            StoppingRule::Asha { reduction, .. } => {
                if !self.rungs.contains(&epoch) {
                    return false;
                }
                let others = others();
                !others.is_empty() && score < quantile(&others, 1.0 - 1.0 / f64::from(reduction))
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asha_judges_only_at_its_rungs_against_the_children_before() {
        let rule = StoppingRule::from_name("asha:1:3").unwrap();
        let mut stopper: Stopper<u32> = Stopper::new(rule, 10);
        assert_eq!(stopper.rungs(), &[1, 3, 9]);
        // The first child at a rung always goes on.
        assert_eq!(stopper.observe(&0, &[0.1, 0.2], Mode::Decide), Decision::Continue);
        // Below the first child at rung 1: stopped there, not at epoch 2.
        assert_eq!(
            stopper.observe(&1, &[0.05, 0.9], Mode::Decide),
            Decision::Stop { epoch: 1 }
        );
        assert_eq!(stopper.observe(&2, &[0.3], Mode::Decide), Decision::Continue);
        // Restoring records without deciding.
        assert_eq!(stopper.observe(&3, &[0.0], Mode::Restore), Decision::Continue);
        assert_eq!(stopper.reached(1), 4);
    }

    #[test]
    fn median_waits_for_its_minimum_of_children() {
        let rule = StoppingRule::from_name("median:1:2").unwrap();
        let mut stopper: Stopper<u32> = Stopper::new(rule, 4);
        assert_eq!(stopper.observe(&0, &[0.5], Mode::Decide), Decision::Continue);
        assert_eq!(stopper.observe(&1, &[0.1], Mode::Decide), Decision::Continue);
        assert_eq!(
            stopper.observe(&2, &[0.2], Mode::Decide),
            Decision::Stop { epoch: 1 }
        );
    }

    #[test]
    fn a_stopping_table_reads_what_a_stopped_architecture_sampled_again_does() {
        let config: StoppingConfig = toml::from_str("rule = \"asha\"\nreduction = 2").unwrap();
        assert_eq!(config.sampled_again, SampledAgain::Reuse);
        assert_eq!(
            config.rule,
            StoppingRule::Asha {
                min_epochs: 1,
                reduction: 2
            }
        );
        let config: StoppingConfig =
            toml::from_str("rule = \"median\"\nsampled_again = \"retrain\"").unwrap();
        assert_eq!(config.sampled_again, SampledAgain::Retrain);
        for bad in [
            "rule = \"asha\"\nsampled_again = \"never\"",
            "rule = \"asha\"\nsampled_agian = \"reuse\"",
        ] {
            assert!(toml::from_str::<StoppingConfig>(bad).is_err(), "{bad}");
        }
        for (name, expected) in [
            ("reuse", Some(SampledAgain::Reuse)),
            ("retrain", Some(SampledAgain::Retrain)),
            ("Reuse", None),
        ] {
            assert_eq!(SampledAgain::from_name(name).ok(), expected, "{name}");
        }
    }
}

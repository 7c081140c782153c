//! REINFORCE's settings: [`ReinforceConfig`] (the defaults, measured on
//! NAS-Bench-Graph; the paper's settings; the paper's with nothing it does
//! not state) and how rewards become advantages ([`RewardTransform`]).
//! [`super::Reinforce`] validates them when it starts or restores, and
//! builds its Adam optimiser from them.

use nas_domain::Task;
use serde::{Deserialize, Serialize};

use super::adam::AdamConfig;
use super::policy::PolicyConfig;
use super::staleness::Staleness;
use crate::{Error, Result};

/// How rewards become advantages.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RewardTransform {
    /// `R − b`, with `b` the moving-average baseline (the paper).
    #[default]
    Baseline,
    /// The centred rank of `R` in its batch, in `[−0.5, 0.5]`.
    BatchRank,
    /// `(R − mean) / std` over the batch.
    BatchStandardize,
    /// Risk-seeking (Petersen et al. 2021): only the best quarter of the
    /// batch learns, with advantage `R − q`, `q` the batch's upper-quartile
    /// reward; the rest get 0. It optimises for the best child, not the
    /// mean one, which is what a search wants.
    BatchTop,
}

impl RewardTransform {
    /// The advantages of `rewards` against `baseline`.
    pub fn advantages(self, rewards: &[f64], baseline: f64) -> Vec<f64> {
        let count = rewards.len() as f64;
        match self {
            RewardTransform::Baseline => rewards.iter().map(|r| r - baseline).collect(),
            RewardTransform::BatchRank => {
                if rewards.len() < 2 {
                    return vec![0.0; rewards.len()];
                }
                rewards
                    .iter()
                    .map(|r| {
                        let below = rewards.iter().filter(|other| *other < r).count() as f64;
                        let ties = rewards.iter().filter(|other| *other == r).count() as f64;
                        (below + (ties - 1.0) / 2.0) / (count - 1.0) - 0.5
                    })
                    .collect()
            }
            RewardTransform::BatchTop => {
                let mut sorted = rewards.to_vec();
                sorted.sort_by(|a, b| b.total_cmp(a));
                let quantile = sorted[(rewards.len() / 4).min(rewards.len() - 1)];
                rewards.iter().map(|r| (r - quantile).max(0.0)).collect()
            }
            RewardTransform::BatchStandardize => {
                let mean = rewards.iter().sum::<f64>() / count;
                let variance = rewards.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / count;
                let std = variance.sqrt().max(1e-8);
                rewards.iter().map(|r| (r - mean) / std).collect()
            }
        }
    }
}

/// REINFORCE settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReinforceConfig {
    /// Rewards per policy-gradient step, `m` (paper: 8).
    pub batch_size: usize,
    /// Adam's learning rate (paper: 6e-4).
    pub learning_rate: f64,
    /// Decay `d` of the moving-average baseline.
    pub baseline_decay: f64,
    /// Where the baseline starts; `None`: at the first batch's mean reward.
    pub baseline_start: Option<f64>,
    /// Weight `β` of the entropy bonus that keeps the policy exploring.
    pub entropy_weight: f64,
    /// Largest global gradient norm; larger gradients are scaled down.
    pub grad_clip: Option<f64>,
    /// How rewards become advantages.
    pub reward_transform: RewardTransform,
    /// How many times a sample whose architecture this controller proposed
    /// before is drawn again (from the same random stream) before the
    /// duplicate is accepted; 0 proposes duplicates as they come.
    pub redraws: u32,
    /// What a step does with rewards sampled by an older policy.
    pub staleness: Staleness,
    /// With a warm start: the policy-gradient steps taken on the earlier
    /// searches' children before the first child, each on 64 of them
    /// (how much the past weighs; 0 learns nothing from it).
    pub warm_start_steps: u64,
    /// The controller network.
    pub policy: PolicyConfig,
}

/// The defaults: the paper's controller (m = 8, gradient clipping, Adam)
/// with what a search of hundreds to a few thousand children needs, each
/// measured on NAS-Bench-Graph (README "Search efficiency on a public
/// benchmark"): Adam at 0.01 instead of 6e-4 (the paper's rate is for
/// 12,800 children), rank advantages (invariant to the reward's scale,
/// which differs by space and reward function), an entropy bonus of 0.01,
/// and logits bounded as `1.5·tanh(logits / 5)` so the policy keeps
/// exploring instead of settling on its first good child.
impl Default for ReinforceConfig {
    fn default() -> Self {
        ReinforceConfig {
            batch_size: 8,
            learning_rate: 0.01,
            baseline_decay: 0.95,
            baseline_start: None,
            entropy_weight: 0.01,
            grad_clip: Some(5.0),
            reward_transform: RewardTransform::BatchRank,
            redraws: 0,
            staleness: Staleness::Keep,
            warm_start_steps: 100,
            policy: PolicyConfig::default(),
        }
    }
}

impl ReinforceConfig {
    /// Zoph & Le's settings: Adam at 6e-4, the moving-average baseline, a
    /// small entropy bonus and unbounded logits at temperature 1.
    pub fn paper() -> Self {
        ReinforceConfig {
            learning_rate: 6e-4,
            entropy_weight: 1e-4,
            reward_transform: RewardTransform::Baseline,
            policy: PolicyConfig {
                temperature: 1.0,
                tanh_constant: None,
                ..PolicyConfig::default()
            },
            ..ReinforceConfig::default()
        }
    }

    /// The paper's controller with nothing it does not state: Adam at 6e-4
    /// (5e-4 for Penn Treebank), `m` = 8 (10 for PTB, where the parameter
    /// server applied an update once 10 gradients had arrived), `R − b`
    /// with a moving average that starts at 0, no entropy bonus, no
    /// gradient clipping, unbounded logits at temperature 1, no redraws.
    pub fn paper_strict(task: Task) -> Self {
        let ptb = matches!(task, Task::PtbWord | Task::PtbChar);
        ReinforceConfig {
            batch_size: if ptb { 10 } else { 8 },
            learning_rate: if ptb { 5e-4 } else { 6e-4 },
            baseline_start: Some(0.0),
            entropy_weight: 0.0,
            grad_clip: None,
            redraws: 0,
            ..Self::paper()
        }
    }
}

impl ReinforceConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        let problem = if self.batch_size == 0 {
            Some("batch_size must be at least 1".to_owned())
        } else if !(0.0..1.0).contains(&self.baseline_decay) {
            Some(format!(
                "baseline_decay {} must be in [0, 1)",
                self.baseline_decay
            ))
        } else if self.baseline_start.is_some_and(|start| !start.is_finite()) {
            Some(format!("baseline_start {:?} must be finite", self.baseline_start))
        } else if !self.entropy_weight.is_finite() || self.entropy_weight < 0.0 {
            Some(format!(
                "entropy_weight {} must be finite and non-negative",
                self.entropy_weight
            ))
        } else if self
            .grad_clip
            .is_some_and(|clip| !clip.is_finite() || clip <= 0.0)
        {
            Some(format!("grad_clip {:?} must be positive", self.grad_clip))
        } else {
            None
        };
        match problem {
            Some(problem) => Err(Error::Config(problem)),
            None => {
                self.staleness.validate()?;
                self.policy.validate()
            }
        }
    }

    /// The optimiser's settings.
    pub(super) fn adam(&self) -> AdamConfig {
        AdamConfig {
            learning_rate: self.learning_rate,
            ..AdamConfig::default()
        }
    }
}

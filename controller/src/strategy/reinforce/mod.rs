//! REINFORCE with an exponential-moving-average baseline (Zoph & Le §3.2):
//!
//! ```text
//! ∇J(θ) ≈ 1/m Σ_k Σ_t ∇ log P(a_t | a_1..a_{t−1}; θ) · (R_k − b)
//! ```
//!
//! Rewards are buffered until `m = batch_size` have arrived; then the
//! log-probabilities of their stored actions are **recomputed under the
//! current parameters** (the policy may have moved since they were sampled,
//! as with the paper's asynchronous replicas, so updates are slightly
//! off-policy; each report says by how many versions), the surrogate loss
//! `−1/m Σ_k (R_k − b)·log P_k − β·H̄` is minimised with one Adam step after
//! global gradient-norm clipping, and then the baseline absorbs the batch's
//! rewards one by one: `b ← d·b + (1 − d)·R`. The baseline starts at the
//! first batch's mean reward, so the first advantages are centred, or at
//! `baseline_start` when set (the paper's moving average starts at 0).
//! What a step does with rewards sampled by an older policy is the
//! [`staleness`] setting: keep them, drop them, or weight them by a
//! truncated importance ratio.

pub mod adam;
pub mod policy;
pub mod staleness;

use std::collections::BTreeSet;

use nas_domain::{ArchKind, ArchSpec, CnnSpace, DepthSchedule, Plan, SearchSpace, SpaceDefinition, Task};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::strategy::checkpoint::Checkpoint;
use crate::strategy::{self, Observation, Proposal, StepReport, Strategy, StrategyKind};
use crate::{Error, Result};
use adam::{Adam, AdamConfig};
use policy::{Policy, PolicyConfig, Sampled};
pub use staleness::Staleness;

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

    fn adam(&self) -> AdamConfig {
        AdamConfig {
            learning_rate: self.learning_rate,
            ..AdamConfig::default()
        }
    }
}

/// Everything but the tensors.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ReinforceState {
    space: SearchSpace,
    config: ReinforceConfig,
    seed: u64,
    samples_drawn: u64,
    steps: u64,
    baseline: Option<f64>,
    pending: Vec<Observation>,
    /// The architectures proposed so far (the first 64 bits of their ids),
    /// when duplicates are redrawn.
    #[serde(default)]
    proposed: BTreeSet<u64>,
    /// Rewards left out of the gradient so far for their staleness.
    #[serde(default)]
    stale_dropped: u64,
}

/// The REINFORCE strategy: policy, optimiser and baseline.
pub struct Reinforce {
    state: ReinforceState,
    policy: Policy,
    parameters: Vec<(String, Tensor)>,
    adam: Adam,
}

/// The random stream that initialises the policy of a seed (sample streams
/// count up from 0, so this one never collides with them).
const INIT_STREAM: u64 = u64::MAX;

impl Reinforce {
    /// A fresh controller for `space`.
    pub fn new(space: SearchSpace, config: ReinforceConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let policy = Policy::new(
            &space,
            config.policy.clone(),
            &mut strategy::sample_rng(seed, INIT_STREAM),
        )?;
        let parameters = policy.named_parameters();
        let adam = Adam::new(config.adam(), &parameters)?;
        Ok(Reinforce {
            state: ReinforceState {
                space,
                config,
                seed,
                samples_drawn: 0,
                steps: 0,
                baseline: None,
                pending: Vec::new(),
                proposed: BTreeSet::new(),
                stale_dropped: 0,
            },
            policy,
            parameters,
            adam,
        })
    }

    /// Resumes exactly from a checkpoint.
    pub fn restore(checkpoint: &Checkpoint) -> Result<Self> {
        Self::restore_with(checkpoint, None)
    }

    /// Resumes from a checkpoint, optionally with other REINFORCE settings
    /// (the policy's shape must stay the same).
    pub fn restore_with(checkpoint: &Checkpoint, config: Option<ReinforceConfig>) -> Result<Self> {
        let mut state: ReinforceState = strategy::parse_state(checkpoint)?;
        if let Some(config) = config {
            if config.policy != state.config.policy {
                return Err(Error::Config(
                    "a restored policy keeps its network settings".into(),
                ));
            }
            config.validate()?;
            state.config = config;
        }
        let mut restored = Self::new(state.space.clone(), state.config.clone(), state.seed)?;
        for (name, parameter) in &mut restored.parameters {
            let saved = checkpoint.tensor(&format!("policy.{name}"))?;
            if saved.size() != parameter.size() {
                return Err(Error::Checkpoint(format!(
                    "policy.{name} has shape {:?}, the policy {:?}",
                    saved.size(),
                    parameter.size()
                )));
            }
            tch::no_grad(|| parameter.copy_(&saved));
        }
        let mut lookup = |name: &str| checkpoint.tensor(name);
        restored
            .adam
            .restore(state.steps, &mut lookup, &restored.parameters)?;
        restored.state = state;
        Ok(restored)
    }

    /// The controller network.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The current baseline, once a batch has set it.
    pub fn baseline(&self) -> Option<f64> {
        self.state.baseline
    }

    /// The search space.
    pub fn space(&self) -> &SearchSpace {
        &self.state.space
    }

    /// One architecture sampled from the policy with `seed` (sample 0 of
    /// that seed), `layers` deep for CNN spaces (the curriculum's first
    /// depth by default; a depth outside the curriculum is decoded in the
    /// same space with its depth fixed there).
    pub fn sample_spec(&self, layers: Option<u16>, seed: u64) -> Result<ArchSpec> {
        let space = self.space();
        let depth = match (layers, space.kind()) {
            (Some(layers), ArchKind::Cnn) => usize::from(layers),
            (Some(_), ArchKind::Cell | ArchKind::Categorical) => {
                return Err(Error::Config("--layers applies to CNN spaces only".into()));
            }
            (None, _) => space.depth_at(0),
        };
        let plan = space.plan(depth);
        let mut rngs = [strategy::sample_rng(seed, 0)];
        let sampled = self.policy().sample(&plan, &mut rngs);
        let decode_space = match (&**space, layers) {
            (SpaceDefinition::Cnn(cnn), Some(layers)) => SearchSpace::cnn(CnnSpace {
                depth: DepthSchedule::fixed(layers),
                ..cnn.clone()
            })?,
            _ => space.clone(),
        };
        Ok(ArchSpec::from_actions(&decode_space, depth, &sampled[0].actions)?)
    }

    /// `sampled`, or when its architecture was proposed before, a redraw
    /// from the same stream (up to `redraws` times; then the duplicate).
    fn distinct(
        &mut self,
        plan: &Plan,
        depth: usize,
        mut sampled: Sampled,
        rng: &mut ChaCha8Rng,
    ) -> Result<(Sampled, ArchSpec)> {
        let space = &self.state.space;
        let mut spec = ArchSpec::from_actions(space, depth, &sampled.actions)?;
        if self.state.config.redraws == 0 {
            return Ok((sampled, spec));
        }
        for _ in 0..self.state.config.redraws {
            if !self.state.proposed.contains(&short_id(&spec)) {
                break;
            }
            sampled = self.policy.sample(plan, std::slice::from_mut(rng)).remove(0);
            spec = ArchSpec::from_actions(space, depth, &sampled.actions)?;
        }
        self.state.proposed.insert(short_id(&spec));
        Ok((sampled, spec))
    }

    fn step(&mut self, batch: Vec<Observation>) -> Result<StepReport> {
        let config = &self.state.config;
        let count = batch.len() as f64;
        let mean_reward = batch.iter().map(|o| o.reward).sum::<f64>() / count;
        let baseline = self
            .state
            .baseline
            .or(config.baseline_start)
            .unwrap_or(mean_reward);
        let mut objective = Tensor::zeros([], (Kind::Float, tch::Device::Cpu));
        let mut entropy_total = 0.0;
        let rewards: Vec<f64> = batch.iter().map(|o| o.reward).collect();
        let advantages = config.reward_transform.advantages(&rewards, baseline);
        let mut weight_total = 0.0;
        let mut depths: Vec<usize> = batch.iter().map(|o| o.depth).collect();
        depths.sort_unstable();
        depths.dedup();
        for depth in depths {
            let members: Vec<usize> = (0..batch.len()).filter(|&i| batch[i].depth == depth).collect();
            let group: Vec<&Observation> = members.iter().map(|&i| &batch[i]).collect();
            let plan = self.state.space.plan(depth);
            let actions: Vec<_> = group.iter().map(|o| &o.actions).collect();
            let scored = self.policy.score(&plan, &actions)?;
            let now = Vec::<f64>::try_from(scored.log_prob.detach().to_kind(Kind::Double))?;
            let group_advantages: Vec<f32> = members
                .iter()
                .zip(now)
                .map(|(&i, now)| {
                    let weight = config.staleness.weight(now, batch[i].log_prob);
                    weight_total += weight;
                    (advantages[i] * weight) as f32
                })
                .collect();
            let group_advantages = Tensor::from_slice(&group_advantages);
            let entropy = scored.entropy.sum(Kind::Float);
            entropy_total += entropy.double_value(&[]);
            objective +=
                (scored.log_prob * group_advantages).sum(Kind::Float) + entropy * config.entropy_weight;
        }
        let loss = -objective / count;
        // A space whose every decision has one choice leaves nothing to
        // learn: the log-probabilities are constants, with no gradient.
        let grad_norm = if loss.requires_grad() {
            loss.backward();
            let norm = adam::clip_grad_norm(&self.parameters, config.grad_clip);
            self.adam.step(&mut self.parameters);
            norm
        } else {
            0.0
        };
        let decay = config.baseline_decay;
        let updated = batch
            .iter()
            .fold(baseline, |b, o| decay * b + (1.0 - decay) * o.reward);
        self.state.baseline = Some(updated);
        self.state.steps += 1;
        let oldest = batch.iter().map(|o| o.policy_version).min().unwrap_or(0);
        Ok(StepReport {
            step: self.state.steps,
            mean_reward,
            baseline,
            loss: loss.double_value(&[]),
            grad_norm,
            entropy: entropy_total / count,
            max_staleness: self.state.steps - 1 - oldest.min(self.state.steps - 1),
            stale_dropped: self.state.stale_dropped,
            importance_weight: weight_total / count,
        })
    }
}

/// The first 64 bits of an architecture id.
fn short_id(spec: &ArchSpec) -> u64 {
    u64::from_str_radix(&spec.id().as_str()[..16], 16).unwrap_or(0)
}

impl Strategy for Reinforce {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Reinforce
    }

    fn propose(&mut self, count: usize) -> Result<Vec<Proposal>> {
        let first = self.state.samples_drawn;
        let mut proposals = Vec::with_capacity(count);
        for (depth, indices) in strategy::depth_runs(&self.state.space, first, count) {
            let plan = self.state.space.plan(depth);
            let mut rngs: Vec<_> = indices
                .clone()
                .map(|i| strategy::sample_rng(self.state.seed, i))
                .collect();
            let sampled = self.policy.sample(&plan, &mut rngs);
            for ((sampled, index), rng) in sampled.into_iter().zip(indices).zip(&mut rngs) {
                let (sampled, spec) = self.distinct(&plan, depth, sampled, rng)?;
                proposals.push(Proposal {
                    spec,
                    actions: sampled.actions,
                    log_prob: Some(sampled.log_prob),
                    depth,
                    policy_version: self.state.steps,
                    sample_index: index,
                });
            }
        }
        self.state.samples_drawn += count as u64;
        Ok(proposals)
    }

    fn observe(&mut self, observation: Observation) -> Result<Option<StepReport>> {
        if !observation.reward.is_finite() {
            return Err(Error::Config(format!(
                "reward {} is not finite",
                observation.reward
            )));
        }
        let age = self.state.steps.saturating_sub(observation.policy_version);
        if self.state.config.staleness.drops(age) {
            self.state.stale_dropped += 1;
            return Ok(None);
        }
        self.state.pending.push(observation);
        if self.state.pending.len() < self.state.config.batch_size {
            return Ok(None);
        }
        let batch: Vec<Observation> = self.state.pending.drain(..self.state.config.batch_size).collect();
        self.step(batch).map(Some)
    }

    fn policy_version(&self) -> u64 {
        self.state.steps
    }

    fn advance_samples(&mut self, next: u64) {
        self.state.samples_drawn = self.state.samples_drawn.max(next);
    }

    fn checkpoint(&self) -> Result<Checkpoint> {
        let mut tensors: Vec<(String, Tensor)> = self
            .parameters
            .iter()
            .map(|(name, tensor)| (format!("policy.{name}"), tensor.shallow_clone()))
            .collect();
        tensors.extend(self.adam.state_tensors(&self.parameters));
        Ok(Checkpoint::new(
            StrategyKind::Reinforce,
            serde_json::to_value(&self.state)?,
            tensors,
        ))
    }
}

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
//!
//! Its settings live in [`config`] (re-exported here); the network that
//! samples and scores architectures is [`policy`], its optimiser [`adam`],
//! the staleness rule [`staleness`]; this file is the strategy itself:
//! propose, observe, step, checkpoint and restore.

pub mod adam;
pub mod config;
pub mod policy;
pub mod staleness;
mod warm;

use std::collections::BTreeSet;

use nas_domain::{ArchKind, ArchSpec, CnnSpace, DepthSchedule, Plan, SearchSpace, SpaceDefinition};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::strategy::checkpoint::Checkpoint;
use crate::strategy::{self, Observation, Proposal, StepReport, Strategy, StrategyKind};
use crate::{Error, Result};
use adam::Adam;
pub use config::{ReinforceConfig, RewardTransform};
use policy::{Policy, Sampled};
pub use staleness::Staleness;

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
    /// Policy-gradient steps taken on earlier searches' children before
    /// the first child (a warm start; Adam counts them, `steps` does not).
    #[serde(default)]
    warm_steps: u64,
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
                warm_steps: 0,
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
            .restore(state.steps + state.warm_steps, &mut lookup, &restored.parameters)?;
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

    /// Applies the gradient of `loss` (when it has one: a space whose every
    /// decision has one choice leaves nothing to learn) with clipping and
    /// one Adam step; returns the gradient's norm before clipping.
    fn descend(&mut self, loss: &Tensor) -> f64 {
        if !loss.requires_grad() {
            return 0.0;
        }
        loss.backward();
        let norm = adam::clip_grad_norm(&self.parameters, self.state.config.grad_clip);
        self.adam.step(&mut self.parameters);
        norm
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
        let grad_norm = self.descend(&loss);
        let config = &self.state.config;
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

    fn warm_start(&mut self, prior: Vec<strategy::warm::PriorChild>) -> Result<()> {
        self.learn_prior(&prior)
    }
}

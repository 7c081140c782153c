//! Search strategies behind one interface, so the search service,
//! `simulate` and `replay` drive them alike: [`reinforce`] (the LSTM
//! controller with REINFORCE, the paper's method), [`random`] search,
//! regularized [`evolution`], best-first [`local_search`] and the
//! [`predictor`]-guided search (Thompson sampling on a model of the reward);
//! [`checkpoint`] is the file every strategy saves itself to; [`warm`]
//! holds children of earlier searches a new one learns from first.
//!
//! A strategy proposes children ([`Proposal`]: spec, actions, depth, the
//! policy version that sampled them) and learns from their rewards
//! ([`Observation`]). Sample `i` of a strategy draws from its own random
//! stream (seed, stream `i`), so what it proposes does not depend on how
//! proposals are batched, and a checkpoint only needs the seed and the count
//! of samples drawn to continue the same sequence.

pub mod checkpoint;
pub mod evolution;
pub mod local_search;
pub mod predictor;
pub mod random;
pub mod rank;
pub mod reinforce;
pub(crate) mod seen;
#[cfg(test)]
pub(crate) mod test_spaces;
pub mod warm;

use clap::ValueEnum;
pub use nas_domain::objective::Objectives;
use nas_domain::{Actions, ArchSpec, Plan, SearchSpace, Step};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};
use checkpoint::Checkpoint;
use evolution::{Evolution, EvolutionConfig};
use local_search::{LocalSearch, LocalSearchConfig};
use predictor::{Predictor, PredictorConfig};
use random::RandomSearch;
use reinforce::{Reinforce, ReinforceConfig};

/// The available strategies.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ValueEnum, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StrategyKind {
    /// The LSTM controller trained with REINFORCE (Zoph & Le).
    Reinforce,
    /// Uniform sampling over every decision.
    Random,
    /// Regularized (aging) evolution, Real et al. 2019.
    Evolution,
    /// Best-first local search over one-decision neighbours, White et al.
    /// 2020.
    #[value(name = "local_search", alias = "local-search")]
    LocalSearch,
    /// Thompson sampling on a Bayesian model of the reward over decisions
    /// and pairs of decisions (BOCS-style predictor).
    Predictor,
}

impl StrategyKind {
    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::Reinforce => "reinforce",
            StrategyKind::Random => "random",
            StrategyKind::Evolution => "evolution",
            StrategyKind::LocalSearch => "local_search",
            StrategyKind::Predictor => "predictor",
        }
    }

    /// The strategy of a new experiment.
    pub const DEFAULT: StrategyKind = StrategyKind::Predictor;

    /// What a strategy is compared with by default: the default strategy,
    /// regularized evolution and random search (each once).
    pub fn comparison() -> Vec<StrategyKind> {
        let mut kinds = vec![Self::DEFAULT];
        for kind in [StrategyKind::Evolution, StrategyKind::Random] {
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        kinds
    }

    /// Parses [`StrategyKind::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::value_variants()
            .iter()
            .copied()
            .find(|kind| kind.name() == name)
    }
}

impl std::fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A child a strategy wants trained.
#[derive(Clone, Debug)]
pub struct Proposal {
    /// The architecture.
    pub spec: ArchSpec,
    /// The tokens that encode it.
    pub actions: Actions,
    /// The natural log of the probability the sampling policy gave these
    /// tokens (strategies without a policy: none).
    pub log_prob: Option<f64>,
    /// Its depth (CNN layers or cell leaves), which fixes the plan.
    pub depth: usize,
    /// The policy version that sampled it.
    pub policy_version: u64,
    /// Its position in the strategy's sample sequence.
    pub sample_index: u64,
}

impl Proposal {
    /// Sample `index`, `actions` at `depth` in `space`, from a strategy
    /// without a policy (no log-probability, policy version 0).
    pub(crate) fn without_policy(
        space: &SearchSpace,
        actions: Actions,
        depth: usize,
        index: u64,
    ) -> Result<Self> {
        Ok(Proposal {
            spec: ArchSpec::from_actions(space, depth, &actions)?,
            actions,
            log_prob: None,
            depth,
            policy_version: 0,
            sample_index: index,
        })
    }
}

/// The reward of a proposal, fed back to the strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The proposal's tokens.
    pub actions: Actions,
    /// The proposal's depth.
    pub depth: usize,
    /// The policy version that sampled it.
    pub policy_version: u64,
    /// The log-probability the sampling policy gave its tokens, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_prob: Option<f64>,
    /// The reward.
    pub reward: f64,
    /// Its objectives, in an experiment whose reward is shaped by costs
    /// (a trained child with every cost measured; otherwise none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objectives: Option<Objectives>,
}

impl Observation {
    /// The observation of `proposal` earning `reward`.
    pub fn of(proposal: &Proposal, reward: f64) -> Self {
        Observation {
            actions: proposal.actions.clone(),
            depth: proposal.depth,
            policy_version: proposal.policy_version,
            log_prob: proposal.log_prob,
            reward,
            objectives: None,
        }
    }

    /// The same observation with `objectives`.
    pub fn with_objectives(self, objectives: Option<Objectives>) -> Self {
        Observation { objectives, ..self }
    }
}

/// What one learning step did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// Steps taken so far (this one included); also the new policy version.
    pub step: u64,
    /// Mean reward of the batch.
    pub mean_reward: f64,
    /// The baseline the advantages were taken against.
    pub baseline: f64,
    /// The surrogate loss.
    pub loss: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Mean entropy of the batch's sequences.
    pub entropy: f64,
    /// How many policy versions behind the oldest sample of the batch was.
    pub max_staleness: u64,
    /// Rewards left out of the gradient for their staleness so far.
    #[serde(default)]
    pub stale_dropped: u64,
    /// Mean importance weight of the batch (1 unless weighting).
    #[serde(default = "one")]
    pub importance_weight: f64,
}

fn one() -> f64 {
    1.0
}

/// A search strategy (see the module docs).
pub trait Strategy: Send {
    /// Which strategy this is.
    fn kind(&self) -> StrategyKind;

    /// Proposes the next `count` children.
    fn propose(&mut self, count: usize) -> Result<Vec<Proposal>>;

    /// Learns from one reward; returns a report when that completed a step.
    fn observe(&mut self, observation: Observation) -> Result<Option<StepReport>>;

    /// The current policy version (number of learning steps taken); 0 for
    /// strategies without a policy.
    fn policy_version(&self) -> u64 {
        0
    }

    /// Tells a resumed strategy which children are in flight (published
    /// before the crash, their rewards not yet logged), as their tokens and
    /// depths; a strategy whose proposals depend on them (local search never
    /// proposes a child in flight) takes them back.
    fn in_flight(&mut self, _children: &[(Actions, usize)]) {}

    /// Moves the sample sequence on to `next` when it is behind (on resume,
    /// past the samples drawn after the last checkpoint).
    fn advance_samples(&mut self, next: u64);

    /// Everything needed to resume exactly.
    fn checkpoint(&self) -> Result<Checkpoint>;

    /// Learns from children of earlier searches before the first child
    /// (see [`warm`]); the prior, or what was learned from it, is part of
    /// the checkpoint. The predictor, evolution and REINFORCE do; the others
    /// refuse rather than ignore it.
    fn warm_start(&mut self, _prior: Vec<warm::PriorChild>) -> Result<()> {
        Err(Error::Config(format!(
            "the {} strategy does not learn from earlier searches yet; warm starts work with --strategy predictor, evolution or reinforce",
            self.kind()
        )))
    }
}

/// A trained child as evolution and the predictor keep it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Member {
    pub actions: Actions,
    pub depth: usize,
    pub reward: f64,
    /// Its objectives, when the experiment has costs (the predictor's
    /// front search; evolution keeps none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objectives: Option<Objectives>,
}

/// The settings of every strategy (each uses its own part).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StrategySettings {
    /// REINFORCE.
    pub reinforce: ReinforceConfig,
    /// Regularized evolution.
    pub evolution: EvolutionConfig,
    /// Local search.
    pub local_search: LocalSearchConfig,
    /// The predictor-guided search.
    pub predictor: PredictorConfig,
}

/// Creates a fresh strategy.
pub fn create(
    kind: StrategyKind,
    space: SearchSpace,
    settings: &StrategySettings,
    seed: u64,
) -> Result<Box<dyn Strategy>> {
    Ok(match kind {
        StrategyKind::Reinforce => Box::new(Reinforce::new(space, settings.reinforce.clone(), seed)?),
        StrategyKind::Random => Box::new(RandomSearch::new(space, seed)),
        StrategyKind::Evolution => Box::new(Evolution::new(space, settings.evolution.clone(), seed)?),
        StrategyKind::LocalSearch => Box::new(LocalSearch::new(space, settings.local_search.clone(), seed)?),
        StrategyKind::Predictor => Box::new(Predictor::new(space, settings.predictor.clone(), seed)?),
    })
}

/// Rebuilds a strategy from its checkpoint.
pub fn restore(checkpoint: &Checkpoint) -> Result<Box<dyn Strategy>> {
    Ok(match checkpoint.strategy {
        StrategyKind::Reinforce => Box::new(Reinforce::restore(checkpoint)?),
        StrategyKind::Random => Box::new(RandomSearch::restore(checkpoint)?),
        StrategyKind::Evolution => Box::new(Evolution::restore(checkpoint)?),
        StrategyKind::LocalSearch => Box::new(LocalSearch::restore(checkpoint)?),
        StrategyKind::Predictor => Box::new(Predictor::restore(checkpoint)?),
    })
}

/// Rebuilds a strategy from its checkpoint with other settings.
pub fn restore_with(checkpoint: &Checkpoint, settings: &StrategySettings) -> Result<Box<dyn Strategy>> {
    Ok(match checkpoint.strategy {
        StrategyKind::Reinforce => Box::new(Reinforce::restore_with(
            checkpoint,
            Some(settings.reinforce.clone()),
        )?),
        StrategyKind::Random
        | StrategyKind::Evolution
        | StrategyKind::LocalSearch
        | StrategyKind::Predictor => restore(checkpoint)?,
    })
}

/// Every token of `plan` with the number of values it can take: each
/// softmax decision its options, each skip connection two. A one-decision
/// change (evolution's mutation, local search's neighbour) re-draws one of
/// them.
pub(crate) fn token_options(plan: &Plan) -> Vec<(usize, usize)> {
    plan.steps()
        .iter()
        .flat_map(|step| match *step {
            Step::Choose { options, .. } => vec![options],
            Step::Anchor { candidates } => vec![2; candidates],
        })
        .enumerate()
        .collect()
}

/// The indices of the next `count` samples, moving `samples_drawn` past
/// them.
pub(crate) fn next_samples(samples_drawn: &mut u64, count: usize) -> std::ops::Range<u64> {
    let first = *samples_drawn;
    *samples_drawn += count as u64;
    first..*samples_drawn
}

/// The random stream of sample `index` of a strategy seeded with `seed`.
pub fn sample_rng(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// Splits sample indices `first..first + count` into runs of equal depth.
pub fn depth_runs(space: &SearchSpace, first: u64, count: usize) -> Vec<(usize, std::ops::Range<u64>)> {
    let mut runs: Vec<(usize, std::ops::Range<u64>)> = Vec::new();
    for index in first..first + count as u64 {
        let depth = space.depth_at(index);
        match runs.last_mut() {
            Some((last_depth, range)) if *last_depth == depth => range.end = index + 1,
            _ => runs.push((depth, index..index + 1)),
        }
    }
    runs
}

/// Parses a strategy's JSON state out of a checkpoint.
pub(crate) fn parse_state<T: serde::de::DeserializeOwned>(checkpoint: &Checkpoint) -> Result<T> {
    serde_json::from_value(checkpoint.state.clone())
        .map_err(|error| Error::Checkpoint(format!("{} state: {error}", checkpoint.strategy.name())))
}

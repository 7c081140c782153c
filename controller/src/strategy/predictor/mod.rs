//! A predictor-guided search: Thompson sampling on a Bayesian model of the
//! reward (BOCS, Baptista and Poloczek 2018; the acquisition BANANAS calls
//! independent Thompson sampling, White et al. 2021).
//!
//! The first `initial` children are uniform, unseen ones. After that, for
//! each child the search draws one sample of the weights of its
//! [`model`] (a linear function of the decisions and of pairs of decisions,
//! fitted on every reward so far), and proposes the child that sample
//! scores highest among those not yet trained or in flight ([`maximize`]).
//! Where the model is sure, the samples agree and the search exploits;
//! where it is not, they differ and it explores; children proposed
//! together (several workers) come from different samples, so they differ
//! too.
//!
//! Sample `i` draws from stream `i` of the seed, and the model is rebuilt
//! from the rewards in the order observed: what the search proposes is a
//! function of the seed, the reward log and the children in flight, so a
//! checkpoint plus the log after it continues the same sequence, and
//! `replay verify` reproduces it. Each depth (under a CNN curriculum) has
//! its own model. The cost per child is O(d²) in the number of features
//! `d` (at most `max_features`), plus scoring the space or climbing it.

pub mod maximize;
pub mod model;

use std::collections::HashMap;

use nas_domain::{Actions, SearchSpace};
use serde::{Deserialize, Serialize};

use super::random;
use super::seen::Seen;
use crate::strategy::checkpoint::Checkpoint;
use crate::strategy::{self, Member, Observation, Proposal, StepReport, Strategy, StrategyKind};
use crate::{Error, Result};
use model::{Layout, Model, Prior};

/// Predictor settings. The defaults were chosen on the NAS-Bench-Graph
/// tables cora, citeseer and pubmed with seeds 1000–1049 (see the
/// benchmarks in the docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PredictorConfig {
    /// Children drawn uniformly before the model guides (at least 1).
    pub initial: usize,
    /// Prior precision of each decision value's weight: larger trusts the
    /// data less.
    pub main_precision: f64,
    /// Prior precision of each pair of values' weight.
    pub pair_precision: f64,
    /// The most features (weights) the model has; pairs of distant
    /// decisions are left out first. The cost per child grows with its
    /// square.
    pub max_features: usize,
    /// How far the samples spread around the model's mean, as a multiple
    /// of its posterior spread: larger explores more.
    pub exploration: f64,
    /// Every this many children one is drawn with `wide_exploration`
    /// instead, so a search that settled on one region still looks
    /// elsewhere (0: never).
    pub wide_every: u64,
    /// The spread of those children's samples.
    pub wide_exploration: f64,
}

impl Default for PredictorConfig {
    fn default() -> Self {
        PredictorConfig {
            initial: 10,
            main_precision: 1.0,
            pair_precision: 0.3,
            max_features: 1024,
            exploration: 0.3,
            wide_every: 4,
            wide_exploration: 2.0,
        }
    }
}

impl PredictorConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        let fail = |message: &str| Err(Error::Config(format!("predictor.{message}")));
        if self.initial == 0 {
            return fail("initial must be at least 1 (the random children the model starts from)");
        }
        for (name, value) in [
            ("main_precision", self.main_precision),
            ("pair_precision", self.pair_precision),
            ("exploration", self.exploration),
            ("wide_exploration", self.wide_exploration),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return fail(&format!("{name} must be a positive number, not {value}"));
            }
        }
        if self.max_features < 2 {
            return fail("max_features must be at least 2 (the intercept and one decision value)");
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct PredictorState {
    space: SearchSpace,
    config: PredictorConfig,
    seed: u64,
    samples_drawn: u64,
    /// Every child observed, in the order observed.
    members: Vec<Member>,
    /// Children proposed and not yet observed.
    pending: Vec<(usize, Actions)>,
}

/// Climbs of a large space start from this many of the best children and
/// as many random ones.
const STARTS: usize = 5;

/// The predictor-guided strategy.
pub struct Predictor {
    state: PredictorState,
    /// Every child trained or in flight (rebuilt from the state).
    seen: Seen,
    /// The model of each depth (rebuilt from the members, in order).
    models: HashMap<usize, Model>,
}

impl Predictor {
    /// A fresh search over `space`.
    pub fn new(space: SearchSpace, config: PredictorConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        Ok(Self::from_state(PredictorState {
            space,
            config,
            seed,
            samples_drawn: 0,
            members: Vec::new(),
            pending: Vec::new(),
        }))
    }

    /// Resumes from a checkpoint.
    pub fn restore(checkpoint: &Checkpoint) -> Result<Self> {
        let state: PredictorState = strategy::parse_state(checkpoint)?;
        state.config.validate()?;
        Ok(Self::from_state(state))
    }

    fn from_state(state: PredictorState) -> Self {
        let seen = Seen::of(
            state.members.iter().map(|m| (m.depth, &m.actions)),
            &state.pending,
        );
        let mut search = Predictor {
            state,
            seen,
            models: HashMap::new(),
        };
        for index in 0..search.state.members.len() {
            search.learn(index);
        }
        search
    }

    /// Adds member `index` to its depth's model.
    fn learn(&mut self, index: usize) {
        let member = &self.state.members[index];
        let config = &self.state.config;
        let space = &self.state.space;
        let model = self.models.entry(member.depth).or_insert_with(|| {
            let prior = Prior {
                main: config.main_precision,
                pair: config.pair_precision,
            };
            Model::new(Layout::of(&space.plan(member.depth), config.max_features), prior)
        });
        model.add(&member.actions, member.reward);
    }

    /// The child of sample `index`.
    fn child(&mut self, index: u64) -> Result<Proposal> {
        let depth = self.state.space.depth_at(index);
        let started = self.state.members.len() + self.state.pending.len() >= self.state.config.initial;
        let mut rng = strategy::sample_rng(self.state.seed, index);
        let guided = match self.models.get(&depth) {
            Some(model) if started => self.guided(depth, model, self.exploration(index), &mut rng),
            _ => None,
        };
        let actions = guided.unwrap_or_else(|| {
            random::unseen_uniform_actions(&self.state.space.plan(depth), &mut rng, |actions| {
                self.seen.contains(depth, actions.tokens())
            })
        });
        self.seen.proposed(&mut self.state.pending, depth, &actions);
        Proposal::without_policy(&self.state.space, actions, depth, index)
    }

    /// The unseen child one sample of `model` scores best.
    fn guided(
        &self,
        depth: usize,
        model: &Model,
        exploration: f64,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Option<Actions> {
        let theta = model.sample(rng, exploration);
        maximize::best_unseen(
            model.layout(),
            &theta,
            || self.starts(depth, rng),
            |tokens| self.seen.contains(depth, tokens),
        )
        .map(Actions::new)
    }

    /// The spread of sample `index`'s draw.
    fn exploration(&self, index: u64) -> f64 {
        let config = &self.state.config;
        match config.wide_every {
            0 => config.exploration,
            every if (index + 1).is_multiple_of(every) => config.wide_exploration,
            _ => config.exploration,
        }
    }

    /// Where climbs start: the best children of `depth` and random ones.
    fn starts(&self, depth: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<Vec<u16>> {
        let mut ranked: Vec<&Member> = self.state.members.iter().filter(|m| m.depth == depth).collect();
        ranked.sort_by(|a, b| b.reward.total_cmp(&a.reward));
        let plan = self.state.space.plan(depth);
        ranked
            .into_iter()
            .take(STARTS)
            .map(|m| m.actions.tokens().to_vec())
            .chain((0..STARTS).map(|_| random::uniform_actions(&plan, rng).tokens().to_vec()))
            .collect()
    }
}

impl Strategy for Predictor {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Predictor
    }

    fn propose(&mut self, count: usize) -> Result<Vec<Proposal>> {
        strategy::next_samples(&mut self.state.samples_drawn, count)
            .map(|index| self.child(index))
            .collect()
    }

    fn observe(&mut self, observation: Observation) -> Result<Option<StepReport>> {
        self.seen
            .observed(&mut self.state.pending, observation.depth, &observation.actions);
        self.state.members.push(Member {
            actions: observation.actions,
            depth: observation.depth,
            reward: observation.reward,
        });
        self.learn(self.state.members.len() - 1);
        Ok(None)
    }

    fn in_flight(&mut self, children: &[(Actions, usize)]) {
        self.seen.in_flight(&mut self.state.pending, children);
    }

    fn advance_samples(&mut self, next: u64) {
        self.state.samples_drawn = self.state.samples_drawn.max(next);
    }

    fn checkpoint(&self) -> Result<Checkpoint> {
        Checkpoint::of_state(StrategyKind::Predictor, &self.state)
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

//! Local search (White, Nolen and Savani 2020, "Local search is
//! state of the art for NAS benchmarks"), best-first: the first `initial`
//! children are drawn uniformly (as random search); after that each child
//! is a one-decision neighbour, not yet trained or in flight, of the best
//! child so far. When every neighbour of the best has been tried (a local
//! optimum), the search goes on from the next best, and so on down the
//! ranking: a restart from the best place not yet explored, instead of
//! from a random one. Only when every neighbourhood is exhausted does it
//! draw a fresh random child.
//!
//! A neighbour re-draws one decision of its parent's plan (another value
//! of a softmax decision, or one flipped skip connection) and keeps its
//! depth. The neighbours of a child are tried in an order fixed by the
//! seed and the neighbour's tokens (a keyed hash), so what the search
//! proposes is a function of the seed, the rewards observed in their order
//! and the children in flight: a checkpoint plus the reward log after it
//! (and the job records of the children still in flight, see
//! [`Strategy::in_flight`]) continues the same sequence.
//!
//! No architecture is proposed twice: every child trained or in flight is
//! remembered, so a small space is searched without repeats until it is
//! exhausted (then children repeat, drawn uniformly).

use nas_domain::{Actions, SearchSpace};
use serde::{Deserialize, Serialize};

use super::random;
use super::seen::Seen;
use crate::strategy::checkpoint::Checkpoint;
use crate::strategy::{self, Observation, Proposal, StepReport, Strategy, StrategyKind};
use crate::{Error, Result};

/// Local-search settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LocalSearchConfig {
    /// Children drawn uniformly before the search climbs (at least 1).
    pub initial: usize,
}

impl Default for LocalSearchConfig {
    fn default() -> Self {
        LocalSearchConfig { initial: 10 }
    }
}

impl LocalSearchConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.initial == 0 {
            return Err(Error::Config(
                "local_search.initial must be at least 1 (the random children it starts from)".into(),
            ));
        }
        Ok(())
    }
}

/// A trained child.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Member {
    actions: Actions,
    depth: usize,
    reward: f64,
    /// Whether every neighbour has been tried or is in flight.
    exhausted: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct LocalSearchState {
    space: SearchSpace,
    config: LocalSearchConfig,
    seed: u64,
    samples_drawn: u64,
    /// Every child observed, in the order observed.
    members: Vec<Member>,
    /// Children proposed and not yet observed.
    pending: Vec<(usize, Actions)>,
}

/// The local-search strategy.
pub struct LocalSearch {
    state: LocalSearchState,
    /// Every child trained or in flight (rebuilt from the state).
    seen: Seen,
    /// Members by reward, best first (ties: the earlier first).
    ranking: Vec<usize>,
}

impl LocalSearch {
    /// A fresh search over `space`.
    pub fn new(space: SearchSpace, config: LocalSearchConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        Ok(Self::from_state(LocalSearchState {
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
        Ok(Self::from_state(strategy::parse_state(checkpoint)?))
    }

    fn from_state(state: LocalSearchState) -> Self {
        let seen = Seen::of(
            state.members.iter().map(|m| (m.depth, &m.actions)),
            &state.pending,
        );
        let mut search = LocalSearch {
            state,
            seen,
            ranking: Vec::new(),
        };
        for index in 0..search.state.members.len() {
            search.rank(index);
        }
        search
    }

    /// Puts member `index` into the ranking (after members of equal reward).
    fn rank(&mut self, index: usize) {
        let members = &self.state.members;
        let reward = members[index].reward;
        let at = self
            .ranking
            .partition_point(|&other| members[other].reward.total_cmp(&reward).is_ge());
        self.ranking.insert(at, index);
    }

    /// The child of sample `index`.
    fn child(&mut self, index: u64) -> Result<Proposal> {
        let climbing = self.state.members.len() + self.state.pending.len() >= self.state.config.initial
            && !self.state.members.is_empty();
        let next = if climbing { self.best_neighbour() } else { None };
        let (depth, actions) = match next {
            Some(next) => next,
            None => self.random_child(index),
        };
        self.seen.proposed(&mut self.state.pending, depth, &actions);
        Proposal::without_policy(&self.state.space, actions, depth, index)
    }

    /// The first untried neighbour, in its parent's order, of the best
    /// member that has one; members found exhausted are marked so.
    fn best_neighbour(&mut self) -> Option<(usize, Actions)> {
        for rank in 0..self.ranking.len() {
            let member = self.ranking[rank];
            if self.state.members[member].exhausted {
                continue;
            }
            let parent = &self.state.members[member];
            let found = neighbours(&self.state.space, parent)
                .into_iter()
                .filter(|actions| !self.seen.contains(parent.depth, actions.tokens()))
                .min_by_key(|actions| order(self.state.seed, actions));
            match found {
                Some(actions) => return Some((parent.depth, actions)),
                None => self.state.members[member].exhausted = true,
            }
        }
        None
    }

    /// A uniform child not seen before (see
    /// [`random::unseen_uniform_actions`]).
    fn random_child(&self, index: u64) -> (usize, Actions) {
        let depth = self.state.space.depth_at(index);
        let plan = self.state.space.plan(depth);
        let mut rng = strategy::sample_rng(self.state.seed, index);
        let actions = random::unseen_uniform_actions(&plan, &mut rng, |actions| {
            self.seen.contains(depth, actions.tokens())
        });
        (depth, actions)
    }
}

/// Every one-decision neighbour of `parent`: each softmax decision set to
/// each other value, each skip connection flipped.
fn neighbours(space: &SearchSpace, parent: &Member) -> Vec<Actions> {
    let tokens = parent.actions.tokens();
    strategy::token_options(&space.plan(parent.depth))
        .into_iter()
        .flat_map(|(at, options)| {
            (0..options as u16)
                .filter(move |&value| value != tokens[at])
                .map(move |value| {
                    let mut changed = tokens.to_vec();
                    changed[at] = value;
                    Actions::new(changed)
                })
        })
        .collect()
}

/// The place of `actions` in the seed's order of neighbours: a keyed hash
/// (SplitMix64 steps over the tokens), the same on every machine.
fn order(seed: u64, actions: &Actions) -> u64 {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    actions
        .tokens()
        .iter()
        .fold(mix(seed ^ 0x9e37_79b9_7f4a_7c15), |hash, &token| {
            mix(hash
                .wrapping_add(u64::from(token))
                .wrapping_add(0x9e37_79b9_7f4a_7c15))
        })
}

impl Strategy for LocalSearch {
    fn kind(&self) -> StrategyKind {
        StrategyKind::LocalSearch
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
            exhausted: false,
        });
        self.rank(self.state.members.len() - 1);
        Ok(None)
    }

    fn in_flight(&mut self, children: &[(Actions, usize)]) {
        self.seen.in_flight(&mut self.state.pending, children);
    }

    fn advance_samples(&mut self, next: u64) {
        self.state.samples_drawn = self.state.samples_drawn.max(next);
    }

    fn checkpoint(&self) -> Result<Checkpoint> {
        Checkpoint::of_state(StrategyKind::LocalSearch, &self.state)
    }
}

#[cfg(test)]
#[path = "local_search_tests.rs"]
mod tests;

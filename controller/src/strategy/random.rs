//! Random search: every decision uniform (each skip connection a fair coin),
//! under the same depth curriculum as the controller. It never learns, so
//! its policy version stays 0.

use nas_domain::{Actions, Plan, SearchSpace, Step};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::strategy::checkpoint::Checkpoint;
use crate::strategy::{self, Observation, Proposal, StepReport, Strategy, StrategyKind};

/// Every decision of `plan` drawn uniformly (skip connections as fair
/// coins).
pub fn uniform_actions(plan: &Plan, rng: &mut impl Rng) -> Actions {
    let mut tokens = Vec::with_capacity(plan.tokens());
    for step in plan.steps() {
        match *step {
            Step::Choose { options, .. } => tokens.push(rng.random_range(0..options as u16)),
            Step::Anchor { candidates } => {
                tokens.extend((0..candidates).map(|_| u16::from(rng.random::<bool>())))
            }
        }
    }
    Actions::new(tokens)
}

/// A uniform child of `plan` for which `seen` is false, redrawn from `rng`
/// up to [`UNSEEN_TRIES`] times: a nearly exhausted space repeats children.
pub(crate) fn unseen_uniform_actions(
    plan: &Plan,
    rng: &mut impl Rng,
    seen: impl Fn(&Actions) -> bool,
) -> Actions {
    let mut actions = uniform_actions(plan, rng);
    for _ in 0..UNSEEN_TRIES {
        if !seen(&actions) {
            break;
        }
        actions = uniform_actions(plan, rng);
    }
    actions
}

/// Draws of a random child that look for one not seen before.
pub(crate) const UNSEEN_TRIES: usize = 64;

/// Random search's whole state.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct RandomState {
    space: SearchSpace,
    seed: u64,
    samples_drawn: u64,
}

/// Uniform random search.
pub struct RandomSearch {
    state: RandomState,
}

impl RandomSearch {
    /// A random search over `space`.
    pub fn new(space: SearchSpace, seed: u64) -> Self {
        RandomSearch {
            state: RandomState {
                space,
                seed,
                samples_drawn: 0,
            },
        }
    }

    /// Resumes from a checkpoint.
    pub fn restore(checkpoint: &Checkpoint) -> Result<Self> {
        Ok(RandomSearch {
            state: strategy::parse_state(checkpoint)?,
        })
    }
}

impl Strategy for RandomSearch {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Random
    }

    fn propose(&mut self, count: usize) -> Result<Vec<Proposal>> {
        let state = &mut self.state;
        strategy::next_samples(&mut state.samples_drawn, count)
            .map(|index| {
                let depth = state.space.depth_at(index);
                let plan = state.space.plan(depth);
                let actions = uniform_actions(&plan, &mut strategy::sample_rng(state.seed, index));
                Proposal::without_policy(&state.space, actions, depth, index)
            })
            .collect()
    }

    fn observe(&mut self, _observation: Observation) -> Result<Option<StepReport>> {
        Ok(None)
    }

    fn advance_samples(&mut self, next: u64) {
        self.state.samples_drawn = self.state.samples_drawn.max(next);
    }

    fn checkpoint(&self) -> Result<Checkpoint> {
        Checkpoint::of_state(StrategyKind::Random, &self.state)
    }
}

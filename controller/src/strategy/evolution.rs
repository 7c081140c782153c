//! Regularized (aging) evolution, Real et al. 2019: the population is the
//! `population` most recent children; each new child is a one-decision
//! mutation of the best of `sample` members drawn at random, and the oldest
//! member dies when a child joins. Until the population is full, children
//! are sampled uniformly (as random search).
//!
//! A mutation re-draws one decision of the parent's plan: a different value
//! for a softmax decision, or one flipped skip connection. The child keeps
//! its parent's depth. Sample `i` draws from its own random stream, like the
//! other strategies, so a checkpoint continues the same sequence.

use std::collections::VecDeque;

use nas_domain::{Actions, ArchSpec, SearchSpace, Step};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::random;
use crate::strategy::checkpoint::Checkpoint;
use crate::strategy::{self, Observation, Proposal, StepReport, Strategy, StrategyKind};
use crate::{Error, Result};

/// Evolution settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EvolutionConfig {
    /// Children kept alive (P).
    pub population: usize,
    /// Members drawn for each tournament (S).
    pub sample: usize,
}

impl Default for EvolutionConfig {
    fn default() -> Self {
        EvolutionConfig {
            population: 50,
            sample: 10,
        }
    }
}

impl EvolutionConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.population == 0 || self.sample == 0 || self.sample > self.population {
            return Err(Error::Config(format!(
                "evolution needs 1 <= sample ({}) <= population ({})",
                self.sample, self.population
            )));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Member {
    actions: Actions,
    depth: usize,
    reward: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct EvolutionState {
    space: SearchSpace,
    config: EvolutionConfig,
    seed: u64,
    samples_drawn: u64,
    population: VecDeque<Member>,
}

/// The regularized-evolution strategy.
pub struct Evolution {
    state: EvolutionState,
}

impl Evolution {
    /// A fresh population over `space`.
    pub fn new(space: SearchSpace, config: EvolutionConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        Ok(Evolution {
            state: EvolutionState {
                space,
                config,
                seed,
                samples_drawn: 0,
                population: VecDeque::new(),
            },
        })
    }

    /// Resumes from a checkpoint.
    pub fn restore(checkpoint: &Checkpoint) -> Result<Self> {
        Ok(Evolution {
            state: strategy::parse_state(checkpoint)?,
        })
    }

    fn child(&self, index: u64) -> Result<Proposal> {
        let state = &self.state;
        let mut rng = strategy::sample_rng(state.seed, index);
        if state.population.len() < state.config.population {
            let depth = state.space.depth_at(index);
            let actions = random::uniform_actions(&state.space.plan(depth), &mut rng);
            return proposal(&state.space, actions, depth, index);
        }
        let parent = (0..state.config.sample)
            .map(|_| &state.population[rng.random_range(0..state.population.len())])
            .max_by(|a, b| a.reward.total_cmp(&b.reward))
            .ok_or_else(|| Error::Config("empty tournament".into()))?;
        let actions = mutate(&state.space, parent, &mut rng);
        proposal(&state.space, actions, parent.depth, index)
    }
}

fn proposal(space: &SearchSpace, actions: Actions, depth: usize, index: u64) -> Result<Proposal> {
    Ok(Proposal {
        spec: ArchSpec::from_actions(space, depth, &actions)?,
        actions,
        log_prob: None,
        depth,
        policy_version: 0,
        sample_index: index,
    })
}

/// Re-draws one decision of `parent`.
fn mutate(space: &SearchSpace, parent: &Member, rng: &mut impl Rng) -> Actions {
    let plan = space.plan(parent.depth);
    let mut tokens = parent.actions.tokens().to_vec();
    // Positions that can change: every softmax token, every skip bit.
    let mut choices = Vec::new();
    let mut position = 0;
    for step in plan.steps() {
        match *step {
            Step::Choose { options, .. } => {
                choices.push((position, options));
                position += 1;
            }
            Step::Anchor { candidates } => {
                choices.extend((position..position + candidates).map(|p| (p, 2)));
                position += candidates;
            }
        }
    }
    if let Some(&(at, options)) = choices.get(rng.random_range(0..choices.len().max(1))) {
        let old = usize::from(tokens[at]);
        let shift = rng.random_range(1..options);
        tokens[at] = ((old + shift) % options) as u16;
    }
    Actions::new(tokens)
}

impl Strategy for Evolution {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Evolution
    }

    fn propose(&mut self, count: usize) -> Result<Vec<Proposal>> {
        let first = self.state.samples_drawn;
        let proposals = (first..first + count as u64)
            .map(|index| self.child(index))
            .collect::<Result<_>>()?;
        self.state.samples_drawn += count as u64;
        Ok(proposals)
    }

    fn observe(&mut self, observation: Observation) -> Result<Option<StepReport>> {
        self.state.population.push_back(Member {
            actions: observation.actions,
            depth: observation.depth,
            reward: observation.reward,
        });
        while self.state.population.len() > self.state.config.population {
            self.state.population.pop_front();
        }
        Ok(None)
    }

    fn advance_samples(&mut self, next: u64) {
        self.state.samples_drawn = self.state.samples_drawn.max(next);
    }

    fn checkpoint(&self) -> Result<Checkpoint> {
        Checkpoint::of_state(StrategyKind::Evolution, &self.state)
    }
}

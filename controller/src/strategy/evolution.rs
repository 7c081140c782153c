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
//!
//! A warm start ([`Strategy::warm_start`]) seeds the first half of the
//! population with the best architectures of earlier searches (ranked
//! within each source, the sources taken in turn, each architecture once;
//! a decision an earlier search lacked is drawn at random): they are
//! trained again here, so every member's reward is this search's own.

use std::collections::{BTreeMap, VecDeque};

use nas_domain::{Actions, SearchSpace};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::random;
use crate::strategy::checkpoint::Checkpoint;
use crate::strategy::warm::PriorChild;
use crate::strategy::{self, Member, Observation, Proposal, StepReport, Strategy, StrategyKind};
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
struct EvolutionState {
    space: SearchSpace,
    config: EvolutionConfig,
    seed: u64,
    samples_drawn: u64,
    population: VecDeque<Member>,
    /// The warm start's seeds: the first children's tokens (`None`: drawn
    /// at random).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    seeds: Vec<Vec<Option<u16>>>,
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
                seeds: Vec::new(),
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
            let plan = state.space.plan(depth);
            let mut actions = random::uniform_actions(&plan, &mut rng);
            if let Some(seed) = usize::try_from(index).ok().and_then(|at| state.seeds.get(at)) {
                actions = seeded(&plan, seed, &actions);
            }
            return Proposal::without_policy(&state.space, actions, depth, index);
        }
        let parent = (0..state.config.sample)
            .map(|_| &state.population[rng.random_range(0..state.population.len())])
            .max_by(|a, b| a.reward.total_cmp(&b.reward))
            .ok_or_else(|| Error::Config("empty tournament".into()))?;
        let actions = mutate(&state.space, parent, &mut rng);
        Proposal::without_policy(&state.space, actions, parent.depth, index)
    }
}

/// `drawn` with every token `seed` knows put in its place.
fn seeded(plan: &nas_domain::Plan, seed: &[Option<u16>], drawn: &Actions) -> Actions {
    let mut tokens = drawn.tokens().to_vec();
    for ((at, _), known) in strategy::token_options(plan).into_iter().zip(seed) {
        if let Some(value) = known {
            tokens[at] = *value;
        }
    }
    Actions::new(tokens)
}

/// The best of `prior` for a population of `size`: the first half of it,
/// ranked within each source and the sources taken in turn, each
/// architecture once.
fn seeds_of(prior: Vec<PriorChild>, size: usize) -> Vec<Vec<Option<u16>>> {
    let mut by_source: BTreeMap<String, Vec<PriorChild>> = BTreeMap::new();
    for child in prior.into_iter().filter(PriorChild::informative) {
        by_source.entry(child.source.clone()).or_default().push(child);
    }
    for children in by_source.values_mut() {
        children.sort_by(|a, b| b.reward.total_cmp(&a.reward));
    }
    let mut seeds: Vec<Vec<Option<u16>>> = Vec::new();
    let longest = by_source.values().map(Vec::len).max().unwrap_or(0);
    for rank in 0..longest {
        for children in by_source.values() {
            if let Some(child) = children.get(rank)
                && !seeds.contains(&child.tokens)
                && seeds.len() < size.div_ceil(2)
            {
                seeds.push(child.tokens.clone());
            }
        }
    }
    seeds
}

/// Re-draws one decision of `parent`.
fn mutate(space: &SearchSpace, parent: &Member, rng: &mut impl Rng) -> Actions {
    let plan = space.plan(parent.depth);
    let mut tokens = parent.actions.tokens().to_vec();
    // Positions that can change: every softmax token, every skip bit.
    let choices = strategy::token_options(&plan);
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
        strategy::next_samples(&mut self.state.samples_drawn, count)
            .map(|index| self.child(index))
            .collect()
    }

    fn observe(&mut self, observation: Observation) -> Result<Option<StepReport>> {
        self.state.population.push_back(Member {
            actions: observation.actions,
            depth: observation.depth,
            reward: observation.reward,
            objectives: None,
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

    fn warm_start(&mut self, prior: Vec<PriorChild>) -> Result<()> {
        if !self.state.population.is_empty() || self.state.samples_drawn > 0 || !self.state.seeds.is_empty() {
            return Err(Error::Config(
                "a warm start comes before the first child, once".into(),
            ));
        }
        self.state.seeds = seeds_of(prior, self.state.config.population);
        if self.state.seeds.is_empty() {
            return Err(Error::Config(
                "the warm start holds no child that shares a decision with this space".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use nas_domain::oracle::{Oracle, SyntheticOracle};

    use super::*;
    use crate::strategy::random::RandomSearch;
    use crate::strategy::test_spaces::{categorical, distance, proposed, tiny_cnn};

    fn evolution(space: &SearchSpace, population: usize, sample: usize, seed: u64) -> Evolution {
        Evolution::new(space.clone(), EvolutionConfig { population, sample }, seed).unwrap()
    }

    /// Feeds a member with every token `value` and `reward`.
    fn observe_uniform(evolution: &mut Evolution, space: &SearchSpace, value: u16, reward: f64) -> Actions {
        let actions = Actions::new(vec![value; space.plan(space.depth_at(0)).tokens()]);
        evolution
            .observe(Observation {
                actions: actions.clone(),
                depth: space.depth_at(0),
                policy_version: 0,
                log_prob: None,
                reward,
                objectives: None,
            })
            .unwrap();
        actions
    }

    /// The one member `child` is a one-decision mutation of (every other
    /// member differs from it in more decisions).
    fn parent_of(child: &Actions, members: &[Actions]) -> usize {
        let neighbours: Vec<usize> = (0..members.len())
            .filter(|&m| distance(child, &members[m]) == 1)
            .collect();
        assert_eq!(
            neighbours.len(),
            1,
            "{child:?} neighbours {neighbours:?} of {members:?}"
        );
        neighbours[0]
    }

    #[test]
    fn until_the_population_is_full_children_are_random_search_samples() {
        let space = categorical(6, 5);
        let mut evolution = evolution(&space, 8, 3, 7);
        let mut random = RandomSearch::new(space, 7);
        let ours = proposed(&mut evolution, 8);
        let theirs = proposed(&mut random, 8);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn a_mutation_changes_exactly_one_decision_and_reaches_every_decision() {
        for space in [categorical(6, 5), tiny_cnn()] {
            let depth = space.depth_at(0);
            let plan = space.plan(depth);
            let parent = Member {
                actions: random::uniform_actions(&plan, &mut strategy::sample_rng(1, 0)),
                depth,
                reward: 0.5,
                objectives: None,
            };
            let mut changed = vec![false; plan.tokens()];
            for stream in 0..500 {
                let child = mutate(&space, &parent, &mut strategy::sample_rng(2, stream));
                plan.check(&child).unwrap();
                assert_eq!(distance(&child, &parent.actions), 1, "{child:?}");
                let at = (0..plan.tokens())
                    .find(|&i| child.tokens()[i] != parent.actions.tokens()[i])
                    .unwrap();
                changed[at] = true;
            }
            assert!(changed.iter().all(|&c| c), "positions never mutated: {changed:?}");
        }
    }

    #[test]
    fn the_tournament_takes_the_best_of_its_sample() {
        // Five members, pairwise 6 decisions apart, rewards 0 to 4: a child
        // is a neighbour of exactly one of them, its parent. With 3 draws
        // (with replacement) the best member wins a tournament with
        // probability 1 − (4/5)³ = 0.49, the worst with (1/5)³ = 0.008; a
        // random parent would be each one's in 5.
        let space = categorical(6, 5);
        let mut evolution = evolution(&space, 5, 3, 11);
        let members: Vec<Actions> = (0..5u16)
            .map(|k| observe_uniform(&mut evolution, &space, k, f64::from(k)))
            .collect();
        let mut parents = [0usize; 5];
        for proposal in evolution.propose(400).unwrap() {
            assert_eq!(proposal.depth, space.depth_at(0));
            parents[parent_of(&proposal.actions, &members)] += 1;
        }
        let share = |k: usize| parents[k] as f64 / 400.0;
        assert!(share(4) > 0.40 && share(4) < 0.58, "{parents:?}");
        assert!(share(0) < 0.03, "{parents:?}");
        assert!(parents.windows(2).all(|pair| pair[0] < pair[1]), "{parents:?}");
    }

    #[test]
    fn ageing_removes_the_oldest_member_even_the_best() {
        let space = categorical(6, 5);
        let mut evolution = evolution(&space, 3, 3, 5);
        let members: Vec<Actions> = [(0, 10.0), (1, 0.1), (2, 0.2), (3, 0.3)]
            .into_iter()
            .map(|(k, reward)| observe_uniform(&mut evolution, &space, k, reward))
            .collect();
        let alive: Vec<&Actions> = evolution.state.population.iter().map(|m| &m.actions).collect();
        assert_eq!(alive, members[1..].iter().collect::<Vec<_>>());
        for proposal in evolution.propose(200).unwrap() {
            assert_ne!(
                parent_of(&proposal.actions, &members),
                0,
                "a dead member had a child"
            );
        }
    }

    /// Proposes `children` children in rounds of 4, each observed with the
    /// synthetic oracle's reward; returns their actions and rewards.
    fn search(strategy: &mut dyn Strategy, children: usize) -> Vec<(Actions, f64)> {
        let oracle = SyntheticOracle::default();
        let mut seen = Vec::new();
        while seen.len() < children {
            for proposal in strategy.propose(4).unwrap() {
                let reward = oracle.reward(&proposal.spec).unwrap();
                strategy.observe(Observation::of(&proposal, reward)).unwrap();
                seen.push((proposal.actions, reward));
            }
        }
        seen
    }

    #[test]
    fn a_restored_checkpoint_continues_the_same_children() {
        let space = categorical(8, 6);
        let mut original = evolution(&space, 10, 4, 3);
        search(&mut original, 40);
        let bytes = original.checkpoint().unwrap().to_bytes().unwrap();
        let mut restored = Evolution::restore(&Checkpoint::from_bytes(&bytes).unwrap()).unwrap();
        assert_eq!(search(&mut restored, 60), search(&mut original, 60));
    }

    #[test]
    fn the_population_improves_on_an_oracle_where_random_search_stays_flat() {
        // The synthetic oracle scores each categorical decision on its own,
        // so the mutation of a good child is likely good: evolution's later
        // children beat its first (random) ones and random search's.
        let space = categorical(8, 6);
        let mean =
            |rewards: &[(Actions, f64)]| rewards.iter().map(|r| r.1).sum::<f64>() / rewards.len() as f64;
        for seed in 0..3 {
            let evolved = search(&mut evolution(&space, 20, 5, seed), 400);
            let random = search(&mut RandomSearch::new(space.clone(), seed), 400);
            let (first, last) = (mean(&evolved[..20]), mean(&evolved[300..]));
            let random_last = mean(&random[300..]);
            assert!(
                last > first + 0.05 && last > random_last + 0.05,
                "seed {seed}: evolution {first:.4} → {last:.4}, random search {random_last:.4}"
            );
        }
    }

    fn prior(source: &str, children: &[(&[Option<u16>], f64)]) -> Vec<PriorChild> {
        children
            .iter()
            .map(|(tokens, reward)| PriorChild {
                source: source.into(),
                tokens: tokens.to_vec(),
                reward: *reward,
            })
            .collect()
    }

    #[test]
    fn a_warm_start_seeds_half_the_first_population_with_the_best_of_each_source_in_turn() {
        let space = categorical(3, 4);
        let mut warm = evolution(&space, 6, 2, 7);
        let first = prior(
            "a",
            &[
                (&[Some(0), Some(0), Some(0)], 0.1),
                (&[Some(1), Some(1), Some(1)], 0.9),
                (&[Some(2), Some(2), Some(2)], 0.5),
            ],
        );
        // Source b on another scale, one decision unknown, one repeat of a.
        let second = prior(
            "b",
            &[
                (&[Some(3), None, Some(3)], 50.0),
                (&[Some(1), Some(1), Some(1)], 40.0),
            ],
        );
        warm.warm_start([first, second].concat()).unwrap();
        let children: Vec<Vec<u16>> = warm
            .propose(6)
            .unwrap()
            .iter()
            .map(|proposal| proposal.actions.tokens().to_vec())
            .collect();
        // a's best, b's best (its unknown decision drawn), a's second (b's
        // second is a's best again): three seeds for a population of six.
        assert_eq!(children[0], [1, 1, 1]);
        assert_eq!((children[1][0], children[1][2]), (3, 3));
        assert_eq!(children[2], [2, 2, 2]);
        // Then random children, as a cold start draws them.
        let mut cold = evolution(&space, 6, 2, 7);
        let cold_children = cold.propose(6).unwrap();
        for index in 3..6 {
            assert_eq!(
                children[index],
                cold_children[index].actions.tokens(),
                "child {index}"
            );
        }
        // The seeds are part of the checkpoint; a second warm start is refused.
        let mut restored = Evolution::restore(&warm.checkpoint().unwrap()).unwrap();
        restored.state.samples_drawn = 0;
        assert_eq!(restored.propose(1).unwrap()[0].actions.tokens(), [1, 1, 1]);
        assert!(warm.warm_start(Vec::new()).is_err());
        let mut empty = evolution(&space, 6, 2, 7);
        let error = empty
            .warm_start(prior("c", &[(&[None, None, None], 1.0)]))
            .unwrap_err();
        assert!(error.to_string().contains("shares a decision"), "{error}");
    }
}

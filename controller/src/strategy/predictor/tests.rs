#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use nas_domain::oracle::{Oracle, SyntheticOracle};

use super::*;
use crate::strategy::random::RandomSearch;
use crate::strategy::test_spaces::{categorical, proposed, tiny_cnn};

fn predictor(space: &SearchSpace, seed: u64) -> Predictor {
    Predictor::new(space.clone(), PredictorConfig::default(), seed).unwrap()
}

/// A reward that ranks every child: the synthetic oracle's.
fn reward(proposal: &Proposal) -> f64 {
    SyntheticOracle::default().reward(&proposal.spec).unwrap()
}

/// Proposes and observes `rounds` children one at a time; the rewards.
fn run(search: &mut dyn Strategy, rounds: usize, score: impl Fn(&Proposal) -> f64) -> Vec<f64> {
    (0..rounds)
        .map(|_| {
            let proposal = search.propose(1).unwrap().remove(0);
            let reward = score(&proposal);
            search.observe(Observation::of(&proposal, reward)).unwrap();
            reward
        })
        .collect()
}

#[test]
fn the_first_children_are_random_search_samples() {
    let space = categorical(6, 5);
    let mut ours = predictor(&space, 7);
    let mut random = RandomSearch::new(space, 7);
    assert_eq!(proposed(&mut ours, 10), proposed(&mut random, 10));
}

#[test]
fn no_child_is_proposed_twice_in_a_small_or_a_large_space() {
    for space in [categorical(3, 4), tiny_cnn()] {
        let mut search = predictor(&space, 3);
        let mut seen = HashSet::new();
        for _ in 0..60 {
            let proposal = search.propose(1).unwrap().remove(0);
            space.plan(proposal.depth).check(&proposal.actions).unwrap();
            assert!(
                seen.insert(proposal.actions.clone()),
                "{:?} twice",
                proposal.actions
            );
            search
                .observe(Observation::of(&proposal, reward(&proposal)))
                .unwrap();
        }
    }
}

#[test]
fn it_finds_the_best_of_an_additive_space_much_sooner_than_random_search() {
    // 8 decisions of 6 options (1.7 million children); the reward counts
    // decisions at their best value, with pairs that matter.
    let space = categorical(8, 6);
    let score = |p: &Proposal| {
        let t = p.actions.tokens();
        let hits = t
            .iter()
            .enumerate()
            .filter(|(i, v)| usize::from(**v) == i % 6)
            .count() as f64;
        hits + f64::from(u8::from(t[0] == t[1]))
    };
    let best = |rewards: &[f64]| rewards.iter().copied().fold(f64::MIN, f64::max);
    let ours = best(&run(&mut predictor(&space, 5), 120, score));
    let theirs = best(&run(&mut RandomSearch::new(space, 5), 120, score));
    assert!(ours >= 8.0, "the predictor's best after 120: {ours}");
    assert!(theirs < 6.0, "random search's best after 120: {theirs}");
}

#[test]
fn a_checkpoint_with_children_in_flight_continues_the_same_sequence() {
    let space = categorical(5, 4);
    let mut search = predictor(&space, 11);
    run(&mut search, 25, reward);
    let in_flight = search.propose(3).unwrap();
    let checkpoint = search.checkpoint().unwrap();
    let mut resumed = super::super::restore(&checkpoint).unwrap();
    for proposal in &in_flight {
        let observation = Observation::of(proposal, reward(proposal));
        search.observe(observation.clone()).unwrap();
        resumed.observe(observation).unwrap();
    }
    assert_eq!(proposed(&mut search, 5), proposed(resumed.as_mut(), 5));
}

#[test]
fn bad_settings_are_refused_with_their_name() {
    for (config, named) in [
        (
            PredictorConfig {
                initial: 0,
                ..Default::default()
            },
            "initial",
        ),
        (
            PredictorConfig {
                main_precision: 0.0,
                ..Default::default()
            },
            "main_precision",
        ),
        (
            PredictorConfig {
                pair_precision: f64::NAN,
                ..Default::default()
            },
            "pair_precision",
        ),
        (
            PredictorConfig {
                max_features: 1,
                ..Default::default()
            },
            "max_features",
        ),
    ] {
        let error = Predictor::new(categorical(2, 2), config, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains(named), "{error}");
    }
}

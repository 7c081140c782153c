#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use nas_domain::Step;
use nas_domain::oracle::{Oracle, SyntheticOracle};

use super::*;
use crate::strategy::random::RandomSearch;
use crate::strategy::test_spaces::{categorical, distance, proposed, tiny_cnn};

fn local(space: &SearchSpace, initial: usize, seed: u64) -> LocalSearch {
    LocalSearch::new(space.clone(), LocalSearchConfig { initial }, seed).unwrap()
}

/// The one-decision neighbours of a child of `depth`.
fn neighbour_count(space: &SearchSpace, depth: usize) -> usize {
    space
        .plan(depth)
        .steps()
        .iter()
        .map(|step| match *step {
            Step::Choose { options, .. } => options - 1,
            Step::Anchor { candidates } => candidates,
        })
        .sum()
}

/// A reward that ranks every child: the synthetic oracle's.
fn reward(proposal: &Proposal) -> f64 {
    SyntheticOracle::default().reward(&proposal.spec).unwrap()
}

#[test]
fn the_first_children_are_random_search_samples() {
    let space = categorical(6, 5);
    let mut search = local(&space, 8, 7);
    let mut random = RandomSearch::new(space, 7);
    let ours = proposed(&mut search, 8);
    let theirs = proposed(&mut random, 8);
    assert_eq!(ours, theirs);
}

#[test]
fn after_the_random_start_each_child_is_a_new_neighbour_of_the_best_so_far() {
    for space in [categorical(6, 5), tiny_cnn()] {
        let mut search = local(&space, 4, 3);
        let mut trained: Vec<(Actions, f64)> = Vec::new();
        let mut seen = HashSet::new();
        for round in 0..60 {
            let proposal = search.propose(1).unwrap().remove(0);
            assert!(
                seen.insert(proposal.actions.clone()),
                "{:?} proposed twice",
                proposal.actions
            );
            space.plan(proposal.depth).check(&proposal.actions).unwrap();
            if round >= 4 {
                // The parent: the best member (the earlier of equals) with a
                // neighbour not yet seen.
                let mut ranked: Vec<&(Actions, f64)> = trained.iter().collect();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
                let parent = ranked
                    .into_iter()
                    .find(|(actions, _)| {
                        let tried = seen.iter().filter(|other| distance(other, actions) == 1).count();
                        // The proposal itself is in `seen` already.
                        tried - usize::from(distance(&proposal.actions, actions) == 1)
                            < neighbour_count(&space, proposal.depth)
                    })
                    .unwrap();
                assert_eq!(
                    distance(&proposal.actions, &parent.0),
                    1,
                    "round {round}: {:?} is no neighbour of {:?}",
                    proposal.actions,
                    parent.0
                );
            }
            let reward = reward(&proposal);
            search.observe(Observation::of(&proposal, reward)).unwrap();
            trained.push((proposal.actions, reward));
        }
    }
}

#[test]
fn a_local_optimum_moves_the_search_to_the_next_best_and_the_space_is_covered_without_repeats() {
    // 3 × 3 = 9 children. From any start the best-first order visits every
    // child once before any repeats.
    let space = categorical(2, 3);
    let mut search = local(&space, 1, 5);
    let mut seen = HashSet::new();
    for _ in 0..9 {
        let proposal = search.propose(1).unwrap().remove(0);
        assert!(
            seen.insert(proposal.actions.clone()),
            "{:?} twice",
            proposal.actions
        );
        let reward = reward(&proposal);
        search.observe(Observation::of(&proposal, reward)).unwrap();
    }
    assert_eq!(seen.len(), 9);
    // The space is exhausted: a tenth child repeats one, drawn at random.
    let tenth = search.propose(1).unwrap().remove(0);
    assert!(seen.contains(&tenth.actions));
}

#[test]
fn children_in_flight_are_never_proposed_again() {
    let space = categorical(4, 3);
    let mut search = local(&space, 2, 9);
    let first = search.propose(2).unwrap();
    for proposal in &first {
        let reward = reward(proposal);
        search.observe(Observation::of(proposal, reward)).unwrap();
    }
    // 8 neighbours of the best; 6 in flight at once are all distinct.
    let batch = search.propose(6).unwrap();
    let distinct: HashSet<&Actions> = batch.iter().map(|p| &p.actions).collect();
    assert_eq!(distinct.len(), 6, "{batch:?}");
    for proposal in &batch {
        assert!(first.iter().all(|f| f.actions != proposal.actions));
    }
}

/// Proposes `children` in rounds of 3 (the last round's children left in
/// flight), observing each with the synthetic oracle's reward.
fn search(strategy: &mut dyn Strategy, children: usize) -> Vec<Actions> {
    let mut seen = Vec::new();
    while seen.len() < children {
        let proposals = strategy.propose(3).unwrap();
        for proposal in &proposals[..2] {
            let reward = reward(proposal);
            strategy.observe(Observation::of(proposal, reward)).unwrap();
        }
        seen.extend(proposals.into_iter().map(|p| p.actions));
    }
    seen
}

#[test]
fn a_restored_checkpoint_continues_the_same_children() {
    let space = categorical(8, 6);
    let mut original = local(&space, 5, 3);
    search(&mut original, 30);
    let bytes = original.checkpoint().unwrap().to_bytes().unwrap();
    let mut restored = LocalSearch::restore(&Checkpoint::from_bytes(&bytes).unwrap()).unwrap();
    assert_eq!(search(&mut restored, 60), search(&mut original, 60));
}

#[test]
fn a_resumed_search_told_its_children_in_flight_continues_the_same_children() {
    // The search service's resume: the first checkpoint, the rewards
    // logged since in their order, the published children (in flight or
    // not), then the sample sequence moved on.
    let space = categorical(8, 6);
    let mut original = local(&space, 5, 4);
    let start = original.checkpoint().unwrap();
    let mut published = Vec::new();
    let mut observed = Vec::new();
    for _ in 0..12 {
        let proposals = original.propose(3).unwrap();
        for proposal in &proposals[..2] {
            let observation = Observation::of(proposal, reward(proposal));
            original.observe(observation.clone()).unwrap();
            observed.push(observation);
        }
        published.extend(proposals.iter().map(|p| (p.actions.clone(), p.depth)));
    }
    let mut resumed = LocalSearch::restore(&start).unwrap();
    for observation in observed {
        resumed.observe(observation).unwrap();
    }
    resumed.in_flight(&published);
    resumed.advance_samples(36);
    let next = |search: &mut LocalSearch| -> Vec<Actions> {
        search
            .propose(10)
            .unwrap()
            .into_iter()
            .map(|p| p.actions)
            .collect()
    };
    assert_eq!(next(&mut resumed), next(&mut original));
}

#[test]
fn it_climbs_where_random_search_stays_flat() {
    let space = categorical(8, 6);
    let mean = |rewards: &[f64]| rewards.iter().sum::<f64>() / rewards.len() as f64;
    for seed in 0..3 {
        let mut climbing = local(&space, 10, seed);
        let mut random = RandomSearch::new(space.clone(), seed);
        let mut rewards = [Vec::new(), Vec::new()];
        for (strategy, rewards) in [&mut climbing as &mut dyn Strategy, &mut random]
            .into_iter()
            .zip(&mut rewards)
        {
            for _ in 0..200 {
                let proposal = strategy.propose(1).unwrap().remove(0);
                let reward = reward(&proposal);
                strategy.observe(Observation::of(&proposal, reward)).unwrap();
                rewards.push(reward);
            }
        }
        let [ours, theirs] = rewards;
        assert!(
            mean(&ours[100..]) > mean(&theirs[100..]) + 0.05,
            "seed {seed}: local search {:.4}, random search {:.4}",
            mean(&ours[100..]),
            mean(&theirs[100..])
        );
    }
}

#[test]
fn no_random_start_is_a_configuration_error() {
    let error = LocalSearch::new(categorical(2, 2), LocalSearchConfig { initial: 0 }, 0)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("local_search.initial"), "{error}");
}

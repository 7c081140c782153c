#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use nas_domain::oracle::{Oracle, SyntheticOracle};

use super::maximize::differing;
use super::*;
use crate::strategy::Objectives;
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
        (
            PredictorConfig {
                elites: 2,
                radius: 0,
                ..Default::default()
            },
            "radius",
        ),
        (
            PredictorConfig {
                front_reward_share: 1.5,
                ..Default::default()
            },
            "front_reward_share",
        ),
    ] {
        let error = Predictor::new(categorical(2, 2), config, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains(named), "{error}");
    }
}

/// Two conflicting objectives over decisions of 5 options: the reward grows
/// with the later decisions' tokens, the cost with the earlier ones'.
fn conflicting(tokens: &[u16]) -> Objectives {
    let weighted = |weight: &dyn Fn(usize) -> f64| {
        tokens
            .iter()
            .enumerate()
            .map(|(i, &v)| weight(i) * f64::from(v))
            .sum::<f64>()
    };
    Objectives {
        reward: 1.0 + weighted(&|i| (i + 1) as f64),
        costs: vec![1.0 + weighted(&|i| (tokens.len() - i) as f64)],
    }
}

/// MnasNet's soft constraint on [`conflicting`]: the shaped reward.
fn shaped(objectives: &Objectives) -> f64 {
    objectives.reward * (objectives.costs[0] / 10.0).powf(-0.07)
}

/// Proposes and observes `rounds` children with [`conflicting`] objectives.
fn run_with_costs(search: &mut dyn Strategy, rounds: usize) -> Vec<Vec<u16>> {
    (0..rounds)
        .map(|_| {
            let proposal = search.propose(1).unwrap().remove(0);
            let objectives = conflicting(proposal.actions.tokens());
            let observation = Observation::of(&proposal, shaped(&objectives));
            search
                .observe(observation.with_objectives(Some(objectives)))
                .unwrap();
            proposal.actions.tokens().to_vec()
        })
        .collect()
}

#[test]
fn with_costs_it_spreads_along_the_front_unless_told_to_search_the_shaped_reward() {
    let space = categorical(4, 5);
    let all: Vec<Vec<u16>> = (0..625u16)
        .map(|n| (0..4).map(|d| n / 5u16.pow(d) % 5).collect())
        .collect();
    let dominated = |a: &Objectives, b: &Objectives| {
        b.reward >= a.reward && b.costs[0] <= a.costs[0] && (b.reward > a.reward || b.costs[0] < a.costs[0])
    };
    let front: HashSet<&Vec<u16>> = all
        .iter()
        .filter(|a| {
            let mine = conflicting(a);
            !all.iter().any(|b| dominated(&mine, &conflicting(b)))
        })
        .collect();
    let found = |costs: CostSearch, seed: u64| {
        let config = PredictorConfig {
            costs,
            ..Default::default()
        };
        let mut search = Predictor::new(space.clone(), config, seed).unwrap();
        let children = run_with_costs(&mut search, 80);
        children.iter().filter(|child| front.contains(child)).count()
    };
    let (front_search, shaped_search): (usize, usize) = (1..=3)
        .map(|seed| (found(CostSearch::Front, seed), found(CostSearch::Shaped, seed)))
        .fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
    // Three runs of 80 children could hold every front point three times:
    // the front search finds most of them, the shaped one far fewer.
    let possible = 3 * front.len();
    assert!(
        4 * front_search >= 3 * possible && front_search >= shaped_search + 10,
        "of {possible} front points in 3 runs of 80: front search {front_search}, shaped {shaped_search}"
    );
}

#[test]
fn a_front_search_draws_beyond_the_elites() {
    // The default narrows each draw to the best children's neighbours; a
    // front search, whose best child moves with each weighting, does not.
    let config = PredictorConfig::default();
    assert!(config.elites > 0 && config.wide_every > 0);
    let draws = draws_near_the_elites(categorical(6, 5), &config, 5, 60, |proposal| {
        let objectives = conflicting(proposal.actions.tokens());
        Observation::of(proposal, shaped(&objectives)).with_objectives(Some(objectives))
    });
    let far = draws.iter().filter(|draw| draw.narrow && !draw.near).count();
    assert!(
        far >= 5,
        "only {far} narrow draws of a front search left the elites' neighbourhood"
    );
}

#[test]
fn a_front_search_resumes_from_a_checkpoint_to_the_same_children() {
    let space = categorical(6, 5);
    let mut search = predictor(&space, 4);
    run_with_costs(&mut search, 30);
    let mut resumed = super::super::restore(&search.checkpoint().unwrap()).unwrap();
    assert_eq!(
        run_with_costs(&mut search, 12),
        run_with_costs(resumed.as_mut(), 12)
    );
}

/// A reward peaked at tokens `[1, 2, 3, 0, …]` of a categorical space: one
/// point per token right.
fn peaked(proposal: &Proposal) -> f64 {
    (proposal.actions.tokens().iter().enumerate())
        .filter(|(i, token)| usize::from(**token) == (i + 1) % 5)
        .count() as f64
}

/// Earlier children of `space` (tokens all known) scored by `peaked`.
fn earlier(space: &SearchSpace, count: u64, source: &str) -> Vec<PriorChild> {
    let mut random = RandomSearch::new(space.clone(), 99);
    (0..count)
        .map(|_| {
            let proposal = random.propose(1).unwrap().remove(0);
            PriorChild {
                source: source.into(),
                tokens: proposal.actions.tokens().iter().map(|&t| Some(t)).collect(),
                reward: peaked(&proposal),
            }
        })
        .collect()
}

#[test]
fn a_warm_start_from_the_same_function_guides_the_first_child_and_survives_a_resume() {
    let space = categorical(6, 5);
    let mut warm = predictor(&space, 5);
    warm.warm_start(earlier(&space, 200, "earlier")).unwrap();
    // Guided from the first child: near the peak at once, where a cold
    // search starts with random children.
    let first = run(&mut warm, 3, peaked);
    assert!(first.iter().all(|&reward| reward >= 4.0), "{first:?}");
    let mut cold = predictor(&space, 5);
    assert!(run(&mut cold, 3, peaked).iter().all(|&reward| reward < 4.0));
    // The prior is in the checkpoint: a resumed search proposes the same.
    let mut resumed = super::super::restore(&warm.checkpoint().unwrap()).unwrap();
    assert_eq!(run(&mut warm, 5, peaked), run(resumed.as_mut(), 5, peaked));
    // Only before the first child, once.
    assert!(warm.warm_start(Vec::new()).is_err());
}

#[test]
fn a_warm_start_with_no_decision_in_common_changes_nothing() {
    let space = categorical(6, 5);
    let mut unrelated = earlier(&space, 50, "other space");
    for child in &mut unrelated {
        child.tokens.fill(None);
    }
    let mut warm = predictor(&space, 8);
    warm.warm_start(unrelated).unwrap();
    let mut cold = predictor(&space, 8);
    assert_eq!(run(&mut warm, 30, peaked), run(&mut cold, 30, peaked));
}

#[test]
fn strategies_without_a_warm_start_refuse_one_by_name() {
    let space = categorical(3, 3);
    let mut random = RandomSearch::new(space, 1);
    let error = random.warm_start(Vec::new()).unwrap_err().to_string();
    assert!(error.contains("random") && error.contains("predictor"), "{error}");
}

/// One guided child of [`draws_near_the_elites`]: whether it was a narrow
/// draw, and whether it lay within `radius` decisions of one of the best
/// `elites` children observed before it.
struct Draw {
    index: u64,
    narrow: bool,
    near: bool,
}

/// Runs `rounds` children of a predictor with `config`, each observed as
/// `observe` says, and classes every child after the `initial` random ones.
fn draws_near_the_elites(
    space: SearchSpace,
    config: &PredictorConfig,
    seed: u64,
    rounds: u64,
    observe: impl Fn(&Proposal) -> Observation,
) -> Vec<Draw> {
    let mut search = Predictor::new(space, config.clone(), seed).unwrap();
    let mut observed: Vec<(f64, Vec<u16>)> = Vec::new();
    let mut draws = Vec::new();
    for index in 0..rounds {
        let proposal = search.propose(1).unwrap().remove(0);
        let tokens = proposal.actions.tokens().to_vec();
        observed.sort_by(|a, b| b.0.total_cmp(&a.0));
        if index as usize >= config.initial {
            draws.push(Draw {
                index,
                narrow: config.wide_every == 0 || (index + 1) % config.wide_every != 0,
                near: (observed.iter().take(config.elites))
                    .any(|(_, elite)| differing(elite, &tokens) <= config.radius),
            });
        }
        let observation = observe(&proposal);
        observed.push((observation.reward, tokens));
        search.observe(observation).unwrap();
    }
    draws
}

#[test]
fn with_elites_each_narrow_draw_is_near_one_of_the_best_children_so_far() {
    let config = PredictorConfig {
        elites: 3,
        radius: 1,
        wide_every: 3,
        ..PredictorConfig::default()
    };
    let score = |p: &Proposal| p.actions.tokens().iter().map(|&t| f64::from(t)).sum::<f64>();
    let draws = draws_near_the_elites(categorical(6, 5), &config, 11, 80, |proposal| {
        Observation::of(proposal, score(proposal))
    });
    for draw in draws.iter().filter(|draw| draw.narrow) {
        assert!(
            draw.near,
            "child {} is not within 1 of the best 3 so far",
            draw.index
        );
    }
    // The wide draws still look anywhere.
    let far = draws.iter().filter(|draw| !draw.narrow && !draw.near).count();
    assert!(far > 0, "every wide draw stayed near the elites");
}

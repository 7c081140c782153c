//! The model's unit tests.

use super::*;
use crate::strategy::test_spaces::categorical;
use nas_domain::Plan;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn plan() -> Plan {
    categorical(3, 3).plan(1)
}

#[test]
fn the_layout_counts_the_intercept_the_values_and_the_pairs_that_fit() {
    let all = Layout::of(&plan(), 1000);
    assert_eq!(all.features(), 1 + 9 + 3 * 9);
    let mut active = Vec::new();
    all.active_into(&[2, 0, 1], &mut active);
    assert_eq!(active.len(), 1 + 3 + 3);
    // Only the neighbouring pairs (0, 1) and (1, 2) fit in 28.
    let some = Layout::of(&plan(), 28);
    assert_eq!(some.features(), 1 + 9 + 2 * 9);
}

#[test]
fn the_posterior_mean_orders_the_children_of_a_pairwise_function() {
    let layout = Layout::of(&plan(), 1000);
    let truth = |t: &[u16]| 0.3 * f64::from(t[0]) - 0.2 * f64::from(t[2]) + f64::from(t[0] * t[1] == 2);
    let mut model = Model::new(
        layout.clone(),
        Prior {
            main: 1e-4,
            pair: 1e-4,
        },
    );
    let mut all = Vec::new();
    for a in 0..3 {
        for b in 0..3 {
            for c in 0..3 {
                all.push(vec![a, b, c]);
            }
        }
    }
    for tokens in &all {
        model.add(&Actions::new(tokens.clone()), &[truth(tokens)]);
    }
    // Without spread the sample is the posterior mean of the ranks: the
    // best child is the truth's, and children far apart keep their order.
    let theta = model
        .sample(&mut ChaCha8Rng::seed_from_u64(1), 0.0)
        .swap_remove(0);
    let score = |t: &Vec<u16>| layout.score(&theta, t);
    let best = all.iter().max_by(|a, b| score(a).total_cmp(&score(b))).unwrap();
    assert_eq!(best, &vec![2, 1, 0]);
    for a in &all {
        for b in &all {
            if truth(a) > truth(b) + 0.5 {
                assert!(score(a) > score(b), "{a:?} {} below {b:?} {}", score(a), score(b));
            }
        }
    }
}

#[test]
fn samples_spread_where_little_is_known_and_repeat_for_the_same_stream() {
    let layout = Layout::of(&plan(), 1000);
    let mut model = Model::new(layout.clone(), Prior { main: 1.0, pair: 1.0 });
    model.add(&Actions::new(vec![0, 0, 0]), &[1.0]);
    model.add(&Actions::new(vec![1, 1, 1]), &[0.0]);
    model.add(&Actions::new(vec![2, 2, 2]), &[0.5]);
    let draw = |seed| model.sample(&mut ChaCha8Rng::seed_from_u64(seed), 1.0);
    assert_eq!(draw(3), draw(3));
    assert_ne!(draw(3), draw(4));
}

#[test]
fn objectives_share_the_factor_and_a_late_one_counts_as_worst_before() {
    let layout = Layout::of(&plan(), 1000);
    let prior = Prior {
        main: 1e-3,
        pair: 1e-3,
    };
    let mut model = Model::new(layout.clone(), prior);
    // The first child has no cost (a failed one): the cost objective
    // appears with the second and is −∞ for the first.
    model.add(&Actions::new(vec![0, 0, 0]), &[0.0]);
    for a in 0..3u16 {
        for b in 0..3u16 {
            let tokens = vec![a, b, 1];
            model.add(&Actions::new(tokens), &[f64::from(a), -f64::from(b)]);
        }
    }
    assert_eq!((model.objectives(), model.observations()), (2, 10));
    let thetas = model.sample(&mut ChaCha8Rng::seed_from_u64(1), 0.0);
    let score = |objective: usize, tokens: &[u16]| layout.score(&thetas[objective], tokens);
    // The reward grows with the first token, the negated cost falls with
    // the second: each posterior mean orders its own objective.
    assert!(score(0, &[2, 0, 1]) > score(0, &[0, 0, 1]) + 0.3);
    assert!(score(1, &[1, 0, 1]) > score(1, &[1, 2, 1]) + 0.3);
    assert!((score(0, &[1, 0, 1]) - score(0, &[1, 2, 1])).abs() < 0.15);
    // The child without a cost ranks last on it.
    assert!(score(1, &[0, 0, 0]) < score(1, &[0, 2, 1]));
}

/// Every child of the 3 × 3 × 3 plan.
fn every_child() -> Vec<Vec<u16>> {
    let mut all = Vec::new();
    for a in 0..3 {
        for b in 0..3 {
            for c in 0..3 {
                all.push(vec![a, b, c]);
            }
        }
    }
    all
}

/// A model warm-started from an earlier search that ranked every child by
/// `earlier` (the prior's weight 0.5, as shipped).
fn warm_model(layout: &Layout, earlier: impl Fn(&[u16]) -> f64) -> Model {
    let all = every_child();
    let rewards: Vec<f64> = all.iter().map(|t| earlier(t)).collect();
    let tokens: Vec<Vec<Option<u16>>> = all.iter().map(|t| t.iter().map(|&v| Some(v)).collect()).collect();
    let children: Vec<(&[Option<u16>], f64)> =
        (tokens.iter().map(Vec::as_slice)).zip(ranks(&rewards)).collect();
    let mut model = Model::new(layout.clone(), Prior { main: 1.0, pair: 0.3 });
    assert!(model.set_prior(&children, 0.5));
    model
}

#[test]
fn a_warm_start_orders_what_this_search_has_not_tried_as_the_earlier_one_did() {
    let layout = Layout::of(&plan(), 1000);
    // The second token's middle value is its best.
    let truth = |t: &[u16]| f64::from(t[0]) + f64::from(t[1] == 1);
    let mut model = warm_model(&layout, truth);
    for tokens in [[0, 0, 0], [2, 2, 2], [1, 0, 2], [2, 0, 1]] {
        model.add(&Actions::new(tokens.to_vec()), &[truth(&tokens)]);
    }
    // This search has not tried it; the earlier one ranked it first, and
    // after four children of its own the model still does.
    let theta = model
        .sample(&mut ChaCha8Rng::seed_from_u64(1), 0.0)
        .swap_remove(0);
    for rest in [[2, 0], [1, 2], [0, 1]] {
        let score = |middle: u16| layout.score(&theta, &[rest[0], middle, rest[1]]);
        assert!(score(1) > score(0) && score(1) > score(2), "{rest:?}");
    }
}

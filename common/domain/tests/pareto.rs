//! Pareto fronts and hypervolumes against brute force on small random
//! point sets, with ties, repeated points and points outside the box.

#![allow(clippy::unwrap_used)]

use nas_domain::objective::pareto::{Point, front, hypervolume};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The brute-force front and hypervolume (nas-test-support depends on this
/// crate, so its module is included by path rather than as a dependency).
#[path = "../../test-support/src/pareto.rs"]
mod brute;

/// `count` points on a coarse grid (so metrics and costs tie), some outside
/// the box `(0.1, 0.9)` of the hypervolumes below.
fn points(rng: &mut ChaCha8Rng, count: usize) -> Vec<(f64, f64)> {
    (0..count)
        .map(|_| {
            (
                f64::from(rng.random_range(0..=10u8)) / 10.0,
                f64::from(rng.random_range(0..=10u8)) / 10.0,
            )
        })
        .collect()
}

fn as_points(pairs: &[(f64, f64)]) -> Vec<Point> {
    pairs
        .iter()
        .map(|&(metric, cost)| Point {
            metric,
            costs: vec![cost],
        })
        .collect()
}

/// The area by inclusion–exclusion: the union of the rectangles
/// `[cost, ceiling] × [floor, metric]` of the points inside the box; the
/// intersection of a set of them is the rectangle of the largest cost and
/// the smallest metric.
fn inclusion_exclusion(points: &[(f64, f64)], (floor, ceiling): (f64, f64)) -> f64 {
    let inside: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|&(metric, cost)| metric > floor && cost < ceiling)
        .collect();
    let mut area = 0.0;
    for subset in 1u32..(1 << inside.len()) {
        let chosen: Vec<(f64, f64)> = (0..inside.len())
            .filter(|i| subset & (1 << i) != 0)
            .map(|i| inside[i])
            .collect();
        let cost = chosen.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        let metric = chosen.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let sign = if chosen.len() % 2 == 1 { 1.0 } else { -1.0 };
        area += sign * (ceiling - cost) * (metric - floor);
    }
    area
}

#[test]
fn the_brute_force_hypervolumes_agree_by_hand() {
    // The hand example of the unit test: 0.5@2 and 0.8@6 in (0, 10).
    let pairs = [(0.8, 6.0), (0.5, 2.0)];
    assert!((brute::hypervolume(&pairs, (0.0, 10.0)) - 5.2).abs() < 1e-12);
    assert!((inclusion_exclusion(&pairs, (0.0, 10.0)) - 5.2).abs() < 1e-12);
}

#[test]
fn hypervolumes_match_brute_force_on_random_point_sets() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    for round in 0..300 {
        let count = 1 + round % 10;
        let pairs = points(&mut rng, count);
        let reference = (0.1, 0.9);
        let fast = hypervolume(&as_points(&pairs), reference);
        let grid = brute::hypervolume(&pairs, reference);
        let exclusion = inclusion_exclusion(&pairs, reference);
        assert!((fast - grid).abs() < 1e-12, "{pairs:?}: {fast} against {grid}");
        assert!(
            (grid - exclusion).abs() < 1e-9,
            "{pairs:?}: {grid} against {exclusion}"
        );
        // The front dominates the same area as all the points.
        let front_pairs: Vec<(f64, f64)> = front(&as_points(&pairs)).iter().map(|&i| pairs[i]).collect();
        assert!((hypervolume(&as_points(&front_pairs), reference) - fast).abs() < 1e-12);
    }
}

#[test]
fn fronts_match_brute_force_on_random_point_sets() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for round in 0..300 {
        let pairs = points(&mut rng, 1 + round % 25);
        let mut fast = front(&as_points(&pairs));
        // Best metric first, ties by cost.
        let ordered: Vec<(f64, f64)> = fast.iter().map(|&i| pairs[i]).collect();
        assert!(
            ordered
                .windows(2)
                .all(|w| w[0].0 > w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1)),
            "{ordered:?}"
        );
        fast.sort_unstable();
        assert_eq!(fast, brute::non_dominated(&pairs), "{pairs:?}");
    }
}

//! Pareto fronts and hypervolumes of (metric, cost) pairs by brute force,
//! to check the fast code against: a larger metric and a smaller cost are
//! better.

/// Whether `a` is at least as good as `b` on both and better on one.
pub fn dominates(a: (f64, f64), b: (f64, f64)) -> bool {
    a.0 >= b.0 && a.1 <= b.1 && (a.0 > b.0 || a.1 < b.1)
}

/// The indices of the points no other point dominates; of equal points
/// only the first.
pub fn non_dominated(points: &[(f64, f64)]) -> Vec<usize> {
    (0..points.len())
        .filter(|&i| !points.iter().any(|&other| dominates(other, points[i])))
        .filter(|&i| !points[..i].contains(&points[i]))
        .collect()
}

/// The area the points dominate inside the box from `reference` (a metric
/// floor and a cost ceiling): the union of the rectangles
/// `[cost, ceiling] × [floor, metric]`, summed over the grid every point's
/// coordinates cut the box into (a cell counts when some point covers it).
pub fn hypervolume(points: &[(f64, f64)], reference: (f64, f64)) -> f64 {
    let (floor, ceiling) = reference;
    let inside: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|&(metric, cost)| metric > floor && cost < ceiling)
        .collect();
    let grid = |values: Vec<f64>| {
        let mut values = values;
        values.sort_by(f64::total_cmp);
        values.dedup();
        values
    };
    let costs = grid(inside.iter().map(|p| p.1).chain([ceiling]).collect());
    let metrics = grid(inside.iter().map(|p| p.0).chain([floor]).collect());
    let mut area = 0.0;
    for x in costs.windows(2) {
        for y in metrics.windows(2) {
            if inside
                .iter()
                .any(|&(metric, cost)| cost <= x[0] && metric >= y[1])
            {
                area += (x[1] - x[0]) * (y[1] - y[0]);
            }
        }
    }
    area
}

//! Pareto fronts: the children no other child beats on every objective (a
//! metric to maximise, costs to minimise), and the hypervolume a
//! two-objective front dominates, the usual measure of how good a found
//! front is against the true one.

/// One child as the front sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The metric (larger is better).
    pub metric: f64,
    /// Its costs (smaller is better), the same costs in the same order for
    /// every point.
    pub costs: Vec<f64>,
}

impl Point {
    /// Whether this point is at least as good as `other` everywhere and
    /// better somewhere.
    pub fn dominates(&self, other: &Point) -> bool {
        let no_worse =
            self.metric >= other.metric && self.costs.iter().zip(&other.costs).all(|(a, b)| a <= b);
        let better = self.metric > other.metric || self.costs.iter().zip(&other.costs).any(|(a, b)| a < b);
        no_worse && better
    }
}

/// The indices of the non-dominated points, by metric (best first); of
/// equal points only the first is kept.
pub fn front(points: &[Point]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        points[b]
            .metric
            .total_cmp(&points[a].metric)
            .then_with(|| compare_costs(&points[a].costs, &points[b].costs))
            .then(a.cmp(&b))
    });
    let mut kept: Vec<usize> = Vec::new();
    for index in order {
        let point = &points[index];
        let beaten = kept
            .iter()
            .any(|&k| points[k].dominates(point) || points[k] == *point);
        if !beaten {
            kept.push(index);
        }
    }
    kept
}

fn compare_costs(a: &[f64], b: &[f64]) -> std::cmp::Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|order| order.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// The area a two-objective set of points (metric, one cost) dominates
/// within the box from `reference` (a metric no better and a cost no
/// cheaper than any point counted); points outside the box add nothing.
pub fn hypervolume(points: &[Point], reference: (f64, f64)) -> f64 {
    let (metric_floor, cost_ceiling) = reference;
    let mut inside: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| Some((p.metric, *p.costs.first()?)))
        .filter(|&(metric, cost)| metric > metric_floor && cost < cost_ceiling)
        .collect();
    // Cheapest first; each point adds the strip between its cost and the
    // next cheaper point's, at the best metric seen so far.
    inside.sort_by(|a, b| a.1.total_cmp(&b.1).then(b.0.total_cmp(&a.0)));
    let mut area = 0.0;
    let mut best = metric_floor;
    for (index, &(metric, cost)) in inside.iter().enumerate() {
        best = best.max(metric);
        let next = inside.get(index + 1).map_or(cost_ceiling, |&(_, c)| c);
        area += (next - cost) * (best - metric_floor);
    }
    area
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(metric: f64, cost: f64) -> Point {
        Point {
            metric,
            costs: vec![cost],
        }
    }

    #[test]
    fn the_front_keeps_the_non_dominated_points() {
        let points = [
            p(0.9, 5.0),
            p(0.8, 2.0),
            p(0.85, 6.0),
            p(0.7, 1.0),
            p(0.8, 2.0),
            p(0.6, 3.0),
        ];
        // 0.85@6 is beaten by 0.9@5, 0.6@3 by 0.8@2; the repeated 0.8@2 is kept once.
        assert_eq!(front(&points), vec![0, 1, 3]);
        assert!(p(0.9, 1.0).dominates(&p(0.9, 2.0)));
        assert!(!p(0.9, 2.0).dominates(&p(0.9, 2.0)));
        assert!(!p(0.9, 2.0).dominates(&p(0.8, 1.0)));
    }

    #[test]
    fn hypervolume_by_hand() {
        // Reference (0, 10). Points 0.5@2 and 0.8@6:
        // strip [2,6) at 0.5 → 2.0, strip [6,10) at 0.8 → 3.2.
        let area = hypervolume(&[p(0.8, 6.0), p(0.5, 2.0)], (0.0, 10.0));
        assert!((area - 5.2).abs() < 1e-12, "{area}");
        // A dominated point adds nothing; one outside the box neither.
        let more = hypervolume(
            &[p(0.8, 6.0), p(0.5, 2.0), p(0.4, 3.0), p(0.9, 11.0)],
            (0.0, 10.0),
        );
        assert!((more - 5.2).abs() < 1e-12, "{more}");
        assert_eq!(hypervolume(&[], (0.0, 1.0)), 0.0);
    }
}

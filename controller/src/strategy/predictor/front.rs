//! How a front search (costs modelled apart, ParEGO) turns the samples of
//! several objectives into one score: a weighting drawn per child
//! ([`front_weights`]) and the augmented Chebyshev scalarization of the
//! predicted ranks under it ([`chebyshev`]).

/// A weighting of `objectives` (the reward first): the reward alone with
/// probability `reward_share`, else one drawn uniformly from the simplex
/// (the gaps between sorted uniforms). No draw for a single objective, so
/// a search without costs uses its stream as before.
pub fn front_weights(objectives: usize, reward_share: f64, rng: &mut impl rand::Rng) -> Vec<f64> {
    if objectives < 2 {
        return vec![1.0; objectives];
    }
    if rng.random::<f64>() < reward_share {
        let mut weights = vec![0.0; objectives];
        weights[0] = 1.0;
        return weights;
    }
    let mut cuts: Vec<f64> = (1..objectives).map(|_| rng.random::<f64>()).collect();
    cuts.sort_by(f64::total_cmp);
    cuts.insert(0, 0.0);
    cuts.push(1.0);
    cuts.windows(2).map(|pair| pair[1] - pair[0]).collect()
}

/// The augmented Chebyshev scalarization of predicted ranks (each about
/// 0 to 1, higher better) under `weights`: minus the largest weighted gap
/// to the ideal 1, plus a little of the weighted sum so that no dominated
/// child ties with the one dominating it.
pub fn chebyshev(weights: &[f64], predictions: impl Iterator<Item = f64>) -> f64 {
    let (mut worst, mut sum) = (f64::NEG_INFINITY, 0.0);
    for (weight, prediction) in weights.iter().zip(predictions) {
        let gap = weight * (1.0 - prediction);
        worst = worst.max(gap);
        sum += gap;
    }
    -(worst + AUGMENT * sum)
}

/// The weight of the sum in [`chebyshev`] (ParEGO's ρ).
const AUGMENT: f64 = 0.05;

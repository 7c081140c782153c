//! The predictor's model: Bayesian linear regression of the reward on the
//! one-hot decisions and one-hot pairs of decisions (a second-order model
//! of a categorical function, as in BOCS, Baptista and Poloczek 2018).
//!
//! [`Layout`] (`layout.rs`) numbers the features of a plan; a child is the
//! short list of its active features.
//!
//! [`Model`] keeps the posterior precision `P = Λ + Σ x xᵀ` as its Cholesky
//! factor, updated by one rank-one step per reward (O(d²)), the sum `b =
//! Σ x y` and `Σ y²`. With the conjugate prior θ ~ N(0, σ² Λ⁻¹) the
//! posterior mean is `P⁻¹ b` and the noise estimate `(Σ y² − bᵀμ) / n`; a
//! Thompson sample is `μ + σ L⁻ᵀ z`. The precision depends only on which
//! children were learned from, not on their values, so several objectives
//! (a reward and costs, [`Model::add`]) share one factor and differ only in
//! `b`: each is fitted and sampled apart at the cost of a solve. Every step is plain f64 arithmetic in a
//! fixed order (no transcendental function: `z` is a sum of twelve
//! uniforms minus six), so the same rewards in the same order give the same
//! sample on every machine.

use std::cell::OnceCell;

use nas_domain::Actions;
use rand::Rng;

use super::layout::Layout;
use super::linalg::{cholesky_solve, standard_normal};
use crate::strategy::rank::ranks;

/// The prior precision of each group of weights.
#[derive(Clone, Copy, Debug)]
pub struct Prior {
    /// Of each value of one decision.
    pub main: f64,
    /// Of each pair of values of two decisions.
    pub pair: f64,
}

/// The intercept's prior precision: nearly flat.
const INTERCEPT_PRECISION: f64 = 1e-6;

/// The posterior mean of the weights and the noise's standard deviation.
#[derive(Clone, Debug)]
struct Posterior {
    mean: Vec<f64>,
    sigma: f64,
    /// The objective's finite values learned, sorted, and how many values
    /// there are in all (the −∞ ones rank below them): what turns a
    /// predicted rank back into the objective's units.
    sorted: Vec<f64>,
    learned: usize,
}

impl Posterior {
    /// The value at `rank` (0 worst, 1 best) among those learned,
    /// interpolated, scaled so the worst finite value is 0 and the best 1;
    /// ranks past either end extend the nearest step.
    fn scaled(&self, rank: f64) -> f64 {
        let (Some(&low), Some(&high)) = (self.sorted.first(), self.sorted.last()) else {
            return rank;
        };
        if self.sorted.len() < 2 || high <= low {
            return rank;
        }
        let last = (self.learned.max(2) - 1) as f64;
        let below = (self.learned - self.sorted.len()) as f64;
        let position = (rank * last - below).max(0.0);
        let at = (position.floor() as usize).min(self.sorted.len() - 2);
        let value = self.sorted[at] + (position - at as f64) * (self.sorted[at + 1] - self.sorted[at]);
        (value - low) / (high - low)
    }
}

/// The posterior of one plan's weights.
#[derive(Clone, Debug)]
pub struct Model {
    layout: Layout,
    /// The Cholesky factor of the precision, column-major (`l[k * d + i]` is
    /// row `i`, column `k`; only `i ≥ k` is used).
    l: Vec<f64>,
    /// The active features of each child learned from, in order.
    rows: Vec<Vec<usize>>,
    /// Each objective's values of those children (objective-major; a child
    /// without a value for an objective has −∞ there: the worst rank).
    targets: Vec<Vec<f64>>,
    /// Each objective's posterior given the values learned so far, fitted
    /// when first sampled after a reward (every child proposed between two
    /// rewards shares it).
    posterior: OnceCell<Vec<Posterior>>,
    /// The prior precision of each weight (the diagonal of `Λ`).
    precision: Vec<f64>,
    /// A warm start's prior mean `m` of the reward's weights, as `Λ m`,
    /// with `mᵀ Λ m` and the noise of the earlier fit (see
    /// [`Model::set_prior`]); zeros and `None` without one.
    prior_pull: Vec<f64>,
    prior_mm: f64,
    prior_sigma: Option<f64>,
    /// Rewards ranked below this share count as ranked at it (see
    /// [`Model::with_rank_floor`]); 0 with every rank kept.
    rank_floor: f64,
    active: Vec<usize>,
    dense: Vec<f64>,
}

impl Model {
    /// The prior over `layout`'s weights.
    pub fn new(layout: Layout, prior: Prior) -> Self {
        let d = layout.features();
        let mut l = vec![0.0; d * d];
        let mut precision = vec![prior.pair; d];
        precision[0] = INTERCEPT_PRECISION;
        let pairs_from = layout.pairs_from();
        precision[1..pairs_from].fill(prior.main);
        for (k, p) in precision.iter().enumerate() {
            l[k * d + k] = p.sqrt();
        }
        Model {
            layout,
            l,
            rows: Vec::new(),
            targets: Vec::new(),
            posterior: OnceCell::new(),
            precision,
            prior_pull: vec![0.0; d],
            prior_mm: 0.0,
            prior_sigma: None,
            rank_floor: 0.0,
            active: Vec::new(),
            dense: vec![0.0; d],
        }
    }

    /// Ranks the reward's values below `floor` (a share, 0 to 1) as equal
    /// to it when the model fits one objective: the model then spends its
    /// weights on the order among the better children rather than on a long
    /// tail of poor ones, which a second-order model fits at the cost of the
    /// top. A search looking for a front keeps every rank (its cheap end
    /// lives in that tail); so does a warm start's prior, a starting point
    /// fitted once before the objectives are known.
    pub fn with_rank_floor(mut self, floor: f64) -> Self {
        self.rank_floor = floor;
        self
    }

    /// The features.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Children learned from.
    pub fn observations(&self) -> usize {
        self.rows.len()
    }

    /// Objectives modelled (the most values any child was learned with).
    pub fn objectives(&self) -> usize {
        self.targets.len()
    }

    /// Learns `values` (one per objective, higher is better; the first is
    /// the reward) for `actions`: a rank-one update of the factor. An
    /// objective first seen now counts as −∞ for the children before.
    pub fn add(&mut self, actions: &Actions, values: &[f64]) {
        let learned = self.rows.len();
        while self.targets.len() < values.len() {
            self.targets.push(vec![f64::NEG_INFINITY; learned]);
        }
        for (objective, target) in self.targets.iter_mut().enumerate() {
            target.push(values.get(objective).copied().unwrap_or(f64::NEG_INFINITY));
        }
        self.layout.active_into(actions.tokens(), &mut self.active);
        self.dense.fill(0.0);
        for &feature in &self.active {
            self.dense[feature] += 1.0;
        }
        self.rows.push(self.active.clone());
        self.posterior = OnceCell::new();
        let d = self.layout.features();
        let x = &mut self.dense;
        for k in 0..d {
            if x[k] == 0.0 {
                continue;
            }
            let column = &mut self.l[k * d..(k + 1) * d];
            let diagonal = column[k];
            let r = (diagonal * diagonal + x[k] * x[k]).sqrt();
            let c = r / diagonal;
            let s = x[k] / diagonal;
            column[k] = r;
            for i in k + 1..d {
                column[i] = (column[i] + s * x[i]) / c;
                x[i] = c * x[i] - s * column[i];
            }
        }
    }

    /// Starts the reward's weights from what earlier searches say (a warm
    /// start): the fit of their children (partly known tokens, each with
    /// its reward's rank within its source), scaled by `weight`, becomes
    /// the prior mean. This search's own children still set how sure the
    /// model is (the factor holds only them), so a misleading source is
    /// outweighed as they come. Returns whether a child had a known token
    /// (without one the prior stays at zero).
    pub fn set_prior(&mut self, children: &[(&[Option<u16>], f64)], weight: f64) -> bool {
        let d = self.layout.features();
        let rows: Vec<(Vec<usize>, f64)> = children
            .iter()
            .map(|&(tokens, rank)| (self.layout.active_known(tokens), rank))
            .filter(|(active, _)| active.len() > 1)
            .collect();
        if rows.is_empty() {
            return false;
        }
        // The earlier children's posterior mean: (Λ + Xᵀ X) θ = Xᵀ y.
        let mut system = vec![0.0; d * d];
        for (k, p) in self.precision.iter().enumerate() {
            system[k * d + k] = *p;
        }
        let mut theta = vec![0.0; d];
        let mut yy = 0.0;
        for (active, rank) in &rows {
            for &i in active {
                theta[i] += rank;
                for &j in active {
                    system[i * d + j] += 1.0;
                }
            }
            yy += rank * rank;
        }
        let xy = theta.clone();
        cholesky_solve(&mut system, d, &mut theta);
        let fit: f64 = xy.iter().zip(&theta).map(|(b, t)| b * t).sum();
        self.prior_sigma = Some(((yy - fit).max(0.0) / rows.len() as f64).sqrt());
        self.prior_pull = (theta.iter().zip(&self.precision))
            .map(|(t, p)| p * weight * t)
            .collect();
        self.prior_mm = (theta.iter().zip(&self.precision))
            .map(|(t, p)| p * (weight * t) * (weight * t))
            .sum();
        self.posterior = OnceCell::new();
        true
    }

    /// A Thompson sample of each objective's weights (the reward's first),
    /// from `rng`, its spread scaled by `exploration`.
    pub fn sample(&self, rng: &mut impl Rng, exploration: f64) -> Vec<Vec<f64>> {
        let posteriors = self.posterior.get_or_init(|| {
            // The earlier searches' children speak of the reward only.
            let fitted = self.targets.iter().enumerate();
            let mut posteriors: Vec<Posterior> = fitted
                .map(|(objective, values)| self.fit(values, objective == 0))
                .collect();
            if posteriors.is_empty() && self.prior_sigma.is_some() {
                posteriors.push(self.fit(&[], true));
            }
            posteriors
        });
        posteriors
            .iter()
            .map(|posterior| {
                let sigma = exploration * posterior.sigma;
                let mut noise: Vec<f64> = (0..self.layout.features())
                    .map(|_| standard_normal(rng))
                    .collect();
                self.back(&mut noise);
                posterior
                    .mean
                    .iter()
                    .zip(&noise)
                    .map(|(m, z)| m + sigma * z)
                    .collect()
            })
            .collect()
    }

    /// The posterior mean `μ = P⁻¹ b` of the ranks of one objective's
    /// `values` and the noise estimate.
    fn fit(&self, values: &[f64], with_prior: bool) -> Posterior {
        let mut targets = ranks(values);
        if self.targets.len() <= 1 {
            floor_ranks(&mut targets, self.rank_floor);
        }
        let (mut b, prior_mm) = match with_prior {
            true => (self.prior_pull.clone(), self.prior_mm),
            false => (vec![0.0; self.layout.features()], 0.0),
        };
        for (row, y) in self.rows.iter().zip(&targets) {
            for &feature in row {
                b[feature] += y;
            }
        }
        let yy: f64 = prior_mm + targets.iter().map(|y| y * y).sum::<f64>();
        let mut mean = b.clone();
        self.forward(&mut mean);
        self.back(&mut mean);
        let fit: f64 = b.iter().zip(&mean).map(|(b, m)| b * m).sum();
        let sigma = match (targets.len(), self.prior_sigma) {
            (0, Some(sigma)) if with_prior => sigma,
            (n, _) => ((yy - fit).max(0.0) / n.max(1) as f64).sqrt(),
        };
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        Posterior {
            mean,
            sigma,
            sorted,
            learned: values.len(),
        }
    }

    /// A predicted rank of `objective` in the objective's own units, scaled
    /// from its worst value learned (0) to its best (1): ranks fit well,
    /// but a front is measured in units (the hypervolume), and a rank
    /// spreads a crowded top as wide as a sparse tail. Call after
    /// [`Model::sample`] (before it, the rank itself).
    pub fn scaled(&self, objective: usize, rank: f64) -> f64 {
        match self.posterior.get().and_then(|all| all.get(objective)) {
            Some(posterior) => posterior.scaled(rank),
            None => rank,
        }
    }

    /// Solves `L y = v` in place.
    fn forward(&self, v: &mut [f64]) {
        let d = self.layout.features();
        for k in 0..d {
            let column = &self.l[k * d..(k + 1) * d];
            v[k] /= column[k];
            let vk = v[k];
            for i in k + 1..d {
                v[i] -= column[i] * vk;
            }
        }
    }

    /// Solves `Lᵀ x = v` in place.
    fn back(&self, v: &mut [f64]) {
        let d = self.layout.features();
        for i in (0..d).rev() {
            let column = &self.l[i * d..(i + 1) * d];
            let dot: f64 = (i + 1..d).map(|k| column[k] * v[k]).sum();
            v[i] = (v[i] - dot) / column[i];
        }
    }
}

/// Raises every rank below `floor` to it.
fn floor_ranks(ranks: &mut [f64], floor: f64) {
    for rank in ranks {
        *rank = rank.max(floor);
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;

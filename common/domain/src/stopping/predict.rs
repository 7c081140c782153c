//! The `predict` rule's model: for the epoch being judged, a linear
//! regression of the final score on the partial curve (the score at that
//! epoch and its last step), fitted on the children that finished their
//! budget, with the Gaussian predictive interval of a new child's final
//! score (the residual variance widened by the child's leverage).
//!
//! Baker et al. (2017) fit such a model (ν-SVR on the curve, its
//! differences and the architecture) online on the finished children; this
//! one keeps to the curve, so it needs no more than a few finished children,
//! and its interval says how far it can be trusted: where early epochs
//! predict the final score poorly the residuals are large and the upper
//! bound stays above the bar.
//!
//! The finished curves are kept sorted, so the fit (sums of floats) does not
//! depend on the order the children finished or were restored in: a resumed
//! controller takes the same decisions as one that never stopped.

/// The fewest finished children the model is fitted on (three weights and
/// two degrees of freedom for the residual variance).
pub(super) const MIN_ROWS: u32 = 5;

/// Ridge on the slopes: keeps the fit defined when a feature is constant
/// (the step at epoch 1, a plateau).
const RIDGE: f64 = 1e-6;

/// The curves of the children that finished their budget.
#[derive(Clone, Debug, Default)]
pub(super) struct Finished {
    /// Each finished child's scores, epoch by epoch, sorted.
    curves: Vec<Vec<f64>>,
}

impl Finished {
    /// Adds a finished child's curve (its budget's epochs).
    pub(super) fn insert(&mut self, curve: Vec<f64>) {
        let at = self
            .curves
            .partition_point(|other| lexical(other, &curve) == std::cmp::Ordering::Less);
        self.curves.insert(at, curve);
    }

    /// Children that finished.
    pub(super) fn len(&self) -> usize {
        self.curves.len()
    }

    /// The `k`-th best final score (1-based); `None` with fewer children.
    pub(super) fn kth_best_final(&self, k: usize) -> Option<f64> {
        let mut finals: Vec<f64> = self
            .curves
            .iter()
            .filter_map(|curve| curve.last().copied())
            .collect();
        finals.sort_by(|a, b| b.total_cmp(a));
        finals.get(k.checked_sub(1)?).copied()
    }

    /// The predicted final score of a child whose curve so far is
    /// `partial` (judged at epoch `partial.len()`): the mean and standard
    /// deviation of the predictive distribution.
    pub(super) fn predict(&self, partial: &[f64]) -> Option<Prediction> {
        let epoch = partial.len();
        if epoch == 0 || self.curves.len() < MIN_ROWS as usize {
            return None;
        }
        let mut gram = [[0.0; 3]; 3];
        let mut moment = [0.0; 3];
        for curve in &self.curves {
            let x = features(&curve[..epoch]);
            let y = *curve.last()?;
            for i in 0..3 {
                moment[i] += x[i] * y;
                for j in 0..3 {
                    gram[i][j] += x[i] * x[j];
                }
            }
        }
        for (i, row) in gram.iter_mut().enumerate().skip(1) {
            row[i] += RIDGE * self.curves.len() as f64;
        }
        let weights = solve(gram, moment)?;
        let residuals: f64 = self
            .curves
            .iter()
            .map(|curve| {
                let y = curve.last().copied().unwrap_or_default();
                (y - dot(&weights, &features(&curve[..epoch]))).powi(2)
            })
            .sum();
        let variance = residuals / (self.curves.len() - 3) as f64;
        let x = features(partial);
        let leverage = dot(&x, &solve(gram, x)?);
        let prediction = Prediction {
            mean: dot(&weights, &x),
            deviation: (variance * (1.0 + leverage)).sqrt(),
        };
        (prediction.mean.is_finite() && prediction.deviation.is_finite()).then_some(prediction)
    }
}

/// A predicted final score.
#[derive(Clone, Copy, Debug)]
pub(super) struct Prediction {
    /// Its mean.
    pub mean: f64,
    /// Its standard deviation (the fit's residuals widened by the child's
    /// leverage).
    pub deviation: f64,
}

/// A partial curve's features: 1, its last score, its last step.
fn features(curve: &[f64]) -> [f64; 3] {
    let last = curve.last().copied().unwrap_or_default();
    let step = match curve {
        [.., before, now] => now - before,
        _ => 0.0,
    };
    [1.0, last, step]
}

fn dot(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// Solves `a · x = b` by Gaussian elimination with partial pivoting;
/// `None` when `a` is singular.
fn solve(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> Option<[f64; 3]> {
    for column in 0..3 {
        let pivot = (column..3).max_by(|&i, &j| a[i][column].abs().total_cmp(&a[j][column].abs()))?;
        if a[pivot][column].abs() < 1e-300 {
            return None;
        }
        a.swap(column, pivot);
        b.swap(column, pivot);
        let pivot_row = a[column];
        for row in column + 1..3 {
            let factor = a[row][column] / pivot_row[column];
            for (cell, above) in a[row].iter_mut().zip(pivot_row).skip(column) {
                *cell -= factor * above;
            }
            b[row] -= factor * b[column];
        }
    }
    let mut x = [0.0; 3];
    for row in (0..3).rev() {
        let tail: f64 = (row + 1..3).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    Some(x)
}

/// Orders curves score by score (`total_cmp`), then by length.
fn lexical(a: &[f64], b: &[f64]) -> std::cmp::Ordering {
    a.iter()
        .zip(b)
        .map(|(a, b)| a.total_cmp(b))
        .find(|order| order.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

/// The standard normal quantile (Acklam's rational approximation, relative
/// error below 1.2e-9), for `p` in (0, 1).
pub(super) fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    const LOW: f64 = 0.024_25;
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

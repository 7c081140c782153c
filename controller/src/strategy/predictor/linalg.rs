//! The model's plain arithmetic: a dense Cholesky solve (the warm start's
//! one fit of earlier children) and the normal draws of its Thompson
//! samples, both in a fixed order with no transcendental function but
//! square roots, so every machine computes the same bits.

use rand::Rng;

/// Solves `A x = b` in place for a symmetric positive definite `A` (`d × d`,
/// row-major, overwritten by its Cholesky factor).
pub fn cholesky_solve(a: &mut [f64], d: usize, b: &mut [f64]) {
    for j in 0..d {
        let mut diagonal = a[j * d + j];
        for k in 0..j {
            diagonal -= a[j * d + k] * a[j * d + k];
        }
        let diagonal = diagonal.max(f64::MIN_POSITIVE).sqrt();
        a[j * d + j] = diagonal;
        for i in j + 1..d {
            let mut value = a[i * d + j];
            for k in 0..j {
                value -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = value / diagonal;
        }
    }
    for i in 0..d {
        let dot: f64 = (0..i).map(|k| a[i * d + k] * b[k]).sum();
        b[i] = (b[i] - dot) / a[i * d + i];
    }
    for i in (0..d).rev() {
        let dot: f64 = (i + 1..d).map(|k| a[k * d + i] * b[k]).sum();
        b[i] = (b[i] - dot) / a[i * d + i];
    }
}

/// An approximately standard normal draw: the sum of twelve uniforms minus
/// six (mean 0, variance 1), exact on every machine.
pub fn standard_normal(rng: &mut impl Rng) -> f64 {
    (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0
}

//! Hitting times, the statistics every search figure is given with: the
//! samples a run needed to first reach a threshold (censored when it never
//! did), their quantiles over seeds with censored runs above every finite
//! one, a bootstrap interval for the median, and the exact distribution of
//! uniform random sampling to compare with.
//!
//! Random search draws with replacement from a space of `N` architectures
//! of which `k` reach the threshold, so its hitting time is geometric with
//! `p = k / N`: the `q` quantile is the smallest `n` with
//! `1 − (1 − p)^n ≥ q`, that is `⌈ln(1 − q) / ln(1 − p)⌉`. Simulated random
//! runs only estimate this; reports print it beside them.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Samples until the first reward at or above `threshold` (1-based;
/// `None`: never, censored).
pub fn hitting_time(rewards: &[f64], threshold: f64) -> Option<f64> {
    rewards
        .iter()
        .position(|&reward| reward >= threshold)
        .map(|index| (index + 1) as f64)
}

/// The `q` quantile of hitting times (samples, seconds) with censored runs
/// (`None`) above every finite one, interpolated between neighbours;
/// `None` when it touches a censored run, or when there are no runs.
pub fn censored_quantile(hits: &[Option<f64>], q: f64) -> Option<f64> {
    if hits.is_empty() {
        return None;
    }
    let mut sorted: Vec<Option<f64>> = hits.to_vec();
    sorted.sort_by(|a, b| a.unwrap_or(f64::INFINITY).total_cmp(&b.unwrap_or(f64::INFINITY)));
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let (a, b) = (sorted[low]?, sorted[high]?);
    Some(a + (b - a) * (position - low as f64))
}

/// Resamplings behind a bootstrap interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// A 95% percentile-bootstrap interval for the median of `hits`: the runs
/// resampled with replacement [`BOOTSTRAP_RESAMPLES`] times (a fixed
/// random stream, so a report is reproducible), the 2.5% and 97.5%
/// quantiles of the resampled medians. An end is `None` where it is
/// censored (a resampled median above the budget).
pub fn median_interval(hits: &[Option<f64>]) -> (Option<f64>, Option<f64>) {
    if hits.is_empty() {
        return (None, None);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_b007);
    let mut resample = vec![None; hits.len()];
    let medians: Vec<Option<f64>> = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| {
            for slot in resample.iter_mut() {
                *slot = hits[rng.random_range(0..hits.len())];
            }
            censored_quantile(&resample, 0.5)
        })
        .collect();
    (
        censored_quantile(&medians, 0.025),
        censored_quantile(&medians, 0.975),
    )
}

/// Uniform random sampling's exact hitting-time distribution for a target
/// of `hits` of `of` architectures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RandomExact {
    /// The chance that one sample reaches the target, `hits / of`.
    pub chance: f64,
    /// Its median.
    pub median: f64,
    /// Its first quartile.
    pub lower_quartile: f64,
    /// Its third quartile.
    pub upper_quartile: f64,
}

impl RandomExact {
    /// The distribution for `hits` of `of` architectures (`None` when no
    /// architecture, or every one, reaches the target).
    pub fn new(hits: usize, of: usize) -> Option<Self> {
        if hits == 0 || of == 0 {
            return None;
        }
        let chance = (hits as f64 / of as f64).min(1.0);
        Some(RandomExact {
            chance,
            median: geometric_quantile(chance, 0.5),
            lower_quartile: geometric_quantile(chance, 0.25),
            upper_quartile: geometric_quantile(chance, 0.75),
        })
    }
}

/// The `q` quantile of the number of draws to a first success of chance
/// `p`: the smallest `n` with `1 − (1 − p)^n ≥ q`.
pub fn geometric_quantile(p: f64, q: f64) -> f64 {
    if p >= 1.0 {
        return 1.0;
    }
    let n = ((1.0 - q).ln() / (1.0 - p).ln()).ceil().max(1.0);
    // Guard the rounding at an exact boundary: the smallest n that holds.
    if n > 1.0 && 1.0 - (1.0 - p).powf(n - 1.0) >= q {
        n - 1.0
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::float_cmp)]

    use super::*;

    #[test]
    fn hitting_times_count_samples_from_one_and_never_is_censored() {
        assert_eq!(hitting_time(&[0.1, 0.5, 0.9, 0.95], 0.9), Some(3.0));
        assert_eq!(hitting_time(&[0.95], 0.9), Some(1.0));
        assert_eq!(hitting_time(&[0.1, 0.2], 0.9), None);
        assert_eq!(hitting_time(&[], 0.9), None);
    }

    #[test]
    fn censored_quantiles_interpolate_and_touching_a_censored_run_is_censored() {
        let hits = [Some(4.0), Some(2.0), None, Some(10.0), Some(6.0)];
        // Sorted: 2, 4, 6, 10, censored.
        assert_eq!(censored_quantile(&hits, 0.5), Some(6.0));
        assert_eq!(censored_quantile(&hits, 0.25), Some(4.0));
        assert_eq!(censored_quantile(&hits, 0.625), Some(8.0));
        assert_eq!(censored_quantile(&hits, 0.75), Some(10.0));
        assert_eq!(censored_quantile(&hits, 0.9), None);
        assert_eq!(censored_quantile(&[], 0.5), None);
    }

    #[test]
    fn the_exact_random_quantiles_match_a_brute_force_simulation() {
        // 7 of 1,000: median ⌈ln 0.5 / ln 0.993⌉ = 99.
        let exact = RandomExact::new(7, 1000).unwrap();
        assert_eq!(exact.median, 99.0);
        assert_eq!(exact.lower_quartile, 41.0);
        assert_eq!(exact.upper_quartile, 198.0);
        // Draw 20,000 random searches over the 1,000 and count.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let times: Vec<Option<f64>> = (0..20_000)
            .map(|_| {
                let rewards: Vec<f64> = (0..5000)
                    .map(|_| f64::from(u8::from(rng.random_range(0..1000) < 7)))
                    .collect();
                hitting_time(&rewards, 1.0)
            })
            .collect();
        for (q, exact) in [
            (0.25, exact.lower_quartile),
            (0.5, exact.median),
            (0.75, exact.upper_quartile),
        ] {
            let simulated = censored_quantile(&times, q).unwrap();
            assert!(
                (simulated - exact).abs() <= 0.04 * exact + 1.0,
                "quantile {q}: simulated {simulated}, exact {exact}"
            );
        }
        // The boundary: p = 0.5 reaches q = 0.5 after exactly one draw.
        assert_eq!(geometric_quantile(0.5, 0.5), 1.0);
        assert_eq!(geometric_quantile(0.5, 0.75), 2.0);
        assert_eq!(RandomExact::new(3, 3).unwrap().median, 1.0);
        assert_eq!(RandomExact::new(0, 3), None);
    }

    #[test]
    fn the_bootstrap_interval_holds_the_median_and_narrows_with_more_runs() {
        let few: Vec<Option<f64>> = (1..=20).map(|i| Some(f64::from(i * 10))).collect();
        let many: Vec<Option<f64>> = (1..=400).map(|i| Some(f64::from(i % 20 + 1) * 10.0)).collect();
        let (low, high) = median_interval(&few);
        let (low, high) = (low.unwrap(), high.unwrap());
        let median = censored_quantile(&few, 0.5).unwrap();
        assert!(low < median && median < high, "{low} {median} {high}");
        let (many_low, many_high) = median_interval(&many);
        assert!(
            many_high.unwrap() - many_low.unwrap() < high - low,
            "{many_low:?}..{many_high:?} against {low}..{high}"
        );
        // Mostly censored runs: the upper end is censored.
        let censored: Vec<Option<f64>> = (0..20).map(|i| (i < 8).then_some(5.0)).collect();
        assert_eq!(median_interval(&censored).1, None);
        assert_eq!(median_interval(&[]), (None, None));
    }
}

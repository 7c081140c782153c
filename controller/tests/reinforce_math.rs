//! The arithmetic of REINFORCE on hand-computed inputs: the advantages each
//! reward transform gives a batch, and the logits the policy's softmax
//! sees after the temperature and the `c·tanh` bound.

#![allow(clippy::unwrap_used, clippy::float_cmp)]

use nas_controller::strategy::reinforce::RewardTransform;
use nas_controller::strategy::reinforce::policy::{Policy, PolicyConfig};
use nas_domain::{Actions, SearchSpace};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

fn assert_close(actual: &[f64], expected: &[f64], tolerance: f64) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!((a - e).abs() <= tolerance, "{actual:?} vs {expected:?}");
    }
}

#[test]
fn the_baseline_transform_subtracts_the_baseline() {
    let advantages = RewardTransform::Baseline.advantages(&[0.5, 0.8, 0.2], 0.4);
    assert_close(&advantages, &[0.1, 0.4, -0.2], 1e-15);
    assert!(RewardTransform::Baseline.advantages(&[], 0.4).is_empty());
}

#[test]
fn batch_rank_centres_ranks_in_minus_a_half_to_a_half_and_splits_ties() {
    // Four rewards: 0.1 is last (−0.5), 0.9 first (+0.5); the two 0.3
    // share ranks 1 and 2, (1 + 2)/2 of 3, so 0. The baseline is unused.
    for baseline in [0.0, 10.0] {
        let advantages = RewardTransform::BatchRank.advantages(&[0.3, 0.9, 0.3, 0.1], baseline);
        assert_close(&advantages, &[0.0, 0.5, 0.0, -0.5], 1e-15);
    }
    // Three distinct rewards: −0.5, 0, 0.5 in rank order.
    let advantages = RewardTransform::BatchRank.advantages(&[0.7, 0.2, 0.4], 0.0);
    assert_close(&advantages, &[0.5, -0.5, 0.0], 1e-15);
    assert_eq!(RewardTransform::BatchRank.advantages(&[0.7], 0.0), [0.0]);
}

#[test]
fn batch_standardize_divides_the_deviations_by_the_population_std() {
    // Mean 3, variance (4 + 1 + 0 + 9)/4 = 3.5.
    let advantages = RewardTransform::BatchStandardize.advantages(&[1.0, 2.0, 3.0, 6.0], 0.0);
    let std = 3.5f64.sqrt();
    assert_close(&advantages, &[-2.0 / std, -1.0 / std, 0.0, 3.0 / std], 1e-12);
    // Equal rewards have nothing to standardise: zero (up to the mean's
    // rounding over the 1e-8 floor of the std), not NaN.
    let equal = RewardTransform::BatchStandardize.advantages(&[0.4, 0.4, 0.4], 0.0);
    assert_close(&equal, &[0.0, 0.0, 0.0], 1e-6);
}

#[test]
fn batch_top_teaches_only_the_best_quarter_against_the_upper_quartile() {
    // Eight rewards: the best quarter is 0.9 and 0.8, measured against the
    // third best, 0.7; everything else gets 0.
    let rewards = [0.1, 0.5, 0.9, 0.3, 0.7, 0.2, 0.4, 0.8];
    let advantages = RewardTransform::BatchTop.advantages(&rewards, 0.0);
    assert_close(&advantages, &[0.0, 0.0, 0.2, 0.0, 0.0, 0.0, 0.0, 0.1], 1e-15);
    // Four: the best against the second.
    let advantages = RewardTransform::BatchTop.advantages(&[0.2, 0.6, 0.5, 0.1], 0.0);
    assert_close(&advantages, &[0.0, 0.1, 0.0, 0.0], 1e-15);
}

/// One decision of three options.
fn space() -> SearchSpace {
    toml::from_str("kind = \"categorical\"\n[[decisions]]\nname = \"op\"\noptions = [\"a\", \"b\", \"c\"]\n")
        .unwrap()
}

/// A policy whose every parameter is zero but its head's bias, `bias`: the
/// LSTM's output is then zero at every step and the head's raw logits are
/// `bias` exactly. Returns the log-probability of each of the 3 options.
fn log_probabilities(temperature: f64, tanh_constant: Option<f64>, bias: [f32; 3]) -> Vec<f64> {
    let space = space();
    let config = PolicyConfig {
        hidden: 4,
        lstm_layers: 1,
        temperature,
        tanh_constant,
        ..PolicyConfig::default()
    };
    let policy = Policy::new(&space, config, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    let mut biases = 0;
    for (name, mut tensor) in policy.named_parameters() {
        tch::no_grad(|| {
            if name.ends_with("logits.bias") {
                biases += 1;
                tensor.copy_(&Tensor::from_slice(&bias));
            } else {
                let _ = tensor.zero_();
            }
        });
    }
    assert_eq!(
        biases,
        1,
        "one head: {:?}",
        policy.named_parameters().iter().map(|p| &p.0).collect::<Vec<_>>()
    );
    let plan = space.plan(space.depth_at(0));
    (0..3u16)
        .map(|option| {
            let scored = policy.score(&plan, &[&Actions::new(vec![option])]).unwrap();
            scored.log_prob.to_kind(Kind::Double).double_value(&[0])
        })
        .collect()
}

/// `log_softmax` of `logits`, in f64.
fn log_softmax(logits: &[f64]) -> Vec<f64> {
    let total: f64 = logits.iter().map(|l| l.exp()).sum();
    logits.iter().map(|l| l - total.ln()).collect()
}

#[test]
fn raw_logits_divided_by_the_temperature_reach_the_softmax_unbounded() {
    // ln(e² + 1 + e⁻¹) = 2.169846.
    let unbounded = log_probabilities(1.0, None, [2.0, 0.0, -1.0]);
    assert_close(&unbounded, &[-0.169846, -2.169846, -3.169846], 1e-5);
    // Temperature 2 halves the logits: 5, 0, −5.
    let cooled = log_probabilities(2.0, None, [10.0, 0.0, -10.0]);
    assert_close(&cooled, &log_softmax(&[5.0, 0.0, -5.0]), 1e-5);
    assert!(cooled[2] < -9.9, "{cooled:?}");
}

#[test]
fn the_tanh_constant_bounds_the_logits_to_plus_or_minus_c() {
    // c = 1.5: 10, 0, −10 become 1.5·tanh(10) ≈ 1.5, 0, −1.5, so the least
    // likely option keeps log P = −1.5 − ln(e^1.5 + 1 + e^−1.5) = −3.241311
    // instead of about −20.
    let bounded = log_probabilities(1.0, Some(1.5), [10.0, 0.0, -10.0]);
    assert_close(&bounded, &[-0.241311, -1.741311, -3.241311], 1e-5);
    // However large the raw logits, the least likely option keeps
    // P = e^−c / (e^c + 1 + e^−c).
    let floor = (-1.5f64).exp() / (1.5f64.exp() + 1.0 + (-1.5f64).exp());
    let extreme = log_probabilities(1.0, Some(1.5), [1e4, 0.0, -1e4]);
    assert!((extreme[2] - floor.ln()).abs() < 1e-5, "{extreme:?}");
    // The temperature divides before the bound: tanh(10/5) = 0.964028.
    let both = log_probabilities(5.0, Some(1.5), [10.0, 0.0, -10.0]);
    let shaped = 1.5 * 2f64.tanh();
    assert!((shaped - 1.446042).abs() < 1e-6);
    assert_close(&both, &log_softmax(&[shaped, 0.0, -shaped]), 1e-5);
}

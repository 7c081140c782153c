//! The stopping rules' tests.

use super::*;

#[test]
fn asha_judges_only_at_its_rungs_against_the_children_before() {
    let rule = StoppingRule::from_name("asha:1:3").unwrap();
    let mut stopper: Stopper<u32> = Stopper::new(rule, 10);
    assert_eq!(stopper.rungs(), &[1, 3, 9]);
    // The first child at a rung always goes on.
    assert_eq!(stopper.observe(&0, &[0.1, 0.2], Mode::Decide), Decision::Continue);
    // Below the first child at rung 1: stopped there, not at epoch 2.
    assert_eq!(
        stopper.observe(&1, &[0.05, 0.9], Mode::Decide),
        Decision::Stop { epoch: 1 }
    );
    assert_eq!(stopper.observe(&2, &[0.3], Mode::Decide), Decision::Continue);
    // Restoring records without deciding.
    assert_eq!(stopper.observe(&3, &[0.0], Mode::Restore), Decision::Continue);
    assert_eq!(stopper.reached(1), 4);
}

#[test]
fn median_waits_for_its_minimum_of_children() {
    let rule = StoppingRule::from_name("median:1:2").unwrap();
    let mut stopper: Stopper<u32> = Stopper::new(rule, 4);
    assert_eq!(stopper.observe(&0, &[0.5], Mode::Decide), Decision::Continue);
    assert_eq!(stopper.observe(&1, &[0.1], Mode::Decide), Decision::Continue);
    assert_eq!(
        stopper.observe(&2, &[0.2], Mode::Decide),
        Decision::Stop { epoch: 1 }
    );
}

#[test]
fn a_stopping_table_reads_what_a_stopped_architecture_sampled_again_does() {
    let config: StoppingConfig = toml::from_str("rule = \"asha\"\nreduction = 2").unwrap();
    assert_eq!(config.sampled_again, SampledAgain::Reuse);
    assert_eq!(
        config.rule,
        StoppingRule::Asha {
            min_epochs: 1,
            reduction: 2
        }
    );
    let config: StoppingConfig = toml::from_str("rule = \"median\"\nsampled_again = \"retrain\"").unwrap();
    assert_eq!(config.sampled_again, SampledAgain::Retrain);
    for bad in [
        "rule = \"asha\"\nsampled_again = \"never\"",
        "rule = \"asha\"\nsampled_agian = \"reuse\"",
    ] {
        assert!(toml::from_str::<StoppingConfig>(bad).is_err(), "{bad}");
    }
    for (name, expected) in [
        ("reuse", Some(SampledAgain::Reuse)),
        ("retrain", Some(SampledAgain::Retrain)),
        ("Reuse", None),
    ] {
        assert_eq!(SampledAgain::from_name(name).ok(), expected, "{name}");
    }
}

#[test]
fn a_predict_rule_reads_its_settings_and_names_what_is_wrong() {
    let rule = StoppingRule::from_name("predict").unwrap();
    assert_eq!(rule.label(), "predict:8:2:0.99");
    assert_eq!(StoppingRule::from_name(&rule.label()).unwrap(), rule);
    assert_eq!(
        StoppingRule::from_name("predict:8:2").unwrap(),
        StoppingRule::Predict {
            min_finished: 8,
            top_k: 2,
            quantile: 0.99
        }
    );
    let config: StoppingConfig = toml::from_str("rule = \"predict\"\nquantile = 0.9").unwrap();
    assert_eq!(config.rule.label(), "predict:8:2:0.9");
    for (bad, names) in [
        ("predict:3:5", "min_finished"),
        ("predict:4:1", "min_finished"),
        ("predict:10:0", "top_k"),
        ("predict:10:3:1.5", "quantile"),
        ("predict:10:3:0.5", "quantile"),
        ("predict:10:3:NaN", "quantile"),
        ("predict:x:3", "predict[:MIN_FINISHED:TOP_K[:QUANTILE]]"),
        ("predict:10:3:0.9:1", "predict[:MIN_FINISHED:TOP_K[:QUANTILE]]"),
        ("predict:10", "predict[:MIN_FINISHED:TOP_K[:QUANTILE]]"),
    ] {
        let error = StoppingRule::from_name(bad).unwrap_err().to_string();
        assert!(error.contains(names), "{bad}: {error}");
    }
    assert!(toml::from_str::<StoppingConfig>("rule = \"predict\"\ntop_k = 0").is_ok());
    let config: StoppingConfig = toml::from_str("rule = \"predict\"\ntop_k = 0").unwrap();
    assert!(config.validate().is_err());
    let config: StoppingConfig =
        toml::from_str("rule = \"predict\"\nstopped_reward = \"predicted\"").unwrap();
    config.validate().unwrap();
    assert_eq!(config.stopped_reward, StoppedReward::Predicted);
    let config: StoppingConfig = toml::from_str("rule = \"asha\"\nstopped_reward = \"predicted\"").unwrap();
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("needs rule = \"predict\""), "{error}");
}

/// Ten-epoch curves that rise to `last` from `first`.
fn curve(first: f64, last: f64) -> Vec<f64> {
    (0..10)
        .map(|e| first + (last - first) * f64::from(e) / 9.0)
        .collect()
}

/// A small deterministic stream of numbers in [0, 1).
fn uniforms(seed: u64, count: usize) -> Vec<f64> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

#[test]
fn predict_stops_a_poor_start_only_where_early_epochs_predict_the_last() {
    let rule = StoppingRule::from_name("predict:10:3:0.95").unwrap();
    let draws = uniforms(7, 60);
    // Where the final score follows epoch 1 closely.
    let mut faithful: Stopper<u32> = Stopper::new(rule, 10);
    // Where it does not depend on epoch 1 at all.
    let mut fickle: Stopper<u32> = Stopper::new(rule, 10);
    for (child, pair) in draws.chunks(2).enumerate() {
        let first = 0.2 + 0.3 * pair[0];
        faithful.observe(
            &(child as u32),
            &curve(first, first + 0.3 + 0.01 * pair[1]),
            Mode::Restore,
        );
        fickle.observe(&(child as u32), &curve(first, 0.5 + 0.3 * pair[1]), Mode::Restore);
    }
    assert_eq!(faithful.finished(), 30);
    let poor_start = [0.21];
    assert_eq!(
        faithful.observe(&100, &poor_start, Mode::Decide),
        Decision::Stop { epoch: 1 }
    );
    assert_eq!(
        fickle.observe(&100, &poor_start, Mode::Decide),
        Decision::Continue
    );
    // What it expects of that child: its start plus the rise of the others.
    let predicted = faithful.predicted_final(&poor_start).unwrap();
    assert!((predicted - 0.515).abs() < 0.01, "{predicted}");
    let asha: Stopper<u32> = Stopper::new(StoppingRule::from_name("asha").unwrap(), 10);
    assert_eq!(asha.predicted_final(&poor_start), None);
    // A good start goes on in both.
    assert_eq!(faithful.observe(&101, &[0.49], Mode::Decide), Decision::Continue);
    assert_eq!(fickle.observe(&101, &[0.49], Mode::Decide), Decision::Continue);
}

#[test]
fn predict_waits_for_its_finished_children_and_never_stops_at_the_last_epoch() {
    let rule = StoppingRule::from_name("predict:10:3:0.95").unwrap();
    let mut stopper: Stopper<u32> = Stopper::new(rule, 10);
    for (child, first) in uniforms(3, 9).into_iter().enumerate() {
        stopper.observe(&(child as u32), &curve(first, first + 0.3), Mode::Restore);
    }
    // Nine finished: no stop yet, however poor the start.
    assert_eq!(stopper.observe(&50, &[0.0], Mode::Decide), Decision::Continue);
    // A child stopped at epoch 3 reports its partial curve: not finished.
    stopper.observe(&51, &[0.1, 0.1, 0.1], Mode::Restore);
    assert_eq!(stopper.finished(), 9);
    stopper.observe(&9, &curve(0.5, 0.8), Mode::Restore);
    assert_eq!(stopper.finished(), 10);
    assert_eq!(
        stopper.observe(&52, &[0.0], Mode::Decide),
        Decision::Stop { epoch: 1 }
    );
    // At its last epoch a child is done, not stopped.
    assert_eq!(
        stopper.observe(&53, &curve(0.0, 0.0), Mode::Decide),
        Decision::Stop { epoch: 1 }
    );
    let mut late: Stopper<u32> = Stopper::new(rule, 10);
    for (child, last) in uniforms(4, 10).into_iter().enumerate() {
        late.observe(&(child as u32), &curve(0.5, 0.8 + 0.1 * last), Mode::Restore);
    }
    let mut poor = curve(0.5, 0.8);
    poor[9] = poor[8];
    late.observe(&60, &poor[..9], Mode::Restore);
    assert_eq!(late.observe(&60, &poor, Mode::Decide), Decision::Continue);
}

#[test]
fn predict_decides_the_same_whatever_order_the_children_finished_in() {
    let rule = StoppingRule::from_name("predict:10:10:0.9").unwrap();
    let draws = uniforms(11, 80);
    let curves: Vec<Vec<f64>> = draws
        .chunks(2)
        .map(|pair| curve(0.1 + 0.4 * pair[0], 0.3 + 0.4 * pair[0] + 0.2 * pair[1]))
        .collect();
    let mut forward: Stopper<usize> = Stopper::new(rule, 10);
    let mut backward: Stopper<usize> = Stopper::new(rule, 10);
    for (child, curve) in curves.iter().enumerate() {
        forward.observe(&child, curve, Mode::Restore);
    }
    for (child, curve) in curves.iter().enumerate().rev() {
        backward.observe(&child, curve, Mode::Restore);
    }
    let mut stops = 0;
    for (probe, pair) in uniforms(5, 80).chunks(2).enumerate() {
        let so_far = &curve(0.1 + 0.4 * pair[0], 0.3 + 0.4 * pair[0] + 0.2 * pair[1])[..2];
        // The same fit to the bit, not only the same decisions.
        assert_eq!(
            forward.predicted_final(so_far).map(f64::to_bits),
            backward.predicted_final(so_far).map(f64::to_bits)
        );
        let decision = forward.observe(&(1000 + probe), so_far, Mode::Decide);
        assert_eq!(backward.observe(&(1000 + probe), so_far, Mode::Decide), decision);
        stops += usize::from(decision != Decision::Continue);
    }
    assert!(
        (1..40).contains(&stops),
        "{stops} of 40 stopped: the probe judges nothing"
    );
}

#[test]
fn the_normal_quantile_matches_its_table() {
    for (p, z) in [
        (0.5, 0.0),
        (0.9, 1.281_551_565_5),
        (0.95, 1.644_853_626_9),
        (0.999, 3.090_232_306_2),
    ] {
        assert!((predict::normal_quantile(p) - z).abs() < 1e-8, "{p}");
        assert!((predict::normal_quantile(1.0 - p) + z).abs() < 1e-8, "{p}");
    }
}

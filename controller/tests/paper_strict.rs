//! `--paper-strict` (`paper_strict = true`): every default README lists as
//! differing from the paper is back at the paper's value, for CIFAR-10 and
//! for Penn Treebank, whatever the file said.

#![allow(clippy::unwrap_used, clippy::float_cmp)]

use nas_controller::experiment::config::{ExperimentConfig, Overrides};
use nas_controller::strategy::reinforce::{ReinforceConfig, RewardTransform};
use nas_domain::space::DecisionOrder;
use nas_domain::{SpaceDefinition, Task};

fn strict(task: Task, file: &str) -> ExperimentConfig {
    let mut config = ExperimentConfig::defaults(task).unwrap();
    config
        .apply(&Overrides::from_toml(file, "test").unwrap())
        .unwrap();
    config.validate().unwrap();
    config
}

#[test]
fn the_defaults_differ_from_the_paper_where_readme_says() {
    let config = ExperimentConfig::defaults(Task::Cifar10).unwrap();
    let controller = &config.controller;
    assert_eq!(controller.learning_rate, 0.01);
    assert_eq!(controller.entropy_weight, 0.01);
    assert_eq!(controller.grad_clip, Some(5.0));
    assert_eq!(controller.baseline_start, None);
    assert_eq!(controller.reward_transform, RewardTransform::BatchRank);
    assert!(config.reuse_rewards);
    assert_eq!(config.hyperparameters.lr_decay_epoch, None);
}

#[test]
fn paper_strict_restores_the_paper_for_cifar10() {
    let config = strict(
        Task::Cifar10,
        "paper_strict = true\n[budget]\nepochs = 20\n[controller]\nlearning_rate = 0.05\nentropy_weight = 0.1\n",
    );
    let controller = &config.controller;
    assert_eq!(controller.batch_size, 8);
    assert_eq!(controller.learning_rate, 6e-4);
    assert_eq!(controller.entropy_weight, 0.0);
    assert_eq!(controller.grad_clip, None);
    assert_eq!(controller.baseline_start, Some(0.0));
    assert_eq!(controller.reward_transform, RewardTransform::Baseline);
    assert_eq!(controller.policy.temperature, 1.0);
    assert_eq!(controller.policy.tanh_constant, None);
    assert_eq!(controller.redraws, 0);
    assert!(!config.reuse_rewards);
    // No learning-rate drop inside the 20 epochs.
    assert_eq!(config.hyperparameters.lr_decay_epoch, Some(20));
    let SpaceDefinition::Cnn(space) = &*config.space else {
        panic!("not a CNN space")
    };
    assert_eq!(space.decision_order, DecisionOrder::Paper);
}

#[test]
fn paper_strict_uses_the_ptb_controller_for_penn_treebank() {
    let config = strict(Task::PtbWord, "paper_strict = true\n");
    assert_eq!(config.controller, ReinforceConfig::paper_strict(Task::PtbWord));
    assert_eq!(config.controller.learning_rate, 5e-4);
    assert_eq!(config.controller.batch_size, 10);
    assert!(!config.reuse_rewards);
    assert_eq!(config.hyperparameters.lr_decay_epoch, None);
}

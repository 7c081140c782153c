//! The controller policy: valid samples, exact log-probability recomputation
//! and exact resume from a checkpoint.

#![allow(clippy::unwrap_used)]

use nas_controller::strategy::checkpoint::Checkpoint;
use nas_controller::strategy::reinforce::{Reinforce, ReinforceConfig};
use nas_controller::strategy::{self, Observation, Strategy, StrategyKind};
use nas_domain::oracle::{Oracle, SyntheticOracle};
use nas_domain::{CellSpace, CnnSpace, DepthSchedule, SearchSpace};

fn cnn_space() -> SearchSpace {
    SearchSpace::cnn(CnnSpace {
        depth: DepthSchedule {
            start: 2,
            step: 2,
            every: 50,
            max: 12,
        },
        ..CnnSpace::paper_with_strides()
    })
    .unwrap()
}

fn cell_space() -> SearchSpace {
    SearchSpace::cell(CellSpace::paper()).unwrap()
}

#[test]
fn thousands_of_policy_samples_are_valid_specs_of_the_space() {
    for space in [cnn_space(), cell_space()] {
        let mut controller = Reinforce::new(space.clone(), ReinforceConfig::default(), 11).unwrap();
        let proposals = controller.propose(1500).unwrap();
        assert_eq!(proposals.len(), 1500);
        for proposal in &proposals {
            assert_eq!(proposal.spec.to_actions(&space).unwrap(), proposal.actions);
            assert_eq!(proposal.depth, space.depth_at(proposal.sample_index));
        }
        if space.kind() == nas_domain::ArchKind::Cnn {
            // The curriculum grew the depth from 2 to 12.
            assert_eq!(proposals[0].spec.depth(), 2);
            assert_eq!(proposals[1499].spec.depth(), 12);
        }
    }
}

#[test]
fn recomputed_log_probability_equals_the_sampling_time_value() {
    for space in [cnn_space(), cell_space()] {
        let controller = Reinforce::new(space.clone(), ReinforceConfig::default(), 5).unwrap();
        let depth = space.depth_at(400);
        let plan = space.plan(depth);
        let mut rngs: Vec<_> = (0..16).map(|i| strategy::sample_rng(9, i)).collect();
        let sampled = controller.policy().sample(&plan, &mut rngs);
        let actions: Vec<_> = sampled.iter().map(|s| &s.actions).collect();
        let batch = controller.policy().score(&plan, &actions).unwrap();
        let batch = Vec::<f64>::try_from(batch.log_prob.to_kind(tch::Kind::Double)).unwrap();
        for (index, sample) in sampled.iter().enumerate() {
            assert!(sample.log_prob < 0.0);
            assert!(
                (batch[index] - sample.log_prob).abs() < 1e-4,
                "batched: {} vs {}",
                batch[index],
                sample.log_prob
            );
            let alone = controller.policy().score(&plan, &[&sample.actions]).unwrap();
            let alone = alone.log_prob.double_value(&[0]);
            assert!(
                (alone - sample.log_prob).abs() < 1e-4,
                "alone: {alone} vs {}",
                sample.log_prob
            );
        }
    }
}

#[test]
fn the_sample_of_an_index_does_not_depend_on_batching() {
    let space = cnn_space();
    let mut whole = Reinforce::new(space.clone(), ReinforceConfig::default(), 3).unwrap();
    let mut pieces = Reinforce::new(space, ReinforceConfig::default(), 3).unwrap();
    let all = whole.propose(12).unwrap();
    let mut split = pieces.propose(5).unwrap();
    split.extend(pieces.propose(7).unwrap());
    let ids = |proposals: &[strategy::Proposal]| proposals.iter().map(|p| p.spec.id()).collect::<Vec<_>>();
    assert_eq!(ids(&all), ids(&split));
    // A different seed samples differently.
    let mut other = Reinforce::new(cnn_space(), ReinforceConfig::default(), 4).unwrap();
    assert_ne!(ids(&all), ids(&other.propose(12).unwrap()));
}

/// Proposes and observes `children` rewards from the synthetic oracle.
fn drive(strategy: &mut dyn Strategy, children: usize) -> Vec<nas_domain::ArchId> {
    let oracle = SyntheticOracle::default();
    let mut ids = Vec::new();
    for proposal in strategy.propose(children).unwrap() {
        let reward = oracle.reward(&proposal.spec).unwrap();
        strategy.observe(Observation::of(&proposal, reward)).unwrap();
        ids.push(proposal.spec.id());
    }
    ids
}

fn parameters(checkpoint: &Checkpoint) -> Vec<(String, Vec<f32>)> {
    checkpoint
        .tensors
        .iter()
        .map(|(name, tensor)| (name.clone(), Vec::<f32>::try_from(tensor.view(-1)).unwrap()))
        .collect()
}

#[test]
fn a_checkpoint_resumes_exactly() {
    for kind in [
        StrategyKind::Reinforce,
        StrategyKind::Random,
        StrategyKind::Evolution,
        StrategyKind::LocalSearch,
    ] {
        let mut original =
            strategy::create(kind, cnn_space(), &strategy::StrategySettings::default(), 21).unwrap();
        // 43 children: five full REINFORCE steps plus three buffered rewards.
        drive(original.as_mut(), 43);
        let bytes = original.checkpoint().unwrap().to_bytes().unwrap();
        let mut resumed = strategy::restore(&Checkpoint::from_bytes(&bytes).unwrap()).unwrap();
        assert_eq!(resumed.kind(), kind);
        assert_eq!(resumed.policy_version(), original.policy_version());
        let expected = if kind == StrategyKind::Reinforce { 5 } else { 0 };
        assert_eq!(original.policy_version(), expected);
        // The same next samples, the same learning, the same final state.
        assert_eq!(drive(original.as_mut(), 29), drive(resumed.as_mut(), 29));
        let a = original.checkpoint().unwrap();
        let b = resumed.checkpoint().unwrap();
        assert_eq!(a.state, b.state);
        assert_eq!(parameters(&a), parameters(&b));
    }
}

#[test]
fn learning_changes_the_policy_and_a_fresh_one_does_not_match() {
    let mut trained = Reinforce::new(cnn_space(), ReinforceConfig::default(), 1).unwrap();
    let fresh = Reinforce::new(cnn_space(), ReinforceConfig::default(), 1).unwrap();
    drive(&mut trained, 16);
    assert_eq!(trained.policy_version(), 2);
    assert!(trained.baseline().is_some());
    assert_ne!(
        parameters(&trained.checkpoint().unwrap()),
        parameters(&fresh.checkpoint().unwrap())
    );
}

#[test]
fn corrupt_checkpoints_are_rejected_with_a_reason() {
    let err = Checkpoint::from_bytes(b"not a checkpoint")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not a safetensors file"), "{err}");
    let controller = Reinforce::new(cell_space(), ReinforceConfig::default(), 1).unwrap();
    let bytes = controller.checkpoint().unwrap().to_bytes().unwrap();
    let err = Checkpoint::from_bytes(&bytes[..bytes.len() - 10])
        .err()
        .unwrap()
        .to_string();
    assert!(err.starts_with("checkpoint:"), "{err}");
}

//! The staleness setting: rewards of children an older policy sampled are
//! kept, dropped from the gradient past K versions, or weighted by a
//! truncated importance ratio; and the asynchronous simulation that
//! produces such rewards.

#![allow(clippy::unwrap_used, clippy::float_cmp)]

use nas_controller::offline::simulate::{self, Simulation};
use nas_controller::strategy::reinforce::{Reinforce, ReinforceConfig, Staleness};
use nas_controller::strategy::{Observation, Proposal, Strategy, StrategyKind};
use nas_domain::oracle::{Oracle, SyntheticOracle};
use nas_domain::{CnnSpace, DepthSchedule, SearchSpace};
use tch::{Kind, Tensor};

fn space() -> SearchSpace {
    SearchSpace::cnn(CnnSpace {
        depth: DepthSchedule::fixed(4),
        ..CnnSpace::paper()
    })
    .unwrap()
}

fn controller(staleness: Staleness) -> Reinforce {
    let config = ReinforceConfig {
        staleness,
        ..ReinforceConfig::default()
    };
    Reinforce::new(space(), config, 5).unwrap()
}

fn reward(proposal: &Proposal) -> f64 {
    SyntheticOracle::default().reward(&proposal.spec).unwrap()
}

fn parameters(controller: &Reinforce) -> Vec<Tensor> {
    controller
        .policy()
        .named_parameters()
        .into_iter()
        .map(|(_, tensor)| tensor.detach().copy())
        .collect()
}

fn same(a: &[Tensor], b: &[Tensor]) -> bool {
    a.iter().zip(b).all(|(a, b)| a.equal(b))
}

#[test]
fn proposals_carry_the_log_probability_the_policy_gives_them() {
    let mut reinforce = controller(Staleness::Keep);
    let proposals = reinforce.propose(16).unwrap();
    let actions: Vec<_> = proposals.iter().map(|p| &p.actions).collect();
    let scored = reinforce
        .policy()
        .score(&space().plan(4), &actions)
        .unwrap()
        .log_prob
        .to_kind(Kind::Double);
    let scored = Vec::<f64>::try_from(scored).unwrap();
    for (proposal, scored) in proposals.iter().zip(scored) {
        let sampled = proposal.log_prob.unwrap();
        assert!(sampled < 0.0);
        assert!((sampled - scored).abs() < 1e-4, "{sampled} vs {scored}");
    }
}

#[test]
fn rewards_older_than_k_versions_leave_the_policy_alone() {
    let mut reinforce = controller(Staleness::Drop { max_versions: 1 });
    // 24 children sampled by version 0; the policy steps after each 8.
    let proposals = reinforce.propose(24).unwrap();
    let mut reports = Vec::new();
    for proposal in &proposals[..16] {
        reports.extend(
            reinforce
                .observe(Observation::of(proposal, reward(proposal)))
                .unwrap(),
        );
    }
    // Ages 0 and 1: both batches counted.
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[1].max_staleness, 1);
    assert_eq!(reinforce.policy_version(), 2);
    let before = parameters(&reinforce);
    for proposal in &proposals[16..] {
        // Age 2 > 1: left out, no step.
        assert!(
            reinforce
                .observe(Observation::of(proposal, reward(proposal)))
                .unwrap()
                .is_none()
        );
    }
    assert!(same(&before, &parameters(&reinforce)));
    assert_eq!(reinforce.policy_version(), 2);
    // Fresh children still step, and the report counts the ones left out.
    let fresh = reinforce.propose(8).unwrap();
    let mut last = None;
    for proposal in &fresh {
        last = reinforce
            .observe(Observation::of(proposal, reward(proposal)))
            .unwrap();
    }
    let report = last.unwrap();
    assert_eq!(report.stale_dropped, 8);
    assert_eq!(report.max_staleness, 0);
    assert!(!same(&before, &parameters(&reinforce)));
    // The count survives a checkpoint.
    let restored = Reinforce::restore(&reinforce.checkpoint().unwrap()).unwrap();
    let mut restored: Box<dyn Strategy> = Box::new(restored);
    let more = restored.propose(8).unwrap();
    let mut last = None;
    for proposal in &more {
        last = restored
            .observe(Observation::of(proposal, reward(proposal)))
            .unwrap();
    }
    assert_eq!(last.unwrap().stale_dropped, 8);
}

#[test]
fn importance_weights_are_one_when_fresh_and_clipped_when_stale() {
    let clip = 1.0;
    let mut reinforce = controller(Staleness::Importance { clip });
    let proposals = reinforce.propose(48).unwrap();
    let mut reports = Vec::new();
    for proposal in &proposals {
        reports.extend(
            reinforce
                .observe(Observation::of(proposal, reward(proposal)))
                .unwrap(),
        );
    }
    assert_eq!(reports.len(), 6);
    // The first batch was scored by the policy that sampled it.
    assert!(
        (reports[0].importance_weight - 1.0).abs() < 1e-3,
        "{:?}",
        reports[0]
    );
    // Five versions later the policy has moved: weights fall below 1
    // (those above are clipped to 1).
    let stale = &reports[5];
    assert_eq!(stale.max_staleness, 5);
    assert!(stale.importance_weight <= clip + 1e-9, "{stale:?}");
    assert!(stale.importance_weight < 0.999, "{stale:?}");
    // Without a stored log-probability (older logs) the weight is 1.
    let mut unweighted = controller(Staleness::Importance { clip });
    let mut last = None;
    for proposal in unweighted.propose(8).unwrap() {
        let observation = Observation {
            log_prob: None,
            ..Observation::of(&proposal, reward(&proposal))
        };
        last = unweighted.observe(observation).unwrap();
    }
    assert_eq!(last.unwrap().importance_weight, 1.0);
}

#[test]
fn asynchronous_runs_see_stale_rewards_as_a_pool_of_workers_would() {
    let simulate = |in_flight: Option<usize>, staleness: Staleness| {
        let simulation = Simulation {
            space: space(),
            strategies: vec![StrategyKind::Reinforce, StrategyKind::Random],
            budget: 240,
            seeds: vec![0, 1],
            reinforce: ReinforceConfig {
                staleness,
                ..ReinforceConfig::default()
            },
            evolution: Default::default(),
            local_search: Default::default(),
            predictor: Default::default(),
            threads: 2,
            in_flight,
            warm_start: None,
        };
        let runs = simulate::run(&simulation, &SyntheticOracle::default()).unwrap();
        assert!(
            runs.iter()
                .all(|run| run.rewards.len() == 240 && run.specs.len() == 240)
        );
        simulate::summarize(&simulation, &runs)
    };
    let rounds = simulate(None, Staleness::Keep);
    // Synchronous rounds of 8: every reward is of the current policy.
    assert_eq!(rounds[0].mean_staleness, 0.0);
    let pooled = simulate(Some(64), Staleness::Keep);
    // 64 in flight, a step per 8 rewards: about 8 versions behind.
    assert!((5.0..11.0).contains(&pooled[0].mean_staleness), "{:?}", pooled[0]);
    assert_eq!(pooled[0].stale_dropped_share, 0.0);
    assert_eq!(pooled[1].mean_staleness, 0.0, "random search has no versions");
    let dropping = simulate(Some(64), Staleness::Drop { max_versions: 4 });
    assert!(dropping[0].stale_dropped_share > 0.1, "{:?}", dropping[0]);
    // Dropping slows the policy down, so the rewards it keeps are younger.
    assert!(dropping[0].mean_staleness < pooled[0].mean_staleness);
}

//! On the synthetic oracle REINFORCE learns: its rewards rise, and it beats
//! random search at the same budget, median over ten seeds.

#![allow(clippy::unwrap_used)]

use nas_controller::offline::simulate::{self, Simulation};
use nas_controller::strategy::StrategyKind;
use nas_controller::strategy::reinforce::ReinforceConfig;
use nas_domain::oracle::SyntheticOracle;
use nas_domain::{CnnSpace, SearchSpace};

#[test]
fn reinforce_beats_random_search_on_the_synthetic_oracle() {
    let simulation = Simulation {
        space: SearchSpace::cnn(CnnSpace::paper()).unwrap(),
        strategies: vec![StrategyKind::Reinforce, StrategyKind::Random],
        budget: 800,
        seeds: (0..10).collect(),
        reinforce: ReinforceConfig::default(),
        evolution: Default::default(),
        local_search: Default::default(),
        predictor: Default::default(),
        threads: 2,
        in_flight: None,
        warm_start: None,
    };
    let runs = simulate::run(&simulation, &SyntheticOracle::default()).unwrap();
    assert_eq!(runs.len(), 20);
    assert!(runs.iter().all(|run| run.rewards.len() == 800));
    let summary = simulate::summarize(&simulation, &runs);
    let (reinforce, random) = (&summary[0], &summary[1]);
    assert_eq!(reinforce.strategy, StrategyKind::Reinforce);
    eprintln!("{summary:#?}");
    assert!(
        reinforce.median_mean_last_100 > reinforce.median_mean_first_100 + 0.05,
        "REINFORCE did not raise its mean reward: {reinforce:?}"
    );
    assert!(reinforce.median_mean_last_100 > random.median_mean_last_100 + 0.05);
    assert!(reinforce.median_best_reward > random.median_best_reward);
}

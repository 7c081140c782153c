//! The search loop against an [`Oracle`] instead of workers: search
//! efficiency measured without GPUs.
//!
//! Each (strategy, seed) run proposes `batch_size` children at a time, has
//! the oracle score them, and feeds the rewards back, until the budget is
//! spent. Runs are independent and spread over threads; libtorch's own
//! intra-op threading is set to one thread, which suits the controller's tiny
//! tensors.

use std::sync::Mutex;

use nas_domain::{ArchSpec, SearchSpace};
use serde::Serialize;

use crate::Result;
use crate::strategy::evolution::EvolutionConfig;
use crate::strategy::reinforce::ReinforceConfig;
use crate::strategy::{self, Observation, StrategyKind, StrategySettings};
use nas_domain::oracle::Oracle;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Simulation {
    /// The space searched.
    pub space: SearchSpace,
    /// The strategies compared.
    pub strategies: Vec<StrategyKind>,
    /// Children per run.
    pub budget: usize,
    /// One run per strategy and seed.
    pub seeds: Vec<u64>,
    /// Controller settings (its batch size is also every strategy's round).
    pub reinforce: ReinforceConfig,
    /// Evolution settings.
    pub evolution: EvolutionConfig,
    /// Worker threads (at least 1).
    pub threads: usize,
}

/// The rewards of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// The strategy.
    pub strategy: StrategyKind,
    /// The seed.
    pub seed: u64,
    /// The reward of every child, in sampling order.
    pub rewards: Vec<f64>,
    /// The best reward found.
    pub best_reward: f64,
    /// Mean reward of the last 100 children (all, when fewer).
    pub mean_last_100: f64,
    /// Every child's architecture, in sampling order.
    #[serde(skip)]
    pub specs: Vec<ArchSpec>,
}

/// Medians over seeds for one strategy.
#[derive(Clone, Debug, Serialize)]
pub struct StrategySummary {
    /// The strategy.
    pub strategy: StrategyKind,
    /// Number of runs.
    pub runs: usize,
    /// Median over seeds of the best reward.
    pub median_best_reward: f64,
    /// Median over seeds of the mean reward of the last 100 children.
    pub median_mean_last_100: f64,
    /// Median over seeds of the mean reward of the first 100 children.
    pub median_mean_first_100: f64,
    /// Smallest and largest best reward over seeds.
    pub best_reward_range: (f64, f64),
}

/// Runs every (strategy, seed) pair.
pub fn run(simulation: &Simulation, oracle: &dyn Oracle) -> Result<Vec<Run>> {
    tch::set_num_threads(1);
    let jobs: Vec<(StrategyKind, u64)> = simulation
        .strategies
        .iter()
        .flat_map(|&kind| simulation.seeds.iter().map(move |&seed| (kind, seed)))
        .collect();
    let next = Mutex::new(0usize);
    let results = Mutex::new(Vec::with_capacity(jobs.len()));
    std::thread::scope(|scope| {
        for _ in 0..simulation.threads.max(1).min(jobs.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let index = {
                        let mut next = next.lock().unwrap_or_else(|e| e.into_inner());
                        let index = *next;
                        *next += 1;
                        index
                    };
                    let Some(&(kind, seed)) = jobs.get(index) else {
                        break;
                    };
                    let outcome = run_one(simulation, oracle, kind, seed);
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((index, outcome));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, outcome)| outcome).collect()
}

fn run_one(simulation: &Simulation, oracle: &dyn Oracle, kind: StrategyKind, seed: u64) -> Result<Run> {
    let settings = StrategySettings {
        reinforce: simulation.reinforce.clone(),
        evolution: simulation.evolution.clone(),
    };
    let mut strategy = strategy::create(kind, simulation.space.clone(), &settings, seed)?;
    let round = simulation.reinforce.batch_size;
    let mut rewards = Vec::with_capacity(simulation.budget);
    let mut specs = Vec::with_capacity(simulation.budget);
    while rewards.len() < simulation.budget {
        let count = round.min(simulation.budget - rewards.len());
        for proposal in strategy.propose(count)? {
            let reward = oracle.reward(&proposal.spec)?;
            rewards.push(reward);
            strategy.observe(Observation::of(&proposal, reward))?;
            specs.push(proposal.spec);
        }
    }
    Ok(Run {
        strategy: kind,
        seed,
        best_reward: rewards.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        mean_last_100: mean(&rewards[rewards.len().saturating_sub(100)..]),
        rewards,
        specs,
    })
}

/// Per-strategy medians over seeds, in the order the strategies were given.
pub fn summarize(simulation: &Simulation, runs: &[Run]) -> Vec<StrategySummary> {
    simulation
        .strategies
        .iter()
        .map(|&kind| {
            let mine: Vec<&Run> = runs.iter().filter(|run| run.strategy == kind).collect();
            let best: Vec<f64> = mine.iter().map(|run| run.best_reward).collect();
            let last: Vec<f64> = mine.iter().map(|run| run.mean_last_100).collect();
            let first: Vec<f64> = mine
                .iter()
                .map(|run| mean(&run.rewards[..run.rewards.len().min(100)]))
                .collect();
            StrategySummary {
                strategy: kind,
                runs: mine.len(),
                median_best_reward: median(&best),
                median_mean_last_100: median(&last),
                median_mean_first_100: median(&first),
                best_reward_range: (
                    best.iter().copied().fold(f64::INFINITY, f64::min),
                    best.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                ),
            }
        })
        .collect()
}

/// The arithmetic mean (0 for an empty slice).
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// The median (mean of the middle two for an even count; 0 when empty).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

//! The search loop against an [`Oracle`] instead of workers: search
//! efficiency measured without GPUs.
//!
//! Each (strategy, seed) run proposes `batch_size` children at a time, has
//! the oracle score them, and feeds the rewards back, until the budget is
//! spent. With `in_flight` set, a run works as the search service does
//! instead: that many children are training at once, each for a random time
//! (log-normal, σ = 0.5, so most take between 0.4 and 2.7 times the median),
//! and each one that finishes is learned from before its replacement is
//! sampled; rewards then arrive several policy versions after their
//! children were sampled, and the runs measure what that staleness costs.
//! Runs are independent and spread over threads; libtorch's own intra-op
//! threading is set to one thread, which suits the controller's tiny
//! tensors.

use std::sync::Mutex;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use nas_domain::{ArchSpec, SearchSpace};
use serde::Serialize;

use crate::Result;
use crate::offline::warm_start::WarmStart;
use crate::strategy::evolution::EvolutionConfig;
use crate::strategy::local_search::LocalSearchConfig;
use crate::strategy::predictor::PredictorConfig;
use crate::strategy::reinforce::ReinforceConfig;
use crate::strategy::{self, Observation, Proposal, Strategy, StrategyKind, StrategySettings};
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
    /// Local-search settings.
    pub local_search: LocalSearchConfig,
    /// Predictor-guided search settings.
    pub predictor: PredictorConfig,
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Children training at once, finishing in random order; `None`:
    /// synchronous rounds of the controller's batch size.
    pub in_flight: Option<usize>,
    /// Earlier searches each run learns from first.
    pub warm_start: Option<WarmStart>,
}

/// The rewards of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// The strategy.
    pub strategy: StrategyKind,
    /// The seed.
    pub seed: u64,
    /// The reward of every child, in the order they arrived (sampling order
    /// in synchronous rounds).
    pub rewards: Vec<f64>,
    /// The best reward found.
    pub best_reward: f64,
    /// Mean reward of the last 100 children (all, when fewer).
    pub mean_last_100: f64,
    /// Every child's architecture, in the order of `rewards`.
    #[serde(skip)]
    pub specs: Vec<ArchSpec>,
    /// Mean policy versions between a child's sampling and its reward.
    pub mean_staleness: f64,
    /// Rewards the strategy left out of its gradient for their staleness.
    pub stale_dropped: u64,
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
    /// Mean over runs of the policy versions between a child's sampling
    /// and its reward.
    pub mean_staleness: f64,
    /// The share of rewards left out of the gradient for their staleness.
    pub stale_dropped_share: f64,
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
        local_search: simulation.local_search.clone(),
        predictor: simulation.predictor.clone(),
    };
    let mut strategy = strategy::create(kind, simulation.space.clone(), &settings, seed)?;
    if let Some(warm) = &simulation.warm_start {
        strategy.warm_start(warm.prior(seed))?;
    }
    let mut learner = Learner {
        strategy: strategy.as_mut(),
        oracle,
        simulation,
        rewards: Vec::with_capacity(simulation.budget),
        specs: Vec::with_capacity(simulation.budget),
        ages: Vec::with_capacity(simulation.budget),
    };
    match simulation.in_flight {
        None => learner.rounds()?,
        Some(in_flight) => learner.asynchronous(in_flight, seed)?,
    }
    let Learner {
        rewards, specs, ages, ..
    } = learner;
    let staleness = &simulation.reinforce.staleness;
    Ok(Run {
        strategy: kind,
        seed,
        best_reward: rewards.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        mean_last_100: mean(&rewards[rewards.len().saturating_sub(100)..]),
        rewards,
        specs,
        mean_staleness: mean(&ages.iter().map(|&age| age as f64).collect::<Vec<_>>()),
        stale_dropped: if kind == StrategyKind::Reinforce {
            ages.iter().filter(|&&age| staleness.drops(age)).count() as u64
        } else {
            0
        },
    })
}

/// One run's strategy and what it has been told so far.
struct Learner<'a> {
    strategy: &'a mut dyn Strategy,
    oracle: &'a dyn Oracle,
    simulation: &'a Simulation,
    /// Rewards in the order they arrived.
    rewards: Vec<f64>,
    specs: Vec<ArchSpec>,
    /// Policy versions between each child's sampling and its reward.
    ages: Vec<u64>,
}

/// The log-normal spread of the children's training times.
const DURATION_SIGMA: f64 = 0.5;

/// The random stream of a run's training times (apart from the samples').
const DURATION_STREAM: u64 = u64::MAX - 1;

impl Learner<'_> {
    /// Scores `proposal` and feeds its reward to the strategy.
    fn finish(&mut self, proposal: Proposal) -> Result<()> {
        let reward = self.oracle.reward(&proposal.spec)?;
        let age = self
            .strategy
            .policy_version()
            .saturating_sub(proposal.policy_version);
        let objectives = self.oracle.objectives(&proposal.spec)?;
        self.strategy
            .observe(Observation::of(&proposal, reward).with_objectives(objectives))?;
        self.rewards.push(reward);
        self.ages.push(age);
        self.specs.push(proposal.spec);
        Ok(())
    }

    /// Synchronous rounds of the controller's batch size.
    fn rounds(&mut self) -> Result<()> {
        let budget = self.simulation.budget;
        while self.rewards.len() < budget {
            let count = self
                .simulation
                .reinforce
                .batch_size
                .min(budget - self.rewards.len());
            for proposal in self.strategy.propose(count)? {
                self.finish(proposal)?;
            }
        }
        Ok(())
    }

    /// `in_flight` children training at once; whichever finishes first is
    /// learned from, then its replacement is sampled.
    fn asynchronous(&mut self, in_flight: usize, seed: u64) -> Result<()> {
        let budget = self.simulation.budget;
        let mut durations = strategy::sample_rng(seed, DURATION_STREAM);
        let first = in_flight.max(1).min(budget);
        let mut running: Vec<(f64, Proposal)> = self
            .strategy
            .propose(first)?
            .into_iter()
            .map(|proposal| (duration(&mut durations), proposal))
            .collect();
        let mut proposed = first;
        while let Some(next) = running
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.0.total_cmp(&b.1.0))
            .map(|(index, _)| index)
        {
            let (now, proposal) = running.swap_remove(next);
            self.finish(proposal)?;
            if proposed < budget {
                proposed += 1;
                for proposal in self.strategy.propose(1)? {
                    running.push((now + duration(&mut durations), proposal));
                }
            }
        }
        Ok(())
    }
}

/// A training time: log-normal with median 1 (Box–Muller).
fn duration(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    let normal = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
    (DURATION_SIGMA * normal).exp()
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
                mean_staleness: mean(&mine.iter().map(|run| run.mean_staleness).collect::<Vec<_>>()),
                stale_dropped_share: mean(
                    &mine
                        .iter()
                        .map(|run| run.stale_dropped as f64 / run.rewards.len().max(1) as f64)
                        .collect::<Vec<_>>(),
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

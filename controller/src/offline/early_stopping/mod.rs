//! Early stopping measured on a learning-curve table ([`CurveTable`]):
//! every (strategy, rule, seed) run searches until it has spent a budget of
//! training seconds, each child "training" epoch by epoch along its
//! recorded curve, paying that epoch's recorded seconds, and shown to the
//! rule's [`Stopper`] after every epoch, as the controller does with the
//! workers' progress messages.
//!
//! - A child that completes its budget is rewarded through the reward
//!   function (the search's default: the accuracy reward over the last
//!   epochs); a stopped one by [`StoppingConfig::reward_of_stopped`].
//! - As in a search with `reuse_rewards` (the default), an architecture
//!   sampled again after it completed reuses its reward and costs nothing;
//!   one that was stopped does what [`SampledAgain`] says: reuses the
//!   reward it taught (free), or trains again (the table holds one curve
//!   per architecture, so a rule most likely stops it again).
//! - Children are trained one at a time, in sampling order; with
//!   `in_flight` set, that many train at once as a pool of workers runs
//!   them: the rule sees each epoch when it ends, in the order of the
//!   recorded seconds, and a freed worker takes a new proposal. Seconds
//!   count training on every worker together.
//! - With [`AshaMode::Promote`] an ASHA rule pauses every child at each
//!   rung instead ([`Promotions`](nas_domain::promotion::Promotions)):
//!   before each new child, the rungs promote every paused child they
//!   can, and a promoted child pays only the epochs from its rung on. The strategy learns a child's reward when
//!   it first pauses; a child promoted to the end later counts as completed
//!   (found, best, reused) from then on.
//!
//! The figures, per strategy and rule (median and quartiles over seeds):
//! training seconds until an architecture of the table's top 1% (by its
//! full-curve reward) completed its budget, censored when it never did
//! within the budget; and the final validation metric of the best
//! completed architecture when the budget runs out.

mod search;
#[cfg(test)]
mod tests;

use nas_domain::oracle::CurveTable;
use nas_domain::promotion::AshaMode;
use nas_domain::{RewardFunction, SampledAgain, SearchSpace, StoppedReward, StoppingConfig, StoppingRule};
use serde::Serialize;

use super::hitting::censored_quantile;
use super::simulate::median;
use crate::Result;
use crate::strategy::evolution::EvolutionConfig;
use crate::strategy::local_search::LocalSearchConfig;
use crate::strategy::predictor::PredictorConfig;
use crate::strategy::reinforce::ReinforceConfig;
use crate::strategy::{self, StrategyKind, StrategySettings};
use search::Search;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct StoppingSimulation {
    /// The space searched (its architectures must be in the table).
    pub space: SearchSpace,
    /// The strategies compared.
    pub strategies: Vec<StrategyKind>,
    /// The rules compared.
    pub rules: Vec<StoppingRule>,
    /// What stopped children are rewarded.
    pub stopped_reward: StoppedReward,
    /// What a stopped architecture sampled again does.
    pub sampled_again: SampledAgain,
    /// Whether ASHA stops or pauses the children below its rungs' top.
    pub asha: AshaMode,
    /// Children training at once (`None`: one at a time, in batches of
    /// proposals).
    pub in_flight: Option<usize>,
    /// Training seconds per run.
    pub seconds: f64,
    /// At most this many children per run (reused ones are free).
    pub max_children: usize,
    /// One run per strategy, rule and seed.
    pub seeds: Vec<u64>,
    /// How a curve becomes a reward.
    pub reward: RewardFunction,
    /// Controller settings.
    pub reinforce: ReinforceConfig,
    /// Evolution settings.
    pub evolution: EvolutionConfig,
    /// Local-search settings.
    pub local_search: LocalSearchConfig,
    /// Predictor-guided search settings.
    pub predictor: PredictorConfig,
}

/// One run.
#[derive(Clone, Debug, Serialize)]
pub struct StoppingRun {
    /// The strategy.
    pub strategy: StrategyKind,
    /// The rule, as `simulate --stopping` names it.
    pub rule: String,
    /// The seed.
    pub seed: u64,
    /// Children sampled.
    pub children: usize,
    /// Children trained (not reused).
    pub trained: usize,
    /// Children stopped early.
    pub stopped: usize,
    /// Children that reused a stopped architecture's reward.
    pub reused_stopped: usize,
    /// Epochs trained.
    pub epochs: u64,
    /// Training seconds spent.
    pub seconds: f64,
    /// Seconds until a top-1% architecture completed (`None`: never).
    pub seconds_to_top: Option<f64>,
    /// Final validation metric of the best completed architecture.
    pub best_metric: Option<f64>,
}

/// One strategy and rule, over seeds.
#[derive(Clone, Debug, Serialize)]
pub struct StoppingSummary {
    /// The strategy.
    pub strategy: StrategyKind,
    /// The rule, as `simulate --stopping` names it.
    pub rule: String,
    /// Runs.
    pub runs: usize,
    /// Median seconds to a top-1% architecture (`None`: censored).
    pub median_seconds_to_top: Option<f64>,
    /// Its quartiles (`None`: censored).
    pub quartiles_seconds_to_top: (Option<f64>, Option<f64>),
    /// Runs that never completed a top-1% architecture.
    pub censored: usize,
    /// Median best final metric at the end of the budget.
    pub median_best_metric: f64,
    /// Median children trained per run.
    pub median_trained: f64,
    /// Median fraction of trained children that were stopped.
    pub median_stopped_fraction: f64,
    /// Median training seconds per trained child.
    pub median_seconds_per_child: f64,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct StoppingReport {
    /// Architectures in the table.
    pub rows: usize,
    /// Epochs of each curve (the full budget).
    pub epochs: usize,
    /// The full-curve reward an architecture needs to be in the top 1%.
    pub top_reward: f64,
    /// Architectures at or above it.
    pub top_rows: usize,
    /// Training seconds per run.
    pub seconds: f64,
    /// What a stopped architecture sampled again did.
    pub sampled_again: SampledAgain,
    /// Whether ASHA stopped or paused the children below its rungs' top.
    pub asha: AshaMode,
    /// Per strategy and rule.
    pub summaries: Vec<StoppingSummary>,
    /// Every run.
    pub runs: Vec<StoppingRun>,
}

/// Runs every (strategy, rule, seed) and summarises them.
pub fn run(simulation: &StoppingSimulation, table: &CurveTable) -> Result<StoppingReport> {
    tch::set_num_threads(1);
    for rule in &simulation.rules {
        rule.validate()?;
    }
    if simulation.in_flight.is_some() && simulation.asha == AshaMode::Promote {
        return Err(crate::Error::Config(
            "ASHA's promotions are simulated one child at a time: leave out in_flight".into(),
        ));
    }
    let epochs = table.curves().iter().map(|c| c.metrics.len()).min().unwrap_or(0);
    let mut rewards: Vec<f64> = table
        .curves()
        .iter()
        .map(|curve| full_reward(&simulation.reward, curve, epochs))
        .collect::<Result<_>>()?;
    rewards.sort_by(|a, b| b.total_cmp(a));
    let rank = ((0.01 * rewards.len() as f64).ceil() as usize).clamp(1, rewards.len());
    let top_reward = rewards[rank - 1];
    let mut runs = Vec::new();
    for &strategy in &simulation.strategies {
        for &rule in &simulation.rules {
            for &seed in &simulation.seeds {
                runs.push(run_one(
                    simulation, table, strategy, rule, seed, epochs, top_reward,
                )?);
            }
        }
    }
    let summaries = simulation
        .strategies
        .iter()
        .flat_map(|&strategy| simulation.rules.iter().map(move |rule| (strategy, rule.label())))
        .map(|(strategy, rule)| {
            let mine: Vec<&StoppingRun> = runs
                .iter()
                .filter(|run| run.strategy == strategy && run.rule == rule)
                .collect();
            summarize(strategy, rule, &mine)
        })
        .collect();
    Ok(StoppingReport {
        rows: table.len(),
        epochs,
        top_reward,
        top_rows: rewards.iter().take_while(|&&r| r >= top_reward).count(),
        seconds: simulation.seconds,
        sampled_again: simulation.sampled_again,
        asha: simulation.asha,
        summaries,
        runs,
    })
}

fn full_reward(reward: &RewardFunction, curve: &nas_domain::oracle::Curve, epochs: usize) -> Result<f64> {
    Ok(reward.reward(&curve.epochs(epochs, reward))?)
}

fn run_one(
    simulation: &StoppingSimulation,
    table: &CurveTable,
    kind: StrategyKind,
    rule: StoppingRule,
    seed: u64,
    epochs: usize,
    top_reward: f64,
) -> Result<StoppingRun> {
    let settings = StrategySettings {
        reinforce: simulation.reinforce.clone(),
        evolution: simulation.evolution.clone(),
        local_search: simulation.local_search.clone(),
        predictor: simulation.predictor.clone(),
    };
    let config = StoppingConfig {
        rule,
        stopped_reward: simulation.stopped_reward,
        sampled_again: simulation.sampled_again,
    };
    let strategy = strategy::create(kind, simulation.space.clone(), &settings, seed)?;
    let search = Search {
        simulation,
        table,
        config,
        epochs,
        top_reward,
    };
    search.run(strategy, StoppingRun::new(kind, rule, seed))
}

impl StoppingRun {
    /// A run that has done nothing yet.
    fn new(strategy: StrategyKind, rule: StoppingRule, seed: u64) -> Self {
        StoppingRun {
            strategy,
            rule: rule.label(),
            seed,
            children: 0,
            trained: 0,
            stopped: 0,
            reused_stopped: 0,
            epochs: 0,
            seconds: 0.0,
            seconds_to_top: None,
            best_metric: None,
        }
    }
}

fn summarize(strategy: StrategyKind, rule: String, runs: &[&StoppingRun]) -> StoppingSummary {
    // Censored runs (None) count as more than the budget.
    let hits: Vec<Option<f64>> = runs.iter().map(|run| run.seconds_to_top).collect();
    let at = |q: f64| censored_quantile(&hits, q);
    let values = |f: &dyn Fn(&StoppingRun) -> f64| median(&runs.iter().map(|run| f(run)).collect::<Vec<_>>());
    StoppingSummary {
        strategy,
        rule,
        runs: runs.len(),
        median_seconds_to_top: at(0.5),
        quartiles_seconds_to_top: (at(0.25), at(0.75)),
        censored: hits.iter().filter(|hit| hit.is_none()).count(),
        median_best_metric: values(&|run| run.best_metric.unwrap_or(f64::NAN)),
        median_trained: values(&|run| run.trained as f64),
        median_stopped_fraction: values(&|run| run.stopped as f64 / run.trained.max(1) as f64),
        median_seconds_per_child: values(&|run| run.seconds / run.trained.max(1) as f64),
    }
}

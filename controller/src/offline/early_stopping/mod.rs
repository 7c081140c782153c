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
//! - Children are trained one at a time, in sampling order.
//! - With [`AshaMode::Promote`] an ASHA rule pauses every child at each
//!   rung instead ([`Promotions`]): before each new child, the rungs
//!   promote every paused child they can, and a promoted child pays only
//!   the epochs from its rung on. The strategy learns a child's reward when
//!   it first pauses; a child promoted to the end later counts as completed
//!   (found, best, reused) from then on.
//!
//! The figures, per strategy and rule (median and quartiles over seeds):
//! training seconds until an architecture of the table's top 1% (by its
//! full-curve reward) completed its budget, censored when it never did
//! within the budget; and the final validation metric of the best
//! completed architecture when the budget runs out.

use std::collections::HashMap;

use nas_domain::oracle::CurveTable;
use nas_domain::promotion::{AshaMode, Promotion, Promotions};
use nas_domain::stopping::{Mode, Stopper};
use nas_domain::{
    ArchId, Decision, RewardFunction, SampledAgain, SearchSpace, StoppedReward, StoppingConfig, StoppingRule,
};
use serde::Serialize;

use super::simulate::median;
use crate::Result;
use crate::strategy::evolution::EvolutionConfig;
use crate::strategy::reinforce::ReinforceConfig;
use crate::strategy::{self, Observation, StrategyKind, StrategySettings};

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
    };
    let config = StoppingConfig {
        rule,
        stopped_reward: simulation.stopped_reward,
        sampled_again: simulation.sampled_again,
    };
    let strategy = strategy::create(kind, simulation.space.clone(), &settings, seed)?;
    let run = StoppingRun {
        strategy: kind,
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
    };
    let search = Search {
        simulation,
        table,
        config,
        epochs,
        top_reward,
    };
    match Promotions::new(rule, epochs as u32) {
        Some(promotions) if simulation.asha == AshaMode::Promote => {
            search.run_promoting(strategy, promotions, run)
        }
        _ => search.run_stopping(strategy, run),
    }
}

/// What a run reads.
struct Search<'a> {
    simulation: &'a StoppingSimulation,
    table: &'a CurveTable,
    config: StoppingConfig,
    epochs: usize,
    top_reward: f64,
}

/// A child trained so far: its architecture and recorded curve.
struct Child {
    id: ArchId,
    all: Vec<nas_domain::EpochMetrics>,
    scores: Vec<f64>,
    seconds: Vec<f64>,
}

/// What a run found: the reward and final metric of each
/// architecture that completed its budget, and of the best.
#[derive(Default)]
struct Found {
    completed: HashMap<ArchId, (f64, f64)>,
    best: Option<(f64, f64)>,
    /// Children that completed their budget.
    children: usize,
    /// The reward each architecture stopped (or paused) taught, the best if
    /// it was stopped more than once.
    stopped: HashMap<ArchId, f64>,
}

impl Search<'_> {
    /// The reward a child of `id` reuses instead of training: a completed
    /// architecture's, else (with `sampled_again = reuse`) a stopped one's.
    fn reused(&self, found: &Found, id: &ArchId, run: &mut StoppingRun) -> Option<f64> {
        if let Some(&(reward, _)) = found.completed.get(id) {
            return Some(reward);
        }
        let reward = found.stopped.get(id).copied();
        if self.config.sampled_again == SampledAgain::Reuse && reward.is_some() {
            run.reused_stopped += 1;
            return reward;
        }
        None
    }

    /// One run with the rule's stops: each child trains epoch by epoch
    /// until the rule stops it or its budget ends.
    fn run_stopping(
        &self,
        mut strategy: Box<dyn strategy::Strategy>,
        mut run: StoppingRun,
    ) -> Result<StoppingRun> {
        let simulation = self.simulation;
        let reward_function = simulation.reward;
        let mut stopper: Stopper<usize> = Stopper::new(self.config.rule, self.epochs as u32);
        let mut found = Found::default();
        'search: while run.seconds < simulation.seconds && run.children < simulation.max_children {
            for proposal in strategy.propose(simulation.reinforce.batch_size)? {
                if run.seconds >= simulation.seconds || run.children >= simulation.max_children {
                    break 'search;
                }
                run.children += 1;
                let id = proposal.spec.id();
                if let Some(reward) = self.reused(&found, &id, &mut run) {
                    strategy.observe(Observation::of(&proposal, reward))?;
                    continue;
                }
                let curve = self
                    .table
                    .curve(&proposal.spec)
                    .ok_or_else(|| self.table.not_in_table(&proposal.spec))?;
                let child = run.trained;
                run.trained += 1;
                let all = curve.epochs(self.epochs, &reward_function);
                let scores = reward_function.scores(&all);
                let trained = train_child(&mut run, &mut stopper, child, &scores, &curve.seconds);
                let reward = reward_function.reward(&all[..trained])?;
                if trained < self.epochs {
                    run.stopped += 1;
                    let taught = self.config.reward_of_stopped(reward);
                    let best = found.stopped.entry(id).or_insert(taught);
                    *best = best.max(taught);
                    strategy.observe(Observation::of(&proposal, taught))?;
                    continue;
                }
                stopper.observe(&child, &scores, Mode::Restore);
                let metric = reward_function.best_metric(&all)?;
                found.completed.insert(id, (reward, metric));
                found.children += 1;
                if found.best.is_none_or(|(r, _)| reward > r) {
                    found.best = Some((reward, metric));
                }
                if reward >= self.top_reward && run.seconds_to_top.is_none() {
                    run.seconds_to_top = Some(run.seconds);
                }
                strategy.observe(Observation::of(&proposal, reward))?;
            }
        }
        run.best_metric = found.best.map(|(_, metric)| metric);
        Ok(run)
    }

    /// One run with ASHA's promotions: before each new child, the rungs
    /// promote every paused child they can.
    fn run_promoting(
        &self,
        mut strategy: Box<dyn strategy::Strategy>,
        mut promotions: Promotions<usize>,
        mut run: StoppingRun,
    ) -> Result<StoppingRun> {
        let simulation = self.simulation;
        let mut children: Vec<Child> = Vec::new();
        let mut found = Found::default();
        let spent =
            |run: &StoppingRun| run.seconds >= simulation.seconds || run.children >= simulation.max_children;
        'search: while !spent(&run) {
            for proposal in strategy.propose(simulation.reinforce.batch_size)? {
                while let Some(promotion) = promotions.promote() {
                    if spent(&run) {
                        break 'search;
                    }
                    self.promote(
                        &mut run,
                        &mut promotions,
                        &children[promotion.child],
                        promotion,
                        &mut found,
                    )?;
                }
                if spent(&run) {
                    break 'search;
                }
                run.children += 1;
                let id = proposal.spec.id();
                if let Some(reward) = self.reused(&found, &id, &mut run) {
                    strategy.observe(Observation::of(&proposal, reward))?;
                    continue;
                }
                let curve = self
                    .table
                    .curve(&proposal.spec)
                    .ok_or_else(|| self.table.not_in_table(&proposal.spec))?;
                let all = curve.epochs(self.epochs, &simulation.reward);
                let child = Child {
                    id: id.clone(),
                    scores: simulation.reward.scores(&all),
                    seconds: curve.seconds.clone(),
                    all,
                };
                let rung = promotions.first_rung() as usize;
                pay(&mut run, &child.seconds[..rung]);
                promotions.arrive(&children.len(), rung as u32, child.scores[rung - 1]);
                let taught = self
                    .config
                    .reward_of_stopped(simulation.reward.reward(&child.all[..rung])?);
                let best = found.stopped.entry(id).or_insert(taught);
                *best = best.max(taught);
                children.push(child);
                run.trained += 1;
                strategy.observe(Observation::of(&proposal, taught))?;
            }
        }
        run.stopped = run.trained - found.children;
        run.best_metric = found.best.map(|(_, metric)| metric);
        Ok(run)
    }

    /// Trains a promoted child from its rung to the next (or to the end).
    fn promote(
        &self,
        run: &mut StoppingRun,
        promotions: &mut Promotions<usize>,
        child: &Child,
        promotion: Promotion<usize>,
        found: &mut Found,
    ) -> Result<()> {
        let (from, to) = (promotion.from as usize, promotion.to as usize);
        pay(run, &child.seconds[from..to]);
        if to < self.epochs {
            promotions.arrive(&promotion.child, promotion.to, child.scores[to - 1]);
            return Ok(());
        }
        let reward = self.simulation.reward.reward(&child.all)?;
        let metric = self.simulation.reward.best_metric(&child.all)?;
        found.completed.insert(child.id.clone(), (reward, metric));
        found.children += 1;
        if found.best.is_none_or(|(r, _)| reward > r) {
            found.best = Some((reward, metric));
        }
        if reward >= self.top_reward && run.seconds_to_top.is_none() {
            run.seconds_to_top = Some(run.seconds);
        }
        Ok(())
    }
}

/// Pays for the epochs whose recorded `seconds` are given.
fn pay(run: &mut StoppingRun, seconds: &[f64]) {
    run.seconds += seconds.iter().sum::<f64>();
    run.epochs += seconds.len() as u64;
}

/// Trains child number `child` epoch by epoch along its recorded `scores`
/// and `seconds`, paying each epoch and showing it to the stopper; the
/// epochs it trained (all of them unless the stopper stopped it).
fn train_child(
    run: &mut StoppingRun,
    stopper: &mut Stopper<usize>,
    child: usize,
    scores: &[f64],
    seconds: &[f64],
) -> usize {
    let epochs = scores.len();
    for epoch in 1..=epochs {
        run.seconds += seconds[epoch - 1];
        run.epochs += 1;
        if epoch < epochs
            && let Decision::Stop { .. } = stopper.observe(&child, &scores[..epoch], Mode::Decide)
        {
            return epoch;
        }
    }
    epochs
}

fn summarize(strategy: StrategyKind, rule: String, runs: &[&StoppingRun]) -> StoppingSummary {
    let mut hits: Vec<Option<f64>> = runs.iter().map(|run| run.seconds_to_top).collect();
    // Censored runs sort last: they took more than the budget.
    hits.sort_by(|a, b| match (a, b) {
        (Some(a), Some(b)) => a.total_cmp(b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    let at = |q: f64| -> Option<f64> {
        if hits.is_empty() {
            return None;
        }
        let position = q * (hits.len() - 1) as f64;
        let (low, high) = (hits[position.floor() as usize], hits[position.ceil() as usize]);
        Some(low? + (high? - low?) * position.fract())
    };
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use nas_domain::oracle::Missing;

    use super::*;

    fn simulation(rules: &str, asha: AshaMode) -> (StoppingSimulation, CurveTable) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let space_text = std::fs::read_to_string(root.join("bench/spaces/tiny-cnn.toml")).unwrap();
        let space: SearchSpace = toml::from_str(&space_text).unwrap();
        let table = CurveTable::load(
            &root.join("bench/tables/cifar10-tiny-curves-10k.jsonl"),
            "valid_accuracy",
            Missing::Fail,
        )
        .unwrap();
        let simulation = StoppingSimulation {
            space,
            strategies: vec![StrategyKind::Random],
            rules: rules
                .split(',')
                .map(|rule| StoppingRule::from_name(rule).unwrap())
                .collect(),
            stopped_reward: StoppedReward::Partial,
            sampled_again: SampledAgain::Reuse,
            asha,
            seconds: 1_500.0,
            max_children: 1_000,
            seeds: (0..4).collect(),
            reward: table.reward_function,
            reinforce: ReinforceConfig::default(),
            evolution: EvolutionConfig::default(),
        };
        (simulation, table)
    }

    #[test]
    fn promoting_asha_completes_only_children_from_the_top_of_its_rungs() {
        let (simulation, table) = simulation("asha:1:3", AshaMode::Promote);
        let promoting = run(&simulation, &table).unwrap();
        assert_eq!(promoting.asha, AshaMode::Promote);
        for run in &promoting.runs {
            // Rungs at 1, 3 and 9: a child completes only from the top
            // third of its rungs (a promoted child may drop out of the top
            // later, so more than a 27th of them can complete).
            assert!(run.trained - run.stopped <= run.trained / 9, "{run:?}");
        }
        // The budget trains the whole space, so its best completes.
        assert!(promoting.runs.iter().all(|run| run.seconds_to_top.is_some()));
    }
}

//! What a search has learned so far, counted from its reward records: how
//! many children were rewarded, reused or failed, and the best reward of
//! every architecture (the leaderboard, and the rewards reused for
//! identical architectures, those of stopped ones too where the experiment
//! reuses them, [`SampledAgain`]); and the Pareto front of the trained children
//! against a cost ([`pareto_front`]), for the report and re-evaluation.

use std::collections::HashMap;

use nas_domain::objective::pareto::{self, Point};
use nas_domain::objective::{Cost, Costs};
use nas_domain::{ArchId, ArchSpec, SampledAgain, TrainResult};
use serde::{Deserialize, Serialize};

use super::reward_log::{RecordStatus, RewardRecord};
use super::spend::Spend;

/// One row of the leaderboard.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LeaderboardEntry {
    /// The architecture.
    pub architecture_id: ArchId,
    /// Its best reward.
    pub reward: f64,
    /// The metric behind that reward.
    pub metric: Option<f64>,
    /// What the child with that reward costs, as its result reports.
    #[serde(default, skip_serializing_if = "Costs::is_empty")]
    pub costs: Costs,
    /// How many children had this architecture.
    pub children: u64,
    /// The architecture itself.
    pub spec: ArchSpec,
}

/// The counts and the best reward per architecture.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Distinct jobs published.
    pub published: u64,
    /// Children rewarded by a worker.
    pub rewarded: u64,
    /// Children that reused an identical architecture's reward.
    pub reused: u64,
    /// Children failed or dead-lettered.
    pub failed: u64,
    /// Children stopped early.
    pub stopped: u64,
    /// Epochs the stopped children did not train, against the full budget.
    pub epochs_saved: u64,
    /// Training seconds those epochs would have taken (each stopped
    /// child's own seconds per epoch).
    pub seconds_saved: f64,
    /// Training seconds reported, by device kind.
    pub spend: Spend,
    /// The full budget's epochs.
    budget_epochs: u32,
    entries: HashMap<ArchId, LeaderboardEntry>,
    /// The best reward (and partial metric) each architecture taught when
    /// it was stopped.
    stopped_rewards: HashMap<ArchId, (f64, Option<f64>)>,
    best: Option<f64>,
}

/// A reward known without training, and where it comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Known {
    /// The reward.
    pub reward: f64,
    /// The metric behind it (a partial one for a stopped architecture).
    pub metric: Option<f64>,
    /// Whether it is a stopped child's reward.
    pub stopped: bool,
}

/// The children trained to the end (a stopped child's metric is a partial
/// one) that report `cost` and that no other such child beats on both the
/// metric and `cost`, by metric (best first).
pub fn pareto_front(records: &[RewardRecord], cost: Cost) -> Vec<&RewardRecord> {
    let children: Vec<(&RewardRecord, Point)> = records
        .iter()
        .filter(|record| record.status == RecordStatus::Ok)
        .filter_map(|record| {
            let value = record.result.as_ref()?.costs.get(cost)?;
            let point = Point {
                metric: record.metric?,
                costs: vec![value],
            };
            Some((record, point))
        })
        .collect();
    let points: Vec<Point> = children.iter().map(|(_, point)| point.clone()).collect();
    pareto::front(&points)
        .into_iter()
        .map(|index| children[index].0)
        .collect()
}

/// What stopping a child saved against a budget of `budget_epochs`: the
/// epochs it did not train and the seconds they would have taken at its own
/// seconds per epoch.
pub fn saved_by_stopping(result: &TrainResult, budget_epochs: u32) -> (u32, f64) {
    let done = result.epochs.len().max(1) as u32;
    let saved = budget_epochs.saturating_sub(done);
    (saved, f64::from(saved) * result.train_seconds / f64::from(done))
}

impl Tally {
    /// An empty tally for children trained `budget_epochs` epochs.
    pub fn new(budget_epochs: u32) -> Self {
        Tally {
            budget_epochs,
            ..Tally::default()
        }
    }

    /// Counts one finished child.
    pub fn count(&mut self, record: &RewardRecord) {
        self.spend.count(record);
        match record.status {
            RecordStatus::Ok => {
                self.rewarded += 1;
                let entry = self
                    .entries
                    .entry(record.arch_id.clone())
                    .or_insert_with(|| LeaderboardEntry {
                        architecture_id: record.arch_id.clone(),
                        reward: f64::NEG_INFINITY,
                        metric: None,
                        costs: Costs::new(),
                        children: 0,
                        spec: record.spec.clone(),
                    });
                entry.children += 1;
                if record.reward > entry.reward {
                    entry.reward = record.reward;
                    entry.metric = record.metric;
                    if let Some(result) = &record.result {
                        entry.costs.clone_from(&result.costs);
                    }
                }
                if self.best.is_none_or(|best| record.reward > best) {
                    self.best = Some(record.reward);
                }
            }
            RecordStatus::Reused => {
                self.reused += 1;
                if let Some(entry) = self.entries.get_mut(&record.arch_id) {
                    entry.children += 1;
                }
            }
            RecordStatus::Stopped => {
                self.stopped += 1;
                let best = self
                    .stopped_rewards
                    .entry(record.arch_id.clone())
                    .or_insert((record.reward, record.metric));
                if record.reward > best.0 {
                    *best = (record.reward, record.metric);
                }
                if let Some(result) = &record.result {
                    let (epochs, seconds) = saved_by_stopping(result, self.budget_epochs);
                    self.epochs_saved += u64::from(epochs);
                    self.seconds_saved += seconds;
                }
            }
            RecordStatus::Failed | RecordStatus::DeadLettered => self.failed += 1,
        }
    }

    /// The reward a child of architecture `id` reuses: the best of those
    /// trained to the end, else (when `sampled_again` reuses them) the best
    /// a stopped one taught.
    pub fn known(&self, id: &ArchId, sampled_again: SampledAgain) -> Option<Known> {
        if let Some(entry) = self.entries.get(id) {
            return Some(Known {
                reward: entry.reward,
                metric: entry.metric,
                stopped: false,
            });
        }
        match sampled_again {
            SampledAgain::Reuse => self.stopped_rewards.get(id).map(|&(reward, metric)| Known {
                reward,
                metric,
                stopped: true,
            }),
            SampledAgain::Retrain => None,
        }
    }

    /// The best reward of any child so far.
    pub fn best_reward(&self) -> Option<f64> {
        self.best
    }

    /// The best `count` architectures, best first.
    pub fn leaderboard(&self, count: usize) -> Vec<LeaderboardEntry> {
        let mut rows: Vec<LeaderboardEntry> = self.entries.values().cloned().collect();
        rows.sort_by(|a, b| b.reward.total_cmp(&a.reward));
        rows.truncate(count);
        rows
    }
}

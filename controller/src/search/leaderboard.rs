//! What a search has learned so far, counted from its reward records: how
//! many children were rewarded, reused or failed, and the best reward of
//! every architecture (the leaderboard, and the rewards reused for
//! identical architectures).

use std::collections::HashMap;

use nas_domain::{ArchId, ArchSpec, TrainResult};
use serde::{Deserialize, Serialize};

use super::reward_log::{RecordStatus, RewardRecord};

/// One row of the leaderboard.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LeaderboardEntry {
    /// The architecture.
    pub architecture_id: ArchId,
    /// Its best reward.
    pub reward: f64,
    /// The metric behind that reward.
    pub metric: Option<f64>,
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
    /// The full budget's epochs.
    budget_epochs: u32,
    entries: HashMap<ArchId, LeaderboardEntry>,
    best: Option<f64>,
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
                        children: 0,
                        spec: record.spec.clone(),
                    });
                entry.children += 1;
                if record.reward > entry.reward {
                    entry.reward = record.reward;
                    entry.metric = record.metric;
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
                if let Some(result) = &record.result {
                    let (epochs, seconds) = saved_by_stopping(result, self.budget_epochs);
                    self.epochs_saved += u64::from(epochs);
                    self.seconds_saved += seconds;
                }
            }
            RecordStatus::Failed | RecordStatus::DeadLettered => self.failed += 1,
        }
    }

    /// The best reward and metric of a trained architecture.
    pub fn known(&self, id: &ArchId) -> Option<(f64, Option<f64>)> {
        self.entries.get(id).map(|entry| (entry.reward, entry.metric))
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

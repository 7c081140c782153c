//! The [`Stopper`]: a rule's state (every curve it was shown) and its
//! decisions.

use std::collections::HashMap;
use std::hash::Hash;

use super::predict::{Finished, normal_quantile};
use super::{StoppingRule, quantile};

/// Whether a curve is judged or only recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Record the new epochs and decide whether the child goes on.
    Decide,
    /// Record them only (rebuilding after a crash, finished children).
    Restore,
}

/// What a stopper says about a child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Train on.
    Continue,
    /// Stop after this epoch.
    Stop {
        /// The epoch judged.
        epoch: u32,
    },
}

/// A rule's state: the scores every child showed at every epoch.
#[derive(Clone, Debug)]
pub struct Stopper<K> {
    rule: StoppingRule,
    rungs: Vec<u32>,
    /// The children's budget.
    epochs: usize,
    /// Per epoch (0-based), the score of each child that reached it.
    by_epoch: Vec<Vec<(K, f64)>>,
    /// Epochs recorded per child.
    seen: HashMap<K, usize>,
    /// The curves of the children that reached their budget (`predict`).
    finished: Finished,
}

impl<K: Clone + Eq + Hash> Stopper<K> {
    /// A stopper for children trained for `epochs`.
    pub fn new(rule: StoppingRule, epochs: u32) -> Self {
        Stopper {
            rule,
            rungs: rule.rungs(epochs),
            epochs: epochs as usize,
            by_epoch: Vec::new(),
            seen: HashMap::new(),
            finished: Finished::default(),
        }
    }

    /// The rule.
    pub fn rule(&self) -> StoppingRule {
        self.rule
    }

    /// The ASHA rungs (epochs).
    pub fn rungs(&self) -> &[u32] {
        &self.rungs
    }

    /// Children recorded at `epoch` (1-based).
    pub fn reached(&self, epoch: u32) -> usize {
        self.by_epoch.get(epoch as usize - 1).map_or(0, Vec::len)
    }

    /// The scores recorded at `epoch` (1-based), in arrival order.
    pub fn scores_at(&self, epoch: u32) -> Vec<f64> {
        self.by_epoch
            .get(epoch.saturating_sub(1) as usize)
            .map(|row| row.iter().map(|(_, score)| *score).collect())
            .unwrap_or_default()
    }

    /// Children that reached their budget.
    pub fn finished(&self) -> usize {
        self.finished.len()
    }

    /// The final score the `predict` rule's model expects of a child whose
    /// curve so far is `so_far`: `None` under the other rules, before
    /// `min_finished` children finished, or for a curve of no epochs.
    pub fn predicted_final(&self, so_far: &[f64]) -> Option<f64> {
        let StoppingRule::Predict { min_finished, .. } = self.rule else {
            return None;
        };
        if self.finished.len() < min_finished as usize {
            return None;
        }
        self.finished.predict(so_far).map(|prediction| prediction.mean)
    }

    /// Shows the stopper `child`'s scores so far (one per epoch, see
    /// [`RewardFunction::scores`](crate::RewardFunction::scores)): epochs it
    /// saw before are skipped; in [`Mode::Decide`] the new ones are judged.
    pub fn observe(&mut self, child: &K, scores: &[f64], mode: Mode) -> Decision {
        let seen = self.seen.get(child).copied().unwrap_or(0);
        let mut decision = Decision::Continue;
        for (index, &score) in scores.iter().enumerate().skip(seen) {
            let epoch = index as u32 + 1;
            if mode == Mode::Decide
                && decision == Decision::Continue
                && self.stops(child, epoch, &scores[..=index])
            {
                decision = Decision::Stop { epoch };
            }
            if self.by_epoch.len() <= index {
                self.by_epoch.resize_with(index + 1, Vec::new);
            }
            self.by_epoch[index].push((child.clone(), score));
        }
        if seen < self.epochs && scores.len() >= self.epochs && self.epochs > 0 {
            self.finished.insert(scores[..self.epochs].to_vec());
        }
        self.seen.insert(child.clone(), scores.len().max(seen));
        decision
    }

    /// Whether `child` stops at `epoch` with the curve `so_far` (ending at
    /// `epoch`), judged against what was recorded before it.
    fn stops(&self, child: &K, epoch: u32, so_far: &[f64]) -> bool {
        let score = so_far.last().copied().unwrap_or_default();
        let others = || {
            self.by_epoch
                .get(epoch as usize - 1)
                .into_iter()
                .flatten()
                .filter(|(key, _)| key != child)
                .map(|(_, score)| *score)
                .collect::<Vec<f64>>()
        };
        match self.rule {
            StoppingRule::None => false,
            StoppingRule::Median {
                min_epochs,
                min_children,
            } => {
                let others = others();
                epoch >= min_epochs && others.len() >= min_children as usize && score < quantile(&others, 0.5)
            }
            StoppingRule::Asha { reduction, .. } => {
                if !self.rungs.contains(&epoch) {
                    return false;
                }
                let others = others();
                !others.is_empty() && score < quantile(&others, 1.0 - 1.0 / f64::from(reduction))
            }
            StoppingRule::Predict {
                min_finished,
                top_k,
                quantile,
            } => {
                if so_far.len() >= self.epochs || self.finished.len() < min_finished as usize {
                    return false;
                }
                let bar = self.finished.kth_best_final(top_k as usize);
                let upper = self
                    .finished
                    .predict(so_far)
                    .map(|prediction| prediction.mean + normal_quantile(quantile) * prediction.deviation);
                matches!((upper, bar), (Some(upper), Some(bar)) if upper < bar)
            }
        }
    }
}

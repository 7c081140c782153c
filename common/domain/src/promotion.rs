//! ASHA with promotions, as Li et al. (2020, "A System for Massively
//! Parallel Hyperparameter Tuning", Algorithm 2) run it, beside the
//! stopping variant of [`StoppingRule::Asha`](crate::StoppingRule::Asha)
//! that Ray Tune's scheduler applies.
//!
//! Every child pauses at each rung instead of being judged once on
//! arrival. Whenever a worker is free, the highest rung with a paused
//! child among the top `⌊n/η⌋` of its `n` arrivals promotes its best such
//! child to the next rung (or to the full budget); only when no rung can
//! promote does a new child start. No child goes on before its rung has
//! `η` arrivals, so the first children do not train to the end unjudged,
//! and a child paused early is promoted later if the arrivals after it
//! rank it in the top `1/η`, where the stopping variant would have ended it
//! for good.
//!
//! [`Promotions`] holds only the rungs' arrivals and who left them; it is a
//! pure function of what it was shown, like [`Stopper`](crate::Stopper).

use std::collections::HashSet;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use crate::{Error, Result, StoppingRule};

/// How ASHA treats a child below the top `1/η` of its rung.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AshaMode {
    /// Stopped for good when it arrives (Ray Tune's scheduler).
    #[default]
    Stop,
    /// Paused, and promoted later if it ranks in the top `1/η` (Li et al.).
    Promote,
}

impl std::str::FromStr for AshaMode {
    type Err = Error;

    /// [`AshaMode::from_name`], so a command line can take one directly.
    fn from_str(text: &str) -> Result<Self> {
        Self::from_name(text)
    }
}

impl AshaMode {
    /// `stop` or `promote`, as a command line gives it.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "stop" => Ok(AshaMode::Stop),
            "promote" => Ok(AshaMode::Promote),
            other => Err(Error::InvalidConfig(format!(
                "asha mode {other:?} is not stop or promote"
            ))),
        }
    }

    /// The mode's name.
    pub fn name(&self) -> &'static str {
        match self {
            AshaMode::Stop => "stop",
            AshaMode::Promote => "promote",
        }
    }
}

/// The rungs' arrivals and promotions.
#[derive(Clone, Debug)]
pub struct Promotions<K> {
    reduction: usize,
    /// The rungs' epochs, then the full budget.
    targets: Vec<u32>,
    /// Per rung, the children that reached it and their scores, in order.
    arrivals: Vec<Vec<(K, f64)>>,
    /// Per rung, the children promoted from it.
    promoted: Vec<HashSet<K>>,
}

/// A promotion: `child`, paused at epoch `from`, trains on to epoch `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Promotion<K> {
    /// The child.
    pub child: K,
    /// The rung it paused at (an epoch).
    pub from: u32,
    /// The epoch it trains to: the next rung or the full budget.
    pub to: u32,
}

impl<K: Clone + Eq + Hash> Promotions<K> {
    /// Promotions for an ASHA `rule` over children trained for `epochs`
    /// (`None` for the other rules, and for ASHA without a rung below the
    /// budget).
    pub fn new(rule: StoppingRule, epochs: u32) -> Option<Self> {
        let StoppingRule::Asha { reduction, .. } = rule else {
            return None;
        };
        let mut targets = rule.rungs(epochs);
        if targets.is_empty() {
            return None;
        }
        let rungs = targets.len();
        targets.push(epochs);
        Some(Promotions {
            reduction: reduction.max(2) as usize,
            targets,
            arrivals: vec![Vec::new(); rungs],
            promoted: vec![HashSet::new(); rungs],
        })
    }

    /// The epoch a new child trains to before it first pauses.
    pub fn first_rung(&self) -> u32 {
        self.targets[0]
    }

    /// The full budget.
    pub fn budget(&self) -> u32 {
        self.targets[self.targets.len() - 1]
    }

    /// Records that `child` reached `epoch` with `score` (larger is better).
    /// At a rung it pauses there; at the budget it is done.
    pub fn arrive(&mut self, child: &K, epoch: u32, score: f64) {
        if let Some(rung) = self.rung_at(epoch) {
            self.arrivals[rung].push((child.clone(), score));
        }
    }

    /// Records a promotion made before (rebuilding after a crash).
    pub fn restore_promotion(&mut self, child: &K, from: u32) {
        if let Some(rung) = self.rung_at(from) {
            self.promoted[rung].insert(child.clone());
        }
    }

    /// The next promotion, if a rung has one (the highest rung first, the
    /// best child of its top `⌊n/η⌋` not promoted yet); it is recorded as
    /// made.
    pub fn promote(&mut self) -> Option<Promotion<K>> {
        for rung in (0..self.arrivals.len()).rev() {
            let top = self.arrivals[rung].len() / self.reduction;
            if top == 0 {
                continue;
            }
            let mut ranked: Vec<&(K, f64)> = self.arrivals[rung].iter().collect();
            // Stable: among equal scores the earlier arrival ranks first.
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            let found = ranked
                .into_iter()
                .take(top)
                .find(|(child, _)| !self.promoted[rung].contains(child))
                .map(|(child, _)| child.clone());
            if let Some(child) = found {
                self.promoted[rung].insert(child.clone());
                return Some(Promotion {
                    child,
                    from: self.targets[rung],
                    to: self.targets[rung + 1],
                });
            }
        }
        None
    }

    /// Children paused at a rung now (arrived, not promoted).
    pub fn paused(&self) -> usize {
        self.arrivals
            .iter()
            .zip(&self.promoted)
            .map(|(arrivals, promoted)| {
                arrivals
                    .iter()
                    .filter(|(child, _)| !promoted.contains(child))
                    .count()
            })
            .sum()
    }

    fn rung_at(&self, epoch: u32) -> Option<usize> {
        self.targets[..self.targets.len() - 1]
            .iter()
            .position(|&target| target == epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promotions(rule: &str, epochs: u32) -> Promotions<u32> {
        Promotions::new(StoppingRule::from_name(rule).unwrap(), epochs).unwrap()
    }

    #[test]
    fn a_rung_promotes_only_from_its_top_third_once_it_has_three_arrivals() {
        let mut asha = promotions("asha:1:3", 10);
        assert_eq!((asha.first_rung(), asha.budget()), (1, 10));
        asha.arrive(&0, 1, 0.2);
        asha.arrive(&1, 1, 0.5);
        assert_eq!(asha.promote(), None, "two arrivals: nobody goes on");
        asha.arrive(&2, 1, 0.3);
        assert_eq!(
            asha.promote(),
            Some(Promotion {
                child: 1,
                from: 1,
                to: 3
            })
        );
        assert_eq!(asha.promote(), None, "one promotion per three arrivals");
        assert_eq!(asha.paused(), 2);
        for (child, score) in [(3, 0.1), (4, 0.1), (5, 0.4)] {
            asha.arrive(&child, 1, score);
        }
        // Six arrivals: the top two are 1 (promoted) and 5.
        assert_eq!(
            asha.promote(),
            Some(Promotion {
                child: 5,
                from: 1,
                to: 3
            })
        );
    }

    #[test]
    fn the_highest_rung_promotes_first_and_the_last_rung_goes_to_the_budget() {
        let mut asha = promotions("asha:1:2", 4);
        // Rungs at 1 and 2, budget 4.
        for (child, score) in [(0, 0.1), (1, 0.2), (2, 0.3), (3, 0.4)] {
            asha.arrive(&child, 1, score);
        }
        asha.arrive(&7, 2, 0.9);
        asha.arrive(&8, 2, 0.8);
        assert_eq!(
            asha.promote(),
            Some(Promotion {
                child: 7,
                from: 2,
                to: 4
            })
        );
        assert_eq!(
            asha.promote(),
            Some(Promotion {
                child: 3,
                from: 1,
                to: 2
            })
        );
        asha.restore_promotion(&2, 1);
        assert_eq!(asha.promote(), None, "a restored promotion is not made again");
    }

    #[test]
    fn only_asha_with_a_rung_below_the_budget_promotes() {
        assert!(Promotions::<u32>::new(StoppingRule::None, 10).is_none());
        assert!(Promotions::<u32>::new(StoppingRule::from_name("median").unwrap(), 10).is_none());
        assert!(Promotions::<u32>::new(StoppingRule::from_name("asha:10:3").unwrap(), 10).is_none());
    }
}

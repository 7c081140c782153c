//! The stopping rule as a search runs it, one implementation for the live
//! controller ([`super::stopping`]) and for `replay verify`
//! ([`crate::offline::stops`]): the rule's [`Stopper`], the stops it
//! decided (a stop, once decided, holds until the child's result arrives),
//! and how many results it has been shown.

use std::collections::HashMap;

use nas_domain::stopping::{Mode, Stopper};
use nas_domain::{Decision, JobId, StoppingRule};

/// The rule's state, its stops and its results shown.
#[derive(Debug)]
pub struct RuleState {
    stopper: Stopper<JobId>,
    /// Job → the epoch it was stopped after.
    stops: HashMap<JobId, u32>,
    /// Results shown (reward-log records with a curve).
    results_shown: u64,
}

impl RuleState {
    /// A fresh rule for children of `epochs` epochs.
    pub fn new(rule: StoppingRule, epochs: u32) -> Self {
        RuleState {
            stopper: Stopper::new(rule, epochs),
            stops: HashMap::new(),
            results_shown: 0,
        }
    }

    /// The rule's state (the children's scores at every epoch).
    pub fn stopper(&self) -> &Stopper<JobId> {
        &self.stopper
    }

    /// Results shown so far.
    pub fn results_shown(&self) -> u64 {
        self.results_shown
    }

    /// Judges a progress report (`scores` so far): the epoch the child
    /// stops after, a stop decided before included.
    pub fn judge(&mut self, job: JobId, scores: &[f64]) -> Option<u32> {
        let decision = self.stopper.observe(&job, scores, Mode::Decide);
        let stopped_at = match (self.stops.get(&job), decision) {
            (Some(&epoch), _) | (None, Decision::Stop { epoch }) => Some(epoch),
            (None, Decision::Continue) => None,
        };
        if let Some(epoch) = stopped_at {
            self.stops.insert(job, epoch);
        }
        stopped_at
    }

    /// A child's record arrived: its stop is forgotten, and its result's
    /// curve (`scores`, when it has one) shown to the rule.
    pub fn finish(&mut self, job: &JobId, scores: Option<&[f64]>) {
        self.stops.remove(job);
        if let Some(scores) = scores {
            self.stopper.observe(job, scores, Mode::Restore);
            self.results_shown += 1;
        }
    }

    /// A progress record shown again on resume, with its recorded stop.
    pub fn restore(&mut self, job: JobId, scores: &[f64], stopped_at: Option<u32>) {
        self.stopper.observe(&job, scores, Mode::Restore);
        if let Some(epoch) = stopped_at {
            self.stops.insert(job, epoch);
        }
    }
}

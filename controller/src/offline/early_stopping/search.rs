//! One run of the early-stopping simulation: children trained epoch by
//! epoch along their recorded curves, stopped by the rule
//! ([`Search::run_stopping`]) or paused and promoted by ASHA
//! ([`Search::run_promoting`]).

use std::collections::HashMap;

use nas_domain::oracle::{Curve, CurveTable};
use nas_domain::promotion::{AshaMode, Promotion, Promotions};
use nas_domain::stopping::{Mode, Stopper};
use nas_domain::{ArchId, Decision, SampledAgain, StoppingConfig};

use super::{StoppingRun, StoppingSimulation};
use crate::Result;
use crate::strategy::{self, Observation, Proposal};

/// What a run reads.
pub(super) struct Search<'a> {
    /// The simulation.
    pub simulation: &'a StoppingSimulation,
    /// The learning curves.
    pub table: &'a CurveTable,
    /// The rule and what stopped children teach.
    pub config: StoppingConfig,
    /// Epochs of a full budget.
    pub epochs: usize,
    /// The full-curve reward of the table's top 1%.
    pub top_reward: f64,
}

/// A child training along its recorded curve (stopping runs).
struct Running<'a> {
    /// Its number among the trained children (the stopper's key).
    child: usize,
    proposal: Proposal,
    all: Vec<nas_domain::EpochMetrics>,
    scores: Vec<f64>,
    seconds: &'a [f64],
    /// Epochs trained so far.
    done: usize,
    /// When its next epoch ends (runs with children in flight).
    ready_at: f64,
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

impl<'a> Search<'a> {
    /// Counts `proposal` as a child: one that reuses a reward teaches it
    /// and needs no training (`None`); any other trains along its curve.
    fn arrive(
        &self,
        found: &Found,
        proposal: &Proposal,
        run: &mut StoppingRun,
        strategy: &mut dyn strategy::Strategy,
    ) -> Result<Option<&'a Curve>> {
        run.children += 1;
        if let Some(reward) = self.reused(found, &proposal.spec.id(), run) {
            strategy.observe(Observation::of(proposal, reward))?;
            return Ok(None);
        }
        let curve = self.table.curve(&proposal.spec);
        Ok(Some(
            curve.ok_or_else(|| self.table.not_in_table(&proposal.spec))?,
        ))
    }

    /// One run of `strategy`: with ASHA's promotions when the simulation
    /// promotes and the rule has a rung below the budget, else with the
    /// rule's stops.
    pub(super) fn run(&self, strategy: Box<dyn strategy::Strategy>, run: StoppingRun) -> Result<StoppingRun> {
        match Promotions::new(self.config.rule, self.epochs as u32) {
            Some(promotions) if self.simulation.asha == AshaMode::Promote => {
                self.run_promoting(strategy, promotions, run)
            }
            _ => match self.simulation.in_flight {
                Some(in_flight) => self.run_in_flight(strategy, run, in_flight),
                None => self.run_stopping(strategy, run),
            },
        }
    }

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
        let mut stopper: Stopper<usize> = Stopper::new(self.config.rule, self.epochs as u32);
        let mut found = Found::default();
        'search: while run.seconds < simulation.seconds && run.children < simulation.max_children {
            for proposal in strategy.propose(simulation.reinforce.batch_size)? {
                if run.seconds >= simulation.seconds || run.children >= simulation.max_children {
                    break 'search;
                }
                let Some(curve) = self.arrive(&found, &proposal, &mut run, strategy.as_mut())? else {
                    continue;
                };
                let child = self.start(&mut run, proposal, curve, 0.0);
                let trained = train_child(&mut run, &mut stopper, child.child, &child.scores, child.seconds);
                self.settle(
                    &mut found,
                    &mut run,
                    &mut stopper,
                    &child,
                    trained,
                    strategy.as_mut(),
                )?;
            }
        }
        run.best_metric = found.best.map(|(_, metric)| metric);
        Ok(run)
    }

    /// One run with `in_flight` children training at once, as a pool of
    /// workers runs them: whichever child's next epoch ends first shows it
    /// to the rule, and a child that stops or completes frees its worker
    /// for a new proposal, sampled from all the strategy learned so far.
    fn run_in_flight(
        &self,
        mut strategy: Box<dyn strategy::Strategy>,
        mut run: StoppingRun,
        in_flight: usize,
    ) -> Result<StoppingRun> {
        let simulation = self.simulation;
        let mut stopper: Stopper<usize> = Stopper::new(self.config.rule, self.epochs as u32);
        let mut found = Found::default();
        let mut running: Vec<Running<'a>> = Vec::new();
        let mut clock = 0.0;
        loop {
            while running.len() < in_flight
                && run.seconds < simulation.seconds
                && run.children < simulation.max_children
            {
                let Some(proposal) = strategy.propose(1)?.pop() else {
                    break;
                };
                if let Some(curve) = self.arrive(&found, &proposal, &mut run, strategy.as_mut())? {
                    running.push(self.start(&mut run, proposal, curve, clock));
                }
            }
            let Some(next) =
                (0..running.len()).min_by(|&a, &b| running[a].ready_at.total_cmp(&running[b].ready_at))
            else {
                break;
            };
            let child = &mut running[next];
            clock = child.ready_at;
            pay(&mut run, &child.seconds[child.done..=child.done]);
            child.done += 1;
            let decision = if child.done < self.epochs {
                stopper.observe(&child.child, &child.scores[..child.done], Mode::Decide)
            } else {
                Decision::Stop {
                    epoch: child.done as u32,
                }
            };
            if decision == Decision::Continue {
                child.ready_at += child.seconds[child.done];
                continue;
            }
            let child = running.swap_remove(next);
            self.settle(
                &mut found,
                &mut run,
                &mut stopper,
                &child,
                child.done,
                strategy.as_mut(),
            )?;
        }
        run.best_metric = found.best.map(|(_, metric)| metric);
        Ok(run)
    }

    /// A child starting to train at `clock` along `curve`.
    fn start(&self, run: &mut StoppingRun, proposal: Proposal, curve: &'a Curve, clock: f64) -> Running<'a> {
        let all = curve.epochs(self.epochs, &self.simulation.reward);
        let child = Running {
            child: run.trained,
            scores: self.simulation.reward.scores(&all),
            all,
            seconds: &curve.seconds,
            proposal,
            done: 0,
            ready_at: clock + curve.seconds.first().copied().unwrap_or_default(),
        };
        run.trained += 1;
        child
    }

    /// What a child that trained `trained` epochs teaches: a stopped
    /// child's reward (partial, penalty or predicted), or a completed one's.
    fn settle(
        &self,
        found: &mut Found,
        run: &mut StoppingRun,
        stopper: &mut Stopper<usize>,
        child: &Running<'a>,
        trained: usize,
        strategy: &mut dyn strategy::Strategy,
    ) -> Result<()> {
        let reward_function = self.simulation.reward;
        let reward = reward_function.reward(&child.all[..trained])?;
        let id = child.proposal.spec.id();
        if trained < self.epochs {
            run.stopped += 1;
            let predicted = stopper.predicted_final(&child.scores[..trained]);
            let taught = self.config.reward_of_stopped(reward, predicted);
            let best = found.stopped.entry(id).or_insert(taught);
            *best = best.max(taught);
            strategy.observe(Observation::of(&child.proposal, taught))?;
            return Ok(());
        }
        stopper.observe(&child.child, &child.scores, Mode::Restore);
        let metric = reward_function.best_metric(&child.all)?;
        self.complete(found, run, id, reward, metric);
        strategy.observe(Observation::of(&child.proposal, reward))?;
        Ok(())
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
                let Some(curve) = self.arrive(&found, &proposal, &mut run, strategy.as_mut())? else {
                    continue;
                };
                let id = proposal.spec.id();
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
                    .reward_of_stopped(simulation.reward.reward(&child.all[..rung])?, None);
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
        self.complete(found, run, child.id.clone(), reward, metric);
        Ok(())
    }

    /// Records that an architecture completed its budget with `reward` and
    /// final `metric`, `run.seconds` into the run.
    fn complete(&self, found: &mut Found, run: &mut StoppingRun, id: ArchId, reward: f64, metric: f64) {
        found.completed.insert(id, (reward, metric));
        found.children += 1;
        if found.best.is_none_or(|(r, _)| reward > r) {
            found.best = Some((reward, metric));
        }
        if reward >= self.top_reward && run.seconds_to_top.is_none() {
            run.seconds_to_top = Some(run.seconds);
        }
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

//! REINFORCE's warm start: before its first child the policy takes
//! `warm_start_steps` policy-gradient steps on the children of earlier
//! searches (see [`crate::strategy::warm`]), each on a batch of
//! [`WARM_BATCH`] of them, in a shuffled order drawn from the seed.
//!
//! A child's advantage is its reward's centred rank within its source (in
//! `[−0.5, 0.5]`, as the default `batch_rank` transform gives the search's
//! own children), so sources with other tasks or metrics weigh alike. A
//! decision the earlier search lacked is drawn from the policy as it
//! scores ([`super::policy::Policy::score_partial`]): in expectation it teaches
//! nothing. The steps move Adam's state (its step count includes them) but
//! are not policy versions: the search's own steps count from 0, and the
//! checkpoint of step 0, taken before the first child, holds the policy
//! the warm start left, so a resume and `replay verify` start from it.

use nas_domain::Plan;
use rand::Rng;
use tch::{Kind, Tensor};

use super::Reinforce;
use crate::strategy;
use crate::strategy::warm::{self, PriorChild};
use crate::{Error, Result};

/// Earlier children per warm-start step.
pub const WARM_BATCH: usize = 64;

/// The random stream of the warm start's order and drawn tokens (sample
/// streams count up from 0 and the policy's initialisation is `u64::MAX`).
const WARM_STREAM: u64 = u64::MAX - 1;

impl Reinforce {
    /// Learns from `prior` (see the module docs).
    pub(super) fn learn_prior(&mut self, prior: &[PriorChild]) -> Result<()> {
        if self.state.samples_drawn > 0
            || self.state.steps + self.state.warm_steps > 0
            || !self.state.pending.is_empty()
        {
            return Err(Error::Config(
                "a warm start comes before the first child, once".into(),
            ));
        }
        let children: Vec<(&[Option<u16>], f64)> = advantages(prior)
            .into_iter()
            .filter(|(child, _)| child.informative())
            .map(|(child, advantage)| (child.tokens.as_slice(), advantage))
            .collect();
        if children.is_empty() {
            return Err(Error::Config(
                "the warm start holds no child that shares a decision with this space".into(),
            ));
        }
        let plan = self.state.space.plan(self.state.space.depth_at(0));
        let mut rng = strategy::sample_rng(self.state.seed, WARM_STREAM);
        let mut order: Vec<usize> = Vec::new();
        for _ in 0..self.state.config.warm_start_steps {
            if order.len() < WARM_BATCH.min(children.len()) {
                order = shuffled(children.len(), &mut rng);
            }
            let batch: Vec<(&[Option<u16>], f64)> = order
                .drain(..WARM_BATCH.min(order.len()))
                .map(|at| children[at])
                .collect();
            self.warm_step(&plan, &batch, &mut rng)?;
        }
        self.state.warm_steps = self.state.config.warm_start_steps;
        Ok(())
    }

    /// One policy-gradient step on earlier children and their advantages.
    fn warm_step(
        &mut self,
        plan: &Plan,
        batch: &[(&[Option<u16>], f64)],
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Result<()> {
        let sequences: Vec<&[Option<u16>]> = batch.iter().map(|(tokens, _)| *tokens).collect();
        let mut rngs: Vec<_> = (0..batch.len())
            .map(|_| strategy::sample_rng(rng.random(), WARM_STREAM))
            .collect();
        let scored = self.policy.score_partial(plan, &sequences, &mut rngs)?;
        let advantages: Vec<f32> = batch.iter().map(|(_, advantage)| *advantage as f32).collect();
        let objective = (scored.log_prob * Tensor::from_slice(&advantages)).sum(Kind::Float)
            + scored.entropy.sum(Kind::Float) * self.state.config.entropy_weight;
        let loss = -objective / batch.len() as f64;
        self.descend(&loss);
        Ok(())
    }

    /// The warm start's steps taken (0 without one).
    pub fn warm_steps(&self) -> u64 {
        self.state.warm_steps
    }
}

/// Each child with its reward's centred rank within its source.
fn advantages(prior: &[PriorChild]) -> Vec<(&PriorChild, f64)> {
    prior
        .iter()
        .zip(warm::ranks_within_source(prior))
        .map(|(child, rank)| (child, rank - 0.5))
        .collect()
}

/// `0..n` in an order drawn from `rng` (Fisher–Yates).
fn shuffled(n: usize, rng: &mut impl Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for at in (1..n).rev() {
        order.swap(at, rng.random_range(0..=at));
    }
    order
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::strategy::reinforce::ReinforceConfig;
    use crate::strategy::test_spaces::{categorical, proposed};
    use crate::strategy::{Observation, Strategy};

    /// Earlier children of `source` over decisions d0 (known) and d1
    /// (unknown), rewarded by how often d0 is option 2.
    fn prior(source: &str, scale: f64) -> Vec<PriorChild> {
        (0..240)
            .map(|i| {
                let token = (i % 4) as u16;
                PriorChild {
                    source: source.into(),
                    tokens: vec![Some(token), None, Some((i % 3) as u16)],
                    reward: scale * f64::from(u8::from(token == 2)) + 1e-3 * (i % 7) as f64,
                }
            })
            .collect()
    }

    fn share_of_option_two(search: &mut Reinforce) -> f64 {
        let children = proposed(search, 400);
        children.iter().filter(|c| c.tokens()[0] == 2).count() as f64 / 400.0
    }

    #[test]
    fn the_policy_learns_the_earlier_searches_best_option_whatever_each_source_scale() {
        let space = categorical(3, 4);
        let mut cold = Reinforce::new(space.clone(), ReinforceConfig::default(), 7).unwrap();
        let mut warm = Reinforce::new(space.clone(), ReinforceConfig::default(), 7).unwrap();
        // Two sources on scales 1000 apart: ranks within each make them alike.
        warm.warm_start([prior("a", 1.0), prior("b", 1000.0)].concat())
            .unwrap();
        assert_eq!(warm.warm_steps(), ReinforceConfig::default().warm_start_steps);
        let (cold, warm) = (share_of_option_two(&mut cold), share_of_option_two(&mut warm));
        assert!((0.15..0.35).contains(&cold), "cold {cold}");
        assert!(warm > 0.6, "warm {warm} against cold {cold}");
    }

    #[test]
    fn the_same_prior_and_seed_give_the_same_policy_and_a_checkpoint_keeps_it() {
        let space = categorical(3, 4);
        let run = || {
            let mut search = Reinforce::new(space.clone(), ReinforceConfig::default(), 3).unwrap();
            search.warm_start(prior("a", 1.0)).unwrap();
            search
        };
        let (mut first, second) = (run(), run());
        // The warm steps are not policy versions: the search's own count from 0.
        assert_eq!(first.policy_version(), 0);
        let mut restored = Reinforce::restore(&second.checkpoint().unwrap()).unwrap();
        assert_eq!(restored.warm_steps(), first.warm_steps());
        // A step of the search's own after the restore (Adam's state and
        // step count included) moves both policies alike.
        for search in [&mut first, &mut restored] {
            for proposal in search.propose(8).unwrap() {
                let reward = f64::from(proposal.actions.tokens()[1]);
                let observation = Observation::of(&proposal, reward);
                search.observe(observation).unwrap();
            }
        }
        assert_eq!(first.policy_version(), 1);
        let next = |search: &mut Reinforce| -> Vec<_> {
            (search.propose(50).unwrap().into_iter())
                .map(|proposal| (proposal.actions, proposal.log_prob))
                .collect()
        };
        assert_eq!(next(&mut first), next(&mut restored));
    }

    #[test]
    fn a_prior_with_nothing_known_or_a_late_warm_start_is_refused() {
        let space = categorical(3, 4);
        let mut search = Reinforce::new(space.clone(), ReinforceConfig::default(), 1).unwrap();
        let unknown = PriorChild {
            source: "a".into(),
            tokens: vec![None; 3],
            reward: 1.0,
        };
        let error = search.warm_start(vec![unknown]).unwrap_err().to_string();
        assert!(error.contains("shares a decision"), "{error}");
        let mut started = Reinforce::new(space, ReinforceConfig::default(), 1).unwrap();
        proposed(&mut started, 1);
        let error = started.warm_start(prior("a", 1.0)).unwrap_err().to_string();
        assert!(error.contains("before the first child"), "{error}");
    }
}

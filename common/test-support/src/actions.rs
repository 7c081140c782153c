//! Random actions along a plan: every decision uniform, every skip
//! connection a fair coin.

use nas_domain::{Actions, Plan, Step};
use rand::Rng;

/// One uniformly random token per decision of `plan`.
pub fn random_actions(plan: &Plan, rng: &mut impl Rng) -> Actions {
    let mut tokens = Vec::with_capacity(plan.tokens());
    for step in plan.steps() {
        match *step {
            Step::Choose { options, .. } => tokens.push(rng.random_range(0..options) as u16),
            Step::Anchor { candidates } => tokens.extend((0..candidates).map(|_| rng.random_range(0..2u16))),
        }
    }
    Actions::new(tokens)
}

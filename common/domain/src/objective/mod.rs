//! Multi-objective search: what a child costs, how costs shape its reward,
//! and which children are on the Pareto front.
//!
//! - [`costs`]: [`Cost`], the closed set of costs a child can have
//!   (parameters, multiply-adds, inference latency at batch 1 and at the
//!   training batch, peak memory, training seconds), and [`Costs`], the
//!   measured ones, as they travel in a result.
//! - [`shaping`]: [`RewardShaping`], how an experiment turns a reward and
//!   costs into the reward the strategy learns from: MnasNet's
//!   `R = reward · Π (cost / target)^w` or a weighted sum.
//! - [`pareto`]: the non-dominated children of metric against costs, and
//!   the hypervolume of a front (two objectives).
//! - [`Objectives`]: a child's reward before shaping and the shaping's
//!   costs, what a strategy that searches the front learns from.

pub mod costs;
pub mod pareto;
pub mod shaping;

pub use costs::{Cost, Costs};
pub use shaping::{CostTerm, RewardShaping, ShapingKind};

use serde::{Deserialize, Serialize};

/// What a child scored on each objective of a multi-objective experiment:
/// its reward before the shaping traded it against the costs (higher is
/// better), and each of the shaping's costs in the shaping's order (lower
/// is better). A strategy that searches the front (the controller's
/// predictor) models them apart; the others learn from the shaped reward
/// alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Objectives {
    /// The reward before shaping.
    pub reward: f64,
    /// The shaping's costs.
    pub costs: Vec<f64>,
}

impl Objectives {
    /// The objectives of a child that earned `reward` (unshaped) at
    /// `costs`, when `shaping` has costs and all of them are measured.
    pub fn of(shaping: Option<&RewardShaping>, reward: f64, costs: &Costs) -> Option<Self> {
        let shaping = shaping?;
        let costs: Option<Vec<f64>> = shaping.costs().map(|cost| costs.get(cost)).collect();
        Some(Objectives {
            reward,
            costs: costs.filter(|costs| !costs.is_empty())?,
        })
    }
}

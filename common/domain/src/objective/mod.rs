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

pub mod costs;
pub mod pareto;
pub mod shaping;

pub use costs::{Cost, Costs};
pub use shaping::{CostTerm, RewardShaping, ShapingKind};

//! The NAS controller: the LSTM policy, REINFORCE, search strategies, and
//! the commands of `nas-controller`.
//!
//! How the modules fit together:
//!
//! - [`policy`] is the controller network; it samples action sequences along
//!   a [`nas_common::Plan`] and recomputes their log-probabilities.
//! - [`reinforce`] trains it from rewards with [`optimizer`]'s Adam;
//!   [`random_search`] is the baseline. Both implement
//!   [`strategy::Strategy`] and save themselves as a [`checkpoint`].
//! - [`simulate`] runs strategies against an oracle
//!   (`nas_common::oracle`: the synthetic function and recorded reward
//!   tables) to measure search efficiency without GPUs.
//!
//! Where a spec goes next: a [`strategy::Proposal`]'s spec becomes a
//! [`nas_common::TrainJob`] for a worker; the worker's reward comes back as a
//! [`strategy::Observation`].

pub mod checkpoint;
pub mod controller_metrics;
pub mod diagram;
pub mod embedded;
mod error;
pub mod evolution;
pub mod experiment;
pub mod export;
pub mod optimizer;
pub mod policy;
pub mod random_search;
pub mod reevaluate;
pub mod reinforce;
pub mod replay;
pub mod report;
pub mod reward_log;
pub mod search_loop;
pub mod simulate;
pub mod strategy;

pub use error::{Error, Result};

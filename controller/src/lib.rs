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
//! - [`oracle`] answers proposals without training (the synthetic function
//!   and recorded reward tables), and [`simulate`] runs strategies against
//!   it to measure search efficiency without GPUs.
//!
//! Where a spec goes next: a [`strategy::Proposal`]'s spec becomes a
//! [`nas_common::TrainJob`] for a worker; the worker's reward comes back as a
//! [`strategy::Observation`].

pub mod checkpoint;
pub mod controller_metrics;
pub mod embedded;
mod error;
pub mod experiment;
pub mod optimizer;
pub mod oracle;
pub mod policy;
pub mod random_search;
pub mod reinforce;
pub mod reward_log;
pub mod search_loop;
pub mod simulate;
pub mod strategy;

pub use error::{Error, Result};

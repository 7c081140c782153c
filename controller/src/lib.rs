//! The NAS controller: search strategies, the search service, offline
//! tools and reports, and the commands of `nas-controller`.
//!
//! The folders, in the order a spec travels:
//!
//! 1. [`strategy`] proposes children: REINFORCE with its LSTM policy and
//!    Adam ([`strategy::reinforce`]), random search, regularized
//!    evolution; each saves itself as a [`strategy::checkpoint`].
//! 2. [`experiment`] is what a search stores and every later command reads:
//!    its configuration, the job records, the reward and progress logs, the
//!    leaderboard and the pointer to the latest policy checkpoint.
//! 3. [`search`] is the service that writes it, restored exactly after any
//!    crash.
//! 4. [`jobs`] keeps the jobs in flight (publication, results, dead
//!    letters, timeouts, preemptions) for the search and re-evaluation
//!    alike.
//! 5. [`offline`] works on stored experiments without the search: replay a
//!    reward log, simulate strategies against an oracle, re-evaluate the
//!    best architectures.
//! 6. [`present`] shows the results: the HTML report, diagrams, and exports
//!    (JSON, DOT, SVG, PyTorch).
//!
//! [`embedded`] runs workers inside the controller process; it is the only
//! module that uses the worker crate, and only with the `embedded` cargo
//! feature (on by default).

pub mod embedded;
mod error;
pub mod experiment;
pub mod jobs;
pub mod offline;
pub mod present;
pub mod search;
pub mod strategy;

pub use error::{Error, Result};

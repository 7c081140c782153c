//! The stored experiment: what a search writes to the store and everything
//! after it reads back — the search itself on resume, the offline tools
//! (replay, re-evaluation) and the presentation (report, export, log).
//!
//! - [`config`]: the experiment's configuration (`config.json`), resolved
//!   from defaults, a file, `NAS_…` variables and flags;
//!   the optional settings are [`config::Overrides`], merged as values;
//!   `changes` names what a resumed search was given that it would not
//!   take;
//! - [`stored`]: loads a stored configuration back and settles the one a
//!   search runs with (new, or resumed with its budget settings);
//! - [`job_log`]: the record of each published job (`jobs/<batch>.jsonl`);
//! - [`reward_log`]: one record per finished child (`rewards/…`);
//! - [`progress_log`]: learning curves of children in flight and the stops
//!   they got (`progress/…`);
//! - [`leaderboard`]: what the reward records add up to;
//! - [`spend`]: the training hours they report, their price, and what a
//!   search does at its budget;
//! - [`PolicyPointer`]: `policy/latest.json`, the newest checkpoint.
//!
//! Nothing here runs a search: it depends only on [`crate::strategy`] (the
//! settings and observations it stores).

mod changes;
pub mod config;
pub mod job_log;
mod layers;
pub mod leaderboard;
mod overrides;
pub mod progress_log;
pub mod reward_log;
pub mod spend;
pub mod stored;

use serde::{Deserialize, Serialize};

/// `policy/latest.json`: the newest checkpoint and the first reward
/// sequence number it does not contain.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PolicyPointer {
    /// Policy steps taken at the checkpoint.
    pub step: u64,
    /// The checkpoint's key.
    pub key: String,
    /// Rewards with this sequence number or later came after it.
    pub next_sequence: u64,
}

//! Tools that work on stored experiments without a running search:
//! [`replay`] (train a policy from a reward log, or verify a recorded
//! search bit for bit; [`proposals`] for strategies without a policy,
//! [`stops`] for the stopping rule's decisions), [`simulate`] (strategies against an oracle, no
//! workers) with [`tabular`] (its figures on a benchmark table, with the
//! statistics of [`hitting`]: quantiles, bootstrap intervals, random
//! search's exact baseline) and
//! [`early_stopping`] (stopping rules on a learning-curve table) and
//! [`pareto`] (multi-objective search on a table with costs), with
//! [`warm_start`] (runs that learn from other tables first, or from runs
//! [`recorded`] by an earlier simulation), and
//! [`reevaluate`] (train the best architectures again with
//! more epochs, seeds and the final grid).

pub mod early_stopping;
pub mod hitting;
pub mod pareto;
pub mod proposals;
pub mod recorded;
pub mod reevaluate;
pub mod replay;
pub mod simulate;
pub mod stops;
pub mod tabular;
pub mod warm_start;

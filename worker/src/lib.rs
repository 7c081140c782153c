//! The NAS worker: receives a [`nas_domain::TrainJob`], builds the child
//! network its spec describes, trains it with libtorch and answers with a
//! [`nas_domain::TrainResult`].
//!
//! The folders, in the order a job travels through them:
//!
//! 1. [`service`]: the job loop. It takes a delivery from the queue, holds
//!    it until the result is confirmed ([`service::delivery`]), fetches the
//!    data set and a preempted child's checkpoint from the store, and
//!    publishes the result (or answers from an oracle, as a surrogate).
//! 2. [`data`]: the node's verified copy of the data set ([`data::cache`]),
//!    loaded once into tensors ([`data::cifar10`], [`data::ptb`]).
//! 3. [`model`]: the child network, checked against the guardrails before
//!    anything is allocated.
//! 4. [`train`]: the settings from the job, the one epoch driver, and the
//!    report whose metrics the job's reward function turns into the reward;
//!    a stopped child leaves a checkpoint to resume from.
//! 5. [`trial`]: a job with a trial command is trained by that command
//!    instead of 3 and 4, in any framework: the worker writes the job to a
//!    file, runs the command in a process group of its own and reads its
//!    metrics from JSON lines on its standard output.
//!
//! [`malloc_tuning`] sets glibc's allocator up for training before the
//! binary starts its threads.

pub mod data;
mod error;
pub mod malloc_tuning;
pub mod model;
pub mod service;
pub mod train;
pub mod trial;

pub use error::{Error, Result};

use nas_domain::TrainJob;

/// Parses and validates a job document, as a worker does on receipt.
pub fn check_job(bytes: &[u8]) -> nas_domain::Result<TrainJob> {
    TrainJob::from_json(bytes)
}

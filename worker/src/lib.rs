//! The NAS worker: receives a [`nas_common::TrainJob`], builds the child
//! network its spec describes, trains it with libtorch and answers with a
//! [`nas_common::TrainResult`].
//!
//! How the modules fit together, following one spec:
//!
//! 1. The data comes from [`cifar10`] or [`ptb`], loaded once into tensors
//!    on the training device.
//! 2. [`guardrails`] checks the child's parameter count and activation
//!    memory before anything is allocated.
//! 3. [`cnn`] builds a CNN child, or [`language_model`] a language model
//!    around the [`recurrent_cell`] of the spec.
//! 4. [`train_cnn`] or [`train_language_model`] trains and evaluates it
//!    per epoch with [`sgd`], and [`trainer`] turns the metrics into the
//!    reward with the job's reward function; a stopped child leaves a
//!    [`child_checkpoint`] to resume from.
//!
//! Where the spec goes next: the reward travels back to the controller in a
//! `TrainResult`.

pub mod child_checkpoint;
pub mod cifar10;
pub mod cnn;
pub mod dataset_cache;
mod error;
pub mod guardrails;
pub mod held_delivery;
pub mod job_loop;
pub mod job_training;
pub mod language_model;
pub mod malloc_tuning;
pub mod ptb;
pub mod recurrent_cell;
pub mod sgd;
pub mod surrogate;
pub mod train_cnn;
pub mod train_language_model;
pub mod trainer;
pub mod worker_metrics;

pub use error::{Error, Result};

use nas_common::TrainJob;

/// Parses and validates a job document, as a worker does on receipt.
pub fn check_job(bytes: &[u8]) -> nas_common::Result<TrainJob> {
    TrainJob::from_json(bytes)
}

//! The NAS worker: receives a [`nas_common::TrainJob`], builds the child
//! network its spec describes, trains it with libtorch and answers with a
//! [`nas_common::TrainResult`].
//!
//! This crate grows with the worker issue (data loaders, CNN and cell
//! builders, trainer) and the pipeline issue (job loop). Today it checks
//! jobs: [`check_job`] validates a job document exactly as a worker will
//! on receipt.

use nas_common::TrainJob;

/// Parses and validates a job document, as a worker does on receipt.
pub fn check_job(bytes: &[u8]) -> nas_common::Result<TrainJob> {
    TrainJob::from_json(bytes)
}

//! The adapters of the NAS services: everything that talks to the world
//! outside the process, built on the domain types of `nas-domain`.
//!
//! - [`store`]: the object store port, on S3-compatible storage or a local
//!   directory, with the one key layout ([`store::keys`]) and the data-set
//!   upload ([`store::datasets`]).
//! - [`queue`]: the job queue port, on RabbitMQ or in-process channels.
//! - [`telemetry`]: `/healthz`, `/readyz` and Prometheus `/metrics`.
//! - [`args`]: the command-line arguments both services share (broker,
//!   store, task), which open the adapters above.
//! - [`reference`]: the book's CLI reference pages, generated from the
//!   command lines.
//! - [`process`], [`logging`] and [`shutdown`]: a binary's `main`, its
//!   logs, and the token SIGTERM cancels.
//!
//! Every failure is an [`Error`] that keeps its source and says, through
//! [`Error::is_transient`], whether retrying can help.

pub mod args;
mod error;
pub mod logging;
pub mod process;
pub mod queue;
pub mod reference;
pub mod shutdown;
pub mod store;
pub mod telemetry;

pub use error::{BoxError, Error, Reason, Result, Retry, StoreProblem};

//! Shared vocabulary of the NAS system: search spaces, architecture specs,
//! the wire messages and the reward functions.
//!
//! How the modules fit together, following one architecture:
//!
//! 1. [`space`] defines what may be searched; [`space::SearchSpace::plan`]
//!    turns it into the controller's [`decision::Plan`].
//! 2. The controller's policy emits [`decision::Actions`] along that plan;
//!    [`spec::ArchSpec::from_actions`] decodes them into a validated spec,
//!    whose content hash is its [`spec::ArchId`].
//! 3. The spec travels to a worker inside a [`messages::TrainJob`]; the
//!    worker trains it and answers with a [`messages::TrainResult`] whose
//!    reward comes from the job's [`reward::RewardFunction`].
//! 4. The controller recomputes the log-probability of the stored actions
//!    and takes a REINFORCE step (crate `nas-controller`).
//!
//! Everything that crosses the wire is built only through validating
//! constructors, serde included; [`Error`] says what was wrong.

pub mod canonical_json;
pub mod dataset_sync;
pub mod datasets;
pub mod decision;
mod error;
pub mod logging;
pub mod messages;
pub mod oracle;
pub mod queue;
pub mod reward;
pub mod service_args;
pub mod shutdown;
pub mod space;
pub mod spec;
pub mod store;
pub mod synth;
pub mod telemetry;
pub mod tensor_file;

pub use decision::{Actions, DecisionKind, Plan, Step};
pub use error::{Error, Result};
pub use messages::{
    DatasetRef, EpochMetrics, ExperimentName, Hyperparameters, JobId, Outcome, Task, TrainJob,
    TrainJobFields, TrainResult, TrainResultFields, TrainingBudget,
};
pub use reward::RewardFunction;
pub use space::{CellSpace, CnnSpace, DepthSchedule, SearchSpace, SpaceDefinition};
pub use spec::{ArchId, ArchKind, ArchSpec, Architecture};

//! The domain of the NAS system: search spaces, architecture specs, the
//! wire messages, reward functions, oracles and the data-set formats. No
//! I/O adapters live here (no broker, object store, HTTP or command line:
//! those are in `nas-infra`), so the schemas and the fuzz targets build
//! from this crate alone.
//!
//! How the modules fit together, following one architecture:
//!
//! 1. [`space`] defines what may be searched; [`space::SearchSpace::plan`]
//!    turns it into the controller's [`decision::Plan`].
//! 2. The controller's policy emits [`decision::Actions`] along that plan;
//!    [`spec::ArchSpec::from_actions`] decodes them into a validated spec,
//!    whose content hash is its [`spec::ArchId`].
//! 3. The spec travels to a worker inside a [`messages::TrainJob`]; the
//!    worker trains it on a data set in one of the [`datasets`] formats and
//!    answers with a [`messages::TrainResult`] whose reward comes from the
//!    job's [`reward::RewardFunction`].
//! 4. The controller recomputes the log-probability of the stored actions
//!    and takes a REINFORCE step (crate `nas-controller`); an [`oracle`]
//!    stands in for the workers in simulations.
//! 5. While a child trains, its worker reports every epoch
//!    ([`messages::EpochProgress`]); a [`stopping`] rule may stop it
//!    early ([`messages::StopJob`]), or ASHA pauses it at a rung until it
//!    is [`promotion`] material.
//! 6. The result carries the child's [`objective::Costs`]; an experiment's
//!    [`objective::RewardShaping`] trades its reward against them, and
//!    [`objective::pareto`] finds the children no other one beats.
//!
//! Everything that crosses the wire is built only through validating
//! constructors, serde included; [`Error`] says what was wrong.

pub mod canonical_json;
pub mod datasets;
pub mod decision;
mod error;
pub mod messages;
pub mod objective;
pub mod oracle;
pub mod promotion;
pub mod reward;
pub mod space;
pub mod spec;
pub mod stopping;
pub mod tensor_file;

pub use decision::{Actions, DecisionKind, Plan, Step};
pub use error::{Error, Result};
pub use messages::{
    DatasetRef, EpochMetrics, EpochProgress, ExperimentName, Hyperparameters, JobId, Outcome, StopJob, Task,
    TrainJob, TrainJobFields, TrainResult, TrainResultFields, TrainingBudget, TrialCommand,
};
pub use reward::{Goal, RewardFunction};
pub use space::{
    CategoricalDecision, CategoricalSpace, CellSpace, CnnSpace, DepthSchedule, SearchSpace, SpaceDefinition,
};
pub use spec::{ArchId, ArchKind, ArchSpec, Architecture, CategoricalArch, Choice};
pub use stopping::{Decision, SampledAgain, StoppedReward, Stopper, StoppingConfig, StoppingRule};

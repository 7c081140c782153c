//! The stored configuration's lifecycle: [`load`] reads an experiment's
//! `config.json` back, and [`settle`] decides what a search runs with — a
//! new experiment's configuration resolved from its layers, or a stored
//! one with the budget settings its flags may change, refusing every
//! other change by name ([`ResumeMode`] says which).

use nas_domain::ExperimentName;
use nas_infra::store::{ObjectStore, keys};

use super::config::{BUDGET_SETTINGS, ExperimentConfig, Overrides};
use crate::{Error, Result};

/// The stored configuration of `experiment`; an error naming the store
/// when there is none.
pub async fn load(store: &ObjectStore, experiment: &ExperimentName) -> Result<ExperimentConfig> {
    store
        .get_json(&keys::experiment_config(experiment))
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "there is no experiment {experiment} in {}",
                store.describe()
            ))
        })
}

/// Whether a search starts a new experiment or continues a stored one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeMode {
    /// Start a new experiment; fail when one of that name exists.
    New,
    /// Continue the stored experiment; fail when there is none.
    Resume,
    /// Continue it when it exists, else start it (for restarting services).
    Auto,
}

/// The configuration a search runs with: a new experiment's resolved from
/// `layers` (lowest precedence first), or the stored one's with the
/// resumable part of the highest layer (the flags and variables), as
/// `mode` says. `Search::open` writes it.
pub async fn settle(
    store: &ObjectStore,
    layers: &[&Overrides],
    mode: ResumeMode,
) -> Result<ExperimentConfig> {
    let config = ExperimentConfig::resolve(layers)?;
    let experiment = config.experiment.clone();
    let key = keys::experiment_config(&experiment);
    let stored: Option<ExperimentConfig> = store.get_json(&key).await?;
    let settled = match (stored, mode) {
        (Some(_), ResumeMode::New) => {
            return Err(Error::Config(format!(
                "experiment {experiment} already exists in {}; resume it with --resume or pick another --experiment",
                store.describe()
            )));
        }
        (None, ResumeMode::Resume) => {
            return Err(Error::NotFound(format!(
                "there is no experiment {experiment} in {} to resume",
                store.describe()
            )));
        }
        (Some(mut stored), ResumeMode::Resume | ResumeMode::Auto) => {
            if let Some(flags) = layers.last() {
                stored.apply(&flags.resumable())?;
            }
            let changes = stored.changed_by(layers)?;
            if !changes.is_empty() {
                return Err(Error::Config(format!(
                    "experiment {experiment} was created with other settings, and a resumed search keeps them \
                     (only {} change): {}. Give the settings it was created with (or none), \
                     or search under a new --experiment",
                    BUDGET_SETTINGS.join(", "),
                    changes.join("; ")
                )));
            }
            stored.validate()?;
            stored
        }
        (None, ResumeMode::New | ResumeMode::Auto) => config,
    };
    Ok(settled)
}

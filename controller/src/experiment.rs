//! An experiment's configuration: what is searched, how children train,
//! and the search's budget. Stored as `experiments/<name>/config.json` so a
//! resumed search continues with exactly the same settings.
//!
//! It is read from a TOML file (`--config`), then overridden by command-line
//! flags and `NAS_…` environment variables; every field has a default, so
//! an empty file is a valid configuration for CIFAR-10.

use nas_common::{
    CellSpace, CnnSpace, ExperimentName, Hyperparameters, RewardFunction, SearchSpace, Task, TrainingBudget,
};
use serde::{Deserialize, Serialize};

use crate::evolution::EvolutionConfig;
use crate::reinforce::ReinforceConfig;
use crate::strategy::StrategyKind;
use crate::{Error, Result};

/// Everything that defines a search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// The experiment's name (its prefix in the store).
    pub experiment: ExperimentName,
    /// What children are trained on.
    pub task: Task,
    /// The data set's name in the store.
    pub dataset: String,
    /// The search space.
    pub space: SearchSpace,
    /// The search strategy.
    pub strategy: StrategyKind,
    /// Controller settings (REINFORCE).
    pub controller: ReinforceConfig,
    /// Regularized-evolution settings.
    #[serde(default)]
    pub evolution: EvolutionConfig,
    /// Seed of the strategy and of the children.
    pub seed: u64,
    /// Children to train in total.
    pub children: u64,
    /// Stop publishing after this many hours.
    pub max_hours: Option<f64>,
    /// Jobs kept in flight.
    pub in_flight: usize,
    /// A job without a result after this many seconds is published again.
    pub job_timeout_seconds: u64,
    /// The reward a failed child gets.
    pub failed_reward: f64,
    /// Whether a child whose architecture was trained before reuses that
    /// reward instead of training again.
    #[serde(default = "reuse_by_default")]
    pub reuse_rewards: bool,
    /// How long each child trains.
    pub budget: TrainingBudget,
    /// Training overrides for every child.
    pub hyperparameters: Hyperparameters,
    /// How metrics become rewards.
    pub reward: RewardFunction,
}

fn reuse_by_default() -> bool {
    true
}

/// The TOML file: every field optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// See [`ExperimentConfig`].
    pub experiment: Option<ExperimentName>,
    /// See [`ExperimentConfig`].
    pub task: Option<Task>,
    /// See [`ExperimentConfig`].
    pub dataset: Option<String>,
    /// See [`ExperimentConfig`].
    pub space: Option<SearchSpace>,
    /// See [`ExperimentConfig`].
    pub strategy: Option<StrategyKind>,
    /// See [`ExperimentConfig`].
    pub controller: Option<ReinforceConfig>,
    /// See [`ExperimentConfig`].
    pub evolution: Option<EvolutionConfig>,
    /// See [`ExperimentConfig`].
    pub seed: Option<u64>,
    /// See [`ExperimentConfig`].
    pub children: Option<u64>,
    /// See [`ExperimentConfig`].
    pub max_hours: Option<f64>,
    /// See [`ExperimentConfig`].
    pub in_flight: Option<usize>,
    /// See [`ExperimentConfig`].
    pub job_timeout_seconds: Option<u64>,
    /// See [`ExperimentConfig`].
    pub failed_reward: Option<f64>,
    /// See [`ExperimentConfig`].
    pub reuse_rewards: Option<bool>,
    /// See [`ExperimentConfig`].
    pub budget: Option<TrainingBudget>,
    /// See [`ExperimentConfig`].
    pub hyperparameters: Option<Hyperparameters>,
    /// See [`ExperimentConfig`].
    pub reward: Option<RewardFunction>,
}

impl ConfigFile {
    /// Parses a TOML configuration, naming the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text).map_err(|error| Error::Config(format!("{origin}: {error}")))
    }

    /// Fills every missing field with its default for the task.
    pub fn resolve(self) -> Result<ExperimentConfig> {
        let task = self.task.unwrap_or(Task::Cifar10);
        let space = match self.space {
            Some(space) => space,
            None => match task {
                Task::Cifar10 => SearchSpace::cnn(CnnSpace::paper())?,
                Task::PtbWord | Task::PtbChar => SearchSpace::cell(CellSpace::paper())?,
            },
        };
        let default_epochs = match task {
            Task::Cifar10 => 50,
            Task::PtbWord | Task::PtbChar => 35,
        };
        let config = ExperimentConfig {
            experiment: match self.experiment {
                Some(name) => name,
                None => "default".parse()?,
            },
            task,
            dataset: self.dataset.unwrap_or_else(|| match task {
                Task::Cifar10 => "cifar10".into(),
                Task::PtbWord | Task::PtbChar => "ptb".into(),
            }),
            space,
            strategy: self.strategy.unwrap_or(StrategyKind::Reinforce),
            controller: self.controller.unwrap_or_default(),
            evolution: self.evolution.unwrap_or_default(),
            seed: self.seed.unwrap_or(0),
            children: self.children.unwrap_or(100),
            max_hours: self.max_hours,
            in_flight: self.in_flight.unwrap_or(8),
            job_timeout_seconds: self.job_timeout_seconds.unwrap_or(6 * 3600),
            failed_reward: self.failed_reward.unwrap_or(0.0),
            reuse_rewards: self.reuse_rewards.unwrap_or(true),
            budget: self.budget.unwrap_or(TrainingBudget {
                epochs: default_epochs,
                batch_size: None,
                train_examples: None,
                valid_examples: None,
                max_seconds: None,
                evaluate_test: false,
            }),
            hyperparameters: self.hyperparameters.unwrap_or_default(),
            reward: self
                .reward
                .unwrap_or_else(|| RewardFunction::default_for(task.arch_kind())),
        };
        config.validate()?;
        Ok(config)
    }
}

impl ExperimentConfig {
    /// The settings of every strategy.
    pub fn strategy_settings(&self) -> crate::strategy::StrategySettings {
        crate::strategy::StrategySettings {
            reinforce: self.controller.clone(),
            evolution: self.evolution.clone(),
        }
    }

    /// Checks that the settings fit together.
    pub fn validate(&self) -> Result<()> {
        if self.space.kind() != self.task.arch_kind() {
            return Err(Error::Config(format!(
                "task {:?} trains {:?} children but the space is a {:?} space",
                self.task,
                self.task.arch_kind(),
                self.space.kind()
            )));
        }
        if self.children == 0 || self.in_flight == 0 || self.job_timeout_seconds == 0 {
            return Err(Error::Config(
                "children, in_flight and job_timeout_seconds must be at least 1".into(),
            ));
        }
        if self
            .max_hours
            .is_some_and(|hours| !hours.is_finite() || hours <= 0.0)
        {
            return Err(Error::Config(format!(
                "max_hours {:?} must be positive",
                self.max_hours
            )));
        }
        if !self.failed_reward.is_finite() {
            return Err(Error::Config("failed_reward must be finite".into()));
        }
        if self.budget.epochs == 0 {
            return Err(Error::Config("budget.epochs must be at least 1".into()));
        }
        self.reward.validate()?;
        self.evolution.validate()?;
        self.controller.validate()
    }
}

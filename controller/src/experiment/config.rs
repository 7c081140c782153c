//! An experiment's configuration: what is searched, how children train,
//! and the search's budget. Stored as `experiments/<name>/config.json` so a
//! resumed search continues with exactly the same settings.
//!
//! There is one configuration type, [`ExperimentConfig`], with its
//! defaults ([`ExperimentConfig::defaults`]), and one set of optional
//! [`Overrides`]. The overrides are filled by a TOML file (`--config`), by
//! command-line flags and `NAS_…` variables (clap reads both into the same
//! struct), and on `--resume` the budget part of them applies to the
//! stored configuration. [`ExperimentConfig::resolve`] merges the sources
//! in one place — defaults for the task, then the file, then the flags —
//! as values, deserialized once (see [`layers`](super::layers)).

use nas_domain::objective::{Costs, RewardShaping};
use nas_domain::space::DecisionOrder;
use nas_domain::{
    ArchKind, CellSpace, CnnSpace, ExperimentName, Hyperparameters, RewardFunction, SearchSpace,
    SpaceDefinition, StoppingConfig, Task, TrainingBudget, TrialCommand,
};
use serde::{Deserialize, Serialize};

use super::spend::{AtBudget, Prices};
use crate::strategy::StrategyKind;
use crate::strategy::evolution::EvolutionConfig;
use crate::strategy::local_search::LocalSearchConfig;
use crate::strategy::predictor::PredictorConfig;
use crate::strategy::reinforce::ReinforceConfig;

pub use super::overrides::{BudgetOverrides, Overrides};
use crate::{Error, Result};

/// Everything that defines a search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// Local-search settings.
    #[serde(default)]
    pub local_search: LocalSearchConfig,
    /// Predictor-guided search settings.
    #[serde(default)]
    pub predictor: PredictorConfig,
    /// Seed of the strategy and of the children.
    pub seed: u64,
    /// Children to train in total.
    pub children: u64,
    /// Stop publishing after this many hours.
    pub max_hours: Option<f64>,
    /// Stop publishing once the workers have reported this many hours of
    /// training (every device, stopped and failed children included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_gpu_hours: Option<f64>,
    /// What the search does at `max_gpu_hours`: wait for the children in
    /// flight, or leave them for `--resume` (at `max_hours`, a deadline,
    /// it always leaves them).
    #[serde(default)]
    pub at_budget: AtBudget,
    /// Earlier experiments in the same store whose trained children the
    /// search learns from before its first child, matched by decision name
    /// (the predictor, evolution or REINFORCE; see `strategy/warm.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warm_start: Vec<ExperimentName>,
    /// Prices per training hour by device kind (`cuda = 2.5`): the money
    /// spent appears in the summary.
    #[serde(default, skip_serializing_if = "Prices::is_empty")]
    pub prices: Prices,
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
    /// Train children with this command instead of the workers' models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<TrialCommand>,
    /// Which children stop before their full budget (`[stopping]`; none by
    /// default, as in the paper).
    #[serde(default)]
    pub stopping: StoppingConfig,
    /// How costs shape the reward the strategy learns from (`[objective]`;
    /// none by default: the reward is the metric's, as in the paper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<RewardShaping>,
}

/// The settings a resumed search takes from its flags (those of
/// [`Overrides::resumable`]); every other one stays as stored.
pub const BUDGET_SETTINGS: [&str; 7] = [
    "children",
    "max_hours",
    "max_gpu_hours",
    "at_budget",
    "prices",
    "in_flight",
    "job_timeout_seconds",
];

/// The longest time budget: ten years.
const MAX_HOURS: f64 = 24.0 * 365.0 * 10.0;

fn reuse_by_default() -> bool {
    true
}

impl ExperimentConfig {
    /// The defaults for `task`: the paper's space and budget, REINFORCE,
    /// 100 children, 8 in flight, a 6-hour job timeout. A custom task has
    /// no default space: see [`ExperimentConfig::with_space`].
    pub fn defaults(task: Task) -> Result<Self> {
        let space = match task {
            Task::Cifar10 => SearchSpace::cnn(CnnSpace::paper())?,
            Task::PtbWord | Task::PtbChar => SearchSpace::cell(CellSpace::paper())?,
            Task::Custom => {
                return Err(Error::Config(
                    "task custom has no default search space: declare one in the experiment file \
                     ([space] kind = \"categorical\" with [[space.decisions]])"
                        .into(),
                ));
            }
        };
        Self::with_space(task, space)
    }

    /// The defaults for `task` searching `space`.
    pub fn with_space(task: Task, space: SearchSpace) -> Result<Self> {
        let dataset = match task {
            Task::Cifar10 => "cifar10",
            Task::PtbWord | Task::PtbChar => "ptb",
            Task::Custom => "custom",
        };
        Ok(ExperimentConfig {
            experiment: "default".parse()?,
            task,
            dataset: dataset.into(),
            space,
            strategy: StrategyKind::DEFAULT,
            controller: ReinforceConfig::default(),
            evolution: EvolutionConfig::default(),
            local_search: LocalSearchConfig::default(),
            predictor: PredictorConfig::default(),
            seed: 0,
            children: 100,
            max_hours: None,
            max_gpu_hours: None,
            at_budget: AtBudget::default(),
            prices: Prices::default(),
            warm_start: Vec::new(),
            in_flight: 8,
            job_timeout_seconds: 6 * 3600,
            failed_reward: 0.0,
            reuse_rewards: true,
            budget: TrainingBudget::default_for(task),
            hyperparameters: Hyperparameters::default(),
            reward: RewardFunction::default_for_task(task),
            trial: None,
            stopping: StoppingConfig::default(),
            objective: None,
        })
    }

    /// The configuration of a new experiment: the defaults for the task,
    /// then each source in `layers` from lowest to highest precedence (a
    /// file, then the flags), validated.
    pub fn resolve(layers: &[&Overrides]) -> Result<Self> {
        let space = layers.iter().rev().find_map(|layer| layer.space.clone());
        // A categorical space without a task is a custom search.
        let implied = match &space {
            Some(space) if space.kind() == ArchKind::Categorical => Task::Custom,
            _ => Task::Cifar10,
        };
        let task = layers
            .iter()
            .rev()
            .find_map(|layer| layer.task)
            .unwrap_or(implied);
        let defaults = match space {
            Some(space) => ExperimentConfig::with_space(task, space)?,
            None => ExperimentConfig::defaults(task)?,
        };
        let config = defaults.merged(layers)?;
        config.validate()?;
        Ok(config)
    }

    /// What `layers` would change in this (stored) configuration besides
    /// the budget settings a resumed search takes: one line per change.
    pub(super) fn changed_by(&self, layers: &[&Overrides]) -> Result<Vec<String>> {
        let value = |config: &ExperimentConfig| {
            let mut value = serde_json::to_value(config)
                .map_err(|error| Error::Config(format!("the configuration: {error}")))?;
            if let Some(fields) = value.as_object_mut() {
                for setting in BUDGET_SETTINGS {
                    fields.remove(setting);
                }
            }
            Ok::<_, Error>(value)
        };
        Ok(super::changes::differences(
            &value(self)?,
            &value(&self.merged(layers)?)?,
        ))
    }

    /// This configuration with every setting `overrides` gives written
    /// over it (see [`layers`](super::layers)).
    pub fn apply(&mut self, overrides: &Overrides) -> Result<()> {
        *self = self.merged(&[overrides])?;
        Ok(())
    }

    /// This configuration with the layers merged over it as values and
    /// deserialized once, then the settings that act on the result
    /// (`--hidden`, `--params`, `paper_strict`).
    fn merged(&self, layers: &[&Overrides]) -> Result<Self> {
        let value = super::layers::merged(super::layers::to_value(self)?, layers)?;
        let mut config: ExperimentConfig = serde_json::from_value(value)
            .map_err(|error| Error::Config(format!("the merged configuration: {error}")))?;
        for layer in layers {
            if let Some(hidden) = layer.hidden {
                config.hyperparameters.hidden_size = Some(hidden);
                config.hyperparameters.parameters = None;
            }
            if let Some(params) = layer.params {
                config.hyperparameters.parameters = u64::try_from(params).ok();
                config.hyperparameters.hidden_size = None;
            }
        }
        if layers.iter().any(|layer| layer.paper_strict) {
            config.make_paper_strict();
        }
        Ok(config)
    }

    /// The paper's values for every default that differs from them: its
    /// strategy (REINFORCE) and controller
    /// ([`ReinforceConfig::paper_strict`]), every sample
    /// trained (no reward reuse for duplicates), CNN children at a
    /// constant learning rate (no drop inside the budget), and the
    /// controller's paper decision order in CNN spaces.
    pub fn make_paper_strict(&mut self) {
        self.strategy = StrategyKind::Reinforce;
        self.controller = ReinforceConfig::paper_strict(self.task);
        self.reuse_rewards = false;
        if self.task == Task::Cifar10 {
            self.hyperparameters.lr_decay_epoch = Some(self.budget.epochs.max(1));
        }
        if let SpaceDefinition::Cnn(cnn) = &*self.space
            && let Ok(space) = SearchSpace::cnn(CnnSpace {
                decision_order: DecisionOrder::Paper,
                ..cnn.clone()
            })
        {
            self.space = space;
        }
    }

    /// The reward the strategy learns from for a child whose reward
    /// function gave `reward` and whose result reports `costs`: shaped by
    /// the experiment's objective, when it has one; an error naming a cost
    /// the objective needs and the result lacks.
    pub fn shaped_reward(&self, reward: f64, costs: &Costs) -> nas_domain::Result<f64> {
        match &self.objective {
            Some(objective) => objective.shape(reward, costs),
            None => Ok(reward),
        }
    }

    /// The settings of every strategy.
    pub fn strategy_settings(&self) -> crate::strategy::StrategySettings {
        crate::strategy::StrategySettings {
            reinforce: self.controller.clone(),
            evolution: self.evolution.clone(),
            local_search: self.local_search.clone(),
            predictor: self.predictor.clone(),
        }
    }

    /// Checks that the settings fit together.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(Error::Config(reason));
        if !self.task.accepts(self.space.kind()) {
            let trains = self
                .task
                .arch_kind()
                .map_or("any".to_owned(), |kind| format!("{kind:?}"));
            return invalid(format!(
                "task {:?} trains {trains} children but the space is a {:?} space",
                self.task,
                self.space.kind()
            ));
        }
        if let Some(trial) = &self.trial {
            trial.validate().map_err(Error::Config)?;
        }
        if self.children == 0 || self.in_flight == 0 || self.job_timeout_seconds == 0 {
            return invalid("children, in_flight and job_timeout_seconds must be at least 1".into());
        }
        if self
            .max_hours
            .is_some_and(|hours| !hours.is_finite() || hours <= 0.0 || hours > MAX_HOURS)
        {
            return invalid(format!(
                "max_hours {:?} must be positive and at most {MAX_HOURS}",
                self.max_hours
            ));
        }
        if self
            .max_gpu_hours
            .is_some_and(|hours| !hours.is_finite() || hours <= 0.0)
        {
            return invalid(format!(
                "max_gpu_hours {:?} must be a positive number of hours",
                self.max_gpu_hours
            ));
        }
        if self.warm_start.contains(&self.experiment) {
            return invalid(format!(
                "experiment {} cannot warm-start from itself (resume it with --resume instead)",
                self.experiment
            ));
        }
        if !self.failed_reward.is_finite() {
            return invalid("failed_reward must be finite".into());
        }
        if self.budget.epochs == 0 {
            return invalid("budget.epochs must be at least 1".into());
        }
        self.hyperparameters.validate().map_err(Error::Config)?;
        self.reward.validate()?;
        self.stopping.validate()?;
        self.evolution.validate()?;
        self.local_search.validate()?;
        self.predictor.validate()?;
        self.controller.validate()
    }
}

#[cfg(test)]
mod tests {
    use nas_domain::StoppingRule;

    use super::*;
    use crate::strategy::reinforce::Staleness;

    #[test]
    fn a_file_then_the_flags_merge_over_the_defaults() {
        let file = Overrides::from_toml(
            "children = 7\n[controller]\nlearning_rate = 0.1\n[stopping]\nrule = \"median\"\nmin_children = 3\n",
            "test.toml",
        )
        .unwrap();
        let flags = Overrides {
            children: Some(9),
            staleness: Some(Staleness::Drop { max_versions: 4 }),
            stopping_rule: Some(StoppingRule::from_name("asha:1:3").unwrap()),
            hidden: Some(64),
            ..Overrides::default()
        };
        let config = ExperimentConfig::resolve(&[&file, &flags]).unwrap();
        let defaults = ExperimentConfig::defaults(Task::Cifar10).unwrap();
        assert_eq!(config.children, 9);
        assert_eq!(config.controller.learning_rate, 0.1);
        assert_eq!(config.controller.batch_size, defaults.controller.batch_size);
        assert_eq!(config.controller.staleness, Staleness::Drop { max_versions: 4 });
        assert_eq!(config.stopping.rule, StoppingRule::from_name("asha:1:3").unwrap());
        assert_eq!(config.hyperparameters.hidden_size, Some(64));
        assert_eq!(config.budget, defaults.budget);
    }

    #[test]
    fn a_resumed_search_takes_only_the_budget_from_the_flags() {
        let mut stored = ExperimentConfig::defaults(Task::Cifar10).unwrap();
        let flags = Overrides {
            children: Some(500),
            seed: Some(42),
            ..Overrides::default()
        };
        stored.apply(&flags.resumable()).unwrap();
        assert_eq!((stored.children, stored.seed), (500, 0));
    }

    #[test]
    fn a_resumed_search_names_each_setting_it_would_change_besides_the_budget() {
        let stored = ExperimentConfig::defaults(Task::Cifar10).unwrap();
        let same = Overrides::from_toml("children = 900\nin_flight = 3\nseed = 0\n", "same.toml").unwrap();
        assert!(stored.changed_by(&[&same]).unwrap().is_empty());
        let edited =
            Overrides::from_toml("seed = 4\n[controller]\nlearning_rate = 0.2\n", "edited.toml").unwrap();
        let flags = Overrides {
            strategy: Some(StrategyKind::Evolution),
            children: Some(7),
            ..Overrides::default()
        };
        let changes = stored.changed_by(&[&edited, &flags]).unwrap();
        assert_eq!(changes.len(), 3, "{changes:?}");
        for named in ["controller.learning_rate", "seed: stored 0, given 4", "strategy"] {
            assert!(
                changes
                    .iter()
                    .any(|change| change.starts_with(named) || change == named),
                "{named}: {changes:?}"
            );
        }
    }

    #[test]
    fn an_unknown_key_in_a_file_is_an_error_naming_it() {
        let error = Overrides::from_toml("childs = 3\n", "exp.toml")
            .unwrap_err()
            .to_string();
        assert!(error.contains("childs") && error.contains("exp.toml"), "{error}");
    }
}

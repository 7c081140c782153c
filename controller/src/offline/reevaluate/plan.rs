//! What a re-evaluation trains: the architectures a [`Selection`] names
//! from the experiment's reward log, at every point of the [`Grid`], with
//! every seed; each planned training is written to the run's table before
//! anything is published, so an interrupted run continues the same plan.

use std::collections::HashMap;

use nas_domain::messages::MESSAGE_VERSION;
use nas_domain::{
    ArchId, ArchSpec, DatasetRef, ExperimentName, Hyperparameters, JobId, Task, TrainJob, TrainJobFields,
    TrainingBudget,
};
use nas_infra::store::{ObjectStore, keys};

use super::{Plan, ReevaluationJob};
use nas_domain::objective::Cost;

use crate::experiment::config::ExperimentConfig;
use crate::experiment::leaderboard::pareto_front;
use crate::experiment::reward_log::{self, RecordStatus};
use crate::{Error, Result};

/// Which architectures to re-evaluate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// The best K by reward.
    Top(usize),
    /// These ids (or unique prefixes).
    Ids(Vec<String>),
    /// Every architecture in the reward log.
    All,
    /// The architectures on the Pareto front of the metric against a cost.
    Pareto(Cost),
}

/// Which hyperparameters each architecture is trained with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grid {
    /// The experiment's own.
    Experiment,
    /// The paper's final grid: learning rate, weight decay, batch-norm
    /// epsilon and the epoch of learning-rate decay (for cells: learning
    /// rate, dropout, initialisation range and the epoch of a scheduled
    /// learning-rate drop).
    Final,
}

/// The grid points of `grid` for `config` trained `epochs` epochs.
pub fn grid(config: &ExperimentConfig, epochs: u32, grid: Grid) -> Vec<Hyperparameters> {
    let base = config.hyperparameters.clone();
    if grid == Grid::Experiment {
        return vec![base];
    }
    match config.task {
        Task::Cifar10 => {
            let mut points = Vec::new();
            for learning_rate in [0.05, 0.1] {
                for weight_decay in [1e-4, 5e-4] {
                    for bn_epsilon in [1e-5, 1e-3] {
                        for decay in [epochs.div_ceil(2), (3 * epochs).div_ceil(4)] {
                            points.push(Hyperparameters {
                                learning_rate: Some(learning_rate),
                                weight_decay: Some(weight_decay),
                                bn_epsilon: Some(bn_epsilon),
                                lr_decay_epoch: Some(decay.max(1)),
                                ..base.clone()
                            });
                        }
                    }
                }
            }
            points.dedup();
            points
        }
        // A custom trainer's hyperparameters are its own business.
        Task::Custom => vec![base],
        Task::PtbWord | Task::PtbChar => {
            let mut points = Vec::new();
            for learning_rate in [2.5, 5.0, 10.0] {
                for dropout in [0.2, 0.5] {
                    for init_range in [0.04, 0.1] {
                        for decay in [epochs.div_ceil(2), (3 * epochs).div_ceil(4)] {
                            points.push(Hyperparameters {
                                learning_rate: Some(learning_rate),
                                dropout: Some(dropout),
                                init_range: Some(init_range),
                                lr_decay_epoch: Some(decay.max(1)),
                                ..base.clone()
                            });
                        }
                    }
                }
            }
            points.dedup();
            points
        }
    }
}

/// The architectures `selection` names, from the experiment's reward log.
pub(super) async fn select(
    store: &ObjectStore,
    experiment: &ExperimentName,
    selection: &Selection,
) -> Result<Vec<ArchSpec>> {
    let records = reward_log::read_all(store, experiment).await?;
    let mut best: HashMap<ArchId, (f64, ArchSpec)> = HashMap::new();
    for record in records.iter().filter(|r| r.status == RecordStatus::Ok) {
        let entry = best
            .entry(record.arch_id.clone())
            .or_insert((f64::NEG_INFINITY, record.spec.clone()));
        entry.0 = entry.0.max(record.reward);
    }
    let mut ranked: Vec<(ArchId, f64, ArchSpec)> = best.into_iter().map(|(id, (r, s))| (id, r, s)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let chosen: Vec<ArchSpec> = match selection {
        Selection::Top(count) => ranked.into_iter().take(*count).map(|(_, _, spec)| spec).collect(),
        Selection::All => ranked.into_iter().map(|(_, _, spec)| spec).collect(),
        Selection::Pareto(cost) => {
            let mut seen = std::collections::HashSet::new();
            let front = pareto_front(&records, *cost);
            if front.is_empty() {
                return Err(Error::NotFound(format!(
                    "no trained architecture of {experiment} reports its {cost}, so it has no front"
                )));
            }
            front
                .into_iter()
                .filter(|record| seen.insert(record.arch_id.clone()))
                .map(|record| record.spec.clone())
                .collect()
        }
        Selection::Ids(ids) => ids
            .iter()
            .map(|prefix| {
                let matching: Vec<&(ArchId, f64, ArchSpec)> = ranked
                    .iter()
                    .filter(|(id, _, _)| id.as_str().starts_with(prefix.as_str()))
                    .collect();
                match matching.as_slice() {
                    [only] => Ok(only.2.clone()),
                    [] => Err(Error::NotFound(format!(
                        "no trained architecture {prefix} in {experiment}"
                    ))),
                    _ => Err(Error::Config(format!(
                        "{prefix} is the prefix of several architecture ids"
                    ))),
                }
            })
            .collect::<Result<_>>()?,
    };
    if chosen.is_empty() {
        return Err(Error::NotFound(format!(
            "{experiment} has no trained architecture to re-evaluate"
        )));
    }
    Ok(chosen)
}

/// The planned trainings of an interrupted run, or a new plan written to
/// the run's table.
pub(super) async fn plan_jobs(
    plan: &Plan,
    config: &ExperimentConfig,
    store: &ObjectStore,
    points: &[Hyperparameters],
) -> Result<Vec<ReevaluationJob>> {
    let mut jobs: Vec<ReevaluationJob> = Vec::new();
    for key in store
        .list(&keys::reevaluation_jobs_prefix(&plan.experiment, &plan.run))
        .await?
    {
        if let Some(job) = store.get_json(&key).await? {
            jobs.push(job);
        }
    }
    if !jobs.is_empty() {
        return Ok(jobs);
    }
    for found in select(store, &plan.experiment, &plan.selection).await? {
        let spec = if plan.widen > 0 {
            found.widened(plan.widen)?
        } else {
            found
        };
        for (grid_point, hyperparameters) in points.iter().enumerate() {
            for seed_index in 0..plan.seeds {
                let planned = ReevaluationJob {
                    job: training(plan, config, &spec, hyperparameters, seed_index)?,
                    grid_point,
                    seed_index,
                };
                let key = keys::reevaluation_job(&plan.experiment, &plan.run, planned.job.job_id);
                store.put_json(&key, &planned).await?;
                jobs.push(planned);
            }
        }
    }
    Ok(jobs)
}

/// One training of `spec` at one grid point with one seed.
fn training(
    plan: &Plan,
    config: &ExperimentConfig,
    spec: &ArchSpec,
    hyperparameters: &Hyperparameters,
    seed_index: u32,
) -> Result<TrainJob> {
    Ok(TrainJob::new(TrainJobFields {
        schema_version: MESSAGE_VERSION,
        job_id: JobId::random(),
        experiment: plan.run.clone(),
        policy_version: 0,
        attempt: 1,
        spec: spec.clone(),
        task: config.task,
        dataset: DatasetRef {
            name: config.dataset.clone(),
            manifest_sha256: None,
        },
        budget: TrainingBudget {
            epochs: plan.epochs,
            evaluate_test: plan.test,
            ..config.budget.clone()
        },
        hyperparameters: hyperparameters.clone(),
        reward: config.reward,
        seed: u64::from(seed_index) + 1,
        trial: config.trial.clone(),
    })?)
}

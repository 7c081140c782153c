//! Batch re-evaluation of stored architectures: the top K of an experiment,
//! a list of ids, or every architecture of its reward log, trained again by
//! the same workers with their own budget — more epochs, several seeds,
//! optionally the paper's final grid over learning rate, weight decay,
//! batch-norm epsilon and the epoch of learning-rate decay, and optionally
//! the test set. Results go to their own table,
//! `experiments/<name>/reevaluations/<run>/`, never into the policy's
//! reward log; the summary gives mean ± standard deviation per architecture
//! and grid point, the final pick, and its test score when asked.
//!
//! Jobs travel under a messaging name of their own (`<run>`), so their
//! results arrive on a results queue the search's controller never reads.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use nas_common::messages::MESSAGE_VERSION;
use nas_common::queue::{JobQueue, backoff};
use nas_common::store::{ObjectStore, keys};
use nas_common::{
    ArchId, ArchSpec, DatasetRef, ExperimentName, Hyperparameters, JobId, Outcome, Task, TrainJob,
    TrainJobFields, TrainResult,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::experiment::ExperimentConfig;
use crate::reward_log::{self, RecordStatus};
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
}

/// A re-evaluation to run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The experiment whose architectures are re-evaluated.
    pub experiment: ExperimentName,
    /// This re-evaluation's name (its folder, and the name its jobs travel under).
    pub run: ExperimentName,
    /// Which architectures.
    pub selection: Selection,
    /// Epochs per training.
    pub epochs: u32,
    /// Seeds per architecture and grid point.
    pub seeds: u32,
    /// Use the final grid instead of the experiment's hyperparameters.
    pub grid: bool,
    /// Score every training on the test set too (reported for the pick).
    pub test: bool,
    /// Jobs kept in flight.
    pub in_flight: usize,
    /// A job without a result after this long is published again.
    pub job_timeout: Duration,
}

/// One planned training.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReevaluationJob {
    /// The job.
    pub job: TrainJob,
    /// Which grid point (index into the summary's grid).
    pub grid_point: usize,
    /// Which seed (0-based).
    pub seed_index: u32,
}

/// Mean, standard deviation and count of some values.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Statistic {
    /// How many values.
    pub count: usize,
    /// Their mean.
    pub mean: f64,
    /// Their (population) standard deviation.
    pub std: f64,
}

impl Statistic {
    fn of(values: &[f64]) -> Self {
        let count = values.len();
        if count == 0 {
            return Statistic::default();
        }
        let mean = values.iter().sum::<f64>() / count as f64;
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / count as f64;
        Statistic {
            count,
            mean,
            std: variance.sqrt(),
        }
    }
}

/// The results of one architecture at one grid point.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GridResult {
    /// The architecture.
    pub architecture_id: ArchId,
    /// The grid point.
    pub grid_point: usize,
    /// The hyperparameters of that point.
    pub hyperparameters: Hyperparameters,
    /// The validation metric over seeds.
    pub metric: Statistic,
    /// The reward over seeds.
    pub reward: Statistic,
    /// The test metric over seeds, when asked.
    pub test_metric: Option<Statistic>,
    /// Trainings that failed.
    pub failed: usize,
}

/// The re-evaluation's summary.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    /// The experiment.
    pub experiment: ExperimentName,
    /// The re-evaluation's name.
    pub run: ExperimentName,
    /// Every architecture at every grid point, best mean reward first.
    pub results: Vec<GridResult>,
    /// The pick: the best mean validation reward.
    pub pick: Option<GridResult>,
}

fn folder(plan: &Plan) -> String {
    format!(
        "{}reevaluations/{}/",
        keys::experiment_prefix(&plan.experiment),
        plan.run
    )
}

/// The grid points: the experiment's hyperparameters, or the final grid.
pub fn grid(config: &ExperimentConfig, epochs: u32, full: bool) -> Vec<Hyperparameters> {
    let base = config.hyperparameters.clone();
    if !full {
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
        Task::PtbWord | Task::PtbChar => [2.5, 5.0, 10.0]
            .into_iter()
            .map(|learning_rate| Hyperparameters {
                learning_rate: Some(learning_rate),
                ..base.clone()
            })
            .collect(),
    }
}

/// The architectures `selection` names, from the experiment's reward log.
async fn select(
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
        Selection::Ids(ids) => ids
            .iter()
            .map(|prefix| {
                let matching: Vec<&(ArchId, f64, ArchSpec)> = ranked
                    .iter()
                    .filter(|(id, _, _)| id.as_str().starts_with(prefix.as_str()))
                    .collect();
                match matching.as_slice() {
                    [only] => Ok(only.2.clone()),
                    [] => Err(Error::Config(format!(
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
        return Err(Error::Config(format!(
            "{experiment} has no trained architecture to re-evaluate"
        )));
    }
    Ok(chosen)
}

/// Plans the jobs, publishes them, and collects every result.
pub async fn run(
    plan: &Plan,
    queue: &JobQueue,
    store: &ObjectStore,
    shutdown: CancellationToken,
) -> Result<Summary> {
    let config: ExperimentConfig = store
        .get_json(&keys::experiment_config(&plan.experiment))
        .await?
        .ok_or_else(|| {
            Error::Config(format!(
                "there is no experiment {} in {}",
                plan.experiment,
                store.describe()
            ))
        })?;
    let specs = select(store, &plan.experiment, &plan.selection).await?;
    let points = grid(&config, plan.epochs, plan.grid);
    let folder = folder(plan);
    // Reuse the planned jobs of an interrupted run; plan them otherwise.
    let mut jobs: Vec<ReevaluationJob> = Vec::new();
    for key in store.list(&format!("{folder}jobs/")).await? {
        if let Some(job) = store.get_json(&key).await? {
            jobs.push(job);
        }
    }
    if jobs.is_empty() {
        for spec in &specs {
            for (grid_point, hyperparameters) in points.iter().enumerate() {
                for seed_index in 0..plan.seeds {
                    let job = TrainJob::new(TrainJobFields {
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
                        budget: nas_common::TrainingBudget {
                            epochs: plan.epochs,
                            evaluate_test: plan.test,
                            ..config.budget.clone()
                        },
                        hyperparameters: hyperparameters.clone(),
                        reward: config.reward,
                        seed: u64::from(seed_index) + 1,
                    })?;
                    let planned = ReevaluationJob {
                        job,
                        grid_point,
                        seed_index,
                    };
                    store
                        .put_json(&format!("{folder}jobs/{}.json", planned.job.job_id), &planned)
                        .await?;
                    jobs.push(planned);
                }
            }
        }
    }
    let mut results: HashMap<JobId, TrainResult> = HashMap::new();
    for key in store.list(&format!("{folder}results/")).await? {
        if let Some(result) = store.get_json::<TrainResult>(&key).await? {
            results.insert(result.job_id, result);
        }
    }
    collect(plan, queue, store, &folder, &jobs, &mut results, shutdown).await?;
    let summary = summarize(plan, &points, &jobs, &results);
    store.put_json(&format!("{folder}summary.json"), &summary).await?;
    Ok(summary)
}

/// Publishes the jobs that have no result, keeping `in_flight` of them in
/// the queue, until every job has a result (or `shutdown`).
async fn collect(
    plan: &Plan,
    queue: &JobQueue,
    store: &ObjectStore,
    folder: &str,
    jobs: &[ReevaluationJob],
    results: &mut HashMap<JobId, TrainResult>,
    shutdown: CancellationToken,
) -> Result<()> {
    queue.declare(Some(&plan.run)).await?;
    let mut incoming = queue.results(&plan.run, 32).await?;
    let mut dead = queue.dead_jobs(&plan.run).await?;
    let mut waiting: Vec<&ReevaluationJob> = jobs
        .iter()
        .filter(|j| !results.contains_key(&j.job.job_id))
        .collect();
    waiting.reverse();
    let mut in_flight: HashMap<JobId, (TrainJob, tokio::time::Instant)> = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut attempt = 0;
    while results.len() < jobs.len() && !shutdown.is_cancelled() {
        while in_flight.len() < plan.in_flight {
            let Some(next) = waiting.pop() else { break };
            queue.publish_job(&next.job).await?;
            in_flight.insert(next.job.job_id, (next.job.clone(), tokio::time::Instant::now()));
        }
        tokio::select! {
            delivery = incoming.next() => match delivery {
                Some(Ok(message)) => {
                    if let Ok(result) = TrainResult::from_json(&message.body)
                        && in_flight.contains_key(&result.job_id)
                    {
                        if matches!(result.outcome, Outcome::Preempted { .. }) {
                            let (job, _) = &in_flight[&result.job_id];
                            let again = job.with_attempt(job.attempt + 1)?;
                            queue.publish_job(&again).await?;
                            in_flight.insert(result.job_id, (again, tokio::time::Instant::now()));
                        } else {
                            store.put_json(&format!("{folder}results/{}.json", result.job_id), &result).await?;
                            in_flight.remove(&result.job_id);
                            results.insert(result.job_id, result);
                        }
                    }
                    message.ack().await?;
                }
                Some(Err(_)) | None => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                    incoming = queue.results(&plan.run, 32).await?;
                }
            },
            delivery = dead.next() => {
                if let Some(Ok(message)) = delivery {
                    if let Ok(job) = TrainJob::from_json(&message.body)
                        && in_flight.remove(&job.job_id).is_some()
                    {
                        tracing::warn!(job_id = %job.job_id, "a re-evaluation job was dead-lettered");
                    }
                    message.ack().await?;
                }
            }
            _ = ticker.tick() => {
                let overdue: Vec<JobId> = in_flight
                    .iter()
                    .filter(|(_, (_, since))| since.elapsed() > plan.job_timeout)
                    .map(|(id, _)| *id)
                    .collect();
                for id in overdue {
                    let (job, _) = &in_flight[&id];
                    let again = job.with_attempt(job.attempt + 1)?;
                    queue.publish_job(&again).await?;
                    in_flight.insert(id, (again, tokio::time::Instant::now()));
                }
            }
            () = shutdown.cancelled() => break,
        }
        if in_flight.is_empty() && waiting.is_empty() {
            break; // everything left was dead-lettered
        }
    }
    queue.close().await;
    Ok(())
}

/// Metrics, rewards, test metrics and failures of one group of trainings.
type Outcomes = (Vec<f64>, Vec<f64>, Vec<f64>, usize);

/// Mean ± std per architecture and grid point; the pick by mean reward.
pub fn summarize(
    plan: &Plan,
    points: &[Hyperparameters],
    jobs: &[ReevaluationJob],
    results: &HashMap<JobId, TrainResult>,
) -> Summary {
    let mut groups: BTreeMap<(ArchId, usize), Outcomes> = BTreeMap::new();
    for planned in jobs {
        let group = groups
            .entry((planned.job.spec.id(), planned.grid_point))
            .or_default();
        match results
            .get(&planned.job.job_id)
            .map(|r| (&r.outcome, r.test_metric))
        {
            Some((Outcome::Ok { reward, metric }, test)) => {
                group.0.push(*metric);
                group.1.push(*reward);
                group.2.extend(test);
            }
            _ => group.3 += 1,
        }
    }
    let mut rows: Vec<GridResult> = groups
        .into_iter()
        .map(
            |((architecture_id, grid_point), (metrics, rewards, tests, failed))| GridResult {
                architecture_id,
                grid_point,
                hyperparameters: points.get(grid_point).cloned().unwrap_or_default(),
                metric: Statistic::of(&metrics),
                reward: Statistic::of(&rewards),
                test_metric: plan.test.then(|| Statistic::of(&tests)),
                failed,
            },
        )
        .collect();
    rows.sort_by(|a, b| b.reward.mean.total_cmp(&a.reward.mean));
    let pick = rows.iter().find(|row| row.reward.count > 0).cloned();
    Summary {
        experiment: plan.experiment.clone(),
        run: plan.run.clone(),
        results: rows,
        pick,
    }
}

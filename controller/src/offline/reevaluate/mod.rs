//! Batch re-evaluation of stored architectures: the top K of an experiment,
//! a list of ids, or every architecture of its reward log, trained again by
//! the same workers with their own budget — more epochs, several seeds,
//! optionally the paper's final grid over learning rate, weight decay,
//! batch-norm epsilon and the epoch of learning-rate decay, and optionally
//! the test set. Results go to their own table,
//! `experiments/<name>/reevaluations/<run>/`, never into the policy's
//! reward log; the [`summary`] gives mean ± standard deviation per
//! architecture and grid point, the final pick, and its test score when
//! asked.
//!
//! Jobs travel under a messaging name of their own (`<run>`), so their
//! results arrive on a results queue the search's controller never reads.
//! They go through the same [`JobTracker`] as a search's: confirmed
//! publications retried until they go out, republication on timeout and
//! preemption, dead letters, and subscriptions that come back after they
//! end.

mod plan;
pub mod summary;

use std::collections::HashMap;
use std::time::Duration;

use nas_domain::{ExperimentName, JobId, TrainJob, TrainResult};
use nas_infra::queue::JobQueue;
use nas_infra::store::{ObjectStore, keys};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::Result;
use crate::experiment::job_log::now;
use crate::experiment::stored;
use crate::jobs::{Arrival, Event, InFlight, JobTracker, TrackerCounters, pause};
pub use plan::{Grid, Selection, grid};
pub use summary::{GridResult, Statistic, Summary, summarize};

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
    /// Which hyperparameters.
    pub grid: Grid,
    /// Score every training on the test set too (reported for the pick).
    pub test: bool,
    /// Jobs kept in flight.
    pub in_flight: usize,
    /// A job without a result after this long is published again.
    pub job_timeout: Duration,
    /// Filters added to every layer of each CNN (the paper's "more
    /// filters"); 0 trains the nets as found.
    pub widen: u16,
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

/// Plans the jobs (or continues an interrupted plan), publishes them, and
/// collects every result into the summary.
pub async fn run(
    plan: &Plan,
    queue: &JobQueue,
    store: &ObjectStore,
    shutdown: CancellationToken,
) -> Result<Summary> {
    let config = stored::load(store, &plan.experiment).await?;
    let points = grid(&config, plan.epochs, plan.grid);
    let jobs = plan::plan_jobs(plan, &config, store, &points).await?;
    let mut results: HashMap<JobId, TrainResult> = HashMap::new();
    for key in store
        .list(&keys::reevaluation_results_prefix(&plan.experiment, &plan.run))
        .await?
    {
        if let Some(result) = store.get_json::<TrainResult>(&key).await? {
            results.insert(result.job_id, result);
        }
    }
    collect(plan, queue, store, &jobs, &mut results, shutdown).await?;
    let summary = summarize(plan, &points, &jobs, &results);
    store
        .put_json(&keys::reevaluation_summary(&plan.experiment, &plan.run), &summary)
        .await?;
    Ok(summary)
}

/// Publishes the jobs that have no result, keeping `in_flight` of them in
/// the queue, until every job has a result or was dead-lettered (or
/// `shutdown`).
async fn collect(
    plan: &Plan,
    queue: &JobQueue,
    store: &ObjectStore,
    jobs: &[ReevaluationJob],
    results: &mut HashMap<JobId, TrainResult>,
    shutdown: CancellationToken,
) -> Result<()> {
    // The results queue must exist before any worker answers.
    queue.declare(Some(&plan.run)).await?;
    let counters = TrackerCounters::default();
    let mut tracker: JobTracker<()> =
        JobTracker::new(queue.clone(), plan.run.clone(), plan.job_timeout, None, counters)
            // Workers report progress; re-evaluation stops nothing, it only
            // drains the queue.
            .with_progress();
    let mut waiting: Vec<&ReevaluationJob> = jobs
        .iter()
        .filter(|planned| !results.contains_key(&planned.job.job_id))
        .rev()
        .collect();
    loop {
        let room = plan.in_flight.max(1).saturating_sub(tracker.len());
        let next: Vec<InFlight<()>> = (0..room)
            .map_while(|_| waiting.pop())
            .map(|planned| InFlight {
                job: planned.job.clone(),
                payload: (),
                published_at: now(),
            })
            .collect();
        tracker.publish(next).await;
        if tracker.is_empty() {
            break; // every job has a result or was dead-lettered
        }
        match tracker.next_event(&shutdown, None).await {
            Event::Results(arrivals) => {
                match store_results(plan, store, &mut tracker, arrivals, results).await {
                    Err(error) if error.is_transient() => {
                        tracing::warn!(%error, "results could not be stored; they will be redelivered");
                        pause(&shutdown).await;
                    }
                    other => other?,
                }
            }
            Event::DeadLettered(dead) => {
                tracing::warn!(job_id = %dead.job.job_id, "a re-evaluation job was dead-lettered");
                tracker.complete_dead(*dead).await?;
            }
            Event::Progress(arrivals) => tracker.complete_progress(arrivals).await?,
            Event::Deadline | Event::Stopped => break,
        }
    }
    tracker.close().await;
    Ok(())
}

/// Writes each result to the run's table, then acknowledges it.
async fn store_results(
    plan: &Plan,
    store: &ObjectStore,
    tracker: &mut JobTracker<()>,
    arrivals: Vec<Arrival>,
    results: &mut HashMap<JobId, TrainResult>,
) -> Result<()> {
    for arrival in &arrivals {
        let result = &arrival.result;
        let key = keys::reevaluation_result(&plan.experiment, &plan.run, result.job_id);
        if let Err(error) = store.put_json(&key, result).await {
            tracker.hand_back(arrivals).await;
            return Err(error.into());
        }
    }
    for arrival in &arrivals {
        results.insert(arrival.result.job_id, arrival.result.clone());
    }
    tracker.complete(arrivals).await
}

//! The object keys of the store layout, in one place.

use nas_domain::{ExperimentName, JobId};

/// `datasets/<name>/<path>`: one file of a data set (`path` as in its manifest).
pub fn dataset_file(name: &str, path: &str) -> String {
    format!("datasets/{name}/{path}")
}

/// `datasets/<name>/manifest.json`.
pub fn dataset_manifest(name: &str) -> String {
    format!("datasets/{name}/manifest.json")
}

/// `experiments/<name>/`.
pub fn experiment_prefix(experiment: &ExperimentName) -> String {
    format!("experiments/{experiment}/")
}

/// `experiments/<name>/config.json`.
pub fn experiment_config(experiment: &ExperimentName) -> String {
    format!("experiments/{experiment}/config.json")
}

/// `experiments/<name>/jobs/`.
pub fn jobs_prefix(experiment: &ExperimentName) -> String {
    format!("experiments/{experiment}/jobs/")
}

/// `experiments/<name>/jobs/<batch>.jsonl`: JSON lines of the job records
/// published together (earlier versions wrote one `<job_id>.json` each;
/// readers accept both).
pub fn job_batch(experiment: &ExperimentName, batch: &str) -> String {
    format!("experiments/{experiment}/jobs/{batch}.jsonl")
}

/// `experiments/<name>/rewards/`.
pub fn rewards_prefix(experiment: &ExperimentName) -> String {
    format!("experiments/{experiment}/rewards/")
}

/// `experiments/<name>/rewards/<first_sequence>.jsonl` (zero-padded, so
/// keys sort by sequence): JSON lines of the reward records logged together
/// (earlier versions wrote one `<job_id>.json` each; readers accept both).
pub fn reward_batch(experiment: &ExperimentName, first_sequence: u64) -> String {
    format!("experiments/{experiment}/rewards/{first_sequence:012}.jsonl")
}

/// Where an experiment's progress records (children's curves while they
/// train, and the stops decided on them) live.
pub fn progress_prefix(experiment: &ExperimentName) -> String {
    format!("experiments/{experiment}/progress/")
}

/// An object of progress records written together; named by when they
/// were written, so listing the prefix gives them in that order.
pub fn progress_batch(experiment: &ExperimentName, batch: &str) -> String {
    format!("experiments/{experiment}/progress/{batch}.jsonl")
}

/// `experiments/<name>/policy/<step>.ckpt` (zero-padded, so keys sort by step).
pub fn policy_checkpoint(experiment: &ExperimentName, step: u64) -> String {
    format!("experiments/{experiment}/policy/{step:08}.ckpt")
}

/// `experiments/<name>/policy/latest.json`.
pub fn policy_latest(experiment: &ExperimentName) -> String {
    format!("experiments/{experiment}/policy/latest.json")
}

/// `experiments/<name>/children/<job_id>/latest.ckpt`.
pub fn child_checkpoint(experiment: &ExperimentName, job: JobId) -> String {
    format!("experiments/{experiment}/children/{job}/latest.ckpt")
}

/// `experiments/<name>/leaderboard.json`.
pub fn leaderboard(experiment: &ExperimentName) -> String {
    format!("experiments/{experiment}/leaderboard.json")
}

/// `experiments/<name>/reevaluations/`: every re-evaluation of an experiment.
pub fn reevaluations_prefix(experiment: &ExperimentName) -> String {
    format!("experiments/{experiment}/reevaluations/")
}

/// `experiments/<name>/reevaluations/<run>/`: a re-evaluation's own table.
pub fn reevaluation_prefix(experiment: &ExperimentName, run: &ExperimentName) -> String {
    format!("{}{run}/", reevaluations_prefix(experiment))
}

/// `…/reevaluations/<run>/jobs/`: the planned trainings.
pub fn reevaluation_jobs_prefix(experiment: &ExperimentName, run: &ExperimentName) -> String {
    format!("{}jobs/", reevaluation_prefix(experiment, run))
}

/// `…/reevaluations/<run>/jobs/<job_id>.json`.
pub fn reevaluation_job(experiment: &ExperimentName, run: &ExperimentName, job: JobId) -> String {
    format!("{}{job}.json", reevaluation_jobs_prefix(experiment, run))
}

/// `…/reevaluations/<run>/results/`: one result per finished training.
pub fn reevaluation_results_prefix(experiment: &ExperimentName, run: &ExperimentName) -> String {
    format!("{}results/", reevaluation_prefix(experiment, run))
}

/// `…/reevaluations/<run>/results/<job_id>.json`.
pub fn reevaluation_result(experiment: &ExperimentName, run: &ExperimentName, job: JobId) -> String {
    format!("{}{job}.json", reevaluation_results_prefix(experiment, run))
}

/// `…/reevaluations/<run>/summary.json`.
pub fn reevaluation_summary(experiment: &ExperimentName, run: &ExperimentName) -> String {
    format!("{}summary.json", reevaluation_prefix(experiment, run))
}

/// The job id of a `…/<job_id>.json` key.
pub fn job_id_of(key: &str) -> Option<JobId> {
    let name = key.rsplit('/').next()?.strip_suffix(".json")?;
    name.parse().ok().map(JobId)
}

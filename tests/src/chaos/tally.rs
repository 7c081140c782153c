//! Counting a scenario from what the store recorded: the job records the
//! controller wrote before publishing, and the reward log.

use std::collections::{HashMap, HashSet};

use crate::pipeline::Pipeline;

/// A scenario's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Distinct jobs published.
    pub published: u64,
    /// Distinct jobs a worker answered with a reward (`ok`).
    pub trained: u64,
    /// Distinct jobs in the reward log (the policy learned from each).
    pub rewarded: u64,
    /// Of those, failed or dead-lettered.
    pub failed: u64,
    /// Children the search wanted that have no record: published jobs
    /// never recorded, or children never published.
    pub lost: u64,
    /// Reward-log records beyond the first for a job.
    pub double_counted: u64,
}

impl Tally {
    /// Counts `pipeline`'s experiment, which wanted `children` children.
    pub fn of(pipeline: &Pipeline, children: u64) -> Tally {
        let published: HashSet<String> = pipeline
            .job_records()
            .iter()
            .filter_map(|record| record["job"]["job_id"].as_str().map(str::to_owned))
            .collect();
        let mut records_per_job: HashMap<String, u64> = HashMap::new();
        let mut trained = HashSet::new();
        let mut failed = HashSet::new();
        for record in pipeline.reward_log() {
            *records_per_job.entry(record.job_id.clone()).or_default() += 1;
            match record.status.as_str() {
                "ok" => {
                    trained.insert(record.job_id);
                }
                "failed" | "dead_lettered" => {
                    failed.insert(record.job_id);
                }
                _ => {}
            }
        }
        let rewarded = records_per_job.len() as u64;
        let unrecorded = published
            .iter()
            .filter(|job| !records_per_job.contains_key(*job))
            .count() as u64;
        let never_published = children.saturating_sub(published.len() as u64);
        Tally {
            published: published.len() as u64,
            trained: trained.len() as u64,
            rewarded,
            failed: failed.len() as u64,
            lost: unrecorded + never_published,
            double_counted: records_per_job.values().map(|count| count - 1).sum(),
        }
    }
}

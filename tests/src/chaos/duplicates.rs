//! Scenario 6: every job and every result published twice. Alongside the
//! search, the harness publishes each job again from the controller's job
//! records, and each recorded result again from the reward log.

use std::collections::HashSet;
use std::time::Duration;

use nas_common::TrainResult;

use super::crashes::{check_summary, finish};
use super::faults::{Crew, Role};
use super::tally::Tally;
use super::{Checks, Scale};
use crate::pipeline::{Pipeline, PipelineOptions, block_on, wait_summary};
use crate::rabbitmq;

/// 6. Duplicated deliveries and duplicated results: counted once.
pub fn everything_twice(scale: Scale) -> (Tally, Checks, String) {
    let options = PipelineOptions {
        children: scale.pick(100, 30),
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::new("chaos-twice", &options);
    let _crew = Crew::start(
        &pipeline,
        &[Role::Surrogate(150), Role::Surrogate(150), Role::Trainer],
    );
    let mut controller = pipeline.controller("controller", false);
    let queue = rabbitmq(&pipeline.prefix);
    let experiment = pipeline.experiment_name();
    let mut jobs_sent = HashSet::new();
    let mut results_sent = HashSet::new();
    let mut publish_failures = 0;
    while controller.is_running() {
        for record in pipeline.job_records() {
            let job = &record["job"];
            let key = (job["job_id"].to_string(), job["attempt"].to_string());
            if jobs_sent.insert(key) {
                let body = job.to_string().into_bytes();
                if block_on(queue.publish_raw_job(&experiment, &body)).is_err() {
                    publish_failures += 1;
                }
            }
        }
        for record in pipeline.reward_log() {
            let Some(result) = record.value.get("result").filter(|r| !r.is_null()) else {
                continue;
            };
            if results_sent.insert(record.job_id.clone()) {
                let result =
                    TrainResult::from_json(result.to_string().as_bytes()).expect("a logged result is valid");
                if block_on(queue.publish_result(&result)).is_err() {
                    publish_failures += 1;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let summary = wait_summary(controller, Duration::from_secs(60));
    let mut checks = Checks::default();
    check_summary(&mut checks, summary.as_ref());
    let duplicates = summary
        .as_ref()
        .and_then(|s| s["duplicates"].as_u64())
        .unwrap_or(0);
    checks.check(
        format!("the controller saw duplicates ({duplicates}) and ignored them"),
        duplicates > 0,
    );
    checks.check("every copy was published", publish_failures == 0);
    let notes = format!(
        "{} jobs and {} results published again, {duplicates} duplicate results ignored",
        jobs_sent.len(),
        results_sent.len()
    );
    finish(&pipeline, options.children, checks, notes)
}

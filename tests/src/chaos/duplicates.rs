//! Scenario 6: every job and every result published twice. Alongside the
//! search, the harness publishes each job again from the controller's job
//! records, and each recorded result again from the reward log.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use nas_domain::messages::{EpochProgressFields, MESSAGE_VERSION, StopJobFields};
use nas_domain::spec::ArchId;
use nas_domain::{EpochProgress, ExperimentName, JobId, StopJob, TrainJob, TrainResult};
use nas_infra::queue::JobQueue;
use nas_infra::store::{ObjectStore, keys};

use super::faults::{Crew, Role};
use super::tally::Tally;
use super::{Checks, Scale, check_summary, finish};
use crate::pipeline::{Pipeline, PipelineOptions, wait_summary};
use crate::{rabbitmq, s3_store};

/// 6. Duplicated deliveries and duplicated results: counted once.
pub fn everything_twice(scale: Scale) -> (Tally, Checks, String) {
    let options = PipelineOptions {
        children: scale.pick(100, 30),
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::new("chaos-twice", &options);
    let _crew = Crew::start(
        &pipeline,
        &[Role::Surrogate(400), Role::Surrogate(400), Role::Trainer],
    );
    let mut controller = pipeline.controller("controller", false);
    let mut copier = Copier::new(&pipeline);
    while controller.is_running() {
        copier.copy_new();
        std::thread::sleep(Duration::from_millis(100));
    }
    // Jobs published just before the end are delivered twice too.
    copier.copy_new();
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
    let jobs = pipeline.job_records().len();
    checks.check(
        format!("every job was published twice ({} of {jobs})", copier.jobs.len()),
        copier.jobs.len() == jobs,
    );
    let rewarded = pipeline.reward_log().len();
    checks.check(
        format!("results were published twice ({} of {rewarded})", copier.results),
        copier.results * 10 >= rewarded * 8,
    );
    checks.check("every copy was published", copier.failures == 0);
    let notes = format!(
        "{} jobs and {} results published again, {duplicates} duplicate results ignored",
        copier.jobs.len(),
        copier.results
    );
    finish(&pipeline, options.children, checks, notes)
}

/// Publishes a second copy of every job record and every recorded result
/// it has not copied yet (and, [`Copier::with_progress`], of every recorded
/// progress message and every stop decided), reading only the store
/// objects that are new.
pub(super) struct Copier {
    runtime: tokio::runtime::Runtime,
    store: ObjectStore,
    queue: JobQueue,
    experiment: ExperimentName,
    read: HashSet<String>,
    /// The jobs copied, by (job id, attempt).
    pub(super) jobs: HashSet<(String, String)>,
    /// The architecture of every job seen, for progress copies.
    archs: HashMap<JobId, ArchId>,
    /// Results copied.
    pub(super) results: usize,
    /// Whether progress and stops are copied too.
    copy_progress: bool,
    /// Progress messages copied.
    pub(super) progress: usize,
    /// Stops copied.
    pub(super) stops: usize,
    /// Copies that could not be published.
    pub(super) failures: usize,
}

impl Copier {
    pub(super) fn new(pipeline: &Pipeline) -> Copier {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let store = runtime.block_on(s3_store());
        Copier {
            runtime,
            store,
            queue: rabbitmq(&pipeline.prefix),
            experiment: pipeline.experiment_name(),
            read: HashSet::new(),
            jobs: HashSet::new(),
            archs: HashMap::new(),
            results: 0,
            copy_progress: false,
            progress: 0,
            stops: 0,
            failures: 0,
        }
    }

    /// Copies progress messages and stops as well.
    pub(super) fn with_progress(mut self) -> Copier {
        self.copy_progress = true;
        self
    }

    pub(super) fn copy_new(&mut self) {
        for record in self.new_lines(&keys::jobs_prefix(&self.experiment)) {
            let job = &record["job"];
            if let Ok(parsed) = TrainJob::from_json(job.to_string().as_bytes()) {
                self.archs.insert(parsed.job_id, parsed.spec.id());
            }
            let key = (job["job_id"].to_string(), job["attempt"].to_string());
            if self.jobs.insert(key) {
                let body = job.to_string().into_bytes();
                let sent = self
                    .runtime
                    .block_on(self.queue.publish_raw_job(&self.experiment, &body));
                self.failures += usize::from(sent.is_err());
            }
        }
        for record in self.new_lines(&keys::rewards_prefix(&self.experiment)) {
            let Some(result) = record.get("result").filter(|r| !r.is_null()) else {
                continue;
            };
            let result =
                TrainResult::from_json(result.to_string().as_bytes()).expect("a logged result is valid");
            let sent = self.runtime.block_on(self.queue.publish_result(&result));
            self.failures += usize::from(sent.is_err());
            self.results += 1;
        }
        if self.copy_progress {
            for record in self.new_lines(&keys::progress_prefix(&self.experiment)) {
                self.copy_progress_record(&record);
            }
        }
    }

    /// Publishes a recorded progress message again and, when the rule
    /// stopped the child on it, the stop again to the worker that reported.
    fn copy_progress_record(&mut self, record: &serde_json::Value) {
        let Ok(job_id) = serde_json::from_value::<JobId>(record["job_id"].clone()) else {
            return;
        };
        let Some(arch_id) = self.archs.get(&job_id).cloned() else {
            return;
        };
        let worker_id = record["worker_id"].as_str().unwrap_or_default().to_owned();
        let progress = EpochProgress::new(EpochProgressFields {
            schema_version: MESSAGE_VERSION,
            job_id,
            experiment: self.experiment.clone(),
            attempt: record["attempt"].as_u64().unwrap_or(1) as u32,
            arch_id,
            epochs: serde_json::from_value(record["epochs"].clone()).unwrap_or_default(),
            train_seconds: record["train_seconds"].as_f64().unwrap_or(0.0),
            worker_id: worker_id.clone(),
        })
        .expect("a recorded progress message is valid");
        let sent = self.runtime.block_on(self.queue.publish_progress(&progress));
        self.failures += usize::from(sent.is_err());
        self.progress += 1;
        if let Some(epoch) = record["stopped_at"].as_u64() {
            let stop = StopJob::new(StopJobFields {
                schema_version: MESSAGE_VERSION,
                job_id,
                experiment: self.experiment.clone(),
                epoch: epoch as u32,
                rule: "predict".into(),
            })
            .expect("a recorded stop is valid");
            let sent = self.runtime.block_on(self.queue.publish_stop(&worker_id, &stop));
            self.failures += usize::from(sent.is_err());
            self.stops += 1;
        }
    }

    /// The JSON lines of the objects under `prefix` not read before.
    fn new_lines(&mut self, prefix: &str) -> Vec<serde_json::Value> {
        self.runtime.block_on(async {
            let mut lines = Vec::new();
            let Ok(keys) = self.store.list(prefix).await else {
                return lines;
            };
            for key in keys {
                if self.read.contains(&key) {
                    continue;
                }
                if let Ok(Some(batch)) = self.store.get_json_lines::<serde_json::Value>(&key).await {
                    lines.extend(batch);
                    self.read.insert(key);
                }
            }
            lines
        })
    }
}

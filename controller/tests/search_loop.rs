//! The search service driven one message at a time, over the in-process
//! queue and a local store: results are counted once, preemptions
//! republished, dead letters and strangers handled, a resumed search
//! continues exactly where the stopped one was, and a stopped architecture
//! sampled again reuses its reward or trains again, as configured.

#![allow(clippy::unwrap_used)]

use nas_controller::Error;
use nas_controller::experiment::config::Overrides;
use nas_controller::experiment::reward_log::{self, RecordStatus};
use nas_controller::experiment::stored;
use nas_controller::search::metrics::ControllerMetrics;
use nas_controller::search::{JobRecord, ResultOutcome, ResumeMode, Search};
use nas_domain::{ExperimentName, JobId, Outcome, SampledAgain, TrainJob, TrainResult};
use nas_infra::queue::{InProcessQueue, JobQueue, Subscription};
use nas_infra::store::{LocalStore, ObjectStore, keys};
use nas_infra::telemetry::Telemetry;

/// The tiny space every test of the workspace searches.
const SPACE: &str = include_str!("../../tests/fixtures/tiny-cnn-space.toml");

fn config() -> String {
    format!(
        "experiment = \"unit\"\ntask = \"cifar10\"\nstrategy = \"reinforce\"\nchildren = 8\nin_flight = 4\n\
         [budget]\nepochs = 1\n[controller]\nbatch_size = 2\n[space]\n{SPACE}"
    )
}

struct Rig {
    _dir: tempfile::TempDir,
    store: ObjectStore,
    queue: JobQueue,
    jobs: Subscription,
    results: Subscription,
}

impl Rig {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::Local(LocalStore::new(dir.path()));
        let queue = JobQueue::InProcess(InProcessQueue::new(3));
        let jobs = queue.jobs(1).await.unwrap();
        let results = queue.results(&experiment(), 8).await.unwrap();
        Rig {
            _dir: dir,
            store,
            queue,
            jobs,
            results,
        }
    }

    async fn open(&self, text: &str, mode: ResumeMode) -> nas_controller::Result<(Search, Telemetry)> {
        let file = Overrides::from_toml(text, "test").unwrap();
        let config = stored::settle(&self.store, &[&file], mode).await?;
        let telemetry = Telemetry::default();
        let metrics = ControllerMetrics::new(&telemetry);
        let search = Search::open(config, self.queue.clone(), self.store.clone(), metrics, None).await?;
        Ok((search, telemetry))
    }

    /// Has `search` publish its first batch and takes the four jobs.
    async fn first_batch(&mut self, search: &mut Search) -> Vec<TrainJob> {
        search.publish_more().await.unwrap();
        let mut batch = Vec::new();
        for _ in 0..4 {
            batch.push(self.next_job().await);
        }
        batch
    }

    /// Takes the next published job off the queue.
    async fn next_job(&mut self) -> TrainJob {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), self.jobs.next());
        let message = next.await.expect("a job is published").unwrap().unwrap();
        TrainJob::from_json(&message.body).unwrap()
    }

    /// Answers `job` with `outcome` and hands the result to `search`.
    async fn answer(&mut self, search: &mut Search, job: &TrainJob, outcome: Outcome) -> ResultOutcome {
        self.queue
            .publish_result(&result_for(job, outcome))
            .await
            .unwrap();
        let message = self.results.next().await.unwrap().unwrap();
        let mut outcomes = search.process_results(vec![message]).await.unwrap();
        assert_eq!(outcomes.len(), 1);
        outcomes.pop().unwrap()
    }

    /// The sample index of every job record in the store, by job id.
    async fn sample_indices(&self) -> Vec<(JobId, u64)> {
        let mut indices = Vec::new();
        for key in self.store.list(&keys::jobs_prefix(&experiment())).await.unwrap() {
            let records: Vec<JobRecord> = self.store.get_json_lines(&key).await.unwrap().unwrap();
            indices.extend(records.iter().map(|r| (r.job.job_id, r.payload.sample_index)));
        }
        indices
    }
}

/// An experiment over a space of one architecture, so every child after the
/// first repeats it, stopped by ASHA; `sampled_again` is `reuse` or
/// `retrain`.
fn one_architecture(sampled_again: &str) -> String {
    format!(
        "experiment = \"unit\"\ntask = \"cifar10\"\nchildren = 3\nin_flight = 1\n\
         [budget]\nepochs = 2\n[controller]\nbatch_size = 2\n\
         [stopping]\nrule = \"asha\"\nsampled_again = \"{sampled_again}\"\n\
         [space]\nkind = \"cnn\"\nfilters = [8]\nkernel_heights = [1]\nkernel_widths = [1]\n\
         stride_heights = [1]\nstride_widths = [1]\nskip_connections = false\n\
         depth = {{ start = 1, step = 0, every = 1, max = 1 }}\n"
    )
}

fn stopped_after_one_epoch(reward: f64) -> Outcome {
    Outcome::Stopped {
        reward,
        metric: reward.cbrt(),
        epochs_done: 1,
    }
}

fn experiment() -> ExperimentName {
    "unit".parse().unwrap()
}

fn ok(reward: f64) -> Outcome {
    Outcome::Ok {
        reward,
        metric: reward.cbrt(),
    }
}

fn result_for(job: &TrainJob, outcome: Outcome) -> TrainResult {
    TrainResult::new(nas_test_support::result_fields(job, outcome)).unwrap()
}

#[tokio::test]
async fn results_are_counted_once_preempted_children_republished_and_failures_rewarded() {
    let mut rig = Rig::new().await;
    let (mut search, _) = rig.open(&config(), ResumeMode::New).await.unwrap();
    let batch = rig.first_batch(&mut search).await;
    let first = rig.answer(&mut search, &batch[0], ok(0.2)).await;
    let counted = ResultOutcome::Counted {
        job_id: batch[0].job_id,
        reward: 0.2,
        stepped: false,
    };
    assert_eq!(first, counted);
    let again = rig.answer(&mut search, &batch[0], ok(0.2)).await;
    assert!(matches!(again, ResultOutcome::Ignored { .. }), "{again:?}");
    // A preempted child is published again as its next attempt.
    let preempted = rig
        .answer(&mut search, &batch[1], Outcome::Preempted { epochs_done: 0 })
        .await;
    assert_eq!(
        preempted,
        ResultOutcome::Republished {
            job_id: batch[1].job_id
        }
    );
    let retry = rig.next_job().await;
    assert_eq!((retry.job_id, retry.attempt), (batch[1].job_id, 2));
    // A failed child gets the failed reward and completes the first step.
    let failed = Outcome::Failed {
        reason: "diverged".into(),
    };
    let counted = rig.answer(&mut search, &batch[2], failed).await;
    let stepped = ResultOutcome::Counted {
        job_id: batch[2].job_id,
        reward: 0.0,
        stepped: true,
    };
    assert_eq!(counted, stepped);
    let summary = search.summary();
    let counts = (
        summary.children_rewarded,
        summary.children_failed,
        summary.duplicates,
    );
    assert_eq!(counts, (1, 1, 1));
    assert_eq!((summary.republished, summary.policy_steps), (1, 1));
}

#[tokio::test]
async fn a_resumed_search_restores_its_counts_and_continues_the_sample_sequence() {
    let mut rig = Rig::new().await;
    let (mut search, _) = rig.open(&config(), ResumeMode::New).await.unwrap();
    let batch = rig.first_batch(&mut search).await;
    for (job, reward) in batch.iter().zip([0.2, 0.3, 0.4]) {
        rig.answer(&mut search, job, ok(reward)).await;
    }
    drop(search);
    let (mut resumed, _) = rig.open(&config(), ResumeMode::Auto).await.unwrap();
    let after = resumed.summary();
    assert_eq!((after.children_rewarded, after.policy_steps), (3, 1));
    // The job still in flight is answered to the resumed search.
    let late = rig.answer(&mut resumed, &batch[3], ok(0.5)).await;
    let counted = ResultOutcome::Counted {
        job_id: batch[3].job_id,
        reward: 0.5,
        stepped: true,
    };
    assert_eq!(late, counted);
    // New jobs continue the sample sequence (indices 4..8), not from 0.
    resumed.publish_more().await.unwrap();
    let indices = rig.sample_indices().await;
    let index_of = |id: JobId| indices.iter().find(|(job, _)| *job == id).map(|(_, i)| *i);
    let first: Vec<u64> = batch.iter().filter_map(|job| index_of(job.job_id)).collect();
    assert_eq!(first, vec![0, 1, 2, 3]);
    let mut later: Vec<u64> = indices
        .iter()
        .filter(|(job, _)| batch.iter().all(|first| first.job_id != *job))
        .map(|(_, index)| *index)
        .collect();
    later.sort_unstable();
    assert_eq!(
        later,
        vec![4, 5, 6, 7],
        "the resumed search must continue at sample 4"
    );
}

#[tokio::test]
async fn opening_checks_whether_the_experiment_exists() {
    let rig = Rig::new().await;
    drop(rig.open(&config(), ResumeMode::New).await.unwrap());
    let again = rig.open(&config(), ResumeMode::New).await.err().unwrap();
    assert!(matches!(again, Error::Config(_)), "{again}");
    let other = config().replace("\"unit\"", "\"other\"");
    let missing = rig.open(&other, ResumeMode::Resume).await.err().unwrap();
    assert!(matches!(missing, Error::NotFound(_)), "{missing}");
}

#[tokio::test]
async fn a_dead_lettered_job_is_recorded_as_a_failed_child() {
    let mut rig = Rig::new().await;
    let (mut search, _) = rig.open(&config(), ResumeMode::New).await.unwrap();
    let mut dead = rig.queue.dead_jobs(&experiment(), 4).await.unwrap();
    search.publish_more().await.unwrap();
    // A worker that keeps crashing: the broker dead-letters the job.
    let message = rig.jobs.next().await.unwrap().unwrap();
    let job = TrainJob::from_json(&message.body).unwrap();
    message.dead_letter().await.unwrap();
    let letter = dead.next().await.unwrap().unwrap();
    let outcome = search.process_dead_letter(letter).await.unwrap();
    let failed = ResultOutcome::Counted {
        job_id: job.job_id,
        reward: 0.0,
        stepped: false,
    };
    assert_eq!(outcome, failed);
    assert_eq!(search.summary().children_failed, 1);
    // Its result arriving late is a duplicate, not a second child.
    let late = rig.answer(&mut search, &job, ok(0.9)).await;
    assert!(matches!(late, ResultOutcome::Ignored { .. }), "{late:?}");
    assert_eq!(search.summary().children_rewarded, 0);
}

#[tokio::test]
async fn a_result_for_a_job_never_published_is_ignored_and_counted() {
    let mut rig = Rig::new().await;
    let (mut search, telemetry) = rig.open(&config(), ResumeMode::New).await.unwrap();
    search.publish_more().await.unwrap();
    let job = rig.next_job().await;
    let stranger = TrainJob::new(nas_domain::TrainJobFields {
        job_id: JobId::random(),
        ..(*job).clone()
    })
    .unwrap();
    let outcome = rig.answer(&mut search, &stranger, ok(0.9)).await;
    assert!(matches!(outcome, ResultOutcome::Ignored { .. }), "{outcome:?}");
    let metrics = telemetry.render();
    assert!(
        metrics.contains("nas_controller_unknown_results_total 1"),
        "{metrics}"
    );
    assert_eq!(search.summary().children_rewarded, 0);
}

#[tokio::test]
async fn a_search_stops_at_its_time_budget_while_no_result_comes() {
    let rig = Rig::new().await;
    // 0.0005 hours: 1.8 seconds, and no worker ever answers.
    let text = config().replace("in_flight = 4", "in_flight = 4\nmax_hours = 0.0005");
    let (mut search, _) = rig.open(&text, ResumeMode::New).await.unwrap();
    let started = std::time::Instant::now();
    let summary = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        search.run_until_stopped(tokio_util::sync::CancellationToken::new(), |_| {}),
    )
    .await
    .expect("the search stops at its time budget")
    .unwrap();
    assert!(!summary.complete);
    assert_eq!(summary.children_published, 4);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1700),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_stopped_architecture_sampled_again_reuses_its_reward_after_a_restart() {
    let mut rig = Rig::new().await;
    let config = one_architecture("reuse");
    let (mut search, _) = rig.open(&config, ResumeMode::New).await.unwrap();
    search.publish_more().await.unwrap();
    let job = rig.next_job().await;
    rig.answer(&mut search, &job, stopped_after_one_epoch(0.1)).await;
    // The stopped reward is known again from the reward log after a restart.
    drop(search);
    let (mut search, _) = rig.open(&config, ResumeMode::Auto).await.unwrap();
    search.publish_more().await.unwrap();
    let summary = search.summary();
    let counts = (
        summary.children_published,
        summary.children_stopped,
        summary.children_reused,
    );
    assert_eq!(counts, (3, 1, 2), "{summary:?}");
    let waiting = tokio::time::timeout(std::time::Duration::from_millis(300), rig.jobs.next()).await;
    assert!(waiting.is_err(), "a stopped architecture was published again");
    let log = reward_log::read_all(&rig.store, &experiment()).await.unwrap();
    let reused: Vec<_> = log
        .iter()
        .filter(|record| record.status == RecordStatus::Reused)
        .collect();
    assert_eq!(reused.len(), 2);
    for record in reused {
        assert_eq!(record.reward, 0.1);
        let reason = record.reason.as_deref().unwrap_or_default();
        assert!(reason.contains("stopped early"), "{reason}");
    }
}

#[tokio::test]
async fn a_stopped_architecture_sampled_again_trains_again_when_told_to() {
    let mut rig = Rig::new().await;
    let (mut search, _) = rig
        .open(&one_architecture("retrain"), ResumeMode::New)
        .await
        .unwrap();
    search.publish_more().await.unwrap();
    let first = rig.next_job().await;
    rig.answer(&mut search, &first, stopped_after_one_epoch(0.1))
        .await;
    search.publish_more().await.unwrap();
    let second = rig.next_job().await;
    assert_eq!(second.spec.id(), first.spec.id());
    assert_ne!(second.job_id, first.job_id);
    assert_eq!(search.summary().children_reused, 0);
}

#[test]
fn sampled_again_accepts_reuse_and_retrain_only() {
    for (text, accepted) in [("reuse", true), ("retrain", true), ("again", false), ("", false)] {
        let file = Overrides::from_toml(
            &format!("[stopping]\nrule = \"asha\"\nsampled_again = \"{text}\"\n"),
            "test",
        );
        assert_eq!(file.is_ok(), accepted, "{text:?}: {:?}", file.err());
    }
    assert_eq!(SampledAgain::from_name("retrain").unwrap(), SampledAgain::Retrain);
    let error = SampledAgain::from_name("again").unwrap_err().to_string();
    assert!(error.contains("reuse or retrain"), "{error}");
}

//! The search service driven one message at a time, over the in-process
//! queue and a local store: results are counted once, preemptions and
//! dead letters handled, and a resumed search continues exactly.

#![allow(clippy::unwrap_used)]

use nas_common::queue::{InProcessQueue, JobQueue};
use nas_common::store::{LocalStore, ObjectStore};
use nas_common::telemetry::Telemetry;
use nas_common::{EpochMetrics, Outcome, TrainJob, TrainResult, TrainResultFields};
use nas_controller::controller_metrics::ControllerMetrics;
use nas_controller::experiment::ConfigFile;
use nas_controller::search_loop::{ResultOutcome, ResumeMode, ResumeOverrides, Search};

const CONFIG: &str = r#"
experiment = "unit"
task = "cifar10"
children = 8
in_flight = 4
[space]
kind = "cnn"
filters = [8, 12]
kernel_heights = [1, 3]
kernel_widths = [1, 3]
stride_heights = [1]
stride_widths = [1]
skip_connections = true
depth = { start = 3, step = 0, every = 1, max = 3 }
[budget]
epochs = 1
[controller]
batch_size = 2
"#;

async fn open(queue: &JobQueue, store: &ObjectStore, mode: ResumeMode) -> nas_controller::Result<Search> {
    let config = ConfigFile::from_toml(CONFIG, "test").unwrap().resolve().unwrap();
    let metrics = ControllerMetrics::new(&Telemetry::default());
    Search::open(
        config,
        mode,
        ResumeOverrides::default(),
        queue.clone(),
        store.clone(),
        metrics,
    )
    .await
}

fn result_for(job: &TrainJob, outcome: Outcome) -> TrainResult {
    TrainResult::new(TrainResultFields {
        schema_version: 1,
        job_id: job.job_id,
        experiment: job.experiment.clone(),
        policy_version: job.policy_version,
        attempt: job.attempt,
        arch_id: job.spec.id(),
        outcome,
        epochs: vec![EpochMetrics {
            epoch: 1,
            train_loss: 1.0,
            valid_loss: 1.0,
            valid_accuracy: Some(0.5),
            valid_perplexity: None,
            seconds: 1.0,
        }],
        test_metric: None,
        param_count: 100,
        wall_seconds: 1.0,
        train_seconds: 1.0,
        startup_seconds: None,
        device: "cpu".into(),
        worker_id: "test".into(),
    })
    .unwrap()
}

/// Takes the next published job off the queue.
async fn next_job(jobs: &mut nas_common::queue::Subscription) -> TrainJob {
    let message = jobs.next().await.unwrap().unwrap();
    TrainJob::from_json(&message.body).unwrap()
}

#[tokio::test]
async fn results_are_counted_once_and_a_resumed_search_continues_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStore::Local(LocalStore::new(dir.path()));
    let queue = JobQueue::InProcess(InProcessQueue::new(3));
    let mut jobs = queue.jobs(1).await.unwrap();
    let mut results = queue.results(&"unit".parse().unwrap(), 8).await.unwrap();
    let mut search = open(&queue, &store, ResumeMode::New).await.unwrap();
    search.publish_more().await.unwrap();
    let mut batch = Vec::new();
    for _ in 0..4 {
        batch.push(next_job(&mut jobs).await);
    }
    // A result counts; the same result again is ignored.
    let ok = |job: &TrainJob, reward: f64| {
        result_for(
            job,
            Outcome::Ok {
                reward,
                metric: reward.cbrt(),
            },
        )
    };
    queue.publish_result(&ok(&batch[0], 0.2)).await.unwrap();
    queue.publish_result(&ok(&batch[0], 0.2)).await.unwrap();
    let first = search
        .process_result(results.next().await.unwrap().unwrap())
        .await
        .unwrap();
    assert_eq!(
        first,
        ResultOutcome::Counted {
            job_id: batch[0].job_id,
            reward: 0.2,
            stepped: false
        }
    );
    let again = search
        .process_result(results.next().await.unwrap().unwrap())
        .await
        .unwrap();
    assert!(matches!(again, ResultOutcome::Ignored { .. }), "{again:?}");
    // A preempted child is published again as its next attempt.
    queue
        .publish_result(&result_for(&batch[1], Outcome::Preempted { epochs_done: 0 }))
        .await
        .unwrap();
    let preempted = search
        .process_result(results.next().await.unwrap().unwrap())
        .await
        .unwrap();
    assert_eq!(
        preempted,
        ResultOutcome::Republished {
            job_id: batch[1].job_id
        }
    );
    let retry = next_job(&mut jobs).await;
    assert_eq!((retry.job_id, retry.attempt), (batch[1].job_id, 2));
    // A failed child gets the failed reward and completes the first step.
    let failed = result_for(
        &batch[2],
        Outcome::Failed {
            reason: "diverged".into(),
        },
    );
    queue.publish_result(&failed).await.unwrap();
    let counted = search
        .process_result(results.next().await.unwrap().unwrap())
        .await
        .unwrap();
    assert_eq!(
        counted,
        ResultOutcome::Counted {
            job_id: batch[2].job_id,
            reward: 0.0,
            stepped: true
        }
    );
    // One more reward is buffered but not yet a step; then the controller stops.
    queue.publish_result(&ok(&batch[3], 0.4)).await.unwrap();
    search
        .process_result(results.next().await.unwrap().unwrap())
        .await
        .unwrap();
    let before = search.summary();
    assert_eq!(
        (
            before.children_rewarded,
            before.children_failed,
            before.duplicates
        ),
        (2, 1, 1)
    );
    drop(search);

    // Resuming a fresh name fails; resuming ours restores every count.
    let err = open(&queue, &store, ResumeMode::New)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("already exists"), "{err}");
    let missing = ConfigFile::from_toml(&CONFIG.replace("\"unit\"", "\"other\""), "test")
        .unwrap()
        .resolve()
        .unwrap();
    let metrics = ControllerMetrics::new(&Telemetry::default());
    let err = Search::open(
        missing,
        ResumeMode::Resume,
        ResumeOverrides::default(),
        queue.clone(),
        store.clone(),
        metrics,
    )
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("no experiment other"), "{err}");
    let mut resumed = open(&queue, &store, ResumeMode::Auto).await.unwrap();
    let after = resumed.summary();
    assert_eq!(
        (after.children_rewarded, after.children_failed, after.policy_steps),
        (2, 1, 1)
    );
    // The job still in flight (batch[1]) is answered to the resumed search.
    queue.publish_result(&ok(&retry, 0.3)).await.unwrap();
    let late = resumed
        .process_result(results.next().await.unwrap().unwrap())
        .await
        .unwrap();
    assert_eq!(
        late,
        ResultOutcome::Counted {
            job_id: batch[1].job_id,
            reward: 0.3,
            stepped: true
        }
    );
    // New jobs continue the sample sequence instead of repeating it.
    resumed.publish_more().await.unwrap();
    let fresh = next_job(&mut jobs).await;
    assert!(batch.iter().all(|job| job.job_id != fresh.job_id));
}

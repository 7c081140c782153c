//! A worker whose store refuses it (its key may not use the bucket) fails
//! the job within seconds, the reason naming the bucket, instead of
//! retrying for its store patience (600 s by default) and handing the job
//! back.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use nas_domain::messages::MESSAGE_VERSION;
use nas_domain::{
    ArchSpec, DatasetRef, ExperimentName, Hyperparameters, JobId, Outcome, RewardFunction, Task, TrainJob,
    TrainJobFields, TrainResult, TrainingBudget,
};
use nas_tests::pipeline::block_on;
use nas_tests::{Service, rabbitmq, unique};

const SPEC: &str = r#"{"version":1,"kind":"cnn","layers":[
    {"filters":8,"kernel_height":3,"kernel_width":3,"stride_height":1,"stride_width":1,"inputs":[]}]}"#;

fn job(experiment: &ExperimentName) -> TrainJob {
    TrainJob::new(TrainJobFields {
        schema_version: MESSAGE_VERSION,
        job_id: JobId::random(),
        experiment: experiment.clone(),
        policy_version: 0,
        attempt: 1,
        spec: ArchSpec::from_json(SPEC).unwrap(),
        task: Task::Cifar10,
        dataset: DatasetRef {
            name: "cifar10".into(),
            manifest_sha256: None,
        },
        budget: TrainingBudget::default_for(Task::Cifar10),
        hyperparameters: Hyperparameters::default(),
        reward: RewardFunction::ACCURACY,
        seed: 1,
        trial: None,
    })
    .unwrap()
}

#[test]
fn a_worker_refused_by_the_store_fails_the_job_within_seconds_naming_the_bucket() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/services/garage.sh");
    let created = std::process::Command::new(script)
        .args(["foreign-bucket", "nas-foreign"])
        .status()
        .unwrap();
    assert!(created.success());
    let prefix = unique("refused");
    let experiment: ExperimentName = unique("refused").parse().unwrap();
    let queue = rabbitmq(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let args = [
        "--queue-prefix",
        &prefix,
        "--cache-dir",
        cache.to_str().unwrap(),
        "--metrics-addr",
        "127.0.0.1:0",
        "--device",
        "cpu",
        "--store-patience-seconds",
        "600",
    ];
    let worker = Service::start(
        "nas-worker",
        &args,
        &dir.path().join("worker.log"),
        &[("NAS_S3_BUCKET", "nas-foreign")],
    );
    assert!(
        worker.wait_for("waiting for jobs", 1, Duration::from_secs(60)),
        "{}",
        worker.log_text()
    );
    let (result, seconds) = block_on(async {
        queue.declare(Some(&experiment)).await.unwrap();
        let mut results = queue.results(&experiment, 1).await.unwrap();
        let started = Instant::now();
        queue.publish_job(&job(&experiment)).await.unwrap();
        let message = tokio::time::timeout(Duration::from_secs(60), results.next())
            .await
            .expect("a result within a minute")
            .unwrap()
            .unwrap();
        let result = TrainResult::from_json(&message.body).unwrap();
        message.ack().await.unwrap();
        (result, started.elapsed())
    });
    let Outcome::Failed { reason } = &result.outcome else {
        panic!("expected a failed child, got {:?}", result.outcome);
    };
    assert!(reason.contains("s3://nas-foreign"), "{reason}");
    assert!(reason.contains("access denied"), "{reason}");
    // Refused is permanent: no retry is logged (the time is only a guard).
    assert!(!worker.log_text().contains("retrying"), "{}", worker.log_text());
    assert!(
        seconds < Duration::from_secs(50),
        "took {seconds:?}: {}",
        worker.log_text()
    );
}

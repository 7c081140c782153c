//! Bad job messages: each is rejected (dead-lettered) with a reason that
//! names the problem and counted by reason in the worker's metrics; the
//! worker goes on.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use nas_domain::ExperimentName;
use nas_infra::queue::{InProcessQueue, JobQueue};
use nas_infra::store::{LocalStore, ObjectStore};
use nas_infra::telemetry::Telemetry;
use nas_worker::model::guardrails::Limits;
use nas_worker::service::metrics::{RejectionLabel, WorkerMetrics};
use nas_worker::service::{Outcome, Worker, WorkerConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn valid_job() -> Value {
    let layer = json!({"filters": 8, "kernel_height": 3, "kernel_width": 3, "stride_height": 1, "stride_width": 1, "inputs": []});
    json!({
        "schema_version": 1,
        "job_id": "0b9c7f5e-3c55-4d7a-9a51-2f0e5e4b6a10",
        "experiment": "bad-input",
        "policy_version": 0,
        "attempt": 1,
        "spec": {"version": 1, "kind": "cnn", "layers": [layer.clone(), layer.clone(), layer], "max_pool_after": []},
        "task": "cifar10",
        "dataset": {"name": "cifar10"},
        "budget": {"epochs": 1},
        "reward": {"kind": "accuracy", "power": 3.0, "window": 5},
        "seed": 1
    })
}

fn with(change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut job = valid_job();
    change(&mut job);
    job.to_string().into_bytes()
}

/// A worker over `queue` and a local store in `dir`, with its metrics.
fn worker_over(dir: &std::path::Path, queue: &JobQueue) -> (Worker, WorkerMetrics, Telemetry) {
    let store = ObjectStore::Local(LocalStore::new(dir.join("store")));
    let telemetry = Telemetry::default();
    let metrics = WorkerMetrics::new(&telemetry);
    let config = WorkerConfig {
        worker_id: "w".into(),
        prefetch: 1,
        cache_dir: dir.join("cache"),
        device: tch::Device::Cpu,
        limits: Limits::default(),
        store_patience: Duration::from_secs(1),
        surrogate: None,
        ack_deadline: None,
    };
    let worker = Worker::new(config, queue.clone(), store, metrics.clone());
    (worker, metrics, telemetry)
}

/// Bad job messages: what each is, its bytes, the rejection label and a
/// part of the reason.
fn bad_messages() -> Vec<(&'static str, Vec<u8>, &'static str, &'static str)> {
    let valid = valid_job().to_string().into_bytes();
    let mut huge = valid.clone();
    huge.truncate(huge.len() - 1);
    huge.extend(std::iter::repeat_n(b' ', 2 << 20));
    huge.push(b'}');
    let too_many_layers = with(|job| {
        let layer = job["spec"]["layers"][0].clone();
        job["spec"]["layers"] = Value::Array(vec![layer; 129]);
    });
    vec![
        (
            "truncated JSON",
            valid[..valid.len() / 2].to_vec(),
            "malformed",
            "EOF",
        ),
        ("not UTF-8", vec![0xff, 0xfe, 0x00], "malformed", "not UTF-8"),
        (
            "a wrong type",
            with(|job| job["seed"] = "x".into()),
            "invalid",
            "invalid type",
        ),
        (
            "an unknown field",
            with(|job| job["priority"] = 1.into()),
            "invalid",
            "unknown field `priority`",
        ),
        (
            "an unknown schema version",
            with(|job| job["schema_version"] = 99.into()),
            "unsupported_version",
            "version 99",
        ),
        ("a huge payload", huge, "too_large", "exceeds the limit"),
        (
            "an out-of-range value",
            with(|job| job["spec"]["layers"][1]["filters"] = 0.into()),
            "invalid",
            "filters",
        ),
        ("too many layers", too_many_layers, "invalid", "129 layers"),
        (
            "zero epochs",
            with(|job| job["budget"]["epochs"] = 0.into()),
            "invalid",
            "epochs",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_job_messages_are_rejected_with_their_reason_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let queue = JobQueue::InProcess(InProcessQueue::new(3));
    let (worker, metrics, telemetry) = worker_over(dir.path(), &queue);
    let experiment: ExperimentName = "bad-input".parse().unwrap();
    let cases = bad_messages();
    let mut jobs = queue.jobs(1).await.unwrap();
    for (what, body, _, expected) in &cases {
        queue.publish_raw_job(&experiment, body).await.unwrap();
        let message = jobs.next().await.unwrap().unwrap();
        let outcome = worker
            .process_one(message, &CancellationToken::new())
            .await
            .unwrap();
        match outcome {
            Outcome::Rejected { reason } => assert!(reason.contains(expected), "{what}: {reason}"),
            other => panic!("{what} was not rejected: {other:?}"),
        }
    }
    for reason in ["malformed", "invalid", "unsupported_version", "too_large"] {
        let expected = cases.iter().filter(|case| case.2 == reason).count() as u64;
        let counted = metrics.rejected.get_or_create(&RejectionLabel { reason }).get();
        assert_eq!(counted, expected, "rejections counted as {reason}");
    }
    let rendered = telemetry.render();
    assert!(
        rendered.contains("worker_jobs_rejected_total{reason=\"too_large\"} 1"),
        "{rendered}"
    );
}

//! The wire contract: jobs and results round-trip, and bad messages are
//! rejected with an error that says what is wrong.

#![allow(clippy::unwrap_used)]

#[path = "../../test-support/src/results.rs"]
mod results;

use nas_domain::objective::{Cost, Costs};
use nas_domain::{
    ArchSpec, CnnSpace, DatasetRef, EpochMetrics, Error, ExperimentName, JobId, Outcome, RewardFunction,
    SearchSpace, Task, TrainJob, TrainJobFields, TrainResult, TrainResultFields, TrainingBudget,
};

fn spec() -> ArchSpec {
    let space = SearchSpace::cnn(CnnSpace::paper()).unwrap();
    let plan = space.plan(6);
    ArchSpec::from_actions(&space, 6, &nas_domain::Actions::new(vec![0; plan.tokens()])).unwrap()
}

fn job_fields() -> TrainJobFields {
    TrainJobFields {
        schema_version: 1,
        job_id: JobId::random(),
        experiment: "cifar-demo".parse().unwrap(),
        policy_version: 3,
        attempt: 1,
        spec: spec(),
        task: Task::Cifar10,
        dataset: DatasetRef {
            name: "cifar10".into(),
            manifest_sha256: None,
        },
        budget: TrainingBudget {
            epochs: 2,
            batch_size: Some(32),
            train_examples: Some(500),
            valid_examples: None,
            max_seconds: None,
            evaluate_test: false,
        },
        hyperparameters: Default::default(),
        reward: RewardFunction::ACCURACY,
        seed: 42,
        trial: None,
    }
}

/// A result for `job`: 0.512 after one epoch, with costs and a startup time.
fn result_fields(job: &TrainJob) -> TrainResultFields {
    let mut fields = results::result_fields(
        job,
        Outcome::Ok {
            reward: 0.512,
            metric: 0.8,
        },
    );
    fields.param_count = 1234;
    fields.costs = Costs::new()
        .with(Cost::Parameters, 1234.0)
        .unwrap()
        .with(Cost::Latency, 0.002)
        .unwrap();
    fields.startup_seconds = Some(0.5);
    fields
}

#[test]
fn jobs_and_results_round_trip() {
    let job = TrainJob::new(job_fields()).unwrap();
    let parsed = TrainJob::from_json(&job.to_json()).unwrap();
    assert_eq!(parsed, job);
    let result = TrainResult::new(result_fields(&job)).unwrap();
    let parsed = TrainResult::from_json(&result.to_json()).unwrap();
    assert_eq!(parsed, result);
    assert_eq!(parsed.reward(), Some(0.512));
    assert_eq!(job.with_attempt(2).unwrap().attempt, 2);
}

fn job_error(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let job = TrainJob::new(job_fields()).unwrap();
    let mut value: serde_json::Value = serde_json::from_slice(&job.to_json()).unwrap();
    edit(&mut value);
    TrainJob::from_json(value.to_string().as_bytes())
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_jobs_are_rejected_with_a_reason() {
    let err = job_error(|v| v["schema_version"] = 7.into());
    assert!(
        err.contains("unsupported train job version 7: this build reads version 1"),
        "{err}"
    );
    // The version is reported even when the rest would not parse.
    let err = job_error(|v| {
        v["schema_version"] = 2.into();
        v["budget"] = "lots".into();
    });
    assert!(err.contains("version 2"), "{err}");
    let err = job_error(|v| v["task"] = "ptb_word".into());
    assert!(err.contains("task PtbWord cannot train a Cnn spec"), "{err}");
    let err = job_error(|v| v["attempt"] = 0.into());
    assert!(err.contains("attempt starts at 1"), "{err}");
    let err = job_error(|v| v["spec"]["layers"][0]["kernel_height"] = 99.into());
    assert!(err.contains("kernel height 99"), "{err}");
    let err = job_error(|v| v["experiment"] = "Bad Name".into());
    assert!(err.contains("experiment name"), "{err}");
    let err = job_error(|v| v["budget"]["epochs"] = 0.into());
    assert!(err.contains("budget.epochs"), "{err}");
    let err = job_error(|v| v["dataset"]["name"] = "../etc".into());
    assert!(err.contains("dataset name"), "{err}");
    let err = job_error(|v| v["priority"] = 1.into());
    assert!(err.contains("priority"), "{err}");
    let err = job_error(|v| v["seed"] = "x".into());
    assert!(err.contains("seed") || err.contains("invalid type"), "{err}");
    let err = TrainJob::from_json(b"{\"schema_version\":1,").unwrap_err();
    assert!(matches!(err, Error::Json { .. }), "{err}");
    let huge = vec![b' '; nas_domain::messages::MAX_MESSAGE_BYTES + 1];
    let err = TrainJob::from_json(&huge).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert!(
        err.to_string().contains("exceeds the limit of 1048576 bytes"),
        "{err}"
    );
    assert!(
        TrainJob::from_json(&[0xff, 0xfe])
            .unwrap_err()
            .to_string()
            .contains("not UTF-8")
    );
}

#[test]
fn costs_travel_in_results_and_old_results_still_read() {
    let job = TrainJob::new(job_fields()).unwrap();
    let result = TrainResult::new(result_fields(&job)).unwrap();
    let mut value: serde_json::Value = serde_json::from_slice(&result.to_json()).unwrap();
    assert_eq!(value["costs"]["latency"], 0.002);
    assert_eq!(value["costs"]["parameters"], 1234.0);
    // A result from a worker that measures no cost: no field, no costs.
    value.as_object_mut().unwrap().remove("costs");
    let old = TrainResult::from_json(value.to_string().as_bytes()).unwrap();
    assert!(old.costs.is_empty());
    assert!(!String::from_utf8(old.to_json()).unwrap().contains("costs"));
    for (costs, problem) in [
        (serde_json::json!({"latency": -0.1}), "latency is -0.1"),
        (serde_json::json!({"carbon": 1}), "carbon"),
    ] {
        value["costs"] = costs;
        let error = TrainResult::from_json(value.to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(error.contains(problem), "{error}");
    }
}

#[test]
fn bad_results_are_rejected_with_a_reason() {
    let job = TrainJob::new(job_fields()).unwrap();
    let mut fields = result_fields(&job);
    fields.outcome = Outcome::Failed { reason: " ".into() };
    assert!(
        TrainResult::new(fields)
            .unwrap_err()
            .to_string()
            .contains("needs a reason")
    );
    let mut fields = result_fields(&job);
    fields.epochs[0].epoch = 2;
    assert!(
        TrainResult::new(fields)
            .unwrap_err()
            .to_string()
            .contains("numbered 2 instead of 1")
    );
    let mut fields = result_fields(&job);
    fields.outcome = Outcome::Ok {
        reward: f64::NAN,
        metric: 0.1,
    };
    assert!(
        TrainResult::new(fields)
            .unwrap_err()
            .to_string()
            .contains("must be finite")
    );
    let mut fields = result_fields(&job);
    fields.schema_version = 0;
    assert!(
        TrainResult::new(fields)
            .unwrap_err()
            .to_string()
            .contains("version 0")
    );
    let text = String::from_utf8(TrainResult::new(result_fields(&job)).unwrap().to_json()).unwrap();
    let err = TrainResult::from_json(text.replace("\"ok\"", "\"exploded\"").as_bytes()).unwrap_err();
    assert!(err.to_string().contains("exploded"), "{err}");
}

#[test]
fn reward_functions_follow_the_paper() {
    let epochs: Vec<EpochMetrics> = [0.5, 0.9, 0.6, 0.7, 0.65, 0.62, 0.61]
        .iter()
        .enumerate()
        .map(|(i, &acc)| EpochMetrics {
            epoch: i as u32 + 1,
            train_loss: 1.0,
            valid_loss: 1.0,
            valid_accuracy: Some(acc),
            valid_perplexity: Some(100.0 - 10.0 * i as f64),
            valid_bits_per_char: None,
            metric: None,
            seconds: 1.0,
        })
        .collect();
    // The 0.9 of epoch 2 is outside the last five epochs.
    let reward = RewardFunction::ACCURACY.reward(&epochs).unwrap();
    assert!((reward - 0.7f64.powi(3)).abs() < 1e-12);
    let reward = RewardFunction::PERPLEXITY.reward(&epochs).unwrap();
    assert!((reward - 80.0 / (40.0 * 40.0)).abs() < 1e-12);
    assert!(RewardFunction::ACCURACY.reward(&[]).is_err());
    assert!(
        RewardFunction::Accuracy {
            power: -1.0,
            window: 5
        }
        .validate()
        .is_err()
    );
}

#[test]
fn experiment_names_are_safe() {
    for good in ["a", "cifar-10_v2", "0abc"] {
        assert!(good.parse::<ExperimentName>().is_ok(), "{good}");
    }
    for bad in ["", "-a", "A", "a/b", "a b", &"x".repeat(64)] {
        assert!(bad.parse::<ExperimentName>().is_err(), "{bad}");
    }
}

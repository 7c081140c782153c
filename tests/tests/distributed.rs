//! The distributed pipeline against a real RabbitMQ and a real S3 server
//! (Garage in CI): worker and controller processes, killed and restarted.
//!
//! Every test uses its own queue prefix, experiment and data-set name, and
//! the tests take turns (one restarts the broker).

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::Duration;

use nas_domain::ExperimentName;
use nas_infra::store::keys;
use nas_test_support::serial;
use nas_tests::chaos::faults::rabbitmqctl;
use nas_tests::pipeline::{Pipeline, PipelineOptions, block_on, job_id_in, summary_of};

/// Synthetic CIFAR-10 and a config for `children` tiny children of
/// `epochs` epochs (`records` images per file, `in_flight` jobs at a time).
fn setup(stem: &str, children: u32, epochs: u32, records: u32, in_flight: u32) -> Pipeline {
    Pipeline::new(
        stem,
        &PipelineOptions {
            children,
            epochs,
            records,
            in_flight,
            ..PipelineOptions::default()
        },
    )
}

/// The reward log: (sequence, job id, status) per record.
fn reward_log(pipeline: &Pipeline) -> Vec<(u64, String, String)> {
    pipeline
        .reward_log()
        .into_iter()
        .map(|record| (record.sequence, record.job_id, record.status))
        .collect()
}

/// Parses the controller's last stdout line.
fn summary(output: Option<String>) -> serde_json::Value {
    summary_of(output).expect("the controller finished in time and printed a summary")
}

/// Every child counted exactly once, in one unbroken sequence.
fn assert_counted_once(log: &[(u64, String, String)], children: usize) {
    assert_eq!(log.len(), children, "reward log: {log:?}");
    let sequences: Vec<u64> = log.iter().map(|(sequence, _, _)| *sequence).collect();
    assert_eq!(
        sequences,
        (0..children as u64).collect::<Vec<_>>(),
        "sequence numbers have gaps or repeats"
    );
    let ids: HashSet<&String> = log.iter().map(|(_, id, _)| id).collect();
    assert_eq!(ids.len(), children, "a job was counted twice");
}

#[test]
fn a_search_with_two_workers_counts_every_child_once() {
    let _turn = serial();
    let setup = setup("e2e", 20, 1, 100, 4);
    let _workers = [setup.worker("w1"), setup.worker("w2")];
    let summary = summary(
        setup
            .controller("controller", false)
            .wait_output(Duration::from_secs(240)),
    );
    assert_eq!(summary["children_rewarded"], 20, "{summary}");
    assert_eq!(summary["children_failed"], 0);
    assert_eq!(summary["duplicates"], 0);
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["policy_steps"], 5, "20 rewards in REINFORCE batches of 4");
    let leaderboard = summary["leaderboard"].as_array().unwrap();
    assert!(!leaderboard.is_empty());
    let rewards: Vec<f64> = leaderboard
        .iter()
        .map(|e| e["reward"].as_f64().unwrap())
        .collect();
    assert!(
        rewards.windows(2).all(|pair| pair[0] >= pair[1]),
        "the leaderboard is sorted best first"
    );
    assert!(leaderboard[0]["architecture_id"].as_str().unwrap().len() == 64);
    assert_counted_once(&reward_log(&setup), 20);
    let experiment: ExperimentName = setup.experiment.parse().unwrap();
    assert!(setup.object_exists(&keys::policy_latest(&experiment)));
    assert!(setup.object_exists(&keys::leaderboard(&experiment)));
    // Both workers trained.
    for worker in ["w1.log", "w2.log"] {
        let log = std::fs::read_to_string(setup.path(worker)).unwrap();
        assert!(log.contains("job done"), "{worker} trained nothing");
    }
    // Credentials never reach the logs.
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").expect("the S3 test key is in the environment");
    for name in ["w1.log", "w2.log", "controller.log"] {
        let log = std::fs::read_to_string(setup.path(name)).unwrap();
        assert!(!log.is_empty(), "{name} is empty");
        assert!(!log.contains(&secret), "{name} holds the S3 secret key");
        assert!(!log.contains(":guest@"), "{name} holds the broker password");
    }
}

#[test]
fn killed_workers_and_a_killed_controller_lose_nothing_and_count_nothing_twice() {
    let _turn = serial();
    let children = 24;
    let setup = setup("chaos", children, 2, 200, 4);
    let mut w1 = setup.worker("w1");
    let _w2 = setup.worker("w2");
    let mut controller = setup.controller("controller-1", false);
    // kill -9 a worker in the middle of a child.
    assert!(
        w1.wait_for("training", 1, Duration::from_secs(60)),
        "w1 never trained: {}",
        w1.log_text()
    );
    let killed_job = job_id_in(&w1.log_text(), "training").unwrap();
    w1.kill();
    let _w3 = setup.worker("w3");
    // kill -9 the controller after some rewards, then resume it.
    assert!(
        controller.wait_for("policy step", 2, Duration::from_secs(120)),
        "{}",
        controller.log_text()
    );
    controller.kill();
    let resumed = setup.controller("controller-2", true);
    let summary = summary(resumed.wait_output(Duration::from_secs(300)));
    assert_eq!(summary["complete"], true, "{summary}");
    let log = reward_log(&setup);
    assert_counted_once(&log, children as usize);
    assert!(
        log.iter()
            .any(|(_, id, status)| *id == killed_job && status == "ok"),
        "the job of the killed worker ({killed_job}) was not redone"
    );
    let resumed_log = std::fs::read_to_string(setup.path("controller-2.log")).unwrap();
    assert!(resumed_log.contains("resumed"), "{resumed_log}");
}

#[test]
fn a_sigterm_hands_the_child_to_another_worker_which_resumes_it() {
    let _turn = serial();
    let setup = setup("preempt", 4, 3, 400, 1);
    let mut w1 = setup.worker("w1");
    let controller = setup.controller("controller", false);
    assert!(
        w1.wait_for("training", 1, Duration::from_secs(60)),
        "{}",
        w1.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    let job = job_id_in(&w1.log_text(), "training").unwrap();
    assert!(
        w1.terminate(Duration::from_secs(25)),
        "the worker did not stop within 25 s of SIGTERM"
    );
    let experiment: ExperimentName = setup.experiment.parse().unwrap();
    let job_id = nas_domain::JobId(job.parse().unwrap());
    assert!(
        setup.object_exists(&keys::child_checkpoint(&experiment, job_id)),
        "no checkpoint was saved"
    );
    let w2 = setup.worker("w2");
    assert!(
        w2.wait_for("resuming from checkpoint", 1, Duration::from_secs(60)),
        "{}",
        w2.log_text()
    );
    let summary = summary(controller.wait_output(Duration::from_secs(300)));
    assert_eq!(summary["complete"], true, "{summary}");
    assert!(summary["republished"].as_u64().unwrap() >= 1);
    let log = reward_log(&setup);
    assert_counted_once(&log, 4);
    assert!(log.iter().any(|(_, id, status)| *id == job && status == "ok"));
}

#[test]
fn both_services_reconnect_after_a_broker_restart() {
    let _turn = serial();
    let setup = setup("restart", 16, 2, 200, 2);
    let _workers = [setup.worker("w1"), setup.worker("w2")];
    let controller = setup.controller("controller", false);
    assert!(
        controller.wait_for("policy step", 1, Duration::from_secs(120)),
        "{}",
        controller.log_text()
    );
    assert!(rabbitmqctl(&["stop_app"]));
    std::thread::sleep(Duration::from_secs(2));
    assert!(rabbitmqctl(&["start_app"]));
    let summary = summary(controller.wait_output(Duration::from_secs(300)));
    assert_eq!(summary["complete"], true, "{summary}");
    assert_counted_once(&reward_log(&setup), 16);
}

#[test]
fn malformed_and_invalid_jobs_are_dead_lettered_and_the_worker_keeps_serving() {
    let _turn = serial();
    let setup = setup("poison", 2, 1, 100, 2);
    let experiment: ExperimentName = setup.experiment.parse().unwrap();
    let queue = nas_tests::rabbitmq(&setup.prefix);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(queue.declare(Some(&experiment))).unwrap();
    let _worker = setup.worker("w1");
    let bad_job = serde_json::json!({"schema_version": 1, "experiment": setup.experiment, "spec": {"version": 1, "kind": "cnn", "layers": []}});
    for body in [
        b"{ not json".to_vec(),
        bad_job.to_string().into_bytes(),
        vec![0xff; 64],
    ] {
        runtime
            .block_on(queue.publish_raw_job(&experiment, &body))
            .unwrap();
    }
    let mut dead = runtime.block_on(queue.dead_jobs(&experiment, 16)).unwrap();
    let mut dead_bodies = Vec::new();
    for _ in 0..3 {
        let message = runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(30), dead.next()).await })
            .expect("the message was dead-lettered in time")
            .unwrap()
            .unwrap();
        dead_bodies.push(message.body.clone());
        runtime.block_on(message.ack()).unwrap();
    }
    assert!(dead_bodies.contains(&b"{ not json".to_vec()));
    // The worker is still serving: a whole search completes on it.
    let summary = summary(
        setup
            .controller("controller", false)
            .wait_output(Duration::from_secs(120)),
    );
    assert_eq!(summary["children_rewarded"], 2, "{summary}");
    let log = std::fs::read_to_string(setup.path("w1.log")).unwrap();
    assert_eq!(
        log.matches("dead-lettering an invalid job message").count(),
        3,
        "{log}"
    );
}

#[test]
fn surrogate_workers_answer_a_whole_search_over_the_real_queue() {
    let _turn = serial();
    let setup = setup("surrogate", 40, 1, 10, 4);
    let _workers = [setup.surrogate("s1", 50), setup.surrogate("s2", 50)];
    let summary = summary(
        setup
            .controller("controller", false)
            .wait_output(Duration::from_secs(120)),
    );
    assert_eq!(summary["complete"], true, "{summary}");
    assert_eq!(
        summary["children_rewarded"].as_u64().unwrap() + summary["children_reused"].as_u64().unwrap(),
        40
    );
    let log = reward_log(&setup);
    assert_counted_once(&log, 40);
    // The synthetic oracle's accuracies are between 0.5 and 0.95, cubed.
    let best = summary["leaderboard"][0]["reward"].as_f64().unwrap();
    assert!((0.125..0.86).contains(&best), "{best}");
}

/// Runs `rabbitmqctl`, failing the test when it fails.
fn broker_admin(args: &[&str]) {
    assert!(rabbitmqctl(args), "rabbitmqctl {args:?} failed");
}

/// A worker's user cannot stop another worker's child: the control
/// exchange is read-only to it (its own control queue is all it may write).
fn assert_stop_refused(worker_queue: &nas_infra::queue::JobQueue, experiment: &ExperimentName) {
    let stop = nas_domain::StopJob::try_from(nas_domain::messages::StopJobFields {
        schema_version: nas_domain::messages::MESSAGE_VERSION,
        job_id: nas_domain::JobId::random(),
        experiment: experiment.clone(),
        epoch: 1,
        rule: "median".into(),
    })
    .unwrap();
    let refused =
        block_on(worker_queue.publish_stop("s1", &stop)).expect_err("the worker's user could publish a stop");
    assert!(refused.to_string().contains("ACCESS_REFUSED"), "{refused}");
}

#[test]
fn per_role_broker_users_run_a_search_and_a_worker_cannot_touch_results() {
    let _turn = serial();
    let mut setup = setup("roles", 8, 1, 10, 4);
    let vhost = nas_tests::unique("nas-roles");
    let password = uuid::Uuid::new_v4().simple().to_string();
    let (controller_user, worker_user) = (format!("{vhost}-controller"), format!("{vhost}-worker"));
    let prefix = setup.prefix.replace('.', "\\.");
    broker_admin(&["add_vhost", &vhost]);
    broker_admin(&["add_user", &controller_user, &password]);
    broker_admin(&["add_user", &worker_user, &password]);
    // The README's permissions, under this test's queue prefix.
    let everything = format!("^{prefix}\\..*");
    broker_admin(&[
        "set_permissions",
        "-p",
        &vhost,
        &controller_user,
        &everything,
        &everything,
        &everything,
    ]);
    broker_admin(&[
        "set_permissions",
        "-p",
        &vhost,
        &worker_user,
        &format!("^{prefix}\\.(jobs|jobs-exchange|dead|control(\\..+)?)$"),
        &format!("^(amq\\.default|{prefix}\\.jobs|{prefix}\\.control\\..+)$"),
        &format!("^{prefix}\\.(jobs|jobs-exchange|control(\\..+)?)$"),
    ]);
    let uri = |user: &str| format!("amqp://{user}:{password}@127.0.0.1:5672/{vhost}");
    setup.controller_broker_uri = Some(uri(&controller_user));
    setup.worker_broker_uri = Some(uri(&worker_user));
    let _workers = [setup.surrogate("s1", 20), setup.surrogate("s2", 20)];
    let summary = summary(
        setup
            .controller("controller", false)
            .wait_output(Duration::from_secs(120)),
    );
    assert_eq!(summary["complete"], true, "{summary}");
    // The worker's user can neither read an experiment's results nor its
    // dead letters, nor publish jobs (the exchange has a name of its own).
    let worker_queue = nas_tests::rabbitmq_at(&uri(&worker_user), &setup.prefix);
    let experiment = setup.experiment_name();
    let publish = block_on(worker_queue.publish_raw_job(&experiment, b"{}"));
    let refused_publish = publish.expect_err("the worker's user could publish a job");
    assert!(!refused_publish.is_transient(), "{refused_publish}");
    assert!(
        refused_publish.to_string().contains("ACCESS_REFUSED"),
        "{refused_publish}"
    );
    assert_stop_refused(&worker_queue, &experiment);
    let refused = block_on(async {
        let results = worker_queue
            .results(&experiment, 1)
            .await
            .err()
            .map(|e| e.to_string());
        let dead = worker_queue
            .dead_jobs(&experiment, 16)
            .await
            .err()
            .map(|e| e.to_string());
        (results, dead)
    });
    for (what, error) in [("results", refused.0), ("dead letters", refused.1)] {
        let error = error.unwrap_or_else(|| panic!("the worker's user could consume the {what}"));
        assert!(
            error.contains("ACCESS_REFUSED") || error.contains("access to"),
            "{what}: {error}"
        );
    }
    broker_admin(&["delete_vhost", &vhost]);
    broker_admin(&["delete_user", &controller_user]);
    broker_admin(&["delete_user", &worker_user]);
}

//! Early stopping over the real queue: real training workers on tiny
//! synthetic CIFAR-10, a real RabbitMQ and Garage. Children report every
//! epoch; the controller's rule stops some; each stopped child is counted
//! once with the epoch it stopped at; a killed controller resumes with the
//! rule's state intact; a stop for a job a worker does not hold is ignored.
//! The `predict` rule runs on surrogates answering from the recorded
//! CIFAR-10 learning curves, so its model has real curves to learn from.

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::Duration;

use nas_domain::messages::{MESSAGE_VERSION, StopJobFields};
use nas_domain::{JobId, StopJob};
use nas_infra::store::keys;
use nas_test_support::{last_json, serial};
use nas_tests::chaos::stopping::{curve_source, use_recorded_space};
use nas_tests::pipeline::{LoggedReward, Pipeline, PipelineOptions, block_on, wait_summary};
use nas_tests::rabbitmq;

const EPOCHS: u32 = 4;

/// A pipeline of `children` tiny children of [`EPOCHS`] epochs, stopped by
/// `stopping` (a TOML `[stopping]` body).
fn setup(stem: &str, children: u32, stopping: &str) -> Pipeline {
    let pipeline = Pipeline::new(
        stem,
        &PipelineOptions {
            children,
            epochs: EPOCHS,
            records: 60,
            in_flight: 2,
            controller_batch: 4,
            job_timeout_seconds: 120,
            ..PipelineOptions::default()
        },
    );
    let mut config = std::fs::OpenOptions::new()
        .append(true)
        .open(&pipeline.config)
        .unwrap();
    // A stopped architecture sampled again reuses its reward (the default).
    writeln!(config, "\n[stopping]\n{stopping}").unwrap();
    pipeline
}

/// Checks the reward log and the summary agree on the stopped children:
/// each job once, each stopped one with its epoch; returns the log.
fn check_counted(pipeline: &Pipeline, summary: &serde_json::Value, children: usize) -> Vec<LoggedReward> {
    let log = pipeline.reward_log();
    let ids: HashSet<&str> = log.iter().map(|record| record.job_id.as_str()).collect();
    assert_eq!(log.len(), children, "one record per child");
    assert_eq!(ids.len(), children, "a job was counted twice");
    let stopped: Vec<&LoggedReward> = log.iter().filter(|record| record.status == "stopped").collect();
    assert_eq!(summary["children_stopped"], stopped.len(), "{summary}");
    let mut saved = 0;
    for record in &stopped {
        let result = &record.value["result"];
        let done = result["outcome"]["epochs_done"].as_u64().unwrap();
        assert!(
            done >= 1 && done < u64::from(EPOCHS),
            "stopped after {done} epochs"
        );
        assert_eq!(result["epochs"].as_array().unwrap().len() as u64, done);
        assert_eq!(record.value["reason"], format!("stopped after epoch {done}"));
        saved += u64::from(EPOCHS) - done;
    }
    assert_eq!(summary["epochs_saved"], saved, "{summary}");
    // Every child the rule saw reach an epoch, once: what the results say.
    let reached: Vec<usize> = (1..=EPOCHS as usize)
        .map(|epoch| {
            log.iter()
                .filter(|record| {
                    record.value["result"]["epochs"]
                        .as_array()
                        .is_some_and(|epochs| epochs.len() >= epoch)
                })
                .count()
        })
        .collect();
    assert_eq!(
        summary["children_reached"],
        serde_json::json!(reached),
        "{summary}"
    );
    log
}

#[test]
fn both_rules_stop_children_and_count_each_once() {
    let _turn = serial();
    for (rule, settings) in [
        ("median", "rule = \"median\"\nmin_children = 2\nmin_epochs = 1"),
        ("asha", "rule = \"asha\"\nreduction = 2\nmin_epochs = 1"),
    ] {
        let children = 12;
        let pipeline = setup(&format!("stop-{rule}"), children, settings);
        let workers = [pipeline.worker("w1"), pipeline.worker("w2")];
        let summary = wait_summary(pipeline.controller("controller", false), Duration::from_secs(400))
            .expect("the search finished in time");
        assert_eq!(summary["stopping_rule"], rule);
        assert_eq!(summary["complete"], true, "{summary}");
        let stopped = summary["children_stopped"].as_u64().unwrap();
        assert!(stopped >= 1, "{rule} stopped no child: {summary}");
        check_counted(&pipeline, &summary, children as usize);
        assert!(summary["gpu_seconds_saved"].as_f64().unwrap() > 0.0);
        // The progress log holds the decisions.
        let progress = pipeline.json_lines(&keys::progress_prefix(&pipeline.experiment_name()));
        let decided = progress
            .iter()
            .filter(|record| record["stopped_at"].is_number())
            .count();
        assert!(
            decided as u64 >= stopped,
            "{decided} recorded stops for {stopped} stopped children"
        );
        let honoured: usize = workers
            .iter()
            .map(|worker| worker.log_text().matches("stopping the child early").count())
            .sum();
        assert!(honoured as u64 >= stopped, "workers honoured {honoured} stops");
        check_report(&pipeline, stopped);
        if rule == "asha" {
            // A stop for a job the worker does not hold (this one finished).
            let finished: JobId =
                serde_json::from_value(pipeline.reward_log()[0].value["job_id"].clone()).unwrap();
            let stop = StopJob::new(StopJobFields {
                schema_version: MESSAGE_VERSION,
                job_id: finished,
                experiment: pipeline.experiment_name(),
                epoch: 1,
                rule: "asha".into(),
            })
            .unwrap();
            block_on(rabbitmq(&pipeline.prefix).publish_stop("w1", &stop)).unwrap();
            assert!(
                workers[0].wait_for(
                    "ignoring a stop for a job this worker does not hold",
                    1,
                    Duration::from_secs(20)
                ),
                "the worker did not ignore the stop"
            );
        }
    }
}

/// The report shows every child's curve, the stopped ones apart, and what
/// stopping saved.
fn check_report(pipeline: &Pipeline, stopped: u64) {
    let out = pipeline.path("report");
    nas_tests::run_ok(
        "nas-controller",
        &["report", &pipeline.experiment, "--out", out.to_str().unwrap()],
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        html.contains("learning-curves.png"),
        "no learning curves on the page"
    );
    assert!(
        html.contains(&format!("{stopped} children stopped")),
        "the page does not count the stopped children"
    );
    let svg = std::fs::read_to_string(out.join("learning-curves.svg")).unwrap();
    assert!(svg.contains("stopped early") && svg.contains("trained to the end"));
}

#[test]
fn a_killed_controller_resumes_with_the_rungs_intact() {
    let _turn = serial();
    let children = 16;
    let pipeline = setup(
        "stop-resume",
        children,
        "rule = \"asha\"\nreduction = 2\nmin_epochs = 1",
    );
    let _workers = [pipeline.worker("w1"), pipeline.worker("w2")];
    let mut first = pipeline.controller("first", false);
    assert!(
        first.wait_for("stop sent", 2, Duration::from_secs(300)),
        "no stops before the kill: {}",
        first.log_text()
    );
    first.kill();
    let before = pipeline.reward_log().len();
    assert!(before < children as usize, "the search finished before the kill");
    let summary = wait_summary(pipeline.controller("second", true), Duration::from_secs(400))
        .expect("the resumed search finished in time");
    assert_eq!(summary["complete"], true, "{summary}");
    let log = check_counted(&pipeline, &summary, children as usize);
    // Stops decided before the kill came through: the log holds stopped
    // children from before and after the restart.
    let stopped: HashMap<&str, &str> = log
        .iter()
        .filter(|record| record.status == "stopped")
        .map(|record| (record.job_id.as_str(), record.status.as_str()))
        .collect();
    assert!(!stopped.is_empty());
    check_stops_replayed(&pipeline, &log);
}

#[test]
fn predict_learns_from_finished_children_and_a_killed_controller_resumes_with_its_model() {
    let _turn = serial();
    let children = 40;
    let pipeline = Pipeline::new(
        "stop-predict",
        &PipelineOptions {
            children,
            epochs: EPOCHS,
            in_flight: 3,
            controller_batch: 4,
            job_timeout_seconds: 120,
            ..PipelineOptions::default()
        },
    );
    use_recorded_space(
        &pipeline,
        "rule = \"predict\"\nmin_finished = 6\ntop_k = 3\nquantile = 0.9",
    );
    let _workers: Vec<_> = (0..3)
        .map(|index| pipeline.surrogate_from(&format!("w{index}"), &curve_source(), 40))
        .collect();
    let mut first = pipeline.controller("first", false);
    assert!(
        first.wait_for("stop sent", 3, Duration::from_secs(300)),
        "no stops before the kill: {}",
        first.log_text()
    );
    first.kill();
    let before = pipeline.reward_log();
    assert!(
        before.len() < children as usize,
        "the search finished before the kill"
    );
    // No stop before the model had its six finished children.
    let finished_before = before.iter().filter(|record| record.status == "ok").count();
    assert!(finished_before >= 6, "{finished_before} finished before the kill");
    let whole_curves = whole_curves_logged(&pipeline, &before);
    assert!(whole_curves >= finished_before);
    let second = pipeline.controller("second", true);
    assert!(second.wait_for("early stopping restored", 1, Duration::from_secs(60)));
    // The rule's model is rebuilt from every whole curve logged before the
    // kill: the finished children's and those of children whose last epoch
    // was reported but whose result had not come through.
    let restored = second
        .log_text()
        .lines()
        .find(|line| line.contains("early stopping restored"))
        .and_then(|line| line.split("finished=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|count| count.parse::<usize>().ok());
    assert_eq!(restored, Some(whole_curves), "{}", second.log_text());
    let summary =
        wait_summary(second, Duration::from_secs(400)).expect("the resumed search finished in time");
    assert_eq!(summary["complete"], true, "{summary}");
    assert_eq!(summary["stopping_rule"], "predict");
    let log = check_counted(&pipeline, &summary, children as usize);
    check_stopped_where_decided(&pipeline, &log);
    // Nothing stopped while fewer than six children had finished: the
    // first six results are all trained to the end.
    assert!(
        log[..6].iter().all(|record| record.status == "ok"),
        "a stop before the model was fitted"
    );
    check_stops_replayed(&pipeline, &log);
}

/// Children with a curve of every epoch in the logs as they stand (the
/// reward log `rewards` read beside them): in their result, or, for those
/// without one yet, in their latest progress report.
fn whole_curves_logged(pipeline: &Pipeline, rewards: &[LoggedReward]) -> usize {
    let whole = |epochs: &serde_json::Value| epochs.as_array().map_or(0, Vec::len) == EPOCHS as usize;
    let logged: HashSet<&str> = rewards.iter().map(|record| record.job_id.as_str()).collect();
    let in_results = rewards
        .iter()
        .filter(|record| whole(&record.value["result"]["epochs"]))
        .count();
    let in_progress: HashSet<String> = pipeline
        .json_lines(&keys::progress_prefix(&pipeline.experiment_name()))
        .iter()
        .filter(|record| whole(&record["epochs"]))
        .filter_map(|record| record["job_id"].as_str().map(str::to_owned))
        .filter(|job| !logged.contains(job.as_str()))
        .collect();
    in_results + in_progress.len()
}

/// `replay verify` recomputes the search identically: it took every
/// recorded decision again, before and after the restart, and each came
/// out the same.
fn check_stops_replayed(pipeline: &Pipeline, log: &[LoggedReward]) {
    let verify = nas_tests::run_ok(
        "nas-controller",
        &[
            "replay",
            "verify",
            "--experiment",
            &pipeline.experiment,
            "--output",
            "json",
        ],
    );
    let verdict = &last_json(&verify);
    assert_eq!(verdict["identical"], true, "{verdict}");
    let stops = &verdict["stops"];
    let stopped = log.iter().filter(|record| record.status == "stopped").count() as u64;
    assert_eq!(stops["differing"], 0, "{verdict}");
    assert_eq!(stops["unchecked"], 0, "{verdict}");
    assert!(stops["stops"].as_u64().unwrap() >= stopped, "{verdict}");
    assert!(
        stops["reports"].as_u64().unwrap() > stops["stops"].as_u64().unwrap(),
        "{verdict}"
    );
}

/// Each stopped child was stopped by a decision in the progress log,
/// before or after a restart, and stopped at that epoch or (a stop arriving
/// while the next epoch trained) after it.
fn check_stopped_where_decided(pipeline: &Pipeline, log: &[LoggedReward]) {
    let decided: HashMap<String, u64> = pipeline
        .json_lines(&keys::progress_prefix(&pipeline.experiment_name()))
        .iter()
        .filter_map(|record| {
            Some((
                record["job_id"].as_str()?.to_owned(),
                record["stopped_at"].as_u64()?,
            ))
        })
        .collect();
    let stopped: Vec<&LoggedReward> = log.iter().filter(|record| record.status == "stopped").collect();
    assert!(stopped.len() >= 3, "{} stopped", stopped.len());
    for record in &stopped {
        let done = record.value["result"]["outcome"]["epochs_done"].as_u64().unwrap();
        let decision = decided.get(&record.job_id).copied();
        assert!(
            decision.is_some_and(|epoch| (epoch..u64::from(EPOCHS)).contains(&done)),
            "{}: decided {decision:?}, stopped after {done}",
            record.job_id
        );
    }
}

//! Trial commands through the real queue: a search over a categorical
//! space with `task = "custom"` whose children a small `sh` script trains
//! (`[trial]`), with real RabbitMQ, Garage and worker processes.
//!
//! The script does what the spec's decision `mode` says: `ok` prints two
//! epochs of metrics and a final line, `fail` exits 3 after a line on
//! stderr, `hang` ignores SIGTERM and runs forever with a child of its own,
//! `term` (the first job only) waits for SIGTERM and records it. Each test
//! fixes `mode` to one option, so every child behaves the same.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use nas_test_support::gone_within;
use nas_tests::pipeline::{LoggedReward, Pipeline, wait_summary};

/// The trial script (see the module docs); it writes what it did into the
/// folder it lives in.
const SCRIPT: &str = r#"#!/bin/sh
dir=$(dirname "$0")
text() { grep -o "\"$1\": \"[^\"]*\"" "$NAS_TRIAL_JOB" | head -n 1 | cut -d '"' -f 4; }
number() { grep -o "\"$1\": [0-9]*" "$NAS_TRIAL_JOB" | head -n 1 | cut -d ' ' -f 2; }
job=$(text job_id)
mode=$(text mode)
x=$(number x)
ok() {
    echo "hello from the trial of $job"
    echo "trial-stderr-line of $job" >&2
    echo "{\"epoch\": 1, \"metric\": 0.${x}1, \"train_loss\": 1.5}"
    echo "{\"epoch\": 2, \"metric\": 0.${x}5}"
    echo "0.${x}5" > "$dir/printed-$job"
    echo '{"final": true}'
}
case "$mode" in
ok) ok ;;
fail)
    echo "fail-marker: the gradient exploded in $job" >&2
    exit 3 ;;
hang)
    trap '' TERM
    sleep 300 &
    echo $! >> "$dir/pids"
    echo $$ >> "$dir/pids"
    while true; do sleep 1; done ;;
term)
    if mkdir "$dir/victim" 2>/dev/null; then
        trap 'echo "$job" > "$dir/victim/got-sigterm"; exit 143' TERM
        echo $$ > "$dir/victim/pids"
        echo "{\"epoch\": 1, \"metric\": 0.5}"
        sleep 300 &
        echo $! >> "$dir/victim/pids"
        touch "$dir/victim/started"
        wait $!
    fi
    ok ;;
esac
"#;

/// A custom search of `children` children with `mode` fixed, its trial
/// limited to `timeout` seconds with `grace` seconds after SIGTERM.
fn search(stem: &str, mode: &str, children: u32, in_flight: u32, timeout: f64, grace: f64) -> Pipeline {
    Pipeline::custom(stem, |experiment, dir| {
        let script = dir.join("trial.sh");
        std::fs::write(&script, SCRIPT).unwrap();
        format!(
            r#"experiment = "{experiment}"
task = "custom"
children = {children}
in_flight = {in_flight}
job_timeout_seconds = 60
reuse_rewards = false
[controller]
batch_size = 2
[budget]
epochs = 2
[trial]
command = ["sh", "{script}"]
timeout_seconds = {timeout:?}
grace_seconds = {grace:?}
[space]
kind = "categorical"
[[space.decisions]]
name = "mode"
options = ["{mode}"]
[[space.decisions]]
name = "x"
options = [1, 2, 3, 4]
[[space.decisions]]
name = "y"
options = ["a", "b"]
"#,
            script = script.display()
        )
    })
}

/// Every child recorded once, in one unbroken sequence.
fn assert_counted_once(log: &[LoggedReward], children: usize) {
    assert_eq!(log.len(), children, "reward log: {log:?}");
    let sequences: Vec<u64> = log.iter().map(|record| record.sequence).collect();
    assert_eq!(sequences, (0..children as u64).collect::<Vec<_>>());
    let ids: HashSet<&String> = log.iter().map(|record| &record.job_id).collect();
    assert_eq!(ids.len(), children, "a job was counted twice");
}

/// Waits up to `timeout` for `path` to exist.
fn wait_for_file(path: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The failure reason of a record.
fn reason(record: &LoggedReward) -> &str {
    record.value["reason"].as_str().unwrap_or_default()
}

#[test]
fn trials_that_succeed_record_the_rewards_they_print() {
    let setup = search("trial-ok", "ok", 6, 2, 30.0, 2.0);
    let _workers = [setup.worker("w1"), setup.worker("w2")];
    // A guard against a hang, not a timing: here the search takes ~2 s.
    let summary = wait_summary(setup.controller("controller", false), Duration::from_secs(180))
        .unwrap_or_else(|| {
            panic!(
                "the search finished and printed a summary\n{}",
                setup.log_tails(&["controller", "w1", "w2"])
            )
        });
    assert_eq!(summary["children_rewarded"], 6, "{summary}");
    assert_eq!(summary["children_failed"], 0, "{summary}");
    let log = setup.reward_log();
    assert_counted_once(&log, 6);
    for record in &log {
        assert_eq!(record.status, "ok", "{:?}", record.value);
        let printed = std::fs::read_to_string(setup.path(&format!("printed-{}", record.job_id)))
            .expect("the script recorded what it printed");
        let printed: f64 = printed.trim().parse().unwrap();
        let x = record.value["spec"]["decisions"]["x"].as_u64().unwrap();
        assert_eq!(printed, format!("0.{x}5").parse::<f64>().unwrap());
        assert_eq!(
            record.value["reward"].as_f64(),
            Some(printed),
            "{:?}",
            record.value
        );
        assert_eq!(record.value["metric"].as_f64(), Some(printed));
        let result = &record.value["result"];
        assert_eq!(result["device"], "trial command");
        let epochs = result["epochs"].as_array().unwrap();
        assert_eq!(epochs.len(), 2);
        assert_eq!(epochs[0]["epoch"], 1);
        assert_eq!(epochs[0]["train_loss"], 1.5);
        assert_eq!(epochs[1]["metric"].as_f64(), Some(printed));
    }
    // The trial's output went to the worker's log, stdout and stderr alike.
    let logs = setup.path("w1.log");
    let logs =
        std::fs::read_to_string(logs).unwrap() + &std::fs::read_to_string(setup.path("w2.log")).unwrap();
    for record in &log {
        assert!(
            logs.contains(&format!("hello from the trial of {}", record.job_id)),
            "{logs}"
        );
        assert!(logs.contains(&format!("trial-stderr-line of {}", record.job_id)));
    }
}

#[test]
fn failing_and_hanging_trials_fail_quickly_with_their_reason_and_leave_no_process() {
    let failing = search("trial-fail", "fail", 2, 2, 30.0, 0.5);
    let mut hanging = search("trial-hang", "hang", 2, 2, 1.5, 0.5);
    // One pair of workers serves both searches.
    hanging.prefix = failing.prefix.clone();
    let _workers = [failing.worker("w1"), failing.worker("w2")];
    // The hanging trials never end by themselves: only their time limit
    // ends them (the waits are guards against a hang, not timings).
    let failed = failing.controller("controller-fail", false);
    let hung = hanging.controller("controller-hang", false);
    let failed = wait_summary(failed, Duration::from_secs(120)).expect("the failing search finished");
    let hung = wait_summary(hung, Duration::from_secs(120)).expect("the hanging search finished");
    assert_eq!(failed["children_failed"], 2, "{failed}");
    assert_eq!(hung["children_failed"], 2, "{hung}");
    let failures = failing.reward_log();
    assert_counted_once(&failures, 2);
    for record in &failures {
        let reason = reason(record);
        assert_eq!(record.status, "failed");
        assert!(
            reason.contains("exited with status 3 without a final line"),
            "{reason}"
        );
        assert!(
            reason.contains(&format!(
                "fail-marker: the gradient exploded in {}",
                record.job_id
            )),
            "the reason holds the end of stderr: {reason}"
        );
    }
    let timeouts = hanging.reward_log();
    assert_counted_once(&timeouts, 2);
    for record in &timeouts {
        let reason = reason(record);
        assert_eq!(record.status, "failed");
        assert!(reason.contains("ran past its time limit of 1.5 s"), "{reason}");
        let wall = record.value["result"]["wall_seconds"].as_f64().unwrap();
        assert!(
            wall >= 1.0,
            "the trial failed {wall} s after it started, before its limit"
        );
    }
    // Every process of the hanging trials (the script and its child, which
    // both ignore SIGTERM) was killed.
    let pids = std::fs::read_to_string(hanging.path("pids")).unwrap();
    assert_eq!(pids.lines().count(), 4, "{pids}");
    for pid in pids.lines() {
        assert!(
            gone_within(pid, Duration::from_secs(30)),
            "process {pid} of a timed-out trial is still running"
        );
    }
}

#[test]
fn a_sigterm_hands_a_running_trial_to_another_worker() {
    // A grace period far longer than the wait for the worker below: a
    // trial that did not exit on SIGTERM would hold its worker past it.
    let setup = search("trial-term", "term", 3, 1, 300.0, 120.0);
    let mut w1 = setup.worker("w1");
    let controller = setup.controller("controller", false);
    let victim = setup.path("victim");
    assert!(
        wait_for_file(&victim.join("started"), Duration::from_secs(30)),
        "no trial started: {}",
        w1.log_text()
    );
    let pids = std::fs::read_to_string(victim.join("pids")).unwrap();
    assert!(
        w1.terminate(Duration::from_secs(60)),
        "the worker did not stop after SIGTERM (the trial does not exit on it?)"
    );
    let got = std::fs::read_to_string(victim.join("got-sigterm"))
        .unwrap_or_else(|error| panic!("the trial got no SIGTERM ({error}): {}", w1.log_text()));
    let job_id = got.trim().to_owned();
    assert_eq!(pids.lines().count(), 2, "{pids}");
    for pid in pids.lines() {
        assert!(
            gone_within(pid, Duration::from_secs(30)),
            "process {pid} of the trial outlived its worker"
        );
    }
    let w1_log = w1.log_text();
    assert!(
        w1_log.contains("forwarding SIGTERM to the trial command"),
        "{w1_log}"
    );
    let _w2 = setup.worker("w2");
    let summary = wait_summary(controller, Duration::from_secs(180)).unwrap_or_else(|| {
        panic!(
            "the search finished\n{}",
            setup.log_tails(&["controller", "w1", "w2"])
        )
    });
    assert_eq!(summary["complete"], true, "{summary}");
    assert_eq!(summary["children_rewarded"], 3, "{summary}");
    assert!(
        summary["republished"].as_u64().unwrap() >= 1,
        "{summary}\nw1: {w1_log}"
    );
    let log = setup.reward_log();
    assert_counted_once(&log, 3);
    let redone = log
        .iter()
        .find(|record| record.job_id == job_id)
        .expect("the preempted job was recorded");
    assert_eq!(redone.status, "ok", "{:?}", redone.value);
    assert_eq!(redone.value["result"]["worker_id"], "w2");
    assert!(redone.value["result"]["attempt"].as_u64().unwrap() >= 2);
    // No job record was lost: the preempted job was published twice.
    let publications = setup
        .job_records()
        .iter()
        .filter(|record| record.to_string().contains(&job_id))
        .count();
    assert!(publications >= 2, "{publications}");
}

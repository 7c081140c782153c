//! The trial runner on its own (no broker, no store): small `sh` scripts
//! that report, fail, hang, ignore SIGTERM or break the protocol, and what
//! each becomes.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use nas_domain::{Outcome, TrainJob, TrialCommand};
use nas_test_support::gone_within;
use nas_worker::trial;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// A custom-task job whose trial runs `script` with `sh`.
fn job(dir: &Path, script: &str, timeout: Option<f64>, grace: f64) -> TrainJob {
    let path = dir.join("trial.sh");
    std::fs::write(&path, script).unwrap();
    let mut trial = TrialCommand::new(vec!["sh".into(), path.display().to_string()]);
    trial.timeout_seconds = timeout;
    trial.grace_seconds = grace;
    let job = json!({
        "schema_version": 1,
        "job_id": "0b9c7f5e-3c55-4d7a-9a51-2f0e5e4b6a10",
        "experiment": "trial-runner",
        "policy_version": 0,
        "attempt": 1,
        "spec": {"version": 1, "kind": "categorical", "decisions": {"x": 2}},
        "task": "custom",
        "dataset": {"name": "custom"},
        "budget": {"epochs": 3},
        "reward": {"kind": "metric", "goal": "maximize", "window": 1},
        "seed": 1,
        "trial": trial,
    });
    TrainJob::from_json(job.to_string().as_bytes()).unwrap()
}

async fn run(dir: &Path, job: &TrainJob, stop: &CancellationToken) -> nas_worker::train::TrainReport {
    let trial = job.trial.clone().unwrap();
    trial::run(job, &trial, None, &dir.join("scratch"), stop)
        .await
        .unwrap()
}

fn reason(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Failed { reason } => reason,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Generous ceilings, only guards against a hang: what each test checks is
/// what happened (the reason, the exit, the processes gone), not how fast
/// on a busy machine.
const GUARD: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_trial_reports_epochs_and_its_reward_and_sees_the_job_file() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
echo "starting"
echo "a warning" >&2
cp "$NAS_TRIAL_JOB" "$(dirname "$NAS_TRIAL_JOB")/../../seen.json"
echo '{"epoch": 1, "metric": 0.5, "train_loss": 2.0}'
echo '{"epoch": 2, "metric": 0.75, "valid_accuracy": 0.7}'
echo '{"final": true}'
"#;
    let job = job(dir.path(), script, Some(30.0), 1.0);
    let report = run(dir.path(), &job, &CancellationToken::new()).await;
    assert_eq!(
        report.outcome,
        Outcome::Ok {
            reward: 0.75,
            metric: 0.75
        }
    );
    assert_eq!(report.epochs.len(), 2);
    assert_eq!(report.epochs[0].train_loss, 2.0);
    assert_eq!(report.epochs[1].valid_accuracy, Some(0.7));
    let seen: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("seen.json")).unwrap()).unwrap();
    assert_eq!(seen["job"]["spec"]["decisions"]["x"], 2);
    assert_eq!(seen["job"]["budget"]["epochs"], 3);
    assert!(seen["data_dir"].is_null());
    assert!(seen["work_dir"].as_str().unwrap().contains("scratch"));
    // The trial's folder is gone afterwards.
    assert_eq!(std::fs::read_dir(dir.path().join("scratch")).unwrap().count(), 0);
}

#[tokio::test]
async fn a_non_zero_exit_fails_with_the_tail_of_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
for i in $(seq 1 40); do echo "noise $i" >&2; done
echo "Traceback: out of memory" >&2
echo '{"epoch": 1, "metric": 0.5}'
exit 3
"#;
    let job = job(dir.path(), script, None, 1.0);
    let report = run(dir.path(), &job, &CancellationToken::new()).await;
    let reason = reason(&report.outcome);
    assert!(
        reason.contains("exited with status 3 without a final line"),
        "{reason}"
    );
    assert!(reason.contains("Traceback: out of memory"), "{reason}");
    assert!(
        reason.contains("noise 40") && !reason.contains("noise 10\n"),
        "{reason}"
    );
    assert_eq!(
        report.epochs.len(),
        1,
        "the epochs reported before the failure are kept"
    );
}

#[tokio::test]
async fn exits_without_a_final_line_signals_and_missing_programs_fail() {
    let dir = tempfile::tempdir().unwrap();
    let no_final = job(dir.path(), "echo '{\"epoch\": 1, \"metric\": 1}'\n", None, 1.0);
    let report = run(dir.path(), &no_final, &CancellationToken::new()).await;
    assert!(
        reason(&report.outcome).contains("status 0 without a final line"),
        "{:?}",
        report.outcome
    );
    let killed = job(dir.path(), "echo dying >&2\nkill -SEGV $$\n", None, 1.0);
    let report = run(dir.path(), &killed, &CancellationToken::new()).await;
    let reason_text = reason(&report.outcome);
    assert!(
        reason_text.contains("signal 11 (SIGSEGV)") && reason_text.contains("dying"),
        "{reason_text}"
    );
    // A protocol error kills the trial and its child (which would sleep
    // for 5 minutes).
    let pids = dir.path().join("protocol-pids");
    let broken = job(
        dir.path(),
        &format!(
            "echo $$ > {0}\nsleep 300 &\necho $! >> {0}\necho '{{\"epoch\": 2, \"metric\": 1}}'\nwait\n",
            pids.display()
        ),
        None,
        1.0,
    );
    let report = tokio::time::timeout(GUARD, run(dir.path(), &broken, &CancellationToken::new()))
        .await
        .expect("a protocol error ends the trial");
    assert!(reason(&report.outcome).contains("line 1: epoch 2 reported where 1 was expected"));
    let pids = std::fs::read_to_string(pids).unwrap();
    assert_eq!(pids.lines().count(), 2);
    for pid in pids.lines() {
        assert!(
            gone_within(pid, GUARD),
            "process {pid} of the trial outlived its protocol error"
        );
    }
    let mut missing = broken.trial.clone().unwrap();
    missing.command = vec!["/nonexistent/trainer".into()];
    let error = trial::run(
        &broken,
        &missing,
        None,
        &dir.path().join("scratch"),
        &CancellationToken::new(),
    )
    .await
    .err()
    .unwrap();
    assert!(!error.is_transient());
    assert!(error.to_string().contains("/nonexistent/trainer"), "{error}");
}

#[tokio::test]
async fn a_trial_past_its_time_limit_is_killed_with_its_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "trap '' TERM\nsleep 300 &\necho $! > {0}\necho $$ >> {0}\necho '{{\"epoch\": 1, \"metric\": 0.1}}'\nwhile true; do sleep 1; done\n",
        pids.display()
    );
    let job = job(dir.path(), &script, Some(1.0), 0.5);
    // The trial never ends by itself: only the time limit ends it.
    let report = tokio::time::timeout(GUARD, run(dir.path(), &job, &CancellationToken::new()))
        .await
        .expect("the time limit ends the trial");
    let reason = reason(&report.outcome);
    assert!(reason.contains("ran past its time limit of 1 s"), "{reason}");
    let pids = std::fs::read_to_string(pids).unwrap();
    assert_eq!(pids.lines().count(), 2);
    for pid in pids.lines() {
        assert!(gone_within(pid, GUARD), "process {pid} of the trial outlived it");
    }
}

/// A stop token cancelled once `ready` exists (the trial set its traps);
/// the task answers when it cancelled.
fn stop_when_ready(ready: std::path::PathBuf) -> (CancellationToken, tokio::task::JoinHandle<Instant>) {
    let stop = CancellationToken::new();
    let cancel = stop.clone();
    let cancelled = tokio::spawn(async move {
        while !ready.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cancel.cancel();
        Instant::now()
    });
    (stop, cancelled)
}

#[tokio::test]
async fn a_stop_forwards_sigterm_and_preempts_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let (marker, ready) = (dir.path().join("got-sigterm"), dir.path().join("ready"));
    let script = format!(
        "trap 'echo term > {}; exit 143' TERM\necho '{{\"epoch\": 1, \"metric\": 0.1}}'\nsleep 300 &\ntouch {}\nwait $!\n",
        marker.display(),
        ready.display()
    );
    // A grace period longer than the guard: a trial that did not exit on
    // SIGTERM would be killed only after it.
    let job = job(dir.path(), &script, None, 2.0 * GUARD.as_secs_f64());
    let (stop, cancelled) = stop_when_ready(ready);
    let report = run(dir.path(), &job, &stop).await;
    let stopped = cancelled.await.unwrap().elapsed();
    assert_eq!(report.outcome, Outcome::Preempted { epochs_done: 0 });
    assert!(marker.exists(), "the trial never saw SIGTERM");
    assert!(
        stopped < GUARD,
        "it exited on SIGTERM, not after the grace period: {stopped:?}"
    );
}

#[tokio::test]
async fn a_trial_that_ignores_sigterm_is_killed_after_its_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let pid = dir.path().join("pid");
    let script = format!(
        "trap '' TERM\necho $$ > {}\ntouch {}\nwhile true; do sleep 1; done\n",
        pid.display(),
        ready.display()
    );
    let job = job(dir.path(), &script, None, 1.0);
    let (stop, cancelled) = stop_when_ready(ready);
    let report = tokio::time::timeout(GUARD, run(dir.path(), &job, &stop))
        .await
        .expect("the grace period ends the trial");
    let stopped = cancelled.await.unwrap().elapsed();
    assert_eq!(report.outcome, Outcome::Preempted { epochs_done: 0 });
    // Not before its grace period (a lower bound a busy machine cannot break).
    assert!(stopped >= Duration::from_millis(900), "{stopped:?}");
    let pid = std::fs::read_to_string(pid).unwrap();
    assert!(
        gone_within(&pid, GUARD),
        "the trial {pid} outlived its grace period"
    );
}

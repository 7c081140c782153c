//! Trial commands: training a child with the user's own program instead of
//! the worker's libtorch models, for any kind of spec (CNN, cell or
//! categorical) and any framework.
//!
//! A job with `trial: Some(..)` (the experiment's `[trial]`) comes here from
//! the job loop ([`crate::service`]), after the worker fetched the task's
//! data set (CIFAR-10 or PTB; nothing for a custom task). [`run`]:
//!
//! 1. writes the job file, `job.json` in a fresh folder under
//!    `<cache>/.trials/`: `{"job": <the TrainJob>, "data_dir": <the local
//!    data-set folder or null>, "work_dir": <that folder>}` (the folder is
//!    the trial's scratch space, removed afterwards);
//! 2. starts `trial.command` in a process group of its own with the file's
//!    path in [`JOB_FILE_VARIABLE`] (`NAS_TRIAL_JOB`), logging its output
//!    lines ([`process`]);
//! 3. reads metrics from the JSON lines on its standard output until a
//!    `"final": true` line ([`protocol`]) and turns them into the reward
//!    with the job's reward function.
//!
//! How it ends ([`TrainReport::outcome`]):
//!
//! - **ok**: a final line, then exit status 0 (a command still running
//!   `grace_seconds`, at least 1 s, after its final line is killed and its
//!   report kept);
//! - **failed** ([`TrialFailure`], the reason ending with the tail of its
//!   standard error): a non-zero exit, a signal, an exit without a final
//!   line, the time limit `trial.timeout_seconds` (SIGTERM to the group,
//!   `grace_seconds`, SIGKILL), a malformed report, or metrics that give no
//!   reward;
//! - **preempted**: the worker's shutdown (SIGTERM) forwards SIGTERM to the
//!   group, waits `grace_seconds` and sends SIGKILL; the job goes back to
//!   the controller, which publishes it again (a trial has no checkpoint,
//!   so the next attempt starts over).
//!
//! Whatever happens, the process group is killed before [`run`] returns
//! (or when its future is dropped), so no trial outlives its job.

pub mod process;
pub mod protocol;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nas_domain::{Outcome, RewardFunction, TrainJob, TrialCommand};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::train::TrainReport;
use crate::{Error, Result};
pub use process::JOB_FILE_VARIABLE;
use process::{Event, TrialProcess};
use protocol::{Protocol, Reading};

/// The device a trial's result names: the command chose its own.
pub const DEVICE: &str = "trial command";
/// How long to read what is left of standard output after the command
/// exited (its children may hold the pipe open).
const DRAIN: Duration = Duration::from_secs(2);

/// Why a trial failed (the start of its failed result's reason).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TrialFailure {
    /// It exited with a non-zero status.
    #[error("the trial command exited with status {code}{}", if *.after_final { " after its final line" } else { " without a final line" })]
    Exited {
        /// The status.
        code: i32,
        /// Whether it had printed its final line.
        after_final: bool,
    },
    /// A signal ended it.
    #[error("the trial command was killed by signal {signal} ({})", signal_name(*.signal))]
    Signalled {
        /// The signal's number.
        signal: i32,
    },
    /// It exited with status 0 before its final line.
    #[error("the trial command exited with status 0 without a final line ({{\"final\": true}})")]
    NoFinalLine,
    /// It ran past `trial.timeout_seconds`.
    #[error(
        "the trial command ran past its time limit of {seconds} s (trial.timeout_seconds); its process group was killed"
    )]
    TimedOut {
        /// The limit.
        seconds: f64,
    },
    /// A report line on standard output was malformed; the command was
    /// killed.
    #[error("the trial command's standard output, line {line}: {reason}; the command was killed")]
    Protocol {
        /// Its line number (1-based).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Its reports hold nothing the reward function can read.
    #[error(
        "the trial command reported no metric that the reward function {reward:?} can read (nor a finite reward)"
    )]
    NoMetric {
        /// The job's reward function.
        reward: RewardFunction,
    },
    /// Waiting for it failed.
    #[error("cannot wait for the trial command: {0}")]
    Lost(String),
}

/// The reason's ending: the stderr tail, or a note that there was none.
pub(crate) fn show_tail(tail: &str) -> String {
    if tail.trim().is_empty() {
        "; its standard error was empty".into()
    } else {
        format!("; the end of its standard error:\n{tail}")
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGINT => "SIGINT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGPIPE => "SIGPIPE",
        _ => "a signal",
    }
}

/// How the supervision ended.
enum Ending {
    /// A final line and a clean exit.
    Finished,
    /// A failure.
    Failed(TrialFailure),
    /// Stopped by the worker's shutdown.
    Stopped,
}

/// The job file's contents (see the module docs).
#[derive(Serialize)]
struct JobFile<'a> {
    job: &'a TrainJob,
    data_dir: Option<&'a Path>,
    work_dir: &'a Path,
}

/// Runs `trial` for `job` (see the module docs): `data_dir` is the local
/// data set when the task has one, `scratch` the folder that holds the
/// trials' folders, `stop` the worker's shutdown.
pub async fn run(
    job: &TrainJob,
    trial: &TrialCommand,
    data_dir: Option<&Path>,
    scratch: &Path,
    stop: &CancellationToken,
) -> Result<TrainReport> {
    let work_dir = WorkDir::create(scratch, job).await?;
    let job_file = work_dir.0.join("job.json");
    let contents = JobFile {
        job,
        data_dir,
        work_dir: &work_dir.0,
    };
    let bytes = serde_json::to_vec_pretty(&contents)
        .map_err(|error| Error::Config(format!("the job file cannot be written: {error}")))?;
    tokio::fs::write(&job_file, bytes)
        .await
        .map_err(|error| Error::io(&job_file, error))?;
    let started = Instant::now();
    let mut process = TrialProcess::spawn(trial, &job_file, job.job_id)?;
    let mut protocol = Protocol::new(started);
    let ending = supervise(&mut process, &mut protocol, job, trial, stop).await;
    process.kill().await;
    let tail = process.stderr_tail().await;
    let failed = |failure: TrialFailure| Outcome::Failed {
        reason: Error::Trial {
            failure,
            stderr_tail: tail.clone(),
        }
        .to_string(),
    };
    let outcome = match ending {
        Ending::Finished => protocol::outcome(&job.reward, protocol.epochs()).unwrap_or_else(failed),
        Ending::Failed(failure) => failed(failure),
        Ending::Stopped => Outcome::Preempted { epochs_done: 0 },
    };
    let train_seconds = started.elapsed().as_secs_f64();
    tracing::info!(job_id = %job.job_id, ?outcome, train_seconds, "trial command ended");
    Ok(TrainReport {
        outcome,
        epochs: protocol.epochs().to_vec(),
        parameters: protocol
            .costs()
            .get(nas_domain::objective::Cost::Parameters)
            .map_or(0, |parameters| parameters as i64),
        train_seconds,
        throughput: 0.0,
        device: DEVICE.into(),
        checkpoint: None,
        test_metric: None,
        started,
        costs: protocol.costs().clone(),
    })
}

/// Watches the running command until it ends, fails, runs out of time or
/// the worker stops.
async fn supervise(
    process: &mut TrialProcess,
    protocol: &mut Protocol,
    job: &TrainJob,
    trial: &TrialCommand,
    stop: &CancellationToken,
) -> Ending {
    let grace = Duration::from_secs_f64(trial.grace_seconds);
    let limit = async {
        match trial.timeout_seconds {
            Some(seconds) => tokio::time::sleep(Duration::from_secs_f64(seconds)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(limit);
    let mut stdout_open = true;
    loop {
        tokio::select! {
            event = process.next_event(stdout_open) => match event {
                Event::Line(line) => match take_line(protocol, job, &line) {
                    Ok(Reading::Final) => return after_final(process, grace).await,
                    Ok(Reading::Epoch(_) | Reading::Other) => {}
                    Err(failure) => return Ending::Failed(failure),
                },
                Event::StdoutClosed => stdout_open = false,
                Event::Exited(status) => return after_exit(process, protocol, job, status).await,
            },
            () = &mut limit => {
                tracing::warn!(job_id = %job.job_id, "the trial command ran past its time limit; terminating it");
                process.terminate(grace).await;
                return Ending::Failed(TrialFailure::TimedOut {
                    seconds: trial.timeout_seconds.unwrap_or_default(),
                });
            }
            () = stop.cancelled() => {
                tracing::info!(job_id = %job.job_id, grace_seconds = trial.grace_seconds,
                    "shutting down: forwarding SIGTERM to the trial command");
                process.terminate(grace).await;
                return Ending::Stopped;
            }
        }
    }
}

/// Reads one stdout line, logging what is not a report.
fn take_line(protocol: &mut Protocol, job: &TrainJob, line: &str) -> Result<Reading, TrialFailure> {
    let reading = protocol.read(line)?;
    match &reading {
        Reading::Other => tracing::info!(job_id = %job.job_id, stream = "stdout", "trial: {line}"),
        Reading::Epoch(epoch) => {
            let metrics = protocol.epochs().last();
            tracing::info!(job_id = %job.job_id, epoch, metric = ?metrics.and_then(|m| m.metric),
                valid_accuracy = ?metrics.and_then(|m| m.valid_accuracy), "trial epoch");
        }
        Reading::Final => {
            tracing::info!(job_id = %job.job_id, epochs = protocol.epochs().len(), "trial final line")
        }
    }
    Ok(reading)
}

/// After the final line: the command should exit cleanly, soon.
async fn after_final(process: &mut TrialProcess, grace: Duration) -> Ending {
    match process.wait_for(grace.max(Duration::from_secs(1))).await {
        Some(status) if status.success() => Ending::Finished,
        Some(status) => Ending::Failed(failure_of(status, true)),
        None => {
            tracing::warn!(
                "the trial command still runs after its final line; killing it and keeping its report"
            );
            Ending::Finished
        }
    }
}

/// After the command exited: read what is left of its output, then judge.
async fn after_exit(
    process: &mut TrialProcess,
    protocol: &mut Protocol,
    job: &TrainJob,
    status: std::io::Result<std::process::ExitStatus>,
) -> Ending {
    let status = match status {
        Ok(status) => status,
        Err(error) => return Ending::Failed(TrialFailure::Lost(error.to_string())),
    };
    let drain = async {
        while let Some(line) = process.next_line().await {
            match take_line(protocol, job, &line) {
                Ok(Reading::Final) => return Ok(true),
                Ok(_) => {}
                Err(failure) => return Err(failure),
            }
        }
        Ok(false)
    };
    let final_seen = match tokio::time::timeout(DRAIN, drain).await {
        Ok(Ok(seen)) => seen,
        Ok(Err(failure)) => return Ending::Failed(failure),
        Err(_) => false,
    };
    match (final_seen, status.success()) {
        (true, true) => Ending::Finished,
        (false, true) => Ending::Failed(TrialFailure::NoFinalLine),
        (after_final, false) => Ending::Failed(failure_of(status, after_final)),
    }
}

/// The failure of a command that exited with `status` (not success).
fn failure_of(status: std::process::ExitStatus, after_final: bool) -> TrialFailure {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => TrialFailure::Exited { code, after_final },
        (None, Some(signal)) => TrialFailure::Signalled { signal },
        (None, None) => TrialFailure::Lost(format!("unknown exit status {status}")),
    }
}

/// A trial's folder (job file and scratch space), removed when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    async fn create(scratch: &Path, job: &TrainJob) -> Result<Self> {
        let name = format!("{}-{}-{}", job.job_id, job.attempt, std::process::id());
        let path = scratch.join(name);
        if tokio::fs::metadata(&path).await.is_ok() {
            let _ = tokio::fs::remove_dir_all(&path).await;
        }
        tokio::fs::create_dir_all(&path)
            .await
            .map_err(|error| Error::io(&path, error))?;
        Ok(WorkDir(path))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.0) {
            tracing::debug!(path = %self.0.display(), %error, "cannot remove the trial's folder");
        }
    }
}

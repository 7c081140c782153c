//! One experiment's distributed pipeline, for the integration tests and the
//! chaos suite: synthetic CIFAR-10 uploaded to the S3 server, an experiment
//! config, and the services (controller, training workers, surrogate
//! workers) started as processes under a fresh queue prefix.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use nas_domain::ExperimentName;
use nas_infra::store::keys;

use crate::{Service, run_ok, s3_store, synth_cifar10, unique};

/// The size of a pipeline's search and of its children.
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// Children the search trains.
    pub children: u32,
    /// Epochs per child.
    pub epochs: u32,
    /// Training images per CIFAR-10 file (five files).
    pub records: u32,
    /// Jobs in flight at a time.
    pub in_flight: u32,
    /// Rewards per REINFORCE step.
    pub controller_batch: u32,
    /// Seconds before the controller publishes an unanswered job again.
    pub job_timeout_seconds: u32,
    /// The search strategy (REINFORCE, whose policy steps, checkpoints and
    /// `replay verify` the pipeline tests were written for).
    pub strategy: &'static str,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            children: 20,
            epochs: 1,
            records: 100,
            in_flight: 4,
            controller_batch: 4,
            job_timeout_seconds: 120,
            strategy: "reinforce",
        }
    }
}

impl PipelineOptions {
    /// `children` children, `in_flight` at a time, learned from in
    /// batches of as many (the rest as [`PipelineOptions::default`]).
    pub fn in_rounds(children: u32, in_flight: u32) -> Self {
        PipelineOptions {
            children,
            in_flight,
            controller_batch: in_flight,
            ..PipelineOptions::default()
        }
    }
}

/// One experiment's data, config and service logs (in a temporary folder).
pub struct Pipeline {
    dir: tempfile::TempDir,
    /// The experiment's name (also its data set's).
    pub experiment: String,
    /// The queue prefix of its services.
    pub prefix: String,
    /// The experiment config file.
    pub config: PathBuf,
    /// The controller's broker URI (`NAS_BROKER_URI`), when not the tests'.
    pub controller_broker_uri: Option<String>,
    /// The workers' broker URI, when not the tests'.
    pub worker_broker_uri: Option<String>,
}

/// One record of the reward log as stored.
#[derive(Clone, Debug)]
pub struct LoggedReward {
    /// Its sequence number.
    pub sequence: u64,
    /// The job.
    pub job_id: String,
    /// `ok`, `failed`, `dead_lettered` or `reused`.
    pub status: String,
    /// The whole record.
    pub value: serde_json::Value,
}

impl Pipeline {
    /// Synthetic CIFAR-10 uploaded under a fresh name and a config for tiny
    /// 3-layer children.
    pub fn new(stem: &str, options: &PipelineOptions) -> Pipeline {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let experiment = unique(stem);
        let prefix = unique("nastest");
        let data = dir.path().join("data");
        synth_cifar10(&data, options.records, 10);
        let data_arg = data.to_str().expect("a UTF-8 path");
        run_ok(
            "nas-controller",
            &["data", "upload", "cifar10", data_arg, "--name", &experiment],
        );
        let config = dir.path().join("experiment.toml");
        std::fs::write(&config, config_text(&experiment, options)).expect("the config is written");
        Pipeline {
            dir,
            experiment,
            prefix,
            config,
            controller_broker_uri: None,
            worker_broker_uri: None,
        }
    }

    /// A pipeline with no data set in the store (a custom task, whose trial
    /// command brings its own data): `config` writes the experiment file
    /// from the experiment's name and the pipeline's folder.
    pub fn custom(stem: &str, config: impl FnOnce(&str, &std::path::Path) -> String) -> Pipeline {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let experiment = unique(stem);
        let path = dir.path().join("experiment.toml");
        std::fs::write(&path, config(&experiment, dir.path())).expect("the config is written");
        Pipeline {
            dir,
            experiment,
            prefix: unique("nastest"),
            config: path,
            controller_broker_uri: None,
            worker_broker_uri: None,
        }
    }

    /// A file in the pipeline's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The last 40 lines of each named service's log (`<name>.log` in the
    /// pipeline's folder), for a failed test's message.
    pub fn log_tails(&self, names: &[&str]) -> String {
        names
            .iter()
            .map(|name| {
                let text = std::fs::read_to_string(self.path(&format!("{name}.log"))).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(40)..].join("\n");
                format!("--- {name}.log (last 40 lines)\n{tail}\n")
            })
            .collect()
    }

    /// The experiment's name, parsed.
    pub fn experiment_name(&self) -> ExperimentName {
        self.experiment.parse().expect("a valid experiment name")
    }

    /// A training worker, logging to `<name>.log`, with `extra` arguments.
    pub fn worker_with(&self, name: &str, extra: &[&str]) -> Service {
        let cache = self.path(&format!("cache-{name}"));
        let mut args = vec![
            "--queue-prefix",
            &self.prefix,
            "--cache-dir",
            cache.to_str().expect("a UTF-8 path"),
            "--metrics-addr",
            "127.0.0.1:0",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--worker-id",
            name,
        ];
        args.extend_from_slice(extra);
        let env = broker_env(self.worker_broker_uri.as_deref());
        Service::start("nas-worker", &args, &self.path(&format!("{name}.log")), &env)
    }

    /// A training worker.
    pub fn worker(&self, name: &str) -> Service {
        self.worker_with(name, &[])
    }

    /// A surrogate worker answering from the synthetic oracle after
    /// `delay_ms`.
    pub fn surrogate(&self, name: &str, delay_ms: u64) -> Service {
        self.surrogate_from(name, "synthetic", delay_ms)
    }

    /// A surrogate worker answering from `source` (a `--surrogate` oracle)
    /// after `delay_ms` (per epoch, with a curve table).
    pub fn surrogate_from(&self, name: &str, source: &str, delay_ms: u64) -> Service {
        let delay = delay_ms.to_string();
        self.worker_with(name, &["--surrogate", source, "--surrogate-delay-ms", &delay])
    }

    /// The controller (`--resume`d when `resume`), logging to `<name>.log`.
    pub fn controller(&self, name: &str, resume: bool) -> Service {
        self.controller_with(name, resume, &[])
    }

    /// [`Pipeline::controller`] with `extra` flags.
    pub fn controller_with(&self, name: &str, resume: bool, extra: &[&str]) -> Service {
        let mut args = vec![
            "search",
            "--config",
            self.config.to_str().expect("a UTF-8 path"),
            "--queue-prefix",
            &self.prefix,
            "--metrics-addr",
            "127.0.0.1:0",
            "--output",
            "json",
        ];
        if resume {
            args.push("--resume");
        }
        args.extend_from_slice(extra);
        let env = broker_env(self.controller_broker_uri.as_deref());
        Service::start("nas-controller", &args, &self.path(&format!("{name}.log")), &env)
    }

    /// Every record of the reward log as stored, duplicates included, in
    /// sequence order.
    pub fn reward_log(&self) -> Vec<LoggedReward> {
        let mut records: Vec<LoggedReward> = self
            .json_lines(&keys::rewards_prefix(&self.experiment_name()))
            .into_iter()
            .map(|value| LoggedReward {
                sequence: value["sequence"].as_u64().unwrap_or(u64::MAX),
                job_id: value["job_id"].as_str().unwrap_or_default().to_owned(),
                status: value["status"].as_str().unwrap_or_default().to_owned(),
                value,
            })
            .collect();
        records.sort_by_key(|record| record.sequence);
        records
    }

    /// Every job record the controller wrote before publishing (one per
    /// publication: a job published again appears again).
    pub fn job_records(&self) -> Vec<serde_json::Value> {
        self.json_lines(&keys::jobs_prefix(&self.experiment_name()))
    }

    /// Every JSON-lines record under `prefix` in the store.
    pub fn json_lines(&self, prefix: &str) -> Vec<serde_json::Value> {
        block_on(async {
            let store = s3_store().await;
            let mut values = Vec::new();
            for key in store.list(prefix).await.expect("the store lists") {
                let batch: Vec<serde_json::Value> = store
                    .get_json_lines(&key)
                    .await
                    .expect("the store reads")
                    .unwrap_or_default();
                values.extend(batch);
            }
            values
        })
    }

    /// Whether the store holds `key`.
    pub fn object_exists(&self, key: &str) -> bool {
        block_on(async {
            s3_store()
                .await
                .get(key)
                .await
                .expect("the store reads")
                .is_some()
        })
    }
}

fn broker_env(uri: Option<&str>) -> Vec<(&'static str, &str)> {
    uri.map(|uri| vec![("NAS_BROKER_URI", uri)]).unwrap_or_default()
}

/// Runs `future` on a runtime of its own.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

/// The tiny space every test of the workspace searches.
pub const TINY_SPACE: &str = include_str!("../fixtures/tiny-cnn-space.toml");

fn config_text(experiment: &str, options: &PipelineOptions) -> String {
    let PipelineOptions {
        children,
        epochs,
        in_flight,
        controller_batch,
        job_timeout_seconds,
        strategy,
        ..
    } = options;
    format!(
        r#"experiment = "{experiment}"
task = "cifar10"
dataset = "{experiment}"
strategy = "{strategy}"
children = {children}
in_flight = {in_flight}
job_timeout_seconds = {job_timeout_seconds}
[budget]
epochs = {epochs}
batch_size = 32
[controller]
batch_size = {controller_batch}
[space]
{TINY_SPACE}"#
    )
}

/// Parses the controller's last stdout line (its `--output json` summary).
pub fn summary_of(output: Option<String>) -> Option<serde_json::Value> {
    let output = output?;
    serde_json::from_str(output.lines().last()?).ok()
}

/// Waits for the controller and parses its summary.
pub fn wait_summary(controller: Service, timeout: Duration) -> Option<serde_json::Value> {
    summary_of(controller.wait_output(timeout))
}

/// The job id on the first line of `log` holding `marker`.
pub fn job_id_in(log: &str, marker: &str) -> Option<String> {
    job_ids_in(log, marker).into_iter().next()
}

/// The job ids on every line of `log` holding `marker`, in order.
pub fn job_ids_in(log: &str, marker: &str) -> Vec<String> {
    log.lines()
        .filter(|line| line.contains(marker))
        .filter_map(|line| {
            let start = line.find("job_id=")? + "job_id=".len();
            Some(line[start..].split_whitespace().next()?.to_owned())
        })
        .collect()
}

//! The command line of `nas-worker`.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use nas_common::oracle::{Missing, Oracle, RewardTable};
use nas_common::service_args::{BrokerArgs, StoreArgs, TaskArg};
use nas_common::telemetry::Telemetry;
use nas_common::{ArchSpec, Outcome, RewardFunction, Task};
use nas_worker::cifar10::{self, CifarOptions};
use nas_worker::cnn::Precision;
use nas_worker::guardrails::Limits;
use nas_worker::job_loop::{Worker, WorkerConfig};
use nas_worker::ptb::{self, Level};
use nas_worker::surrogate::Surrogate;
use nas_worker::train_cnn::train_cnn;
use nas_worker::train_language_model::train_language_model;
use nas_worker::trainer::{TrainReport, TrainSettings};
use nas_worker::worker_metrics::WorkerMetrics;
use serde_json::json;
use tch::Device;

/// Neural Architecture Search with reinforcement learning: the worker.
#[derive(Debug, Parser)]
#[command(name = "nas-worker", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand, the worker serves jobs (as `serve`).
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Consume jobs from the queue and train them (the default).
    Serve(ServeArgs),
    /// Train one child from a spec file and report its metrics and reward.
    Train(TrainArgs),
    /// Validate a train-job document (a file, or `-` for standard input)
    /// and print its architecture id, as a worker would on receipt.
    CheckJob {
        /// The job JSON.
        file: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DeviceArg {
    /// The CPU.
    Cpu,
    /// The first CUDA GPU.
    Cuda,
    /// CUDA when available, else the CPU.
    Auto,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PrecisionArg {
    /// Everything in f32.
    F32,
    /// Convolutions in bf16, everything else in f32 (mixed precision).
    Bf16,
}

#[derive(Debug, Args)]
struct TrainArgs {
    /// The architecture spec (JSON).
    #[arg(long, value_name = "FILE")]
    spec: PathBuf,
    /// What to train on.
    #[arg(long, value_enum)]
    task: TaskArg,
    /// CIFAR-10: the archive or folder; PTB: the folder with the text files.
    #[arg(long, value_name = "PATH")]
    data: PathBuf,
    /// Epochs.
    #[arg(long, default_value_t = 1)]
    epochs: u32,
    /// Train on only this many images (CIFAR-10) or tokens (PTB).
    #[arg(long, value_name = "K")]
    train_subset: Option<usize>,
    /// Validate on only this many images (CIFAR-10) or tokens (PTB).
    #[arg(long, value_name = "K")]
    valid_subset: Option<usize>,
    /// Validation images drawn from the CIFAR-10 training files
    /// (default 5,000, or a tenth of smaller sets).
    #[arg(long, value_name = "N")]
    valid_size: Option<usize>,
    /// Hidden size of the language model (default 200).
    #[arg(long)]
    hidden: Option<i64>,
    /// Mini-batch size (default 128 for CIFAR-10, 20 for PTB).
    #[arg(long)]
    batch_size: Option<i64>,
    /// Initial learning rate (default 0.1 for CIFAR-10, 20 for PTB).
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Seed of initialisation, data order and augmentation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to train.
    #[arg(long, value_enum, default_value = "auto")]
    device: DeviceArg,
    /// Convolution precision (default: bf16 on CUDA, f32 on the CPU).
    #[arg(long, value_enum)]
    precision: Option<PrecisionArg>,
    /// Threads for libtorch's CPU kernels (default: its own choice).
    #[arg(long)]
    threads: Option<i32>,
    /// Reject children with more parameters than this.
    #[arg(long, default_value_t = Limits::default().max_parameters)]
    max_params: i64,
    /// Reject children whose activations for one batch need more GiB than this.
    #[arg(long, default_value_t = 8.0)]
    max_activation_gib: f64,
    /// Also score the trained child on the test split.
    #[arg(long)]
    evaluate_test: bool,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// Folder of the data-set cache, shared by the workers of a node.
    #[arg(long, env = "NAS_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Unacked jobs at a time (1: one child at a time).
    #[arg(long, env = "NAS_PREFETCH", default_value_t = 1)]
    prefetch: u16,
    /// Where to train.
    #[arg(long, env = "NAS_DEVICE", value_enum, default_value = "auto")]
    device: DeviceArg,
    /// Threads for libtorch's CPU kernels.
    #[arg(long, env = "NAS_THREADS")]
    threads: Option<i32>,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "NAS_METRICS_ADDR", default_value = "127.0.0.1:9101")]
    metrics_addr: SocketAddr,
    /// This worker's name (default: host name and process id).
    #[arg(long, env = "NAS_WORKER_ID")]
    worker_id: Option<String>,
    /// Seconds to retry an unreachable object store before handing a job back.
    #[arg(long, env = "NAS_STORE_PATIENCE_SECONDS", default_value_t = 600)]
    store_patience_seconds: u64,
    /// The broker's consumer timeout in seconds (RabbitMQ's
    /// `consumer_timeout`, 30 minutes unless configured; 0: none). A job
    /// whose child is still training at 80% of it is acknowledged early, so
    /// the broker does not redeliver it.
    #[arg(long, env = "NAS_BROKER_CONSUMER_TIMEOUT_SECONDS", default_value_t = 1800.0)]
    broker_consumer_timeout: f64,
    /// Reject children with more parameters than this.
    #[arg(long, env = "NAS_MAX_PARAMS", default_value_t = Limits::default().max_parameters)]
    max_params: i64,
    /// Reject children whose activations for one batch need more GiB than this.
    #[arg(long, env = "NAS_MAX_ACTIVATION_GIB", default_value_t = 8.0)]
    max_activation_gib: f64,
    /// Answer jobs from an oracle instead of training: `synthetic`, or
    /// `table:FILE` (JSON lines with a reward and an arch_id or spec, such
    /// as a reward log).
    #[arg(long, env = "NAS_SURROGATE", value_name = "ORACLE")]
    surrogate: Option<String>,
    /// With --surrogate: milliseconds per job, standing in for training.
    #[arg(long, env = "NAS_SURROGATE_DELAY_MS", default_value_t = 0)]
    surrogate_delay_ms: u64,
}

/// The surrogate of `--surrogate`.
fn surrogate_of(spec: &str, delay_ms: u64) -> anyhow::Result<Surrogate> {
    let table: Option<Arc<dyn Oracle>> = match spec.split_once(':') {
        None if spec == "synthetic" => None,
        Some(("table", path)) if !path.is_empty() => Some(Arc::new(RewardTable::load(
            std::path::Path::new(path),
            Missing::Fail,
        )?)),
        _ => bail!("--surrogate takes `synthetic` or `table:FILE`, not {spec:?}"),
    };
    Ok(Surrogate {
        table,
        delay: std::time::Duration::from_millis(delay_ms),
    })
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Train(args)) => train(args),
        Some(Command::CheckJob { file }) => check_job(&file),
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
    }
}

fn resolve_device(device: DeviceArg) -> anyhow::Result<Device> {
    Ok(match device {
        DeviceArg::Cpu => Device::Cpu,
        DeviceArg::Cuda if !tch::Cuda::is_available() => {
            bail!("--device cuda, but no CUDA device is available")
        }
        DeviceArg::Cuda => Device::Cuda(0),
        DeviceArg::Auto => Device::cuda_if_available(),
    })
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if let Some(threads) = args.threads {
        tch::set_num_threads(threads);
    }
    let device = resolve_device(args.device)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let shutdown = nas_common::shutdown::on_signals();
        let telemetry = Telemetry::default();
        let metrics = WorkerMetrics::new(&telemetry);
        telemetry.serve(args.metrics_addr, shutdown.clone()).await?;
        let store = args.store.open(None).await?;
        let worker_id = args.worker_id.unwrap_or_else(default_worker_id);
        let config = WorkerConfig {
            worker_id: worker_id.clone(),
            prefetch: args.prefetch.max(1),
            cache_dir: args.cache_dir.unwrap_or_else(default_cache_dir),
            device,
            limits: Limits {
                max_parameters: args.max_params,
                max_activation_bytes: (args.max_activation_gib * f64::from(1u32 << 30)) as i64,
            },
            store_patience: std::time::Duration::from_secs(args.store_patience_seconds),
            ack_deadline: consumer_timeout(args.broker_consumer_timeout)?,
            surrogate: args.surrogate.as_deref().map(|s| surrogate_of(s, args.surrogate_delay_ms)).transpose()?,
        };
        tracing::info!(worker = %worker_id, device = ?device, store = %store.describe(), "nas-worker serving");
        let worker = Worker::new(config, args.broker.queue()?, store, metrics);
        worker.run_until_stopped(shutdown, |ready| telemetry.set_ready(ready)).await?;
        tracing::info!("nas-worker stopped");
        anyhow::Ok(())
    })
}

fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "worker".into());
    format!("{host}-{}", std::process::id())
}

fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("nas-worker")
}

fn check_job(file: &PathBuf) -> anyhow::Result<()> {
    let bytes = if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes)?;
        bytes
    } else {
        std::fs::read(file).with_context(|| format!("reading {}", file.display()))?
    };
    let job = nas_worker::check_job(&bytes).context("the job is invalid")?;
    println!(
        "job {} attempt {}: {:?} on {:?}, architecture {}",
        job.job_id,
        job.attempt,
        job.spec.kind(),
        job.task,
        job.spec.id()
    );
    Ok(())
}

fn train(args: TrainArgs) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(&args.spec).with_context(|| format!("reading {}", args.spec.display()))?;
    let spec = ArchSpec::from_json(&text).with_context(|| format!("spec {}", args.spec.display()))?;
    let task = args.task.task();
    if spec.kind() != task.arch_kind() {
        bail!(
            "task {:?} trains {:?} specs, but {} is a {:?} spec",
            task,
            task.arch_kind(),
            args.spec.display(),
            spec.kind()
        );
    }
    if let Some(threads) = args.threads {
        tch::set_num_threads(threads);
    }
    let device = match args.device {
        DeviceArg::Cpu => Device::Cpu,
        DeviceArg::Cuda if !tch::Cuda::is_available() => {
            bail!("--device cuda, but no CUDA device is available")
        }
        DeviceArg::Cuda => Device::Cuda(0),
        DeviceArg::Auto => Device::cuda_if_available(),
    };
    let settings = TrainSettings {
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        hidden: args.hidden,
        precision: args.precision.map(|p| match p {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::Bf16 => Precision::Bf16,
        }),
        seed: args.seed,
        device,
        evaluate_test: args.evaluate_test,
        limits: Limits {
            max_parameters: args.max_params,
            max_activation_bytes: (args.max_activation_gib * f64::from(1u32 << 30)) as i64,
        },
        ..TrainSettings::new(args.epochs)
    };
    let reward = RewardFunction::default_for(spec.kind());
    let loading = Instant::now();
    let report = match (&spec.as_cnn(), &spec.as_cell()) {
        (Some(cnn), _) => {
            let options = CifarOptions {
                valid_size: args.valid_size,
                train_subset: args.train_subset,
                valid_subset: args.valid_subset,
                with_test: args.evaluate_test,
                ..CifarOptions::default()
            };
            let data = cifar10::load(&args.data, &options, device)?;
            tracing::info!(
                train = data.train.len(),
                valid = data.valid.len(),
                seconds = loading.elapsed().as_secs_f64(),
                "CIFAR-10 loaded"
            );
            train_cnn(cnn, &data, &settings, reward, None, spec.id().to_string())?
        }
        (None, Some(cell)) => {
            let level = if task == Task::PtbChar {
                Level::Char
            } else {
                Level::Word
            };
            let corpus = ptb::load(&args.data, level, args.evaluate_test, device)?
                .with_valid_subset(args.valid_subset);
            tracing::info!(
                vocabulary = corpus.vocabulary.len(),
                train_tokens = corpus.train.size()[0],
                seconds = loading.elapsed().as_secs_f64(),
                "PTB loaded"
            );
            let subset = args.train_subset.map(|k| k as i64);
            train_language_model(
                cell,
                &corpus,
                subset,
                &settings,
                reward,
                None,
                spec.id().to_string(),
            )?
        }
        (None, None) => bail!("the spec is neither a CNN nor a cell"),
    };
    let data_seconds = loading.elapsed().as_secs_f64() - report.train_seconds;
    print_report(&spec, task, &report, data_seconds, args.json);
    Ok(())
}

fn print_report(spec: &ArchSpec, task: Task, report: &TrainReport, data_seconds: f64, as_json: bool) {
    let (status, reward, metric, reason) = match &report.outcome {
        Outcome::Ok { reward, metric } => ("ok", Some(*reward), Some(*metric), None),
        Outcome::Failed { reason } => ("failed", None, None, Some(reason.clone())),
        Outcome::Preempted { .. } => ("preempted", None, None, None),
    };
    let epochs: Vec<serde_json::Value> = report
        .epochs
        .iter()
        .map(|e| {
            let mut value = json!({
                "epoch": e.epoch,
                "train_loss": e.train_loss,
                "val_loss": e.valid_loss,
                "seconds": e.seconds,
            });
            if let Some(accuracy) = e.valid_accuracy {
                value["val_accuracy"] = json!(accuracy);
            }
            if let Some(perplexity) = e.valid_perplexity {
                value["val_perplexity"] = json!(perplexity);
            }
            value
        })
        .collect();
    if as_json {
        let output = json!({
            "status": status,
            "reason": reason,
            "reward": reward,
            "metric": metric,
            "test_metric": report.test_metric,
            "params": report.parameters,
            "train_seconds": report.train_seconds,
            "data_seconds": data_seconds,
            "throughput": report.throughput,
            "throughput_unit": if task == Task::Cifar10 { "images/s" } else { "tokens/s" },
            "epochs": epochs,
            "arch_id": spec.id().as_str(),
            "task": task,
            "device": report.device,
        });
        println!("{output}");
        return;
    }
    for e in &report.epochs {
        match (e.valid_accuracy, e.valid_perplexity) {
            (Some(accuracy), _) => println!(
                "epoch {:>3}: train loss {:.4}, val accuracy {:.4} ({:.1} s)",
                e.epoch, e.train_loss, accuracy, e.seconds
            ),
            (_, Some(perplexity)) => println!(
                "epoch {:>3}: train loss {:.4}, val perplexity {:.2} ({:.1} s)",
                e.epoch, e.train_loss, perplexity, e.seconds
            ),
            _ => println!("epoch {:>3}: train loss {:.4}", e.epoch, e.train_loss),
        }
    }
    let unit = if task == Task::Cifar10 {
        "images/s"
    } else {
        "tokens/s"
    };
    println!(
        "{status}: reward {} | {} parameters | {:.1} s training on {} | {:.1} {unit}{}",
        reward.map_or("-".to_owned(), |r| format!("{r:.4}")),
        report.parameters,
        report.train_seconds,
        report.device,
        report.throughput,
        reason.map(|r| format!(" | {r}")).unwrap_or_default()
    );
}

/// The ack deadline for `--broker-consumer-timeout`.
fn consumer_timeout(seconds: f64) -> anyhow::Result<Option<std::time::Duration>> {
    if !seconds.is_finite() || seconds < 0.0 {
        anyhow::bail!("--broker-consumer-timeout {seconds} must be a non-negative number of seconds");
    }
    let timeout = (seconds > 0.0).then(|| std::time::Duration::from_secs_f64(seconds));
    Ok(nas_worker::held_delivery::ack_deadline(timeout))
}

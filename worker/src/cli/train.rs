//! `nas-worker train`: one child from a spec file on local data, its
//! metrics and reward printed as a summary or one JSON object.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use nas_domain::{ArchSpec, Outcome, RewardFunction, Task};
use nas_infra::args::{Output, OutputArgs, TaskArg};
use nas_worker::model::cnn::Precision;
use nas_worker::model::guardrails::Limits;
use nas_worker::train::local::{self, LocalData, LocalRun};
use nas_worker::train::{TrainReport, TrainSettings};
use serde_json::json;

use super::DeviceArg;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PrecisionArg {
    /// Everything in f32.
    F32,
    /// Convolutions in bf16, everything else in f32 (mixed precision).
    Bf16,
}

#[derive(Debug, Args)]
pub(super) struct TrainArgs {
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
    /// Hidden size of the language model (default 200, a CPU-sized model
    /// of about 3 M parameters).
    #[arg(long, conflicts_with = "params")]
    hidden: Option<i64>,
    /// Size the language model to this many parameters (e.g. 20M, the
    /// paper's "medium" size): the hidden size nearest it.
    #[arg(long, value_name = "COUNT", value_parser = nas_infra::args::parse_count)]
    params: Option<i64>,
    /// Dropout of the language model (default 0.2).
    #[arg(long)]
    dropout: Option<f64>,
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
    #[command(flatten)]
    output: OutputArgs,
}

/// Trains the spec of `args` and prints the report.
pub(super) async fn train(args: TrainArgs) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(&args.spec).with_context(|| format!("reading {}", args.spec.display()))?;
    let spec = ArchSpec::from_json(&text).with_context(|| format!("spec {}", args.spec.display()))?;
    let task = args.task.task();
    match task.arch_kind() {
        None => bail!("task {task:?} has no built-in trainer: train it with a trial command"),
        Some(kind) if kind != spec.kind() => bail!(
            "task {task:?} trains {kind:?} specs, but {} is a {:?} spec",
            args.spec.display(),
            spec.kind()
        ),
        Some(_) => {}
    }
    if let Some(threads) = args.threads {
        tch::set_num_threads(threads);
    }
    let settings = args.settings(&spec)?;
    let data = LocalData {
        valid_size: args.valid_size,
        train_subset: args.train_subset,
        valid_subset: args.valid_subset,
    };
    let path = args.data.clone();
    let trained = spec.clone();
    let run = tokio::task::spawn_blocking(move || local::train_spec(&trained, task, &path, &data, &settings))
        .await??;
    if args.output.get() == Output::Json {
        println!("{}", report_json(&spec, task, &run));
    } else {
        print_report(task, &run.report);
    }
    Ok(())
}

impl TrainArgs {
    fn settings(&self, spec: &ArchSpec) -> anyhow::Result<TrainSettings> {
        Ok(TrainSettings {
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            hidden: self.hidden,
            parameters: self.params,
            dropout: self.dropout,
            precision: self.precision.map(|p| match p {
                PrecisionArg::F32 => Precision::F32,
                PrecisionArg::Bf16 => Precision::Bf16,
            }),
            seed: self.seed,
            device: self.device.device()?,
            evaluate_test: self.evaluate_test,
            limits: Limits {
                max_parameters: self.max_params,
                max_activation_bytes: (self.max_activation_gib * f64::from(1u32 << 30)) as i64,
            },
            train_tokens: self
                .train_subset
                .filter(|_| spec.as_cell().is_some())
                .map(|tokens| tokens as i64),
            reward: Some(RewardFunction::default_for(spec.kind())),
            ..TrainSettings::new(self.epochs)
        })
    }
}

/// `ok` with the reward and metric, `failed` with the reason, or `preempted`.
fn status(report: &TrainReport) -> (&'static str, Option<f64>, Option<f64>, Option<String>) {
    match &report.outcome {
        Outcome::Ok { reward, metric } => ("ok", Some(*reward), Some(*metric), None),
        Outcome::Failed { reason } => ("failed", None, None, Some(reason.clone())),
        Outcome::Preempted { .. } => ("preempted", None, None, None),
        Outcome::Stopped { reward, metric, .. } => ("stopped", Some(*reward), Some(*metric), None),
    }
}

fn unit(task: Task) -> &'static str {
    if task == Task::Cifar10 {
        "images/s"
    } else {
        "tokens/s"
    }
}

fn report_json(spec: &ArchSpec, task: Task, run: &LocalRun) -> serde_json::Value {
    let report = &run.report;
    let (status, reward, metric, reason) = status(report);
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
            if let Some(bits) = e.valid_bits_per_char {
                value["val_bits_per_char"] = json!(bits);
            }
            value
        })
        .collect();
    let mut value = json!({
        "status": status,
        "reason": reason,
        "reward": reward,
        "metric": metric,
        "test_metric": report.test_metric,
        "params": report.parameters,
        "train_seconds": report.train_seconds,
        "data_seconds": run.data_seconds,
        "throughput": report.throughput,
        "throughput_unit": unit(task),
        "epochs": epochs,
        "arch_id": spec.id().as_str(),
        "task": task,
        "device": report.device,
    });
    if task == Task::PtbChar {
        // The metric is the best validation perplexity: in bits, log2 of it.
        value["bits_per_char"] = json!(metric.map(f64::log2));
        value["test_bits_per_char"] = json!(report.test_metric.map(f64::log2));
    }
    value
}

fn print_report(task: Task, report: &TrainReport) {
    for e in &report.epochs {
        match (e.valid_accuracy, e.valid_perplexity) {
            (Some(accuracy), _) => println!(
                "epoch {:>3}: train loss {:.4}, val accuracy {:.4} ({:.1} s)",
                e.epoch, e.train_loss, accuracy, e.seconds
            ),
            (_, Some(perplexity)) => println!(
                "epoch {:>3}: train loss {:.4}, val perplexity {:.2}{} ({:.1} s)",
                e.epoch,
                e.train_loss,
                perplexity,
                e.valid_bits_per_char
                    .map(|bits| format!(", {bits:.4} bits per character"))
                    .unwrap_or_default(),
                e.seconds
            ),
            _ => println!("epoch {:>3}: train loss {:.4}", e.epoch, e.train_loss),
        }
    }
    let (status, reward, _, reason) = status(report);
    println!(
        "{status}: reward {} | {} parameters | {:.1} s training on {} | {:.1} {}{}",
        reward.map_or("-".to_owned(), |r| format!("{r:.4}")),
        report.parameters,
        report.train_seconds,
        report.device,
        report.throughput,
        unit(task),
        reason.map(|r| format!(" | {r}")).unwrap_or_default()
    );
}

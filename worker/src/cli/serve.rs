//! `nas-worker serve`: the job loop of the library, with its metrics
//! server, until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use nas_domain::oracle::OracleSource;
use nas_infra::args::{BrokerArgs, StoreArgs};
use nas_infra::telemetry::Telemetry;
use nas_worker::model::guardrails::Limits;
use nas_worker::service::delivery;
use nas_worker::service::metrics::WorkerMetrics;
use nas_worker::service::surrogate::Surrogate;
use nas_worker::service::{Worker, WorkerConfig};

use super::DeviceArg;

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
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
    /// Answer jobs from an oracle instead of training: `synthetic`,
    /// `table:FILE` (JSON lines with a reward and an arch_id or spec, such
    /// as a reward log), `table:FILE#COLUMN` (a benchmark table's column)
    /// or `curves:FILE#COLUMN` (a learning-curve table, epoch by epoch).
    #[arg(long, env = "NAS_SURROGATE", value_name = "ORACLE")]
    surrogate: Option<OracleSource>,
    /// With --surrogate: milliseconds per job, standing in for training.
    #[arg(long, env = "NAS_SURROGATE_DELAY_MS", default_value_t = 0)]
    surrogate_delay_ms: u64,
}

/// Serves jobs until a signal stops the worker.
pub(super) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if let Some(threads) = args.threads {
        tch::set_num_threads(threads);
    }
    let device = args.device.device()?;
    let shutdown = nas_infra::shutdown::on_signals();
    let telemetry = Telemetry::default();
    let metrics = WorkerMetrics::new(&telemetry);
    telemetry.serve(args.metrics_addr, shutdown.clone()).await?;
    let store = args.store.open(None).await?;
    let config = args.config(device)?;
    tracing::info!(worker = %config.worker_id, device = ?device, store = %store.describe(), "nas-worker serving");
    let worker = Worker::new(config, args.broker.queue()?, store, metrics);
    worker
        .run_until_stopped(shutdown, |ready| telemetry.set_ready(ready))
        .await?;
    tracing::info!("nas-worker stopped");
    Ok(())
}

impl ServeArgs {
    fn config(&self, device: tch::Device) -> anyhow::Result<WorkerConfig> {
        let surrogate = self
            .surrogate
            .as_ref()
            .map(|source| Surrogate::new(source, Duration::from_millis(self.surrogate_delay_ms)))
            .transpose()?;
        Ok(WorkerConfig {
            worker_id: self.worker_id.clone().unwrap_or_else(default_worker_id),
            prefetch: self.prefetch.max(1),
            cache_dir: self.cache_dir.clone().unwrap_or_else(default_cache_dir),
            device,
            limits: Limits {
                max_parameters: self.max_params,
                max_activation_bytes: (self.max_activation_gib * f64::from(1u32 << 30)) as i64,
            },
            store_patience: Duration::from_secs(self.store_patience_seconds),
            ack_deadline: consumer_timeout(self.broker_consumer_timeout)?,
            surrogate,
        })
    }
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

/// The ack deadline for `--broker-consumer-timeout`.
fn consumer_timeout(seconds: f64) -> anyhow::Result<Option<Duration>> {
    if !seconds.is_finite() || seconds < 0.0 {
        anyhow::bail!("--broker-consumer-timeout {seconds} must be a non-negative number of seconds");
    }
    let timeout = (seconds > 0.0).then(|| Duration::from_secs_f64(seconds));
    Ok(delivery::ack_deadline(timeout))
}

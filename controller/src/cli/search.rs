//! `nas-controller search`: settings from the file, the flags and `NAS_…`
//! variables (one [`Overrides`] each), the broker and store (or the
//! embedded workers), the metrics server, then the library's search until
//! the budget is spent or a signal stops it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nas_controller::experiment::config::Overrides;
use nas_controller::experiment::stored;
use nas_controller::present::live;
use nas_controller::search::metrics::ControllerMetrics;
use nas_controller::search::{Progress, ResumeMode, Search, SearchSummary};
use nas_infra::args::{BrokerArgs, StoreArgs};
use nas_infra::telemetry::Telemetry;

use super::args::{EmbeddingArgs, Output, OutputArgs, SpaceArgs};

/// Settings of `search`. Each flag overrides the `--config` file and reads a
/// `NAS_…` environment variable.
#[derive(Debug, Args)]
pub(super) struct SearchArgs {
    /// Experiment configuration (TOML); flags and NAS_… variables override it.
    #[arg(long, env = "NAS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
    /// Continue the stored experiment of that name.
    #[arg(long, conflicts_with = "resume_if_exists")]
    resume: bool,
    /// Continue the experiment if it exists, else start it (for services that
    /// restart the controller, like a Kubernetes Deployment).
    #[arg(long, env = "NAS_RESUME_IF_EXISTS")]
    resume_if_exists: bool,
    #[command(flatten)]
    space: SpaceArgs,
    /// Train every child, even when an identical architecture was trained
    /// before (by default its reward is reused).
    #[arg(long, env = "NAS_TRAIN_DUPLICATES")]
    train_duplicates: bool,
    #[command(flatten)]
    embedding: EmbeddingArgs,
    /// Address of /healthz, /readyz, /metrics and the live report (`/`).
    #[arg(long, env = "NAS_METRICS_ADDR", default_value = "127.0.0.1:9100")]
    metrics_addr: SocketAddr,
    /// Render the live report at `/` at most this often, in seconds, as
    /// results arrive; 0 turns it off.
    #[arg(long, env = "NAS_LIVE_REPORT_SECONDS", default_value_t = 10)]
    live_report_seconds: u64,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    broker: BrokerArgs,
    #[command(flatten)]
    store: StoreArgs,
}

impl SearchArgs {
    /// The settings of the file (if any), then of the flags and variables.
    fn layers(&self) -> anyhow::Result<(Overrides, Overrides)> {
        let file = match &self.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                Overrides::from_toml(&text, &path.display().to_string())?
            }
            None => Overrides::default(),
        };
        let mut flags = self.overrides.clone();
        if self.train_duplicates {
            flags.reuse_rewards = Some(false);
        }
        flags.space = self.space.given()?;
        Ok((file, flags))
    }

    fn mode(&self) -> ResumeMode {
        match (self.resume, self.resume_if_exists) {
            (true, _) => ResumeMode::Resume,
            (false, true) => ResumeMode::Auto,
            (false, false) => ResumeMode::New,
        }
    }
}

/// Runs a search until its budget is spent or a signal stops it.
pub(super) async fn search(args: SearchArgs) -> anyhow::Result<()> {
    let (file, flags) = args.layers()?;
    let layers = [&file, &flags];
    let shutdown = nas_infra::shutdown::on_signals();
    let telemetry = Telemetry::default();
    let metrics = ControllerMetrics::new(&telemetry);
    let store = args.store.open(args.embedding.fallback_store()).await?;
    let config = stored::settle(&store, &layers, args.mode()).await?;
    let (queue, workers) = args
        .embedding
        .queue(
            (config.dataset.clone(), config.task),
            &args.broker,
            &store,
            &telemetry,
            &shutdown,
        )
        .await?;
    let address = telemetry.serve(args.metrics_addr, shutdown.clone()).await?;
    let live = (args.live_report_seconds > 0).then(|| {
        tracing::info!("the live report is at http://{address}/");
        live::start(
            config.clone(),
            telemetry.clone(),
            Duration::from_secs(args.live_report_seconds),
            shutdown.clone(),
        )
    });
    let mut search = Search::open(config, queue, store, metrics, live).await?;
    telemetry.set_ready(true);
    let config = search.config();
    tracing::info!(experiment = %config.experiment, task = ?config.task,
        strategy = config.strategy.name(), children = config.children, "searching");
    let output = args.output.get();
    let bar = progress_bar(output);
    let summary = search
        .run_until_stopped(shutdown.clone(), |progress| show(&bar, progress))
        .await?;
    bar.finish_and_clear();
    shutdown.cancel();
    if let Some(workers) = workers {
        workers.join().await;
    }
    print_summary(&summary, output)
}

/// A progress bar on a terminal (hidden otherwise, and with `--output json`).
fn progress_bar(output: Output) -> ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) || output == Output::Json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} children, {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn show(bar: &ProgressBar, progress: &Progress) {
    bar.set_length(progress.children);
    bar.set_position(progress.finished);
    let best = progress
        .best_reward
        .map_or("-".to_owned(), |best| format!("{best:.4}"));
    bar.set_message(format!("best reward {best}, {} in flight", progress.in_flight));
}

/// `training: 1.25 h (cuda 1.20 h, cpu 0.05 h), cost 3.01` and the device
/// kinds without a price.
fn spend_line(summary: &SearchSummary) -> String {
    let by_device: Vec<String> = (summary.training_hours_by_device.iter())
        .map(|(kind, hours)| format!("{kind} {hours:.4} h"))
        .collect();
    let mut line = format!("training: {:.4} h", summary.training_hours);
    if !by_device.is_empty() {
        line.push_str(&format!(" ({})", by_device.join(", ")));
    }
    if let Some(cost) = summary.cost {
        line.push_str(&format!(", cost {cost:.2}"));
    }
    if !summary.unpriced_devices.is_empty() {
        line.push_str(&format!(
            " (no price for {})",
            summary.unpriced_devices.join(", ")
        ));
    }
    line
}

fn print_summary(summary: &SearchSummary, output: Output) -> anyhow::Result<()> {
    if output == Output::Json {
        println!("{}", serde_json::to_string(summary)?);
        return Ok(());
    }
    println!(
        "experiment {}: {} children rewarded, {} failed, {} duplicate results ignored, {} jobs republished, {} policy steps{}",
        summary.experiment,
        summary.children_rewarded,
        summary.children_failed,
        summary.duplicates,
        summary.republished,
        summary.policy_steps,
        match (summary.complete, summary.stopped_by_budget) {
            (true, _) => String::new(),
            (false, Some(budget)) => format!(" (stopped at {budget})"),
            (false, None) => " (stopped before the budget)".into(),
        }
    );
    println!("{}", spend_line(summary));
    if summary.stopping_rule != "none" {
        println!(
            "early stopping ({}): {} children stopped, {} epochs and {:.0} training seconds saved against the full budget",
            summary.stopping_rule, summary.children_stopped, summary.epochs_saved, summary.gpu_seconds_saved
        );
    }
    if let Some(objective) = &summary.objective {
        println!("rewards shaped by {objective}");
    }
    println!(
        "{:<4} {:<14} {:>10} {:>10} {:>9}  costs",
        "rank", "architecture", "reward", "metric", "children"
    );
    for (rank, entry) in summary.leaderboard.iter().enumerate() {
        let costs: Vec<String> = entry
            .costs
            .iter()
            .map(|(cost, value)| format!("{cost} {}", cost.format(value)))
            .collect();
        println!(
            "{:<4} {:<14} {:>10.4} {:>10} {:>9}  {}",
            rank + 1,
            entry.architecture_id.short(),
            entry.reward,
            entry.metric.map_or("-".to_owned(), |m| format!("{m:.4}")),
            entry.children,
            costs.join(", ")
        );
    }
    println!(
        "stored in {} (experiments/{}/)",
        summary.store, summary.experiment
    );
    Ok(())
}

//! `nas-controller report`, `export` and `log`: what a stored experiment
//! found, as an HTML report, one architecture in a chosen format, or the
//! reward log as JSON lines.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use nas_controller::experiment::{reward_log, stored};
use nas_controller::present::export::{self, ExportFormat};
use nas_controller::present::report::{self, RankBy, ReportOptions};
use nas_domain::objective::Cost;
use nas_domain::{ArchSpec, ExperimentName};
use nas_infra::args::StoreArgs;

use super::args::ExperimentArgs;

#[derive(Debug, Args)]
pub(super) struct ReportArgs {
    #[command(flatten)]
    experiment: ExperimentArgs,
    /// The folder to write into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Other experiments to show side by side (for instance one per strategy).
    #[arg(long, value_delimiter = ',')]
    compare: Vec<ExperimentName>,
    /// What the leaderboard ranks by: the reward the strategy learned from
    /// (shaped by the experiment's objective) or the validation metric.
    #[arg(long, value_enum, default_value = "reward")]
    rank_by: RankBy,
    /// Leave children above this cost out of the leaderboard, `COST=LIMIT`
    /// (e.g. `parameters=1e6`), comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = parse_cost_limit)]
    max_cost: Vec<(Cost, f64)>,
}

fn parse_cost_limit(text: &str) -> Result<(Cost, f64), String> {
    let bad = || format!("a cost limit is COST=LIMIT (parameters=1e6), not {text:?}");
    let (cost, limit) = text.split_once('=').ok_or_else(bad)?;
    let cost: Cost = cost
        .parse()
        .map_err(|error: nas_domain::Error| error.to_string())?;
    let limit: f64 = limit.parse().map_err(|_| bad())?;
    if !(limit.is_finite() && limit >= 0.0) {
        return Err(bad());
    }
    Ok((cost, limit))
}

#[derive(Debug, Args)]
pub(super) struct ExportArgs {
    /// An architecture id (or a unique prefix of one) of --experiment, or a
    /// spec JSON file.
    arch: String,
    /// The format.
    #[arg(long, value_enum, default_value = "json")]
    format: ExportFormat,
    /// The experiment whose reward log holds the architecture.
    #[arg(long, env = "NAS_EXPERIMENT", value_name = "NAME")]
    experiment: Option<ExperimentName>,
    #[command(flatten)]
    store: StoreArgs,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Add this many filters to every layer of a CNN (the paper's "more
    /// filters": 40).
    #[arg(long, value_name = "FILTERS", default_value_t = 0)]
    widen: u16,
}

/// Writes the HTML report of an experiment (and others side by side).
pub(super) async fn report(args: ReportArgs) -> anyhow::Result<()> {
    let store = args.experiment.store().await?;
    let main = report::load(&store, &args.experiment.name()?).await?;
    let mut others = Vec::new();
    for name in &args.compare {
        others.push(report::load(&store, name).await?);
    }
    let out = args.out.clone();
    let options = ReportOptions {
        rank_by: args.rank_by,
        max_costs: args.max_cost.clone(),
    };
    let files = tokio::task::spawn_blocking(move || report::write(&main, &others, &options, &out)).await??;
    println!(
        "report written to {} ({} files)",
        files.page.display(),
        files.files.len()
    );
    Ok(())
}

/// Writes one architecture (a spec file, or an id of an experiment).
pub(super) async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let spec = if std::path::Path::new(&args.arch).is_file() {
        let text = std::fs::read_to_string(&args.arch)?;
        ArchSpec::from_json(&text).with_context(|| format!("spec {}", args.arch))?
    } else {
        let experiment = args
            .experiment
            .clone()
            .context("give --experiment to look the architecture id up, or a spec file")?;
        let store = args.store.open(Some(PathBuf::from("runs"))).await?;
        export::find(&store, &experiment, &args.arch).await?
    };
    let spec = if args.widen > 0 {
        spec.widened(args.widen)?
    } else {
        spec
    };
    let text = export::export(&spec, args.format)?;
    match &args.out {
        Some(path) => std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

/// Prints the reward log as JSON lines, in sequence order.
pub(super) async fn print_log(args: ExperimentArgs) -> anyhow::Result<()> {
    let experiment = args.name()?;
    let store = args.store().await?;
    let records = reward_log::read_all(&store, &experiment).await?;
    if records.is_empty() {
        stored::load(&store, &experiment).await?;
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for record in &records {
        serde_json::to_writer(&mut out, record)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

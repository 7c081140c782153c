//! `nas-controller reevaluate`: stored architectures trained again (more
//! epochs, seeds, the final grid) by workers, into their own table.

use std::time::Duration;

use anyhow::bail;
use clap::Args;
use nas_controller::experiment::stored;
use nas_controller::offline::reevaluate::{self, Grid, Plan, Selection, Summary};
use nas_domain::ExperimentName;
use nas_domain::objective::Cost;
use nas_infra::args::BrokerArgs;
use nas_infra::telemetry::Telemetry;

use super::args::{EmbeddingArgs, ExperimentArgs, Output, OutputArgs};

#[derive(Debug, Args)]
pub(super) struct ReevaluateArgs {
    /// The experiment whose architectures are re-evaluated.
    #[command(flatten)]
    experiment: ExperimentArgs,
    /// The best K architectures by reward.
    #[arg(long, conflicts_with_all = ["arch", "all", "pareto"])]
    top: Option<usize>,
    /// The architectures on the Pareto front of the metric against this
    /// cost (`parameters`, `latency`, …).
    #[arg(long, value_name = "COST", conflicts_with_all = ["arch", "all"])]
    pareto: Option<Cost>,
    /// These architecture ids (or unique prefixes), comma-separated.
    #[arg(long, value_delimiter = ',', conflicts_with = "all")]
    arch: Vec<String>,
    /// Every architecture in the reward log.
    #[arg(long)]
    all: bool,
    /// Epochs per training.
    #[arg(long, default_value_t = 50)]
    epochs: u32,
    /// Seeds per architecture and grid point.
    #[arg(long, default_value_t = 3)]
    seeds: u32,
    /// The final grid over learning rate, weight decay, batch-norm epsilon
    /// and the epoch of learning-rate decay (learning rate for cells).
    #[arg(long)]
    grid: bool,
    /// Also score on the test set (reported for the final pick).
    #[arg(long)]
    test: bool,
    /// The re-evaluation's name (default: EXPERIMENT-reeval).
    #[arg(long)]
    name: Option<ExperimentName>,
    /// Jobs kept in flight.
    #[arg(long, default_value_t = 8)]
    in_flight: usize,
    /// Seconds without a result before a job is published again.
    #[arg(long, default_value_t = 21600)]
    job_timeout_seconds: u64,
    /// Add this many filters to every layer of each CNN before training it
    /// (the paper's "more filters": 40); the widened nets have ids of
    /// their own in the results.
    #[arg(long, value_name = "FILTERS", default_value_t = 0)]
    widen: u16,
    #[command(flatten)]
    embedding: EmbeddingArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    broker: BrokerArgs,
}

impl ReevaluateArgs {
    fn plan(&self, experiment: ExperimentName) -> anyhow::Result<Plan> {
        let selection = match (self.top, self.pareto, self.arch.is_empty(), self.all) {
            (Some(count), _, _, _) => Selection::Top(count),
            (None, Some(cost), _, _) => Selection::Pareto(cost),
            (None, None, false, _) => Selection::Ids(self.arch.clone()),
            (None, None, true, true) => Selection::All,
            (None, None, true, false) => {
                bail!("choose the architectures: --top K, --pareto COST, --arch IDS or --all")
            }
        };
        let run: ExperimentName = match &self.name {
            Some(name) => name.clone(),
            None => {
                let mut name = format!("{experiment}-reeval");
                name.truncate(63);
                name.parse()?
            }
        };
        Ok(Plan {
            experiment,
            run,
            selection,
            epochs: self.epochs,
            seeds: self.seeds.max(1),
            grid: if self.grid { Grid::Final } else { Grid::Experiment },
            test: self.test,
            in_flight: self.in_flight.max(1),
            job_timeout: Duration::from_secs(self.job_timeout_seconds.max(1)),
            widen: self.widen,
        })
    }
}

/// Trains stored architectures again and prints their table.
pub(super) async fn reevaluate(args: ReevaluateArgs) -> anyhow::Result<()> {
    let experiment = args.experiment.name()?;
    let plan = args.plan(experiment.clone())?;
    let shutdown = nas_infra::shutdown::on_signals();
    let telemetry = Telemetry::default();
    let store = args
        .experiment
        .store
        .open(args.embedding.fallback_store())
        .await?;
    let config = stored::load(&store, &experiment).await?;
    let (queue, workers) = args
        .embedding
        .queue(
            (config.dataset, config.task),
            &args.broker,
            &store,
            &telemetry,
            &shutdown,
        )
        .await?;
    let summary = reevaluate::run(&plan, &queue, &store, shutdown.clone()).await?;
    shutdown.cancel();
    if let Some(workers) = workers {
        workers.join().await;
    }
    match args.output.get() {
        Output::Json => println!("{}", serde_json::to_string(&summary)?),
        Output::Table => print_reevaluation(&summary),
    }
    Ok(())
}

fn print_reevaluation(summary: &Summary) {
    println!("re-evaluation {} of {}:", summary.run, summary.experiment);
    println!(
        "{:<14} {:>5} {:>18} {:>18} {:>7}",
        "architecture", "grid", "metric mean ± std", "reward mean ± std", "failed"
    );
    for row in &summary.results {
        println!(
            "{:<14} {:>5} {:>10.4} ± {:<6.4} {:>10.4} ± {:<6.4} {:>7}",
            row.architecture_id.short(),
            row.grid_point,
            row.metric.mean,
            row.metric.std,
            row.reward.mean,
            row.reward.std,
            row.failed
        );
    }
    let Some(pick) = &summary.pick else {
        return;
    };
    println!(
        "pick: {} at grid point {} ({:?}): validation {:.4} ± {:.4}{}",
        pick.architecture_id.short(),
        pick.grid_point,
        pick.hyperparameters,
        pick.metric.mean,
        pick.metric.std,
        pick.test_metric.map_or(String::new(), |t| format!(
            ", test {:.4} ± {:.4} over {} seeds",
            t.mean, t.std, t.count
        ))
    );
    if let Some(bits) = &pick.bits_per_char {
        println!(
            "      in bits per character: validation {:.4} ± {:.4}{}",
            bits.mean,
            bits.std,
            pick.test_bits_per_char
                .map_or(String::new(), |t| format!(", test {:.4} ± {:.4}", t.mean, t.std))
        );
    }
}

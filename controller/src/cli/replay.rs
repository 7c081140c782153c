//! `nas-controller replay train|verify`: a stored reward log without
//! workers — train a policy on it with other settings, or recompute the
//! recorded search and check it bit for bit against its checkpoint.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use nas_controller::offline::replay::{self, ReplayReport, ReplaySettings, Verification};
use nas_controller::strategy::reinforce::RewardTransform;
use nas_domain::objective::RewardShaping;

use super::args::{ExperimentArgs, Output, OutputArgs, deprecated};

/// `replay`: a subcommand; `replay` alone (and `replay --verify`) are the
/// deprecated spellings of `replay train` (and `replay verify`).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct ReplayArgs {
    #[command(subcommand)]
    command: Option<ReplayCommand>,
    #[command(flatten)]
    train: TrainArgs,
    /// Verify instead (deprecated: `replay verify`).
    #[arg(long, hide = true)]
    verify: bool,
}

#[derive(Debug, Subcommand)]
enum ReplayCommand {
    /// Train a policy on the reward log, with other settings if given.
    Train(TrainArgs),
    /// Recompute the recorded search from its first checkpoint and check
    /// that the policy equals the stored latest checkpoint exactly.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
struct TrainArgs {
    #[command(flatten)]
    experiment: ExperimentArgs,
    /// Start from a freshly initialised policy instead of the first checkpoint.
    #[arg(long)]
    fresh: bool,
    /// Another baseline decay.
    #[arg(long)]
    baseline_decay: Option<f64>,
    /// Another entropy weight.
    #[arg(long)]
    entropy_weight: Option<f64>,
    /// Another controller learning rate.
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Another reward transform.
    #[arg(long, value_enum)]
    reward_transform: Option<RewardTransform>,
    /// Seed of a fresh policy.
    #[arg(long, requires = "fresh")]
    seed: Option<u64>,
    /// Shape the rewards again with this objective, from each child's
    /// recorded raw reward and costs (`mnas:COST:TARGET[:ALPHA:BETA]` or
    /// `sum:COST:TARGET[:WEIGHT]`, terms joined by `+`).
    #[arg(long)]
    objective: Option<RewardShaping>,
    /// Write the final policy checkpoint here.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    #[command(flatten)]
    experiment: ExperimentArgs,
    #[command(flatten)]
    output: OutputArgs,
}

impl TrainArgs {
    fn settings(&self) -> ReplaySettings {
        ReplaySettings {
            fresh: self.fresh,
            baseline_decay: self.baseline_decay,
            entropy_weight: self.entropy_weight,
            learning_rate: self.learning_rate,
            reward_transform: self.reward_transform,
            seed: self.seed,
            objective: self.objective.clone(),
        }
    }

    /// Whether any training setting is given (`--verify` takes none).
    fn has_settings(&self) -> bool {
        self.fresh
            || self.baseline_decay.is_some()
            || self.entropy_weight.is_some()
            || self.learning_rate.is_some()
            || self.reward_transform.is_some()
            || self.seed.is_some()
            || self.objective.is_some()
            || self.out.is_some()
    }
}

/// Runs `replay train` or `replay verify` (or their old spellings).
pub(super) async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    match args.command {
        Some(ReplayCommand::Train(train)) => run_train(&train).await,
        Some(ReplayCommand::Verify(verify)) => run_verify(&verify.experiment, verify.output.get()).await,
        None if args.verify => {
            deprecated("`replay --verify`", "`replay verify`");
            if args.train.has_settings() {
                bail!("replay verify takes no training settings: it recomputes the search as recorded");
            }
            run_verify(&args.train.experiment, args.train.output.get()).await
        }
        None => {
            deprecated("`replay` without a subcommand", "`replay train`");
            run_train(&args.train).await
        }
    }
}

/// Verifies a recorded search bit for bit; an error when it differs.
async fn run_verify(experiment: &ExperimentArgs, output: Output) -> anyhow::Result<()> {
    let name = experiment.name()?;
    let store = experiment.store().await?;
    let verification = replay::verify(&store, &name).await?;
    match output {
        Output::Json => println!("{}", serde_json::to_string(&verification)?),
        Output::Table => print_verification(&verification),
    }
    if !verification.identical {
        bail!(
            "the recomputed search differs from the stored one (its checkpoint, its proposals or its stops)"
        );
    }
    Ok(())
}

/// Replays a reward log with the settings given.
async fn run_train(args: &TrainArgs) -> anyhow::Result<()> {
    let name = args.experiment.name()?;
    let store = args.experiment.store().await?;
    let (report, checkpoint) = replay::replay(&store, &name, args.settings()).await?;
    if let Some(path) = &args.out {
        std::fs::write(path, checkpoint.to_bytes()?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    match args.output.get() {
        Output::Json => println!("{}", serde_json::to_string(&report)?),
        Output::Table => print_report(&report),
    }
    Ok(())
}

fn print_report(report: &ReplayReport) {
    println!(
        "replayed {} rewards of {}: {} policy steps",
        report.rewards,
        report.experiment,
        report.steps.len()
    );
    println!(
        "{:>6} {:>12} {:>10} {:>9}",
        "step", "mean reward", "baseline", "entropy"
    );
    for step in &report.steps {
        println!(
            "{:>6} {:>12.4} {:>10.4} {:>9.3}",
            step.step, step.mean_reward, step.baseline, step.entropy
        );
    }
    if let Some(objective) = &report.objective {
        println!("rewards shaped again with {objective}");
    }
    if let Some((arch, reward)) = &report.best {
        println!(
            "best child by these rewards: {} (reward {reward:.4})",
            arch.as_str()
        );
    }
}

fn print_verification(verification: &Verification) {
    println!(
        "replayed {} rewards from the first checkpoint up to step {}: {} of {} scalars in {} tensors differ \
         (largest difference {:e}); strategy state {}",
        verification.rewards,
        verification.step,
        verification.differing,
        verification.scalars,
        verification.tensors,
        verification.max_difference,
        if verification.state_matches {
            "matches"
        } else {
            "differs"
        }
    );
    for difference in &verification.state_differences {
        println!("  {difference}");
    }
    if let Some(check) = &verification.proposals {
        println!(
            "proposed {} children again: {} differ from their job records",
            check.compared, check.differing
        );
        if let Some(first) = &check.first_difference {
            println!("  first: {first}");
        }
    }
    if let Some(check) = &verification.stops {
        println!(
            "stopping rule: {} progress reports judged again ({} with a stop): {} differ{}",
            check.reports,
            check.stops,
            check.differing,
            if check.unchecked > 0 {
                format!(", {} recorded before the check existed", check.unchecked)
            } else {
                String::new()
            }
        );
        for example in &check.examples {
            println!("  {example}");
        }
    }
    println!(
        "{}",
        if verification.identical {
            "verify: identical"
        } else {
            "verify: DIFFERENT"
        }
    );
}

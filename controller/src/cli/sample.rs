//! `nas-controller sample`: architectures drawn by a fresh or
//! checkpointed controller, as JSON.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use nas_controller::strategy::StrategyKind;
use nas_controller::strategy::checkpoint::Checkpoint;
use nas_controller::strategy::reinforce::Reinforce;

use super::args::{ControllerArgs, SpaceArgs};

#[derive(Debug, Args)]
pub(super) struct SampleArgs {
    #[command(flatten)]
    space: SpaceArgs,
    /// Number of CNN layers, or blocks in a space of blocks (default: the
    /// curriculum's first depth).
    #[arg(long)]
    layers: Option<u16>,
    /// Seed of the fresh policy's initialisation and of the sample.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print this many architectures, one JSON line each, for the seeds
    /// SEED, SEED+1, … (a fresh policy per seed, or samples of the
    /// checkpointed one).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Sample from this controller checkpoint instead of a fresh policy
    /// (its own space is used).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    #[command(flatten)]
    controller: ControllerArgs,
}

/// Prints one architecture (or `--count` of them, one JSON line each).
pub(super) async fn sample(args: SampleArgs) -> anyhow::Result<()> {
    let controller = match &args.checkpoint {
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let checkpoint =
                Checkpoint::from_bytes(&bytes).with_context(|| format!("checkpoint {}", path.display()))?;
            if checkpoint.strategy != StrategyKind::Reinforce {
                bail!(
                    "{} is a {} checkpoint; sampling needs a controller (reinforce) checkpoint",
                    path.display(),
                    checkpoint.strategy.name()
                );
            }
            Reinforce::restore(&checkpoint)?
        }
        None => Reinforce::new(args.space.load()?, args.controller.config(), args.seed)?,
    };
    let Some(count) = args.count else {
        let spec = controller.sample_spec(args.layers, args.seed)?;
        println!("{}", serde_json::to_string_pretty(&spec)?);
        return Ok(());
    };
    let space = controller.space().clone();
    let fresh = args.checkpoint.is_none();
    let mut out = std::io::stdout().lock();
    for seed in args.seed..args.seed.saturating_add(count) {
        let spec = if fresh {
            Reinforce::new(space.clone(), args.controller.config(), seed)?.sample_spec(args.layers, seed)?
        } else {
            controller.sample_spec(args.layers, seed)?
        };
        writeln!(out, "{}", serde_json::to_string(&spec)?)?;
    }
    Ok(())
}

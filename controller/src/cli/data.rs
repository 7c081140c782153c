//! `nas-controller data`: upload a data set with its manifest, or write a
//! small synthetic one in the official format.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use nas_domain::datasets::manifest::DatasetKind;
use nas_domain::datasets::synth;
use nas_infra::args::StoreArgs;
use nas_infra::store::datasets;

#[derive(Debug, Subcommand)]
pub(super) enum DataCommand {
    /// Upload a data set (the official files) with a manifest of SHA-256 sums.
    Upload(UploadArgs),
    /// Write a small synthetic data set in the official format, with a
    /// learnable signal (for tests and demos).
    Synth(SynthArgs),
}

#[derive(Debug, Args)]
pub(super) struct UploadArgs {
    /// Which data set.
    #[arg(value_enum)]
    dataset: SynthDataset,
    /// CIFAR-10: the official archive or the extracted folder; PTB: the
    /// folder with the text files.
    path: PathBuf,
    /// The name in the store (default: cifar10 or ptb).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SynthDataset {
    /// `cifar-10-batches-bin/` with five training files and a test file.
    Cifar10,
    /// `ptb.{train,valid,test}.txt` and the character-level files.
    Ptb,
}

#[derive(Debug, Args)]
pub(super) struct SynthArgs {
    /// Which data set.
    #[arg(value_enum)]
    dataset: SynthDataset,
    /// The folder to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// CIFAR-10: records per training file (the official files hold 10,000).
    #[arg(long, default_value_t = 1000)]
    records_per_file: usize,
    /// CIFAR-10: records in the test file.
    #[arg(long, default_value_t = 1000)]
    test_records: usize,
    /// PTB: training sentences (validation and test get a tenth each).
    #[arg(long, default_value_t = 4000)]
    sentences: usize,
    /// PTB: vocabulary size.
    #[arg(long, default_value_t = 200)]
    vocabulary: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Runs a `data` subcommand.
pub(super) async fn run(command: DataCommand) -> anyhow::Result<()> {
    match command {
        DataCommand::Upload(args) => upload(args).await,
        DataCommand::Synth(args) => tokio::task::spawn_blocking(move || write_synthetic(&args)).await?,
    }
}

async fn upload(args: UploadArgs) -> anyhow::Result<()> {
    let (kind, default_name) = match args.dataset {
        SynthDataset::Cifar10 => (DatasetKind::Cifar10, "cifar10"),
        SynthDataset::Ptb => (DatasetKind::Ptb, "ptb"),
    };
    let name = args.name.clone().unwrap_or_else(|| default_name.to_owned());
    let store = args.store.open(None).await?;
    let manifest = datasets::upload(&store, &name, kind, &args.path).await?;
    let bytes: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    println!(
        "uploaded {} files ({bytes} bytes) as data set {name} to {} (manifest {})",
        manifest.files.len(),
        store.describe(),
        &manifest.digest()[..16]
    );
    Ok(())
}

fn write_synthetic(args: &SynthArgs) -> anyhow::Result<()> {
    let written = match args.dataset {
        SynthDataset::Cifar10 => {
            synth::write_cifar10(&args.out, args.records_per_file, args.test_records, args.seed)
        }
        SynthDataset::Ptb => synth::write_ptb(&args.out, args.sentences, args.vocabulary, args.seed),
    };
    written.with_context(|| format!("writing synthetic data into {}", args.out.display()))?;
    println!(
        "wrote synthetic {:?} data into {}",
        args.dataset,
        args.out.display()
    );
    Ok(())
}

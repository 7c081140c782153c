//! `nas-worker estimate`: what specs would cost before anything trains —
//! parameters and the activation estimate of one training batch, checked
//! against the same limits a worker checks on receipt of a job. Reads one
//! spec per line (JSON lines, as `nas-controller sample --count` prints)
//! or one JSON document; exits non-zero when any spec is over a limit.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use nas_domain::ArchSpec;
use nas_domain::spec::Architecture;
use nas_infra::args::{Output, OutputArgs};
use nas_worker::model::guardrails::{Cost, Limits};
use nas_worker::train::{TrainSettings, cnn, language_model};
use serde_json::json;

const GIB: f64 = (1u64 << 30) as f64;

#[derive(Debug, Args)]
pub(super) struct EstimateArgs {
    /// The specs: a file, or `-` for standard input.
    file: PathBuf,
    /// Mini-batch size (default 128 for CNNs, 20 for language models).
    #[arg(long)]
    batch_size: Option<i64>,
    /// Hidden size of language models (default 200).
    #[arg(long)]
    hidden: Option<i64>,
    /// Size language models to this many parameters (e.g. 20M) instead.
    #[arg(long, value_name = "COUNT", value_parser = nas_infra::args::parse_count)]
    params: Option<i64>,
    /// Vocabulary of language models (Penn Treebank's 10,000 words).
    #[arg(long, default_value_t = 10_000)]
    vocabulary: i64,
    /// The parameter limit.
    #[arg(long, default_value_t = Limits::default().max_parameters)]
    max_params: i64,
    /// The activation limit, in GiB per batch.
    #[arg(long, default_value_t = 8.0)]
    max_activation_gib: f64,
    /// One JSON object per spec (`json`) instead of a line of text.
    #[command(flatten)]
    output: OutputArgs,
}

/// Prints each spec's cost and a summary; fails when a spec is over.
pub(super) fn estimate(args: &EstimateArgs) -> anyhow::Result<()> {
    let specs = read_specs(&args.file)?;
    let settings = TrainSettings {
        batch_size: args.batch_size,
        hidden: args.hidden,
        parameters: args.params,
        limits: Limits {
            max_parameters: args.max_params,
            max_activation_bytes: (args.max_activation_gib * GIB) as i64,
        },
        ..TrainSettings::new(1)
    };
    let json = args.output.get() == Output::Json;
    let mut over = 0;
    let mut largest: Option<(Cost, String)> = None;
    for spec in &specs {
        let id = spec.id().as_str().to_owned();
        let checked = check(spec, &settings, args.vocabulary);
        let line = match &checked {
            Ok(cost) => {
                if largest
                    .as_ref()
                    .is_none_or(|(top, _)| cost.activation_bytes > top.activation_bytes)
                {
                    largest = Some((*cost, id.clone()));
                }
                if json {
                    json!({"arch_id": id, "ok": true, "params": cost.parameters,
                           "activation_gib": cost.activation_bytes as f64 / GIB})
                    .to_string()
                } else {
                    format!(
                        "{} ok: {} parameters, {:.2} GiB of activations per batch",
                        &id[..12],
                        cost.parameters,
                        cost.activation_bytes as f64 / GIB
                    )
                }
            }
            Err(reason) => {
                over += 1;
                if json {
                    json!({"arch_id": id, "ok": false, "reason": reason.to_string()}).to_string()
                } else {
                    format!("{} over: {reason}", &id[..12])
                }
            }
        };
        println!("{line}");
    }
    let summary = match &largest {
        Some((cost, id)) => format!(
            "; the largest activation estimate is {:.2} GiB ({}), {} parameters",
            cost.activation_bytes as f64 / GIB,
            &id[..12],
            cost.parameters
        ),
        None => String::new(),
    };
    eprintln!(
        "{} specs, {} within the limits{summary}",
        specs.len(),
        specs.len() - over
    );
    if over > 0 {
        bail!("{over} of {} specs are over the limits", specs.len());
    }
    Ok(())
}

fn check(spec: &ArchSpec, settings: &TrainSettings, vocabulary: i64) -> nas_worker::Result<Cost> {
    match spec.architecture() {
        Architecture::Cnn(arch) => cnn::check_limits(arch, settings),
        Architecture::Cell(cell) => language_model::check_limits(cell, settings, vocabulary),
        Architecture::Categorical(_) => Err(nas_worker::Error::Config(
            "categorical specs are trained by trial commands; the worker has no estimate for them".into(),
        )),
    }
}

/// One JSON document, or one spec per non-empty line.
fn read_specs(file: &PathBuf) -> anyhow::Result<Vec<ArchSpec>> {
    let text = String::from_utf8(super::read_input(file)?)
        .with_context(|| format!("{} is not UTF-8 text", file.display()))?;
    if let Ok(spec) = ArchSpec::from_json(&text) {
        return Ok(vec![spec]);
    }
    let specs = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| ArchSpec::from_json(line).with_context(|| format!("spec on line {}", index + 1)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if specs.is_empty() {
        bail!("{} holds no spec", file.display());
    }
    Ok(specs)
}

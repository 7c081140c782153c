//! Exporting a found architecture: its spec as JSON, a Graphviz DOT diagram,
//! an SVG drawing of the same diagram ([`super::diagram`]), or a Python
//! module that builds the identical network in PyTorch (same layers, same
//! conventions, same parameter count as the worker's child). The PyTorch
//! code is `templates/pytorch_cnn.py` and `templates/pytorch_cell.py`,
//! which the parity benchmark in `bench/` imports too.

use std::fmt::Write;

use nas_domain::{ArchSpec, Architecture, ExperimentName};
use nas_infra::store::ObjectStore;

use super::labels::{activation, combination, layer_label, node_label};
use crate::experiment::reward_log;
use crate::{Error, Result};

/// The export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// The spec, pretty JSON.
    Json,
    /// A Graphviz DOT diagram.
    Dot,
    /// The diagram drawn as SVG (no Graphviz needed).
    Svg,
    /// A Python module that builds the network in PyTorch.
    Pytorch,
}

/// The architecture of `experiment` whose id starts with `prefix`.
pub async fn find(store: &ObjectStore, experiment: &ExperimentName, prefix: &str) -> Result<ArchSpec> {
    let records = reward_log::read_all(store, experiment).await?;
    let matches: Vec<&ArchSpec> = records
        .iter()
        .filter(|record| record.arch_id.as_str().starts_with(prefix))
        .map(|record| &record.spec)
        .collect();
    match matches.first() {
        None => Err(Error::NotFound(format!(
            "no architecture {prefix} in experiment {experiment}"
        ))),
        Some(first) if matches.iter().any(|spec| spec.id() != first.id()) => Err(Error::Config(format!(
            "{prefix} is the prefix of several architecture ids; give more characters"
        ))),
        Some(first) => Ok((*first).clone()),
    }
}

/// The spec in `format`; a categorical spec exports only as JSON (it is a
/// list of choices whose network only its trainer knows).
pub fn export(spec: &ArchSpec, format: ExportFormat) -> Result<String> {
    let categorical = spec.as_categorical().is_some();
    Ok(match format {
        ExportFormat::Json => serde_json::to_string_pretty(spec).unwrap_or_default() + "\n",
        _ if categorical => {
            return Err(Error::Config(format!(
                "a categorical spec exports as JSON only, not as {format:?}"
            )));
        }
        ExportFormat::Dot => dot(spec),
        ExportFormat::Svg => crate::present::diagram::svg(spec).unwrap_or_default(),
        ExportFormat::Pytorch => pytorch(spec),
    })
}

fn dot(spec: &ArchSpec) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", spec.id().short());
    out.push_str("  rankdir=TB;\n  node [shape=box, style=rounded, fontname=\"DejaVu Sans\"];\n");
    match spec.architecture() {
        Architecture::Cnn(cnn) => {
            out.push_str("  image [label=\"image\", shape=oval];\n");
            for index in 0..cnn.layers.len() {
                let _ = writeln!(out, "  l{index} [label=\"{}\"];", layer_label(cnn, index));
            }
            out.push_str("  output [label=\"concat → global average pool → linear\", shape=oval];\n");
            for (index, layer) in cnn.layers.iter().enumerate() {
                if layer.inputs.is_empty() {
                    let _ = writeln!(out, "  image -> l{index};");
                }
                for &input in &layer.inputs {
                    let _ = writeln!(out, "  l{input} -> l{index};");
                }
            }
            for index in cnn.final_layers() {
                let _ = writeln!(out, "  l{index} -> output;");
            }
        }
        Architecture::Cell(cell) => {
            out.push_str("  x [label=\"x_t\", shape=oval];\n  h [label=\"h_{t-1}\", shape=oval];\n");
            out.push_str("  c [label=\"c_{t-1}\", shape=oval];\n");
            for index in 0..cell.nodes.len() {
                let _ = writeln!(out, "  n{index} [label=\"{}\"];", node_label(cell, index));
                match cell.children(index) {
                    Some((left, right)) => {
                        let _ = writeln!(out, "  n{left} -> n{index};\n  n{right} -> n{index};");
                    }
                    None => {
                        let _ = writeln!(out, "  x -> n{index};\n  h -> n{index};");
                    }
                }
            }
            let inject = cell.inject;
            let _ = writeln!(
                out,
                "  c -> n{} [label=\"inject: {}, {}\", style=dashed];",
                cell.inject_node,
                combination(inject.combination),
                activation(inject.activation)
            );
            let _ = writeln!(
                out,
                "  ct [label=\"c_t\", shape=oval];\n  n{} -> ct [style=dashed];",
                cell.memory_node
            );
            let _ = writeln!(
                out,
                "  ht [label=\"h_t\", shape=oval];\n  n{} -> ht;",
                cell.nodes.len() - 1
            );
        }
        Architecture::Categorical(_) => {}
    }
    out.push_str("}\n");
    out
}

fn pytorch(spec: &ArchSpec) -> String {
    let json = serde_json::to_string(spec).unwrap_or_default();
    let (module, build) = match spec.architecture() {
        Architecture::Cnn(_) => (PYTORCH_CNN, "Child(SPEC, **kwargs)"),
        Architecture::Cell(_) | Architecture::Categorical(_) => {
            (PYTORCH_CELL, "LanguageModel(SPEC, **kwargs)")
        }
    };
    format!(
        "\"\"\"Architecture {id}, exported by nas-controller.\n\n\
         Builds the same network as nas-worker, in PyTorch: `model = build()`.\n\"\"\"\n\
         import json\n\n{module}\n\nSPEC = json.loads(r'''{json}''')\n\n\n\
         def build(**kwargs):\n    return {build}\n",
        id = spec.id()
    )
}

/// The PyTorch CNN (also imported by the parity benchmark).
const PYTORCH_CNN: &str = include_str!("templates/pytorch_cnn.py");

/// The PyTorch language model (also imported by the parity benchmark).
const PYTORCH_CELL: &str = include_str!("templates/pytorch_cell.py");

//! The synthetic oracle: a deterministic function of the spec with a known
//! best region, loosely shaped like what the paper's searches found. Its
//! metric is passed through the reward function (accuracy cubed, or
//! `80 / ppl²`, or the metric itself for categorical specs).
//!
//!
//! **CNN** (a validation accuracy). Each layer `i` scores in `[0, 1]`:
//!
//! - kernel, weight 0.35: `1 − (|h − h*| + |w − w*|) / 12`, where the best
//!   kernel is rectangular and alternates: `7×3` on even layers, `3×7` on odd;
//! - filters, weight 0.20: `1 − min(|f − 48|, 48) / 48` (48 is best);
//! - stride, weight 0.10: `1 / sqrt(stride_h · stride_w)` (stride 1 is best);
//! - skips, weight 0.35: for `i ≥ 1`, `0.5·[layer 0 feeds it] + 0.5·[layer
//!   i−1 feeds it] − 0.1·(other inputs)`, clamped to `[0, 1]`; layer 0 scores 1.
//!
//! With `q` the mean layer score and `L` the depth,
//! `accuracy = 0.5 + 0.4·q + 0.04·min(L, 20)/20 + ε`, where `ε ∈ [−0.01, 0.01]`
//! is a fixed pseudo-random offset from the architecture id (ruggedness). The
//! best region: every layer at its alternating rectangular kernel, 48
//! filters, stride 1, fed by layer 0 and its predecessor only.
//!
//! **Cell** (a validation perplexity). Each tree node scores
//! `0.5·[combination matches] + 0.5·[activation matches]` against the target
//! `add, tanh` for even leaves, `mul, sigmoid` for odd leaves, `add, tanh` for
//! inner nodes and `mul, tanh` for the root; the inject step is scored
//! against `add, tanh`; the inject node should be node 0 and the memory node
//! the root's left child, each scored `1 − distance / (nodes − 1)`. With
//! `q = 0.6·nodes + 0.15·inject + 0.125·inject node + 0.125·memory node`,
//! `perplexity = 62 + 100·(1 − q)² + 100·ε`.
//!
//! **Categorical** (a validation accuracy). Option `o` of decision `d` is
//! worth `w(d, o) ∈ [0, 1]`, a fixed pseudo-random number from the SHA-256
//! of `d` and `o`; with `q` the mean worth of the chosen options,
//! `accuracy = 0.5 + 0.4·q + ε`.

use sha2::{Digest, Sha256};

use super::Oracle;
use crate::Result;
use crate::reward::RewardFunction;
use crate::spec::{
    Activation, ArchId, ArchSpec, Architecture, CategoricalArch, CellArch, CellNode, CnnArch, Combination,
};

/// The synthetic oracle (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct SyntheticOracle {
    /// The reward function; the default one for the spec's kind when absent.
    pub reward_function: Option<RewardFunction>,
}

impl SyntheticOracle {
    /// The metric: validation accuracy for CNNs, perplexity for cells.
    pub fn metric(spec: &ArchSpec) -> f64 {
        let offset = ruggedness(&spec.id());
        match spec.architecture() {
            Architecture::Cnn(cnn) => {
                let depth = cnn.layers.len() as f64;
                0.5 + 0.4 * cnn_quality(cnn) + 0.04 * depth.min(20.0) / 20.0 + offset
            }
            Architecture::Cell(cell) => {
                let shortfall = 1.0 - cell_quality(cell);
                62.0 + 100.0 * shortfall * shortfall + 100.0 * offset
            }
            Architecture::Categorical(arch) => 0.5 + 0.4 * categorical_quality(arch) + offset,
        }
    }
}

impl Oracle for SyntheticOracle {
    fn reward(&self, spec: &ArchSpec) -> Result<f64> {
        let function = self
            .reward_function
            .unwrap_or_else(|| RewardFunction::default_for(spec.kind()));
        Ok(function.of_metric(Self::metric(spec)))
    }
}

fn cnn_quality(cnn: &CnnArch) -> f64 {
    let total: f64 = cnn
        .layers
        .iter()
        .enumerate()
        .map(|(index, layer)| {
            let (best_h, best_w) = if index % 2 == 0 { (7.0, 3.0) } else { (3.0, 7.0) };
            let kernel = 1.0
                - ((f64::from(layer.kernel_height) - best_h).abs()
                    + (f64::from(layer.kernel_width) - best_w).abs())
                    / 12.0;
            let filters = 1.0 - (f64::from(layer.filters) - 48.0).abs().min(48.0) / 48.0;
            let stride = 1.0 / (f64::from(layer.stride_height) * f64::from(layer.stride_width)).sqrt();
            let skips = if index == 0 {
                1.0
            } else {
                let feeds = |source: usize| layer.inputs.iter().any(|&input| usize::from(input) == source);
                let wanted = usize::from(feeds(0)) + usize::from(index > 1 && feeds(index - 1));
                let others = layer.inputs.len() - wanted;
                let score =
                    0.5 * f64::from(feeds(0)) + 0.5 * f64::from(feeds(index - 1)) - 0.1 * others as f64;
                score.clamp(0.0, 1.0)
            };
            0.35 * kernel.max(0.0) + 0.2 * filters + 0.1 * stride + 0.35 * skips
        })
        .sum();
    total / cnn.layers.len() as f64
}

fn cell_quality(cell: &CellArch) -> f64 {
    let leaves = usize::from(cell.leaves);
    let nodes = cell.nodes.len();
    let root = nodes - 1;
    let matches = |node: &CellNode, combination: Combination, activation: Activation| {
        0.5 * f64::from(node.combination == combination) + 0.5 * f64::from(node.activation == activation)
    };
    let node_score: f64 = cell
        .nodes
        .iter()
        .enumerate()
        .map(|(index, node)| match index {
            i if i == root => matches(node, Combination::Mul, Activation::Tanh),
            i if i < leaves && i % 2 == 0 => matches(node, Combination::Add, Activation::Tanh),
            i if i < leaves => matches(node, Combination::Mul, Activation::Sigmoid),
            _ => matches(node, Combination::Add, Activation::Tanh),
        })
        .sum::<f64>()
        / nodes as f64;
    let inject = matches(&cell.inject, Combination::Add, Activation::Tanh);
    let span = (nodes - 1) as f64;
    let closeness = |chosen: u8, target: usize| 1.0 - (usize::from(chosen).abs_diff(target)) as f64 / span;
    let memory_target = cell.children(root).map_or(0, |(left, _)| left);
    0.6 * node_score
        + 0.15 * inject
        + 0.125 * closeness(cell.inject_node, 0)
        + 0.125 * closeness(cell.memory_node, memory_target)
}

/// A fixed offset in `[−0.01, 0.01]` derived from the architecture id.
fn ruggedness(id: &ArchId) -> f64 {
    let prefix = u32::from_str_radix(&id.as_str()[..8], 16).unwrap_or(0);
    (f64::from(prefix) / f64::from(u32::MAX) * 2.0 - 1.0) * 0.01
}

fn categorical_quality(arch: &CategoricalArch) -> f64 {
    let worth = |name: &str, option: &str| {
        let digest = Sha256::digest(format!("{name}\u{0}{option}").as_bytes());
        f64::from(u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])) / f64::from(u32::MAX)
    };
    let total: f64 = arch
        .decisions
        .iter()
        .map(|(name, choice)| worth(name, &choice.to_string()))
        .sum();
    total / arch.decisions.len() as f64
}

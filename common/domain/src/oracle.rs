//! Oracles answer a proposal with a reward without training anything, so
//! strategies can be compared quickly and without GPUs (`nas-controller
//! simulate`), and the whole pipeline can run without them (`nas-worker
//! --surrogate`).
//!
//! # The synthetic oracle
//!
//! A deterministic function of the spec with a known best region, loosely
//! shaped like what the paper's searches found. Its metric is passed
//! through the reward function (accuracy cubed, or `80 / ppl²`).
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

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::reward::RewardFunction;
use crate::spec::{Activation, ArchId, ArchSpec, Architecture, CellArch, CellNode, CnnArch, Combination};
use crate::{Error, Result};

/// Something that scores architectures.
pub trait Oracle: Send + Sync {
    /// The reward of `spec`.
    fn reward(&self, spec: &ArchSpec) -> Result<f64>;
}

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

/// Where an oracle's rewards come from, as given on a command line:
/// `synthetic` (the [`SyntheticOracle`]) or `table:FILE` (a [`RewardTable`]).
#[derive(Clone, Debug, PartialEq)]
pub enum OracleSource {
    /// The synthetic function of the spec.
    Synthetic,
    /// A JSON-lines reward table, such as a reward log.
    Table(PathBuf),
}

impl OracleSource {
    /// Opens the oracle; a table answers `missing` for architectures it
    /// does not hold.
    pub fn open(&self, missing: Missing) -> Result<Box<dyn Oracle>> {
        Ok(match self {
            OracleSource::Synthetic => Box::new(SyntheticOracle::default()),
            OracleSource::Table(path) => Box::new(RewardTable::load(path, missing)?),
        })
    }
}

impl std::fmt::Display for OracleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OracleSource::Synthetic => f.write_str("synthetic"),
            OracleSource::Table(path) => write!(f, "table:{}", path.display()),
        }
    }
}

impl std::str::FromStr for OracleSource {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text.split_once(':') {
            None if text == "synthetic" => Ok(OracleSource::Synthetic),
            Some(("table", path)) if !path.is_empty() => Ok(OracleSource::Table(PathBuf::from(path))),
            _ => Err(Error::InvalidConfig(format!(
                "an oracle is `synthetic` or `table:FILE`, not {text:?}"
            ))),
        }
    }
}

/// What a [`RewardTable`] answers for an architecture it does not hold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Missing {
    /// Fail with [`Error::UnknownArchitecture`].
    Fail,
    /// Answer this reward.
    Reward(f64),
}

/// Rewards recorded per architecture id, from a JSON-lines file.
///
/// Each line is an object with a `reward` (or a reward log record, whose
/// `outcome.reward` is used; failed records are skipped) and either an
/// `arch_id` or a `spec`. Repeated architectures get the mean of their
/// rewards.
#[derive(Clone, Debug)]
pub struct RewardTable {
    rewards: HashMap<ArchId, f64>,
    missing: Missing,
}

impl RewardTable {
    /// Reads a table file.
    pub fn load(path: &Path, missing: Missing) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::io(path, source))?;
        Self::parse(&text, missing)
            .map_err(|reason| Error::InvalidConfig(format!("reward table {}: {reason}", path.display())))
    }

    /// Parses the text of a table file.
    pub fn parse(text: &str, missing: Missing) -> std::result::Result<Self, String> {
        let mut sums: HashMap<ArchId, (f64, u32)> = HashMap::new();
        for (number, line) in text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
        {
            let at = |reason: String| format!("line {}: {reason}", number + 1);
            let value: serde_json::Value = serde_json::from_str(line).map_err(|e| at(e.to_string()))?;
            let Some(reward) = table_reward(&value) else {
                continue;
            };
            let id = table_id(&value).map_err(at)?;
            let entry = sums.entry(id).or_insert((0.0, 0));
            entry.0 += reward;
            entry.1 += 1;
        }
        if sums.is_empty() {
            return Err("no rewards found".into());
        }
        let rewards = sums
            .into_iter()
            .map(|(id, (sum, n))| (id, sum / f64::from(n)))
            .collect();
        Ok(RewardTable { rewards, missing })
    }

    /// Number of architectures with a reward.
    pub fn len(&self) -> usize {
        self.rewards.len()
    }

    /// Whether the table is empty (never true for a parsed table).
    pub fn is_empty(&self) -> bool {
        self.rewards.is_empty()
    }
}

fn table_reward(value: &serde_json::Value) -> Option<f64> {
    value
        .get("reward")
        .or_else(|| value.get("outcome").and_then(|outcome| outcome.get("reward")))
        .and_then(serde_json::Value::as_f64)
        .filter(|reward| reward.is_finite())
}

fn table_id(value: &serde_json::Value) -> std::result::Result<ArchId, String> {
    if let Some(id) = value.get("arch_id").and_then(serde_json::Value::as_str) {
        return id.parse().map_err(|e: Error| e.to_string());
    }
    let spec = value.get("spec").ok_or("neither arch_id nor spec is present")?;
    let spec: ArchSpec = serde_json::from_value(spec.clone()).map_err(|e| e.to_string())?;
    Ok(spec.id())
}

impl Oracle for RewardTable {
    fn reward(&self, spec: &ArchSpec) -> Result<f64> {
        let id = spec.id();
        match (self.rewards.get(&id), self.missing) {
            (Some(&reward), _) => Ok(reward),
            (None, Missing::Reward(reward)) => Ok(reward),
            (None, Missing::Fail) => Err(Error::UnknownArchitecture(id.to_string())),
        }
    }
}

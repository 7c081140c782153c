//! The recurrent cell of the paper's Penn Treebank search space.
//!
//! A cell with `N` leaves (a power of two, "base N") is a complete binary
//! tree of `2N − 1` nodes, stored level by level: nodes `0..N` are the
//! leaves, the next `N/2` nodes their parents, and so on up to the root,
//! which is the last node. Node `p` of a level has children `2p` and `2p + 1`
//! of the level below.
//!
//! - A leaf combines `W·x_t` and `U·h_{t−1}` (each its own linear map) with
//!   its combination, then applies its activation.
//! - An inner node combines its two children's outputs (no parameters), then
//!   applies its activation.
//! - Cell inject: after node `inject_node` is computed, its output `a` is
//!   replaced by `inject.activation(inject.combination(a, c_{t−1}))`.
//! - Cell indices: `c_t` is the *pre-activation* value of node
//!   `memory_node` (as in the paper's worked example), and `h_t` is the
//!   root's output (after injection when the root is the inject node).
//!
//! With 8 leaves, 2 combinations and 4 activations this gives
//! 8^15 · 8 · 15 · 15 ≈ 6.3×10^16 cells, the paper's figure.

use serde::{Deserialize, Serialize};

use super::limits;
use crate::decision::{Actions, DecisionKind, Plan, TokenReader, TokenWriter, push_choice};
use crate::space::CellSpace;
use crate::{Error, Result};

/// How a node merges its two inputs.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Combination {
    /// Elementwise sum.
    Add,
    /// Elementwise product.
    Mul,
}

/// The nonlinearity a node applies.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// No nonlinearity.
    Identity,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// Rectified linear unit.
    Relu,
}

/// The combination and activation of one tree node (or of the inject step).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CellNode {
    /// How the two inputs are merged.
    pub combination: Combination,
    /// The nonlinearity applied to the merged value.
    pub activation: Activation,
}

/// A recurrent cell: the tree's nodes, the inject step and the cell indices.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CellArch {
    /// Number of leaves `N` (a power of two, at least 2).
    pub leaves: u8,
    /// The `2N − 1` nodes, leaves first, level by level, root last.
    pub nodes: Vec<CellNode>,
    /// How `c_{t−1}` is merged into the inject node.
    pub inject: CellNode,
    /// The node whose output receives `c_{t−1}`.
    pub inject_node: u8,
    /// The node whose pre-activation value becomes `c_t`.
    pub memory_node: u8,
}

impl CellArch {
    /// Number of tree nodes for `leaves` leaves.
    pub fn node_count(leaves: usize) -> usize {
        2 * leaves - 1
    }

    /// The children of inner node `node`, or `None` for a leaf.
    pub fn children(&self, node: usize) -> Option<(usize, usize)> {
        tree_children(usize::from(self.leaves), node)
    }

    /// Checks the structural rules every cell spec must obey.
    pub fn validate(&self) -> Result<()> {
        let leaves = usize::from(self.leaves);
        if !(2..=limits::MAX_LEAVES).contains(&leaves) || !leaves.is_power_of_two() {
            return Err(Error::InvalidSpec(format!(
                "a cell needs a power-of-two number of leaves in 2..={}, got {leaves}",
                limits::MAX_LEAVES
            )));
        }
        let nodes = Self::node_count(leaves);
        if self.nodes.len() != nodes {
            return Err(Error::InvalidSpec(format!(
                "a cell with {leaves} leaves has {nodes} nodes, got {}",
                self.nodes.len()
            )));
        }
        for (name, index) in [
            ("inject_node", self.inject_node),
            ("memory_node", self.memory_node),
        ] {
            if usize::from(index) >= nodes {
                return Err(Error::InvalidSpec(format!(
                    "{name} {index} is not a node of a {nodes}-node tree"
                )));
            }
        }
        Ok(())
    }

    /// Checks that every value is one the space offers.
    pub fn check_in(&self, space: &CellSpace) -> Result<()> {
        self.encode(space).map(drop)
    }

    /// The decision plan of `space`: per node a combination and an
    /// activation, then the inject combination and activation, then the
    /// inject node and the memory node.
    pub fn plan(space: &CellSpace) -> Plan {
        let nodes = Self::node_count(usize::from(space.leaves));
        let mut steps = Vec::new();
        for _ in 0..nodes {
            push_choice(&mut steps, DecisionKind::Combination, space.combinations.len());
            push_choice(&mut steps, DecisionKind::Activation, space.activations.len());
        }
        push_choice(
            &mut steps,
            DecisionKind::InjectCombination,
            space.combinations.len(),
        );
        push_choice(
            &mut steps,
            DecisionKind::InjectActivation,
            space.activations.len(),
        );
        push_choice(&mut steps, DecisionKind::InjectNode, nodes);
        push_choice(&mut steps, DecisionKind::MemoryNode, nodes);
        Plan::new(steps)
    }

    /// Decodes a cell from controller actions.
    pub fn decode(space: &CellSpace, actions: &Actions) -> Result<Self> {
        Self::plan(space).check(actions)?;
        let node_indices = node_indices(space.leaves);
        let mut reader = TokenReader::new(actions);
        let read_node = |reader: &mut TokenReader<'_>| CellNode {
            combination: reader.choose(&space.combinations),
            activation: reader.choose(&space.activations),
        };
        let nodes = (0..node_indices.len()).map(|_| read_node(&mut reader)).collect();
        let inject = read_node(&mut reader);
        let inject_node = reader.choose(&node_indices);
        let memory_node = reader.choose(&node_indices);
        let cell = CellArch {
            leaves: space.leaves,
            nodes,
            inject,
            inject_node,
            memory_node,
        };
        cell.validate()?;
        Ok(cell)
    }

    /// Encodes this cell as the actions that produce it in `space`.
    pub fn encode(&self, space: &CellSpace) -> Result<Actions> {
        if self.leaves != space.leaves {
            return Err(Error::NotInSpace(format!(
                "the cell has {} leaves, the space {}",
                self.leaves, space.leaves
            )));
        }
        let node_indices = node_indices(space.leaves);
        let mut writer = TokenWriter::default();
        for node in self.nodes.iter().chain(std::iter::once(&self.inject)) {
            writer.choose("combination", &space.combinations, &node.combination)?;
            writer.choose("activation", &space.activations, &node.activation)?;
        }
        writer.choose("inject node", &node_indices, &self.inject_node)?;
        writer.choose("memory node", &node_indices, &self.memory_node)?;
        Ok(writer.finish())
    }
}

/// The children of `node` in a level-by-level tree with `leaves` leaves.
pub fn tree_children(leaves: usize, node: usize) -> Option<(usize, usize)> {
    let mut level_start = 0;
    let mut level_len = leaves;
    while level_len > 1 {
        let next_start = level_start + level_len;
        let next_len = level_len / 2;
        if (next_start..next_start + next_len).contains(&node) {
            let position = node - next_start;
            return Some((level_start + 2 * position, level_start + 2 * position + 1));
        }
        level_start = next_start;
        level_len = next_len;
    }
    None
}

fn node_indices(leaves: u8) -> Vec<u8> {
    let count = CellArch::node_count(usize::from(leaves));
    (0..count)
        .map(|index| u8::try_from(index).unwrap_or(u8::MAX))
        .collect()
}

//! Labels of layers and cell nodes, shared by the DOT export
//! ([`super::export`]) and the SVG diagram ([`super::diagram`]).

use std::fmt::Write;

use nas_domain::spec::{Activation, CellArch, CnnArch, Combination};

/// A one-line description of a CNN layer.
pub fn layer_label(cnn: &CnnArch, index: usize) -> String {
    let layer = &cnn.layers[index];
    let mut label = format!(
        "{index}: {}×{} conv, {}",
        layer.kernel_height, layer.kernel_width, layer.filters
    );
    if (layer.stride_height, layer.stride_width) != (1, 1) {
        let _ = write!(label, ", stride {}×{}", layer.stride_height, layer.stride_width);
    }
    if cnn
        .max_pool_after
        .iter()
        .any(|&after| usize::from(after) == index)
    {
        label.push_str(", max-pool");
    }
    label
}

/// The label of a cell node (`add, tanh`).
pub fn node_label(cell: &CellArch, index: usize) -> String {
    let node = cell.nodes[index];
    format!(
        "{index}: {}, {}",
        combination(node.combination),
        activation(node.activation)
    )
}

pub(super) fn combination(combination: Combination) -> &'static str {
    match combination {
        Combination::Add => "add",
        Combination::Mul => "mul",
    }
}

pub(super) fn activation(activation: Activation) -> &'static str {
    match activation {
        Activation::Identity => "identity",
        Activation::Tanh => "tanh",
        Activation::Sigmoid => "sigmoid",
        Activation::Relu => "relu",
    }
}

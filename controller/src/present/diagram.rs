//! SVG drawings of architectures (no Graphviz needed), for reports and
//! `export --format svg`:
//!
//! - a CNN is a column of layers from the image (top) to the classifier
//!   (bottom); each layer box names its kernel, filters, stride and pooling;
//!   a connection from the previous layer is a short straight arrow, every
//!   other connection (skip connections, inputs from the image, outputs into
//!   the classifier) an arc on the side;
//! - a cell is its tree, leaves at the bottom, root at the top; the inject
//!   node is outlined in orange and the memory node (`c_t`) in blue.

use std::fmt::Write;

use nas_domain::spec::{CellArch, CnnArch};
use nas_domain::{ArchSpec, Architecture};

use super::labels::{layer_label, node_label};

const BOX_WIDTH: f64 = 260.0;
const BOX_HEIGHT: f64 = 28.0;
const GAP: f64 = 22.0;
const MARGIN: f64 = 20.0;

/// The SVG drawing of `spec` (`None` for a categorical spec, which is a
/// list of choices, not a network this program knows).
pub fn svg(spec: &ArchSpec) -> Option<String> {
    match spec.architecture() {
        Architecture::Cnn(cnn) => Some(cnn_svg(cnn)),
        Architecture::Cell(cell) => Some(cell_svg(cell)),
        Architecture::Categorical(_) => None,
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn header(width: f64, height: f64) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"DejaVu Sans, sans-serif\" font-size=\"12\">\n\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" \
         orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    )
}

fn node(out: &mut String, x: f64, y: f64, width: f64, label: &str, stroke: &str) {
    let _ = writeln!(
        out,
        "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{BOX_HEIGHT}\" rx=\"6\" fill=\"#f4f6fb\" \
         stroke=\"{stroke}\" stroke-width=\"1.5\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        x + width / 2.0,
        y + BOX_HEIGHT / 2.0 + 4.0,
        escape(label)
    );
}

fn cnn_svg(cnn: &CnnArch) -> String {
    let count = cnn.layers.len();
    let arcs = count + 2;
    let side = 14.0 * arcs.min(24) as f64;
    let width = BOX_WIDTH + 2.0 * side + 2.0 * MARGIN;
    let x = MARGIN + side;
    let row = |index: usize| MARGIN + index as f64 * (BOX_HEIGHT + GAP);
    let height = row(count + 2) + MARGIN;
    let mut out = header(width, height);
    node(&mut out, x, row(0), BOX_WIDTH, "image", "#333");
    for index in 0..count {
        node(
            &mut out,
            x,
            row(index + 1),
            BOX_WIDTH,
            &layer_label(cnn, index),
            "#333",
        );
    }
    node(
        &mut out,
        x,
        row(count + 1),
        BOX_WIDTH,
        "concat → global average pool → linear",
        "#333",
    );
    // Edges: (from row, to row); row 0 is the image, row count+1 the output.
    let mut edges: Vec<(usize, usize)> = Vec::new();
    for (index, layer) in cnn.layers.iter().enumerate() {
        if layer.inputs.is_empty() {
            edges.push((0, index + 1));
        }
        edges.extend(
            layer
                .inputs
                .iter()
                .map(|&input| (usize::from(input) + 1, index + 1)),
        );
    }
    edges.extend(cnn.final_layers().into_iter().map(|index| (index + 1, count + 1)));
    let mut right = 0;
    let mut left = 0;
    for (from, to) in edges {
        let centre = x + BOX_WIDTH / 2.0;
        if to == from + 1 {
            let _ = writeln!(
                out,
                "<line x1=\"{centre:.1}\" y1=\"{:.1}\" x2=\"{centre:.1}\" y2=\"{:.1}\" stroke=\"#555\" marker-end=\"url(#arrow)\"/>",
                row(from) + BOX_HEIGHT,
                row(to)
            );
            continue;
        }
        // Skip connections on the right, image and output links on the left.
        let on_right = from != 0 && to != count + 1;
        let (edge_x, reach) = if on_right {
            right += 1;
            (x + BOX_WIDTH, 14.0 * (right.min(24)) as f64)
        } else {
            left += 1;
            (x, -14.0 * (left.min(24)) as f64)
        };
        let y1 = row(from) + BOX_HEIGHT / 2.0;
        let y2 = row(to) + BOX_HEIGHT / 2.0;
        let colour = if on_right { "#3b6fb6" } else { "#999" };
        let _ = writeln!(
            out,
            "<path d=\"M {edge_x:.1} {y1:.1} C {c:.1} {y1:.1}, {c:.1} {y2:.1}, {edge_x:.1} {y2:.1}\" fill=\"none\" \
             stroke=\"{colour}\" marker-end=\"url(#arrow)\"/>",
            c = edge_x + reach
        );
    }
    out.push_str("</svg>\n");
    out
}

fn cell_svg(cell: &CellArch) -> String {
    let leaves = usize::from(cell.leaves);
    let node_width = 120.0;
    let spacing = 20.0;
    let width = leaves as f64 * (node_width + spacing) + 2.0 * MARGIN;
    let levels = leaves.trailing_zeros() as usize + 1;
    let level_gap = 60.0;
    let height = MARGIN * 2.0 + (levels + 1) as f64 * (BOX_HEIGHT + level_gap) + 30.0;
    let mut out = header(width, height);
    // Position of every node: level 0 (leaves) at the bottom.
    let mut positions = Vec::with_capacity(cell.nodes.len());
    let (mut start, mut length, mut level) = (0, leaves, 0);
    while length >= 1 {
        for position in 0..length {
            let slot = (width - 2.0 * MARGIN) / length as f64;
            let cx = MARGIN + slot * (position as f64 + 0.5);
            let y = height - MARGIN - 30.0 - (level + 1) as f64 * (BOX_HEIGHT + level_gap);
            positions.push((cx, y));
        }
        if length == 1 {
            break;
        }
        start += length;
        length /= 2;
        level += 1;
    }
    let _ = start;
    for index in 0..cell.nodes.len() {
        if let Some((left, right)) = cell.children(index) {
            for child in [left, right] {
                let (cx, cy) = positions[child];
                let (px, py) = positions[index];
                let _ = writeln!(
                    out,
                    "<line x1=\"{cx:.1}\" y1=\"{cy:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#555\" marker-end=\"url(#arrow)\"/>",
                    py + BOX_HEIGHT
                );
            }
        }
    }
    for (index, &(cx, y)) in positions.iter().enumerate() {
        let stroke = if index == usize::from(cell.inject_node) {
            "#e07b00"
        } else if index == usize::from(cell.memory_node) {
            "#1f5fbf"
        } else {
            "#333"
        };
        node(
            &mut out,
            cx - node_width / 2.0,
            y,
            node_width,
            &node_label(cell, index),
            stroke,
        );
    }
    let legend_y = height - MARGIN;
    let _ = writeln!(
        out,
        "<text x=\"{MARGIN}\" y=\"{legend_y:.1}\">leaves read x_t and h_(t-1); root = h_t; \
         <tspan fill=\"#e07b00\">inject c_(t-1) ({}, {})</tspan>; <tspan fill=\"#1f5fbf\">memory c_t</tspan></text>",
        escape(&format!("{:?}", cell.inject.combination).to_lowercase()),
        escape(&format!("{:?}", cell.inject.activation).to_lowercase())
    );
    out.push_str("</svg>\n");
    out
}

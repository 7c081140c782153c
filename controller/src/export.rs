//! Exporting a found architecture: its spec as JSON, a Graphviz DOT diagram,
//! an SVG drawing of the same diagram, or a Python module that builds the
//! identical network in PyTorch (same layers, same conventions, same
//! parameter count as the worker's child; see `worker/src/cnn.rs` and
//! `worker/src/language_model.rs`).

use std::fmt::Write;

use nas_common::spec::{Activation, CellArch, CnnArch, Combination};
use nas_common::{ArchSpec, Architecture};

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

/// The spec in `format`.
pub fn export(spec: &ArchSpec, format: ExportFormat) -> String {
    match format {
        ExportFormat::Json => serde_json::to_string_pretty(spec).unwrap_or_default() + "\n",
        ExportFormat::Dot => dot(spec),
        ExportFormat::Svg => crate::diagram::svg(spec),
        ExportFormat::Pytorch => pytorch(spec),
    }
}

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

fn combination(combination: Combination) -> &'static str {
    match combination {
        Combination::Add => "add",
        Combination::Mul => "mul",
    }
}

fn activation(activation: Activation) -> &'static str {
    match activation {
        Activation::Identity => "identity",
        Activation::Tanh => "tanh",
        Activation::Sigmoid => "sigmoid",
        Activation::Relu => "relu",
    }
}

/// The layers no later layer reads (they feed the classifier).
pub fn final_layers(cnn: &CnnArch) -> Vec<usize> {
    (0..cnn.layers.len())
        .filter(|&i| {
            !cnn.layers
                .iter()
                .any(|layer| layer.inputs.iter().any(|&input| usize::from(input) == i))
        })
        .collect()
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
            for index in final_layers(cnn) {
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
    }
    out.push_str("}\n");
    out
}

fn pytorch(spec: &ArchSpec) -> String {
    let json = serde_json::to_string(spec).unwrap_or_default();
    let body = match spec.architecture() {
        Architecture::Cnn(_) => PYTORCH_CNN,
        Architecture::Cell(_) => PYTORCH_CELL,
    };
    format!(
        "\"\"\"Architecture {id}, exported by nas-controller.\n\n\
         Builds the same network as nas-worker, in PyTorch: `model = build()`.\n\"\"\"\n\
         import json\n\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\
         SPEC = json.loads(r'''{json}''')\n{body}",
        id = spec.id()
    )
}

const PYTORCH_CNN: &str = r#"

def same_padding(size, stride, kernel):
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def concat_padded(maps):
    if len(maps) == 1:
        return maps[0]
    h = max(m.shape[2] for m in maps)
    w = max(m.shape[3] for m in maps)
    return torch.cat([F.pad(m, (0, w - m.shape[3], 0, h - m.shape[2])) for m in maps], 1)


class Child(nn.Module):
    """conv (no bias) -> batch norm -> ReLU per layer, TensorFlow "same"
    padding, skip inputs zero-padded at the bottom/right and concatenated,
    optional 2x2 max-pools, unconsumed outputs concatenated, global average
    pooling, linear classifier."""

    def __init__(self, spec=SPEC, classes=10, channels=3, side=32, bn_eps=1e-5):
        super().__init__()
        layers = spec["layers"]
        pools = set(spec.get("max_pool_after", []))
        shapes, consumed = [], set()
        self.sources, self.pads, self.pools = [], [], []
        self.convs, self.norms = nn.ModuleList(), nn.ModuleList()
        for i, layer in enumerate(layers):
            inputs = layer["inputs"]
            consumed.update(inputs)
            if inputs:
                cin = sum(shapes[j][0] for j in inputs)
                h = max(shapes[j][1] for j in inputs)
                w = max(shapes[j][2] for j in inputs)
            else:
                cin, h, w = channels, side, side
            kh, kw = layer["kernel_height"], layer["kernel_width"]
            sh, sw = layer["stride_height"], layer["stride_width"]
            top, bottom = same_padding(h, sh, kh)
            left, right = same_padding(w, sw, kw)
            symmetric = top == bottom and left == right
            self.convs.append(nn.Conv2d(cin, layer["filters"], (kh, kw), (sh, sw),
                                        padding=(top, left) if symmetric else 0, bias=False))
            self.norms.append(nn.BatchNorm2d(layer["filters"], eps=bn_eps))
            self.pads.append(None if symmetric else (left, right, top, bottom))
            self.sources.append(inputs)
            self.pools.append(i in pools)
            oh, ow = (h + sh - 1) // sh, (w + sw - 1) // sw
            if i in pools:
                oh, ow = (oh + 1) // 2, (ow + 1) // 2
            shapes.append((layer["filters"], oh, ow))
        self.final = [i for i in range(len(layers)) if i not in consumed]
        self.classifier = nn.Linear(sum(shapes[i][0] for i in self.final), classes)

    def forward(self, x):
        outputs = []
        for conv, norm, pad, sources, pool in zip(self.convs, self.norms, self.pads, self.sources, self.pools):
            inp = concat_padded([outputs[j] for j in sources]) if sources else x
            if pad is not None:
                inp = F.pad(inp, pad)
            out = F.relu(norm(conv(inp)))
            if pool:
                out = F.max_pool2d(out, 2, 2, ceil_mode=True)
            outputs.append(out)
        return self.classifier(concat_padded([outputs[i] for i in self.final]).mean((2, 3)))


def build(**kwargs):
    return Child(**kwargs)
"#;

const PYTORCH_CELL: &str = r#"

ACTIVATIONS = {"identity": lambda x: x, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}


def combine(kind, a, b):
    return a + b if kind == "add" else a * b


def children(leaves, node):
    start, length = 0, leaves
    while length > 1:
        nxt = start + length
        if nxt <= node < nxt + length // 2:
            p = node - nxt
            return start + 2 * p, start + 2 * p + 1
        start, length = nxt, length // 2
    return None


class CellLayer(nn.Module):
    """The searched cell: leaves combine W x_t + b and U h_{t-1}; inner nodes
    combine their children; the inject node merges c_{t-1}; c_t is the memory
    node's pre-activation and h_t the root's output."""

    def __init__(self, spec, inputs, hidden):
        super().__init__()
        self.spec, self.hidden = spec, hidden
        leaves = spec["leaves"]
        self.input_map = nn.Linear(inputs, leaves * hidden)
        self.hidden_map = nn.Linear(hidden, leaves * hidden, bias=False)
        bound = 1.0 / (leaves * hidden ** 0.5)
        nn.init.uniform_(self.hidden_map.weight, -bound, bound)

    def step(self, projected, h, c):
        spec, leaves = self.spec, self.spec["leaves"]
        xs = projected.split(self.hidden, -1)
        hs = self.hidden_map(h).split(self.hidden, -1)
        outputs, memory = [], c
        for i, node in enumerate(spec["nodes"]):
            kids = children(leaves, i)
            pre = combine(node["combination"], *( (outputs[kids[0]], outputs[kids[1]]) if kids else (xs[i], hs[i]) ))
            out = ACTIVATIONS[node["activation"]](pre)
            if i == spec["memory_node"]:
                memory = pre
            if i == spec["inject_node"]:
                inject = spec["inject"]
                out = ACTIVATIONS[inject["activation"]](combine(inject["combination"], out, c))
            outputs.append(out)
        return outputs[-1], memory


class LanguageModel(nn.Module):
    """Embedding -> dropout -> cell layers -> dropout -> decoder tied to the
    embedding (only its bias is separate)."""

    def __init__(self, spec=SPEC, vocabulary=10000, hidden=200, layers=2, dropout=0.2):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, hidden)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        self.cells = nn.ModuleList(CellLayer(spec, hidden, hidden) for _ in range(layers))
        self.decoder_bias = nn.Parameter(torch.zeros(vocabulary))
        self.dropout, self.hidden = dropout, hidden

    def forward(self, tokens, state=None):
        batch = tokens.shape[0]
        if state is None:
            zeros = tokens.new_zeros((batch, self.hidden), dtype=torch.float)
            state = [(zeros, zeros) for _ in self.cells]
        sequence = F.dropout(self.embedding(tokens), self.dropout, self.training)
        new_state = []
        for cell, (h, c) in zip(self.cells, state):
            projected = cell.input_map(sequence)
            outs = []
            for t in range(projected.shape[1]):
                h, c = cell.step(projected[:, t], h, c)
                outs.append(h)
            sequence = F.dropout(torch.stack(outs, 1), self.dropout, self.training)
            new_state.append((h, c))
        logits = F.linear(sequence.reshape(-1, self.hidden), self.embedding.weight, self.decoder_bias)
        return logits, new_state


def build(**kwargs):
    return LanguageModel(**kwargs)
"#;

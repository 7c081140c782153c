//! One layer of the searched recurrent cell (the tree of
//! `nas_domain::spec::cell`), built over an `nn::Path`.
//!
//! Leaf `l` computes `act_l(comb_l(W_l·x_t + b_l, U_l·h_{t−1}))`; the `N`
//! input maps `W_l` are one `[in → N·hidden]` linear layer with bias, applied
//! to the whole sequence at once before the time loop, and the `N` hidden
//! maps `U_l` one `[hidden → N·hidden]` linear layer without bias, applied
//! once per step. Inner nodes have no parameters. The inject node's output
//! `a` becomes `act_inject(comb_inject(a, c_{t−1}))`; `c_t` is the memory
//! node's pre-activation value and `h_t` the root's output.
//!
//! The hidden maps start small (see [`CellLayer::new`]).
//!
//! Parameters per layer: `in·N·hidden + N·hidden + hidden·N·hidden`.

use nas_domain::spec::{Activation, CellArch, CellNode, Combination};
use tch::Tensor;
use tch::nn::{self, Module};

/// One recurrent layer running the cell.
pub struct CellLayer {
    cell: CellArch,
    hidden: i64,
    input_map: nn::Linear,
    hidden_map: nn::Linear,
}

impl CellLayer {
    /// A layer of `cell` from `input` features to `hidden` units.
    pub fn new(path: &nn::Path, cell: &CellArch, input: i64, hidden: i64) -> Self {
        let leaves = i64::from(cell.leaves);
        CellLayer {
            cell: cell.clone(),
            hidden,
            input_map: nn::linear(path / "input_map", input, leaves * hidden, Default::default()),
            hidden_map: nn::linear(
                path / "hidden_map",
                hidden,
                leaves * hidden,
                nn::LinearConfig {
                    bias: false,
                    ws_init: nn::Init::Uniform {
                        lo: -hidden_init_range(leaves, hidden),
                        up: hidden_init_range(leaves, hidden),
                    },
                    bs_init: None,
                },
            ),
        }
    }

    /// Parameters of one layer.
    pub fn parameter_count(leaves: i64, input: i64, hidden: i64) -> i64 {
        input * leaves * hidden + leaves * hidden + hidden * leaves * hidden
    }

    /// The input maps of every leaf for a whole sequence: `[B, T, in]` →
    /// `[B, T, N·hidden]`.
    pub fn project_inputs(&self, inputs: &Tensor) -> Tensor {
        self.input_map.forward(inputs)
    }

    /// One time step from projected inputs `[B, N·hidden]` and the state
    /// `(h, c)`; returns the new `(h, c)`.
    pub fn step(&self, projected: &Tensor, h: &Tensor, c: &Tensor) -> (Tensor, Tensor) {
        let from_input = projected.split(self.hidden, -1);
        let from_hidden = self.hidden_map.forward(h).split(self.hidden, -1);
        let nodes = self.cell.nodes.len();
        let mut outputs: Vec<Tensor> = Vec::with_capacity(nodes);
        let mut memory = None;
        for index in 0..nodes {
            let node = self.cell.nodes[index];
            // Exactly the first `leaves` nodes have no children.
            let pre = match self.cell.children(index) {
                Some((left, right)) => combine(node.combination, &outputs[left], &outputs[right]),
                None => combine(node.combination, &from_input[index], &from_hidden[index]),
            };
            let mut out = activate(node.activation, &pre);
            if index == usize::from(self.cell.memory_node) {
                memory = Some(pre);
            }
            if index == usize::from(self.cell.inject_node) {
                let CellNode {
                    combination,
                    activation,
                } = self.cell.inject;
                out = activate(activation, &combine(combination, &out, c));
            }
            outputs.push(out);
        }
        let h = outputs.pop().unwrap_or_else(|| h.zeros_like());
        (h, memory.unwrap_or_else(|| c.shallow_clone()))
    }
}

/// The hidden maps start uniform in `±1 / (N·sqrt(hidden))`, so a tree that
/// adds up its `N` leaves starts near unit gain from `h_{t−1}` to `h_t`;
/// PyTorch's default (`±1 / sqrt(hidden)`) makes most sampled cells explode
/// within the first BPTT window, before any learning.
fn hidden_init_range(leaves: i64, hidden: i64) -> f64 {
    1.0 / (leaves as f64 * (hidden as f64).sqrt())
}

fn combine(combination: Combination, a: &Tensor, b: &Tensor) -> Tensor {
    match combination {
        Combination::Add => a + b,
        Combination::Mul => a * b,
    }
}

fn activate(activation: Activation, x: &Tensor) -> Tensor {
    match activation {
        Activation::Identity => x.shallow_clone(),
        Activation::Tanh => x.tanh(),
        Activation::Sigmoid => x.sigmoid(),
        Activation::Relu => x.relu(),
    }
}

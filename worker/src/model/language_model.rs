//! The language model around the searched cell: embedding → dropout →
//! cell layers (2 by default) with dropout between and after them → linear
//! decoder, optionally tied to the embedding (then only its bias is a
//! separate parameter). The embedding size equals the hidden size, so tying
//! is always possible.
//!
//! Parameters: `V·H` (embedding) `+ Σ layers` (see
//! [`CellLayer::parameter_count`]) `+ V` (tied) or `+ H·V + V` (untied).
//! [`hidden_for_parameters`] inverts this to pick the hidden size that
//! brings the model nearest a target parameter count.

use nas_domain::spec::CellArch;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::model::recurrent_cell::CellLayer;

/// Shape of the language model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LanguageModelOptions {
    /// Vocabulary size.
    pub vocabulary: i64,
    /// Hidden (and embedding) size.
    pub hidden: i64,
    /// Recurrent layers.
    pub layers: i64,
    /// Dropout on embeddings, between layers and before the decoder.
    pub dropout: f64,
    /// Tie the decoder's weights to the embedding.
    pub tied: bool,
    /// The embedding (and an untied decoder) start uniform in
    /// `±init_range` (default [`INIT_RANGE`]).
    pub init_range: f64,
}

/// The language model.
pub struct LanguageModel {
    options: LanguageModelOptions,
    embedding: nn::Embedding,
    layers: Vec<CellLayer>,
    decoder: Decoder,
}

enum Decoder {
    Tied { bias: Tensor },
    Separate(nn::Linear),
}

/// The recurrent state: `(h, c)` per layer, each `[B, hidden]`.
pub type State = Vec<(Tensor, Tensor)>;

/// The initialisation range of embedding and decoder weights.
/// The default initialisation range of the embedding and decoder.
pub const INIT_RANGE: f64 = 0.1;

impl LanguageModel {
    /// Builds the model of `cell` under `path`.
    pub fn new(path: &nn::Path, cell: &CellArch, options: LanguageModelOptions) -> Self {
        let LanguageModelOptions {
            vocabulary,
            hidden,
            init_range,
            ..
        } = options;
        let uniform = nn::Init::Uniform {
            lo: -init_range,
            up: init_range,
        };
        let embedding = nn::embedding(
            path / "embedding",
            vocabulary,
            hidden,
            nn::EmbeddingConfig {
                ws_init: uniform,
                ..Default::default()
            },
        );
        let layers = (0..options.layers)
            .map(|index| CellLayer::new(&(path / format!("cell{index}")), cell, hidden, hidden))
            .collect();
        let decoder = if options.tied {
            Decoder::Tied {
                bias: path.var("decoder_bias", &[vocabulary], nn::Init::Const(0.0)),
            }
        } else {
            Decoder::Separate(nn::linear(
                path / "decoder",
                hidden,
                vocabulary,
                nn::LinearConfig {
                    ws_init: uniform,
                    bs_init: Some(nn::Init::Const(0.0)),
                    bias: true,
                },
            ))
        };
        LanguageModel {
            options,
            embedding,
            layers,
            decoder,
        }
    }

    /// A zero state for `batch` streams.
    pub fn zero_state(&self, batch: i64, device: tch::Device) -> State {
        let zeros = || Tensor::zeros([batch, self.options.hidden], (Kind::Float, device));
        (0..self.layers.len()).map(|_| (zeros(), zeros())).collect()
    }

    /// Runs `tokens [B, T]` from `state`; returns logits `[B·T, V]` and the
    /// final state.
    pub fn forward(&self, tokens: &Tensor, state: &State, train: bool) -> (Tensor, State) {
        let dropout = self.options.dropout;
        let mut sequence = self.embedding.forward(tokens).dropout(dropout, train);
        let mut next_state = Vec::with_capacity(self.layers.len());
        for (layer, (h0, c0)) in self.layers.iter().zip(state) {
            let projected = layer.project_inputs(&sequence);
            let steps = projected.size()[1];
            let (mut h, mut c) = (h0.shallow_clone(), c0.shallow_clone());
            let mut outputs = Vec::with_capacity(steps as usize);
            for t in 0..steps {
                (h, c) = layer.step(&projected.select(1, t), &h, &c);
                outputs.push(h.shallow_clone());
            }
            sequence = Tensor::stack(&outputs, 1).dropout(dropout, train);
            next_state.push((h, c));
        }
        let flat = sequence.reshape([-1, self.options.hidden]);
        let logits = match &self.decoder {
            Decoder::Tied { bias } => flat.linear(&self.embedding.ws, Some(bias)),
            Decoder::Separate(linear) => linear.forward(&flat),
        };
        (logits, next_state)
    }
}

/// Trainable parameters of a model of `options` with `leaves`-leaf cells.
pub fn parameter_count(options: &LanguageModelOptions, leaves: i64) -> i64 {
    let LanguageModelOptions {
        vocabulary,
        hidden,
        layers,
        tied,
        ..
    } = *options;
    let decoder = if tied {
        vocabulary
    } else {
        hidden * vocabulary + vocabulary
    };
    vocabulary * hidden + layers * CellLayer::parameter_count(leaves, hidden, hidden) + decoder
}

/// The hidden size whose model is nearest `target` parameters (at least 1).
pub fn hidden_for_parameters(options: &LanguageModelOptions, leaves: i64, target: i64) -> i64 {
    let count = |hidden| parameter_count(&LanguageModelOptions { hidden, ..*options }, leaves);
    // The count grows with the hidden size: bisect, then pick the nearer side.
    let (mut low, mut high) = (1i64, 1i64);
    while count(high) < target && high < 1 << 20 {
        low = high;
        high *= 2;
    }
    while high - low > 1 {
        let mid = (low + high) / 2;
        if count(mid) < target {
            low = mid;
        } else {
            high = mid;
        }
    }
    if (count(high) - target).abs() < (target - count(low)).abs() {
        high
    } else {
        low
    }
}

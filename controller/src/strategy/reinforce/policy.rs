//! The controller network of Zoph & Le: a 2-layer LSTM that emits one token
//! per decision step.
//!
//! - Each [`DecisionKind`] has its own softmax head (a linear map from the
//!   LSTM output to its options) and its own embedding, through which the
//!   chosen token becomes the next step's input. The first input is a
//!   learned `go` vector.
//! - A skip-connection anchor for layer `i` is one LSTM step whose output
//!   `h_i` scores every earlier anchor `h_j` with
//!   `sigmoid(vᵀ tanh(W_prev·h_j + W_curr·h_i))`; the next input is the sum
//!   of the chosen anchors' `h_j` divided by `1 + count` (as in ENAS), zero
//!   when none is chosen.
//! - Logits are divided by a temperature and optionally squashed as
//!   `c·tanh(logits)` (a bound that keeps the policy exploring).
//! - Every parameter starts uniform in `[−init_range, init_range]`, drawn
//!   from a seeded ChaCha stream, so initialisation is reproducible and
//!   independent of libtorch's global generator.
//!
//! Sampling and scoring run the same unrolled computation, so the
//! log-probability recomputed for stored actions equals the one at sampling
//! time while the parameters are unchanged. Sampling draws with the caller's
//! random numbers; libtorch's generator is never used.

use nas_domain::{Actions, DecisionKind, Plan, SearchSpace, Step};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, RNN};
use tch::{Device, Kind, Tensor};

use crate::{Error, Result};

/// Shape and sampling settings of the controller network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Hidden units per LSTM layer (paper: 35).
    pub hidden: i64,
    /// LSTM layers (paper: 2).
    pub lstm_layers: i64,
    /// Parameters start uniform in `[−init_range, init_range]` (paper: 0.08).
    pub init_range: f64,
    /// Logits are divided by this before the softmax (1: unchanged).
    pub temperature: f64,
    /// When set, logits become `c·tanh(logits)`.
    pub tanh_constant: Option<f64>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            hidden: 35,
            lstm_layers: 2,
            init_range: 0.08,
            temperature: 5.0,
            tanh_constant: Some(1.5),
        }
    }
}

impl PolicyConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        let ok = self.hidden > 0
            && self.lstm_layers > 0
            && self.init_range.is_finite()
            && self.init_range >= 0.0
            && self.temperature.is_finite()
            && self.temperature > 0.0
            && self.tanh_constant.is_none_or(|c| c.is_finite() && c > 0.0);
        if ok {
            Ok(())
        } else {
            Err(Error::Config(format!("invalid policy settings {self:?}")))
        }
    }
}

struct Head {
    kind: DecisionKind,
    logits: nn::Linear,
    embedding: nn::Embedding,
}

struct Attention {
    w_prev: nn::Linear,
    w_curr: nn::Linear,
    v: nn::Linear,
}

/// The per-sequence totals of one unrolled pass.
pub struct Unrolled {
    /// Log-probability of each sequence, shape `[batch]`.
    pub log_prob: Tensor,
    /// Summed entropy of every decision distribution, shape `[batch]`.
    pub entropy: Tensor,
}

/// One sampled action sequence with its log-probability at sampling time.
#[derive(Clone, Debug)]
pub struct Sampled {
    /// The tokens.
    pub actions: Actions,
    /// `log P(actions)` under the parameters that sampled them.
    pub log_prob: f64,
}

/// The controller network (see the module docs).
pub struct Policy {
    vs: nn::VarStore,
    config: PolicyConfig,
    lstm: nn::LSTM,
    go: Tensor,
    heads: Vec<Head>,
    attention: Option<Attention>,
}

impl Policy {
    /// A freshly initialised policy for `space`, its parameters drawn from
    /// `rng`.
    pub fn new(space: &SearchSpace, config: PolicyConfig, rng: &mut impl Rng) -> Result<Self> {
        config.validate()?;
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let hidden = config.hidden;
        let lstm = nn::lstm(
            &root / "lstm",
            hidden,
            hidden,
            nn::RNNConfig {
                num_layers: config.lstm_layers,
                ..Default::default()
            },
        );
        let go = root.var("go", &[1, hidden], nn::Init::Const(0.0));
        let heads = space
            .decision_kinds()
            .into_iter()
            .map(|(kind, options)| {
                let options = i64::try_from(options).unwrap_or(i64::MAX);
                let path = &root / kind.name();
                Head {
                    kind,
                    logits: nn::linear(&path / "logits", hidden, options, Default::default()),
                    embedding: nn::embedding(&path / "embedding", options, hidden, Default::default()),
                }
            })
            .collect();
        let attention = space.has_anchors().then(|| {
            let path = &root / "anchor";
            let no_bias = nn::LinearConfig {
                bias: false,
                ..Default::default()
            };
            Attention {
                w_prev: nn::linear(&path / "w_prev", hidden, hidden, no_bias),
                w_curr: nn::linear(&path / "w_curr", hidden, hidden, no_bias),
                v: nn::linear(&path / "v", hidden, 1, no_bias),
            }
        });
        let policy = Policy {
            vs,
            config,
            lstm,
            go,
            heads,
            attention,
        };
        policy.initialise(rng);
        Ok(policy)
    }

    fn initialise(&self, rng: &mut impl Rng) {
        let range = self.config.init_range as f32;
        for (_, mut tensor) in self.named_parameters() {
            let values: Vec<f32> = (0..tensor.numel())
                .map(|_| rng.random_range(-range..=range))
                .collect();
            let init = Tensor::from_slice(&values).reshape(tensor.size());
            tch::no_grad(|| tensor.copy_(&init));
        }
    }

    /// The settings the policy was built with.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// Every trainable tensor, sorted by name (a stable order for
    /// initialisation, optimiser state and checkpoints).
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut named: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named
    }

    /// Number of trainable scalars.
    pub fn parameter_count(&self) -> i64 {
        self.vs
            .trainable_variables()
            .iter()
            .map(Tensor::numel)
            .map(|n| n as i64)
            .sum()
    }

    /// Samples one sequence per entry of `rngs` along `plan`, without
    /// building a gradient graph.
    pub fn sample<R: Rng>(&self, plan: &Plan, rngs: &mut [R]) -> Vec<Sampled> {
        let batch = rngs.len();
        let mut tokens: Vec<Vec<u16>> = vec![Vec::with_capacity(plan.tokens()); batch];
        let unrolled = tch::no_grad(|| {
            self.unroll(plan, batch, |probabilities, pick| {
                let drawn = draw(probabilities, pick, rngs);
                for (row, chosen) in drawn.iter().enumerate() {
                    tokens[row].extend_from_slice(chosen);
                }
                drawn
            })
        });
        let log_probs = Vec::<f64>::try_from(unrolled.log_prob.to_kind(Kind::Double)).unwrap_or_default();
        tokens
            .into_iter()
            .zip(log_probs)
            .map(|(tokens, log_prob)| Sampled {
                actions: Actions::new(tokens),
                log_prob,
            })
            .collect()
    }

    /// Recomputes log-probability and entropy of stored sequences that share
    /// `plan`, with gradients (the REINFORCE forward pass).
    pub fn score(&self, plan: &Plan, sequences: &[&Actions]) -> Result<Unrolled> {
        for actions in sequences {
            plan.check(actions).map_err(Error::Domain)?;
        }
        let mut position = 0;
        Ok(self.unroll(plan, sequences.len(), |probabilities, pick| {
            let width = match pick {
                Pick::Categorical => 1,
                Pick::Bernoulli => probabilities.size()[1] as usize,
            };
            let chosen: Vec<Vec<u16>> = sequences
                .iter()
                .map(|actions| actions.tokens()[position..position + width].to_vec())
                .collect();
            position += width;
            chosen
        }))
    }

    /// Scores sequences of which some tokens are unknown (children of an
    /// earlier search over another space, see [`crate::strategy::warm`]),
    /// with gradients: a known token is taken as given, an unknown one is
    /// drawn from the policy itself with the row's stream. A drawn token's
    /// score-function gradient has expectation zero, so the pass teaches
    /// only what the known tokens say. Only plans of plain choices (a
    /// categorical space) can be scored so.
    pub fn score_partial<R: Rng>(
        &self,
        plan: &Plan,
        sequences: &[&[Option<u16>]],
        rngs: &mut [R],
    ) -> Result<Unrolled> {
        if plan
            .steps()
            .iter()
            .any(|step| matches!(step, Step::Anchor { .. }))
        {
            return Err(Error::Config(
                "children of earlier searches can be learned from in a categorical space only".into(),
            ));
        }
        if let Some(sequence) = sequences.iter().find(|s| s.len() != plan.tokens()) {
            return Err(Error::Config(format!(
                "an earlier child has {} tokens, this space's plan {}",
                sequence.len(),
                plan.tokens()
            )));
        }
        let mut position = 0;
        Ok(self.unroll(plan, sequences.len(), |probabilities, pick| {
            let drawn = draw(&probabilities.detach(), pick, rngs);
            let chosen = (sequences.iter().zip(drawn))
                .map(|(sequence, drawn)| match sequence[position] {
                    Some(token) => vec![token],
                    None => drawn,
                })
                .collect();
            position += 1;
            chosen
        }))
    }

    /// The shared forward pass. `choose(probabilities, pick)` returns, for
    /// each row, the tokens taken at this step: one index for
    /// [`Pick::Categorical`] over `[batch, options]` probabilities, one bit
    /// per column for [`Pick::Bernoulli`] over `[batch, candidates]`.
    fn unroll(
        &self,
        plan: &Plan,
        batch: usize,
        mut choose: impl FnMut(&Tensor, Pick) -> Vec<Vec<u16>>,
    ) -> Unrolled {
        let batch_dim = i64::try_from(batch).unwrap_or(i64::MAX);
        let mut state = self.lstm.zero_state(batch_dim);
        let mut input = self.go.expand([batch_dim, self.config.hidden], false);
        let mut log_prob = Tensor::zeros([batch_dim], (Kind::Float, Device::Cpu));
        let mut entropy = Tensor::zeros([batch_dim], (Kind::Float, Device::Cpu));
        let mut anchors: Vec<Tensor> = Vec::new();
        let mut anchor_keys: Vec<Tensor> = Vec::new();
        for step in plan.steps() {
            state = self.lstm.step(&input, &state);
            let output = state.h().get(self.config.lstm_layers - 1);
            match *step {
                Step::Choose { kind, .. } => {
                    let head = self.head(kind);
                    let log_p = self
                        .shape_logits(head.logits.forward(&output))
                        .log_softmax(-1, Kind::Float);
                    let p = log_p.exp();
                    let chosen = choose(&p, Pick::Categorical);
                    let index = token_tensor(&chosen).view([batch_dim, 1]);
                    log_prob += log_p.gather(1, &index, false).squeeze_dim(1);
                    entropy -= (p * &log_p).sum_dim_intlist(-1, false, Kind::Float);
                    input = head.embedding.forward(&index.squeeze_dim(1));
                }
                Step::Anchor { candidates } => {
                    let attention = self.attention.as_ref();
                    if let (Some(attention), true) = (attention, candidates > 0) {
                        let keys = Tensor::stack(&anchor_keys, 1);
                        let query = attention.w_curr.forward(&output).unsqueeze(1);
                        let logits =
                            self.shape_logits(attention.v.forward(&(keys + query).tanh()).squeeze_dim(-1));
                        let chosen = choose(&logits.sigmoid(), Pick::Bernoulli);
                        let bits = token_tensor(&chosen).view([batch_dim, -1]).to_kind(Kind::Float);
                        let log_yes = logits.log_sigmoid();
                        let log_no = (-&logits).log_sigmoid();
                        let chosen_log_p: Tensor = &bits * &log_yes + (-&bits + 1.0) * &log_no;
                        log_prob += chosen_log_p.sum_dim_intlist(-1, false, Kind::Float);
                        entropy -= (log_yes.exp() * &log_yes + log_no.exp() * &log_no).sum_dim_intlist(
                            -1,
                            false,
                            Kind::Float,
                        );
                        let values = Tensor::stack(&anchors, 1);
                        let summed = (bits.unsqueeze(-1) * values).sum_dim_intlist(1, false, Kind::Float);
                        input = summed / (bits.sum_dim_intlist(-1, true, Kind::Float) + 1.0);
                    } else {
                        input = output.zeros_like();
                    }
                    if let Some(attention) = attention {
                        anchor_keys.push(attention.w_prev.forward(&output));
                        anchors.push(output);
                    }
                }
            }
        }
        Unrolled { log_prob, entropy }
    }

    fn head(&self, kind: DecisionKind) -> &Head {
        // Heads are built from the same space as every plan they serve.
        self.heads
            .iter()
            .find(|head| head.kind == kind)
            .unwrap_or_else(|| &self.heads[0])
    }

    fn shape_logits(&self, logits: Tensor) -> Tensor {
        let logits = logits / self.config.temperature;
        match self.config.tanh_constant {
            Some(c) => logits.tanh() * c,
            None => logits,
        }
    }
}

/// How a step turns probabilities into tokens.
#[derive(Clone, Copy)]
enum Pick {
    /// One index per row from a softmax.
    Categorical,
    /// One independent bit per column from sigmoids.
    Bernoulli,
}

/// Draws tokens from `[batch, n]` probabilities, one random stream per row.
fn draw<R: Rng>(probabilities: &Tensor, pick: Pick, rngs: &mut [R]) -> Vec<Vec<u16>> {
    let columns = probabilities.size()[1] as usize;
    let values = Vec::<f32>::try_from(probabilities.contiguous().view(-1)).unwrap_or_default();
    rngs.iter_mut()
        .zip(values.chunks(columns.max(1)))
        .map(|(rng, row)| match pick {
            Pick::Categorical => vec![categorical(row, rng.random::<f32>())],
            Pick::Bernoulli => row.iter().map(|&p| u16::from(rng.random::<f32>() < p)).collect(),
        })
        .collect()
}

fn categorical(probabilities: &[f32], u: f32) -> u16 {
    let mut cumulative = 0.0;
    for (index, &p) in probabilities.iter().enumerate() {
        cumulative += p;
        if u < cumulative {
            return index as u16;
        }
    }
    (probabilities.len() - 1) as u16
}

fn token_tensor(chosen: &[Vec<u16>]) -> Tensor {
    let flat: Vec<i64> = chosen.iter().flatten().map(|&token| i64::from(token)).collect();
    Tensor::from_slice(&flat)
}

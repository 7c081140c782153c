//! The controller's view of a search space: a *plan* of decision steps, and
//! the *actions* (one token per decision) that a policy emits along it.
//!
//! A plan is derived from a space (and, for CNNs, a depth). Each
//! [`Step::Choose`] is one softmax over a value list; each [`Step::Anchor`] is
//! the paper's anchor point: one controller step whose hidden state then
//! scores, with one sigmoid each, every earlier layer as a possible input.
//! An [`Actions`] value is the flat token sequence: one token per `Choose`
//! step (an index into the value list) and one `0`/`1` token per candidate
//! input of an anchor.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What a [`Step::Choose`] decides. The controller keeps one softmax head and
/// one input embedding per kind, shared by every step of that kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// Number of filters of a convolution.
    Filters,
    /// Kernel height of a convolution.
    KernelHeight,
    /// Kernel width of a convolution.
    KernelWidth,
    /// Vertical stride of a convolution.
    StrideHeight,
    /// Horizontal stride of a convolution.
    StrideWidth,
    /// How a cell-tree node combines its two inputs.
    Combination,
    /// The activation a cell-tree node applies.
    Activation,
    /// How the previous cell memory is merged into the inject node.
    InjectCombination,
    /// The activation applied after merging the previous memory.
    InjectActivation,
    /// Which tree node receives the previous cell memory `c_{t-1}`.
    InjectNode,
    /// Which tree node's pre-activation value becomes the new memory `c_t`.
    MemoryNode,
    /// Decision number `n` (from 0) of a categorical space: each has its
    /// own head, since each has its own options.
    Categorical(u16),
}

impl DecisionKind {
    /// Every kind of the paper's two spaces, in a fixed order.
    pub const ALL: [DecisionKind; 11] = [
        DecisionKind::Filters,
        DecisionKind::KernelHeight,
        DecisionKind::KernelWidth,
        DecisionKind::StrideHeight,
        DecisionKind::StrideWidth,
        DecisionKind::Combination,
        DecisionKind::Activation,
        DecisionKind::InjectCombination,
        DecisionKind::InjectActivation,
        DecisionKind::InjectNode,
        DecisionKind::MemoryNode,
    ];

    /// The kind of decision number `index` of a categorical space.
    pub fn categorical(index: usize) -> Self {
        DecisionKind::Categorical(u16::try_from(index).unwrap_or(u16::MAX))
    }

    /// The snake-case name used in checkpoints and logs (`categorical_3`
    /// for decision 3 of a categorical space).
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        let name = match self {
            DecisionKind::Categorical(index) => return format!("categorical_{index}").into(),
            DecisionKind::Filters => "filters",
            DecisionKind::KernelHeight => "kernel_height",
            DecisionKind::KernelWidth => "kernel_width",
            DecisionKind::StrideHeight => "stride_height",
            DecisionKind::StrideWidth => "stride_width",
            DecisionKind::Combination => "combination",
            DecisionKind::Activation => "activation",
            DecisionKind::InjectCombination => "inject_combination",
            DecisionKind::InjectActivation => "inject_activation",
            DecisionKind::InjectNode => "inject_node",
            DecisionKind::MemoryNode => "memory_node",
        };
        name.into()
    }
}

/// One controller step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// A softmax over `options` values; emits one token in `0..options`.
    Choose {
        /// What is being decided.
        kind: DecisionKind,
        /// How many values there are to choose from (at least 2).
        options: usize,
    },
    /// The anchor point of a layer with `candidates` earlier layers; emits one
    /// `0`/`1` token per earlier layer (1 = that layer feeds this one).
    Anchor {
        /// Number of earlier layers (the layer's index).
        candidates: usize,
    },
}

impl Step {
    /// How many tokens this step emits.
    pub fn tokens(&self) -> usize {
        match self {
            Step::Choose { .. } => 1,
            Step::Anchor { candidates } => *candidates,
        }
    }
}

/// The ordered decision steps for one architecture shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Plan {
    steps: Vec<Step>,
    tokens: usize,
}

impl Plan {
    /// A plan from its steps.
    pub fn new(steps: Vec<Step>) -> Self {
        let tokens = steps.iter().map(Step::tokens).sum();
        Plan { steps, tokens }
    }

    /// The steps, in the order the controller takes them.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Total number of tokens an action sequence for this plan has.
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// Checks that `actions` has the right length and every token is in range.
    pub fn check(&self, actions: &Actions) -> Result<()> {
        let tokens = actions.tokens();
        if tokens.len() != self.tokens {
            return Err(Error::InvalidActions(format!(
                "expected {} tokens for this plan, got {}",
                self.tokens,
                tokens.len()
            )));
        }
        let mut position = 0;
        for (index, step) in self.steps.iter().enumerate() {
            let limit = match step {
                Step::Choose { options, .. } => *options,
                Step::Anchor { .. } => 2,
            };
            for &token in &tokens[position..position + step.tokens()] {
                if usize::from(token) >= limit {
                    return Err(Error::InvalidActions(format!(
                        "token {token} at step {index} ({step:?}) is out of range 0..{limit}"
                    )));
                }
            }
            position += step.tokens();
        }
        Ok(())
    }
}

/// A flat sequence of controller tokens (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Actions(Vec<u16>);

impl Actions {
    /// Wraps raw tokens; [`Plan::check`] tells whether they fit a plan.
    pub fn new(tokens: Vec<u16>) -> Self {
        Actions(tokens)
    }

    /// The tokens.
    pub fn tokens(&self) -> &[u16] {
        &self.0
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Reads an action sequence step by step while decoding it into a spec.
pub(crate) struct TokenReader<'a> {
    tokens: &'a [u16],
    position: usize,
}

impl<'a> TokenReader<'a> {
    pub(crate) fn new(actions: &'a Actions) -> Self {
        TokenReader {
            tokens: actions.tokens(),
            position: 0,
        }
    }

    /// The next token as an index into `values`, or the only value when a
    /// list has a single entry (such a decision has no step in the plan).
    pub(crate) fn choose<T: Copy>(&mut self, values: &[T]) -> T {
        if values.len() == 1 {
            return values[0];
        }
        let token = self.tokens[self.position];
        self.position += 1;
        values[usize::from(token)]
    }

    /// Like [`TokenReader::choose`], for values that are not `Copy`.
    pub(crate) fn choose_ref<'v, T>(&mut self, values: &'v [T]) -> &'v T {
        if values.len() == 1 {
            return &values[0];
        }
        let token = self.tokens[self.position];
        self.position += 1;
        &values[usize::from(token)]
    }

    /// The next `count` tokens as a yes/no mask.
    pub(crate) fn mask(&mut self, count: usize) -> Vec<bool> {
        let mask = self.tokens[self.position..self.position + count]
            .iter()
            .map(|&token| token == 1)
            .collect();
        self.position += count;
        mask
    }
}

/// Builds an action sequence while encoding a spec.
#[derive(Default)]
pub(crate) struct TokenWriter {
    tokens: Vec<u16>,
}

impl TokenWriter {
    /// Writes `value`'s index in `values`; writes nothing for one-value lists.
    pub(crate) fn choose<T: PartialEq + std::fmt::Debug>(
        &mut self,
        what: &str,
        values: &[T],
        value: &T,
    ) -> Result<()> {
        let index = values
            .iter()
            .position(|candidate| candidate == value)
            .ok_or_else(|| Error::NotInSpace(format!("{what} {value:?} is not one of {values:?}")))?;
        if values.len() > 1 {
            self.tokens.push(index_token(index));
        }
        Ok(())
    }

    /// Writes one `0`/`1` token per entry of `mask`.
    pub(crate) fn mask(&mut self, mask: impl IntoIterator<Item = bool>) {
        self.tokens.extend(mask.into_iter().map(u16::from));
    }

    pub(crate) fn finish(self) -> Actions {
        Actions(self.tokens)
    }
}

/// Pushes a `Choose` step for a value list, unless the list has one entry.
pub(crate) fn push_choice(steps: &mut Vec<Step>, kind: DecisionKind, options: usize) {
    if options > 1 {
        steps.push(Step::Choose { kind, options });
    }
}

fn index_token(index: usize) -> u16 {
    // Value lists are validated to hold far fewer than u16::MAX entries.
    u16::try_from(index).unwrap_or(u16::MAX)
}

//! Search spaces as data: which values each decision may take, and for CNNs
//! the depth curriculum and fixed max-pool positions. Besides the paper's
//! CNN and cell spaces, a user can declare a `categorical` space: a list of
//! named decisions with their options.
//!
//! Every value list is configurable (tests use tiny spaces); the presets
//! follow ../shared/PAPER.md. A list with a single value is not a decision:
//! it has no step in the plan and costs the controller nothing. A
//! [`SearchSpace`] only exists validated, whether built in code or parsed.

use std::ops::Deref;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::decision::{DecisionKind, Plan, Step};
use crate::spec::categorical::{self, CategoricalArch, Choice};
use crate::spec::{Activation, ArchKind, CellArch, CnnArch, Combination, limits};
use crate::{Error, Result};

/// How the number of CNN layers grows during a search (the paper's depth
/// curriculum): `start` layers at first, `step` more every `every` samples,
/// never more than `max`. `step = 0` fixes the depth.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DepthSchedule {
    /// Layers of the first children.
    pub start: u16,
    /// Layers added at each curriculum stage.
    pub step: u16,
    /// Children sampled per curriculum stage.
    pub every: u64,
    /// The deepest children.
    pub max: u16,
}

impl DepthSchedule {
    /// A fixed depth.
    pub fn fixed(layers: u16) -> Self {
        DepthSchedule {
            start: layers,
            step: 0,
            every: 1,
            max: layers,
        }
    }

    /// The depth of the child sampled as number `sample_index` (from 0).
    pub fn layers_at(&self, sample_index: u64) -> usize {
        let stages = sample_index / self.every.max(1);
        let grown = u64::from(self.start) + stages.saturating_mul(u64::from(self.step));
        usize::try_from(grown.min(u64::from(self.max))).unwrap_or(usize::from(self.max))
    }

    /// Whether a CNN of `layers` layers can occur under this schedule.
    pub fn allows(&self, layers: usize) -> bool {
        (usize::from(self.start)..=usize::from(self.max)).contains(&layers)
    }
}

/// The CNN search space (CIFAR-10).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CnnSpace {
    /// Filters per layer.
    pub filters: Vec<u16>,
    /// Kernel heights.
    pub kernel_heights: Vec<u8>,
    /// Kernel widths.
    pub kernel_widths: Vec<u8>,
    /// Vertical strides (`[1]`: no stride decision).
    pub stride_heights: Vec<u8>,
    /// Horizontal strides (`[1]`: no stride decision).
    pub stride_widths: Vec<u8>,
    /// Whether the controller picks skip connections at anchor points; when
    /// false every layer feeds the next one only.
    pub skip_connections: bool,
    /// Layers followed by a fixed max-pool, for every depth that has them
    /// (convolution indices from 0, blocks expanded).
    #[serde(default)]
    pub max_pool_after: Vec<u16>,
    /// Convolutions per predicted layer. The paper's v3 predicts 13 layers
    /// "each a fully connected block of 3 layers": the block's convolutions
    /// share the predicted filters and kernel; each reads the block's
    /// inputs (the last convolution of every earlier block its anchor
    /// picks) and the block's earlier convolutions; the block's last
    /// convolution is what later blocks and the classifier see. The depth
    /// schedule and the anchors count blocks. 1: every layer is predicted.
    #[serde(default = "one_layer")]
    pub block_layers: u16,
    /// The order of each layer's decisions.
    #[serde(default)]
    pub decision_order: DecisionOrder,
    /// The depth curriculum (in blocks when `block_layers` > 1).
    pub depth: DepthSchedule,
}

fn one_layer() -> u16 {
    1
}

/// The order of a CNN layer's decisions; each token is fed back as the
/// next step's input, so the order changes what the controller conditions
/// on. The anchor point (skip connections) comes last in both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionOrder {
    /// Filters, kernel height, kernel width, stride height, stride width
    /// (this project's order since its first release).
    #[default]
    FiltersFirst,
    /// The paper's text (§3.1): filter height, filter width, stride
    /// height, stride width, number of filters.
    Paper,
}

impl DecisionOrder {
    /// The decisions of one layer, in this order.
    pub fn kinds(self) -> [DecisionKind; 5] {
        use DecisionKind::{Filters, KernelHeight, KernelWidth, StrideHeight, StrideWidth};
        match self {
            DecisionOrder::FiltersFirst => [Filters, KernelHeight, KernelWidth, StrideHeight, StrideWidth],
            DecisionOrder::Paper => [KernelHeight, KernelWidth, StrideHeight, StrideWidth, Filters],
        }
    }
}

impl CnnSpace {
    /// The paper's first space (NAS v1): no strides, no pooling, skip
    /// connections, depth growing from 6 by 2 every 1,600 children up to 20.
    pub fn paper() -> Self {
        CnnSpace {
            filters: vec![24, 36, 48, 64],
            kernel_heights: vec![1, 3, 5, 7],
            kernel_widths: vec![1, 3, 5, 7],
            stride_heights: vec![1],
            stride_widths: vec![1],
            skip_connections: true,
            max_pool_after: Vec::new(),
            block_layers: 1,
            decision_order: DecisionOrder::FiltersFirst,
            depth: DepthSchedule {
                start: 6,
                step: 2,
                every: 1600,
                max: 20,
            },
        }
    }

    /// NAS v2: the paper space with strides in {1, 2, 3}.
    pub fn paper_with_strides() -> Self {
        CnnSpace {
            stride_heights: vec![1, 2, 3],
            stride_widths: vec![1, 2, 3],
            ..Self::paper()
        }
    }

    /// NAS v3, as the paper's text describes it: "2 pooling layers at layer
    /// 13 and layer 24" of a 39-layer net, which the controller predicts as
    /// 13 layers "where each layer prediction is a fully connected block of
    /// 3 layers", with filters {6, 12, 24, 36} instead of {24, 36, 48, 64}.
    /// Read here as max-pools after the 13th and 24th convolutions (counted
    /// from 1) and the block wiring of [`CnnSpace::block_layers`]; the text
    /// says neither whether its count includes the pools nor how a block's
    /// output reaches later blocks (README, Search spaces).
    pub fn paper_with_pooling() -> Self {
        CnnSpace {
            filters: vec![6, 12, 24, 36],
            max_pool_after: vec![12, 23],
            block_layers: 3,
            depth: DepthSchedule::fixed(13),
            ..Self::paper()
        }
    }

    /// Convolutions in a CNN of `blocks` predicted layers.
    pub fn layers_of(&self, blocks: usize) -> usize {
        blocks * usize::from(self.block_layers)
    }

    /// The max-pool positions that apply to a CNN of `layers` convolutions
    /// (a pool after the last layer would be redundant with global pooling).
    pub fn pool_positions(&self, layers: usize) -> Vec<u16> {
        self.max_pool_after
            .iter()
            .copied()
            .filter(|&after| usize::from(after) + 1 < layers)
            .collect()
    }

    fn validate(&self) -> Result<()> {
        check_list("filters", &self.filters, limits::MAX_FILTERS)?;
        check_list("kernel_heights", &self.kernel_heights, limits::MAX_KERNEL)?;
        check_list("kernel_widths", &self.kernel_widths, limits::MAX_KERNEL)?;
        check_list("stride_heights", &self.stride_heights, limits::MAX_STRIDE)?;
        check_list("stride_widths", &self.stride_widths, limits::MAX_STRIDE)?;
        let depth = &self.depth;
        if depth.start == 0 || depth.start > depth.max || usize::from(depth.max) > limits::MAX_LAYERS {
            return Err(Error::InvalidSpace(format!(
                "depth must satisfy 1 <= start ({}) <= max ({}) <= {}",
                depth.start,
                depth.max,
                limits::MAX_LAYERS
            )));
        }
        if depth.every == 0 {
            return Err(Error::InvalidSpace("depth.every must be at least 1".into()));
        }
        let block = usize::from(self.block_layers);
        if block == 0 || self.layers_of(usize::from(depth.max)) > limits::MAX_LAYERS {
            return Err(Error::InvalidSpace(format!(
                "block_layers ({block}) must be at least 1, and depth.max ({}) blocks of it at most {} layers",
                depth.max,
                limits::MAX_LAYERS
            )));
        }
        if block > 1 && (self.stride_heights != [1] || self.stride_widths != [1]) {
            return Err(Error::InvalidSpace(
                "a space of blocks (block_layers > 1) predicts no strides: stride lists must be [1]".into(),
            ));
        }
        if self.max_pool_after.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(Error::InvalidSpace(format!(
                "max_pool_after {:?} must be strictly increasing",
                self.max_pool_after
            )));
        }
        Ok(())
    }
}

/// The recurrent-cell search space (Penn Treebank).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CellSpace {
    /// Leaves of the tree (the paper's "base"); a power of two.
    pub leaves: u8,
    /// Combination methods.
    pub combinations: Vec<Combination>,
    /// Activations.
    pub activations: Vec<Activation>,
}

impl CellSpace {
    /// The paper's base-8 space: {add, mul} × {identity, tanh, sigmoid, relu}.
    pub fn paper() -> Self {
        CellSpace {
            leaves: 8,
            combinations: vec![Combination::Add, Combination::Mul],
            activations: vec![
                Activation::Identity,
                Activation::Tanh,
                Activation::Sigmoid,
                Activation::Relu,
            ],
        }
    }

    fn validate(&self) -> Result<()> {
        let leaves = usize::from(self.leaves);
        if !(2..=limits::MAX_LEAVES).contains(&leaves) || !leaves.is_power_of_two() {
            return Err(Error::InvalidSpace(format!(
                "leaves must be a power of two in 2..={}, got {leaves}",
                limits::MAX_LEAVES
            )));
        }
        check_distinct("combinations", &self.combinations)?;
        check_distinct("activations", &self.activations)
    }
}

/// One decision of a [`CategoricalSpace`]: its name and options, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoricalDecision {
    /// The decision's name (the key in the spec, and the column a reward
    /// table is looked up by).
    pub name: String,
    /// The options (strings or numbers); a single option fixes the value.
    pub options: Vec<Choice>,
}

/// A user-defined space of categorical decisions, e.g. in TOML:
///
/// ```toml
/// [space]
/// kind = "categorical"
/// [[space.decisions]]
/// name = "op1"
/// options = ["gat", "gcn", "gin"]
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoricalSpace {
    /// The decisions, in the order the controller takes them.
    pub decisions: Vec<CategoricalDecision>,
}

impl CategoricalSpace {
    fn validate(&self) -> Result<()> {
        let count = self.decisions.len();
        if !(1..=categorical::MAX_DECISIONS).contains(&count) {
            return Err(Error::InvalidSpace(format!(
                "a categorical space needs 1 to {} decisions, got {count}",
                categorical::MAX_DECISIONS
            )));
        }
        for (index, decision) in self.decisions.iter().enumerate() {
            categorical::check_name(&decision.name).map_err(Error::InvalidSpace)?;
            if self.decisions[..index]
                .iter()
                .any(|earlier| earlier.name == decision.name)
            {
                return Err(Error::InvalidSpace(format!(
                    "decision {:?} appears twice",
                    decision.name
                )));
            }
            let what = format!("decision {:?}: options", decision.name);
            if decision.options.len() > categorical::MAX_OPTIONS {
                return Err(Error::InvalidSpace(format!(
                    "{what}: {} exceed the limit of {}",
                    decision.options.len(),
                    categorical::MAX_OPTIONS
                )));
            }
            check_distinct(&what, &decision.options)?;
        }
        for decision in &self.decisions {
            for option in &decision.options {
                option.check(&decision.name).map_err(Error::InvalidSpace)?;
            }
        }
        Ok(())
    }

    /// Number of architectures in the space.
    pub fn size(&self) -> f64 {
        self.decisions
            .iter()
            .map(|decision| decision.options.len() as f64)
            .product()
    }
}

/// The unvalidated definition of a [`SearchSpace`], tagged by `kind`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SpaceDefinition {
    /// A CNN space.
    Cnn(CnnSpace),
    /// A recurrent-cell space.
    Cell(CellSpace),
    /// A user-defined categorical space.
    Categorical(CategoricalSpace),
}

/// A validated search space; read it through [`Deref`] to
/// [`SpaceDefinition`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "SpaceDefinition", into = "SpaceDefinition")]
#[schemars(with = "SpaceDefinition")]
pub struct SearchSpace(SpaceDefinition);

impl TryFrom<SpaceDefinition> for SearchSpace {
    type Error = Error;

    fn try_from(definition: SpaceDefinition) -> Result<Self> {
        match &definition {
            SpaceDefinition::Cnn(space) => space.validate()?,
            SpaceDefinition::Cell(space) => space.validate()?,
            SpaceDefinition::Categorical(space) => space.validate()?,
        }
        Ok(SearchSpace(definition))
    }
}

impl From<SearchSpace> for SpaceDefinition {
    fn from(space: SearchSpace) -> Self {
        space.0
    }
}

impl Deref for SearchSpace {
    type Target = SpaceDefinition;

    fn deref(&self) -> &SpaceDefinition {
        &self.0
    }
}

impl SearchSpace {
    /// Validates a CNN space.
    pub fn cnn(space: CnnSpace) -> Result<Self> {
        Self::try_from(SpaceDefinition::Cnn(space))
    }

    /// Validates a cell space.
    pub fn cell(space: CellSpace) -> Result<Self> {
        Self::try_from(SpaceDefinition::Cell(space))
    }

    /// Validates a categorical space.
    pub fn categorical(space: CategoricalSpace) -> Result<Self> {
        Self::try_from(SpaceDefinition::Categorical(space))
    }

    /// CNN, cell or categorical.
    pub fn kind(&self) -> ArchKind {
        match &self.0 {
            SpaceDefinition::Cnn(_) => ArchKind::Cnn,
            SpaceDefinition::Cell(_) => ArchKind::Cell,
            SpaceDefinition::Categorical(_) => ArchKind::Categorical,
        }
    }

    /// The depth of sample number `sample_index`: CNN layers under the
    /// curriculum, the cell's leaves, or the number of categorical
    /// decisions.
    pub fn depth_at(&self, sample_index: u64) -> usize {
        match &self.0 {
            SpaceDefinition::Cnn(space) => space.depth.layers_at(sample_index),
            SpaceDefinition::Cell(space) => usize::from(space.leaves),
            SpaceDefinition::Categorical(space) => space.decisions.len(),
        }
    }

    /// The decision plan at `depth` (CNN layers; ignored otherwise).
    pub fn plan(&self, depth: usize) -> Plan {
        match &self.0 {
            SpaceDefinition::Cnn(space) => CnnArch::plan(space, depth),
            SpaceDefinition::Cell(space) => CellArch::plan(space),
            SpaceDefinition::Categorical(space) => CategoricalArch::plan(space),
        }
    }

    /// Every decision kind this space uses, with its number of options: the
    /// controller builds one head per entry.
    pub fn decision_kinds(&self) -> Vec<(DecisionKind, usize)> {
        let depth = match &self.0 {
            SpaceDefinition::Cnn(space) => usize::from(space.depth.max),
            SpaceDefinition::Cell(space) => usize::from(space.leaves),
            SpaceDefinition::Categorical(space) => space.decisions.len(),
        };
        let mut kinds: Vec<(DecisionKind, usize)> = Vec::new();
        for step in self.plan(depth).steps() {
            if let Step::Choose { kind, options } = *step
                && !kinds.iter().any(|(seen, _)| *seen == kind)
            {
                kinds.push((kind, options));
            }
        }
        kinds.sort();
        kinds
    }

    /// Whether the plan has anchor points (skip-connection decisions).
    pub fn has_anchors(&self) -> bool {
        matches!(&self.0, SpaceDefinition::Cnn(space) if space.skip_connections)
    }
}

fn check_list<T: Copy + Into<usize> + PartialEq + std::fmt::Debug>(
    name: &str,
    values: &[T],
    max: usize,
) -> Result<()> {
    if let Some(bad) = values.iter().find(|value| !(1..=max).contains(&(**value).into())) {
        return Err(Error::InvalidSpace(format!(
            "{name}: {bad:?} is outside 1..={max}"
        )));
    }
    check_distinct(name, values)
}

fn check_distinct<T: PartialEq + std::fmt::Debug>(name: &str, values: &[T]) -> Result<()> {
    if values.is_empty() {
        return Err(Error::InvalidSpace(format!("{name} must not be empty")));
    }
    for (index, value) in values.iter().enumerate() {
        if values[..index].contains(value) {
            return Err(Error::InvalidSpace(format!("{name}: {value:?} appears twice")));
        }
    }
    Ok(())
}

//! The CNN architecture of the paper's CIFAR-10 search space.
//!
//! A CNN is a list of layers, each a convolution (kernel height and width,
//! filters, stride) followed by batch norm and ReLU, plus the set of earlier
//! layers that feed it (the skip connections sampled at its anchor point).
//! Layer `i` may only take inputs from layers `0..i`; a layer with no input
//! takes the image. Max-pool layers sit after the layers listed in
//! `max_pool_after`. In a space of blocks (`block_layers` > 1) one
//! prediction makes a block of densely wired layers (see
//! [`CnnSpace::block_layers`]); `decode` expands it and `encode` accepts
//! only specs wired that way. How a worker turns this into a network (padding,
//! concatenation, the classifier) is documented in the worker's `cnn` module.

use serde::{Deserialize, Serialize};

use super::limits;
use crate::decision::{Actions, DecisionKind, Plan, Step, TokenReader, TokenWriter, push_choice};
use crate::space::CnnSpace;
use crate::{Error, Result};

/// One convolution layer of a [`CnnArch`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvLayer {
    /// Number of output channels.
    pub filters: u16,
    /// Kernel height.
    pub kernel_height: u8,
    /// Kernel width.
    pub kernel_width: u8,
    /// Vertical stride.
    pub stride_height: u8,
    /// Horizontal stride.
    pub stride_width: u8,
    /// Indices of the earlier layers that feed this one, strictly increasing;
    /// empty means the layer reads the image.
    pub inputs: Vec<u16>,
}

/// A convolutional architecture: the layers and where max-pooling happens.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CnnArch {
    /// The layers, input side first.
    pub layers: Vec<ConvLayer>,
    /// Indices of the layers followed by a 2×2 max-pool with stride 2,
    /// strictly increasing, each below the last layer's index.
    #[serde(default)]
    pub max_pool_after: Vec<u16>,
}

impl CnnArch {
    /// Checks the structural rules every CNN spec must obey, whatever space
    /// it came from.
    pub fn validate(&self) -> Result<()> {
        let count = self.layers.len();
        if count == 0 {
            return Err(invalid("a CNN needs at least one layer".into()));
        }
        if count > limits::MAX_LAYERS {
            return Err(invalid(format!(
                "{count} layers exceed the limit of {}",
                limits::MAX_LAYERS
            )));
        }
        for (index, layer) in self.layers.iter().enumerate() {
            validate_layer(index, layer)?;
        }
        check_increasing("max_pool_after", &self.max_pool_after, count.saturating_sub(1))
    }

    /// The layers no later layer reads, in order: they feed the classifier
    /// (the last layer always among them).
    pub fn final_layers(&self) -> Vec<usize> {
        let mut consumed = vec![false; self.layers.len()];
        for layer in &self.layers {
            for &input in &layer.inputs {
                if let Some(flag) = consumed.get_mut(usize::from(input)) {
                    *flag = true;
                }
            }
        }
        (0..self.layers.len()).filter(|&i| !consumed[i]).collect()
    }

    /// Checks that every value is one the space offers and the depth and
    /// pooling match it.
    pub fn check_in(&self, space: &CnnSpace) -> Result<()> {
        self.encode(space).map(drop)
    }

    /// The decision plan for a CNN of `blocks` predicted layers in `space`
    /// (layers, unless the space has blocks).
    pub fn plan(space: &CnnSpace, blocks: usize) -> Plan {
        let mut steps = Vec::new();
        for index in 0..blocks {
            for kind in space.decision_order.kinds() {
                push_choice(&mut steps, kind, options(space, kind));
            }
            if space.skip_connections {
                steps.push(Step::Anchor { candidates: index });
            }
        }
        Plan::new(steps)
    }

    /// Decodes a CNN of `blocks` predicted layers from controller actions.
    pub fn decode(space: &CnnSpace, blocks: usize, actions: &Actions) -> Result<Self> {
        check_depth(space, blocks)?;
        Self::plan(space, blocks).check(actions)?;
        let block = usize::from(space.block_layers);
        let mut reader = TokenReader::new(actions);
        let mut built = Vec::with_capacity(space.layers_of(blocks));
        for index in 0..blocks {
            let mut predicted = ConvLayer {
                filters: 0,
                kernel_height: 0,
                kernel_width: 0,
                stride_height: 0,
                stride_width: 0,
                inputs: Vec::new(),
            };
            for kind in space.decision_order.kinds() {
                match kind {
                    DecisionKind::Filters => predicted.filters = reader.choose(&space.filters),
                    DecisionKind::KernelHeight => {
                        predicted.kernel_height = reader.choose(&space.kernel_heights)
                    }
                    DecisionKind::KernelWidth => predicted.kernel_width = reader.choose(&space.kernel_widths),
                    DecisionKind::StrideHeight => {
                        predicted.stride_height = reader.choose(&space.stride_heights)
                    }
                    _ => predicted.stride_width = reader.choose(&space.stride_widths),
                }
            }
            let sources: Vec<usize> = if space.skip_connections {
                let mask = reader.mask(index);
                (0..index).filter(|&source| mask[source]).collect()
            } else {
                index.checked_sub(1).into_iter().collect()
            };
            built.extend(expand_block(&predicted, index, &sources, block));
        }
        let max_pool_after = space.pool_positions(built.len());
        let arch = CnnArch {
            layers: built,
            max_pool_after,
        };
        arch.validate()?;
        Ok(arch)
    }

    /// Encodes this CNN as the actions that produce it in `space`.
    pub fn encode(&self, space: &CnnSpace) -> Result<Actions> {
        let layers = self.layers.len();
        let block = usize::from(space.block_layers);
        if !layers.is_multiple_of(block) {
            return Err(Error::NotInSpace(format!(
                "{layers} layers are not whole blocks of {block} layers"
            )));
        }
        let blocks = layers / block;
        check_depth(space, blocks)?;
        let expected_pools = space.pool_positions(layers);
        if self.max_pool_after != expected_pools {
            return Err(Error::NotInSpace(format!(
                "max-pool positions {:?} differ from this space's {:?} at depth {layers}",
                self.max_pool_after, expected_pools
            )));
        }
        let mut writer = TokenWriter::default();
        for (index, group) in self.layers.chunks(block).enumerate() {
            let first = &group[0];
            for kind in space.decision_order.kinds() {
                match kind {
                    DecisionKind::Filters => writer.choose("filters", &space.filters, &first.filters)?,
                    DecisionKind::KernelHeight => {
                        writer.choose("kernel height", &space.kernel_heights, &first.kernel_height)?;
                    }
                    DecisionKind::KernelWidth => {
                        writer.choose("kernel width", &space.kernel_widths, &first.kernel_width)?;
                    }
                    DecisionKind::StrideHeight => {
                        writer.choose("stride height", &space.stride_heights, &first.stride_height)?;
                    }
                    _ => writer.choose("stride width", &space.stride_widths, &first.stride_width)?,
                }
            }
            let sources = block_sources(first, index, block)?;
            if space.skip_connections {
                writer.mask((0..index).map(|source| sources.contains(&source)));
            } else if sources != index.checked_sub(1).into_iter().collect::<Vec<_>>() {
                return Err(Error::NotInSpace(format!(
                    "layer {} has skip connections {:?} but this space has none",
                    index * block,
                    first.inputs
                )));
            }
            let expected = expand_block(first, index, &sources, block);
            if let Some(offset) = (0..block).find(|&offset| group[offset] != expected[offset]) {
                return Err(Error::NotInSpace(format!(
                    "layer {} is not wired as layer {offset} of a block of {block} (expected {:?})",
                    index * block + offset,
                    expected[offset]
                )));
            }
        }
        Ok(writer.finish())
    }
}

/// How many options `space` offers for the CNN decision `kind`.
fn options(space: &CnnSpace, kind: DecisionKind) -> usize {
    match kind {
        DecisionKind::Filters => space.filters.len(),
        DecisionKind::KernelHeight => space.kernel_heights.len(),
        DecisionKind::KernelWidth => space.kernel_widths.len(),
        DecisionKind::StrideHeight => space.stride_heights.len(),
        _ => space.stride_widths.len(),
    }
}

/// The `block` layers of predicted block `index` whose inputs are the last
/// layers of the blocks `sources` (the image when none): each layer has
/// `predicted`'s filters, kernel and stride and reads the block's inputs
/// and the block's earlier layers.
fn expand_block(predicted: &ConvLayer, index: usize, sources: &[usize], block: usize) -> Vec<ConvLayer> {
    let first = index * block;
    let block_inputs: Vec<u16> = sources
        .iter()
        .map(|&source| layer_index(source * block + block - 1))
        .collect();
    (0..block)
        .map(|offset| {
            let mut inputs = block_inputs.clone();
            inputs.extend((first..first + offset).map(layer_index));
            ConvLayer {
                inputs,
                ..predicted.clone()
            }
        })
        .collect()
}

/// The blocks whose last layers feed `first`, the first layer of block
/// `index`; an error when it reads anything else.
fn block_sources(first: &ConvLayer, index: usize, block: usize) -> Result<Vec<usize>> {
    first
        .inputs
        .iter()
        .map(|&input| {
            let input = usize::from(input);
            if input % block == block - 1 && input / block < index {
                Ok(input / block)
            } else {
                Err(Error::NotInSpace(format!(
                    "layer {} reads layer {input}, which is not the last layer of an earlier block of {block}",
                    index * block
                )))
            }
        })
        .collect()
}

fn validate_layer(index: usize, layer: &ConvLayer) -> Result<()> {
    let within = |name: &str, value: usize, max: usize| {
        if (1..=max).contains(&value) {
            Ok(())
        } else {
            Err(invalid(format!(
                "layer {index}: {name} {value} is outside 1..={max}"
            )))
        }
    };
    within("filters", layer.filters.into(), limits::MAX_FILTERS)?;
    within("kernel height", layer.kernel_height.into(), limits::MAX_KERNEL)?;
    within("kernel width", layer.kernel_width.into(), limits::MAX_KERNEL)?;
    within("stride height", layer.stride_height.into(), limits::MAX_STRIDE)?;
    within("stride width", layer.stride_width.into(), limits::MAX_STRIDE)?;
    check_increasing(&format!("layer {index} inputs"), &layer.inputs, index)
}

/// Checks that `values` is strictly increasing and every entry is below `bound`.
fn check_increasing(what: &str, values: &[u16], bound: usize) -> Result<()> {
    if let Some(&bad) = values.iter().find(|&&value| usize::from(value) >= bound) {
        return Err(invalid(format!("{what}: {bad} must be below {bound}")));
    }
    if values.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err(invalid(format!("{what}: {values:?} must be strictly increasing")));
    }
    Ok(())
}

fn layer_index(index: usize) -> u16 {
    // Depths are validated against limits::MAX_LAYERS, far below u16::MAX.
    u16::try_from(index).unwrap_or(u16::MAX)
}

fn invalid(reason: String) -> Error {
    Error::InvalidSpec(reason)
}

/// A depth (in blocks) outside the space's schedule is not in the space, in
/// either direction of the actions ↔ spec mapping.
fn check_depth(space: &CnnSpace, blocks: usize) -> Result<()> {
    if space.depth.allows(blocks) {
        return Ok(());
    }
    let unit = if space.block_layers > 1 {
        "blocks"
    } else {
        "layers"
    };
    Err(Error::NotInSpace(format!(
        "{blocks} {unit} is outside the depth range {}..={} of this space",
        space.depth.start, space.depth.max
    )))
}

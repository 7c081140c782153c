//! The CNN architecture of the paper's CIFAR-10 search space.
//!
//! A CNN is a list of layers, each a convolution (kernel height and width,
//! filters, stride) followed by batch norm and ReLU, plus the set of earlier
//! layers that feed it (the skip connections sampled at its anchor point).
//! Layer `i` may only take inputs from layers `0..i`; a layer with no input
//! takes the image. Max-pool layers sit after the layers listed in
//! `max_pool_after`. How a worker turns this into a network (padding,
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

    /// Checks that every value is one the space offers and the depth and
    /// pooling match it.
    pub fn check_in(&self, space: &CnnSpace) -> Result<()> {
        self.encode(space).map(drop)
    }

    /// The decision plan for a CNN of `layers` layers in `space`.
    pub fn plan(space: &CnnSpace, layers: usize) -> Plan {
        let mut steps = Vec::new();
        for index in 0..layers {
            push_choice(&mut steps, DecisionKind::Filters, space.filters.len());
            push_choice(&mut steps, DecisionKind::KernelHeight, space.kernel_heights.len());
            push_choice(&mut steps, DecisionKind::KernelWidth, space.kernel_widths.len());
            push_choice(&mut steps, DecisionKind::StrideHeight, space.stride_heights.len());
            push_choice(&mut steps, DecisionKind::StrideWidth, space.stride_widths.len());
            if space.skip_connections {
                steps.push(Step::Anchor { candidates: index });
            }
        }
        Plan::new(steps)
    }

    /// Decodes a CNN of `layers` layers from controller actions.
    pub fn decode(space: &CnnSpace, layers: usize, actions: &Actions) -> Result<Self> {
        check_depth(space, layers)?;
        Self::plan(space, layers).check(actions)?;
        let mut reader = TokenReader::new(actions);
        let mut built = Vec::with_capacity(layers);
        for index in 0..layers {
            let filters = reader.choose(&space.filters);
            let kernel_height = reader.choose(&space.kernel_heights);
            let kernel_width = reader.choose(&space.kernel_widths);
            let stride_height = reader.choose(&space.stride_heights);
            let stride_width = reader.choose(&space.stride_widths);
            let inputs = if space.skip_connections {
                mask_to_inputs(&reader.mask(index))
            } else if index == 0 {
                Vec::new()
            } else {
                vec![layer_index(index - 1)]
            };
            built.push(ConvLayer {
                filters,
                kernel_height,
                kernel_width,
                stride_height,
                stride_width,
                inputs,
            });
        }
        let max_pool_after = space.pool_positions(layers);
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
        check_depth(space, layers)?;
        let expected_pools = space.pool_positions(layers);
        if self.max_pool_after != expected_pools {
            return Err(Error::NotInSpace(format!(
                "max-pool positions {:?} differ from this space's {:?} at depth {layers}",
                self.max_pool_after, expected_pools
            )));
        }
        let mut writer = TokenWriter::default();
        for (index, layer) in self.layers.iter().enumerate() {
            writer.choose("filters", &space.filters, &layer.filters)?;
            writer.choose("kernel height", &space.kernel_heights, &layer.kernel_height)?;
            writer.choose("kernel width", &space.kernel_widths, &layer.kernel_width)?;
            writer.choose("stride height", &space.stride_heights, &layer.stride_height)?;
            writer.choose("stride width", &space.stride_widths, &layer.stride_width)?;
            if space.skip_connections {
                writer.mask((0..index).map(|source| layer.inputs.contains(&layer_index(source))));
            } else {
                let chain: Vec<u16> = index.checked_sub(1).map(layer_index).into_iter().collect();
                if layer.inputs != chain {
                    return Err(Error::NotInSpace(format!(
                        "layer {index} has skip connections {:?} but this space has none",
                        layer.inputs
                    )));
                }
            }
        }
        Ok(writer.finish())
    }
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

fn mask_to_inputs(mask: &[bool]) -> Vec<u16> {
    mask.iter()
        .enumerate()
        .filter(|(_, chosen)| **chosen)
        .map(|(source, _)| layer_index(source))
        .collect()
}

fn layer_index(index: usize) -> u16 {
    // Depths are validated against limits::MAX_LAYERS, far below u16::MAX.
    u16::try_from(index).unwrap_or(u16::MAX)
}

fn invalid(reason: String) -> Error {
    Error::InvalidSpec(reason)
}

/// A depth outside the space's schedule is not in the space, in either
/// direction of the actions ↔ spec mapping.
fn check_depth(space: &CnnSpace, layers: usize) -> Result<()> {
    if space.depth.allows(layers) {
        return Ok(());
    }
    Err(Error::NotInSpace(format!(
        "{layers} layers is outside the depth range {}..={} of this space",
        space.depth.start, space.depth.max
    )))
}

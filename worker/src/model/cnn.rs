//! The CNN child of a spec, built over an `nn::Path` (tch style).
//!
//! Conventions (they fix the parameter count; the PyTorch reference script
//! in `bench/` follows them too):
//!
//! - Layer `i` reads the channel-wise concatenation of its inputs (the layers
//!   its skip connections name), or the image when it has none. Inputs of
//!   different spatial sizes are zero-padded at the bottom and right to the
//!   largest height and width before concatenating.
//! - Each layer is `conv → batch norm → ReLU`. The convolution has the
//!   spec's kernel height and width, filters and stride, **no bias** (batch
//!   norm follows), and TensorFlow-style "same" padding: the output is
//!   `ceil(input / stride)` and the total padding
//!   `max((out − 1)·stride + kernel − input, 0)` is split with the smaller
//!   half at the top/left. Batch norm is affine (a scale and a shift per
//!   channel; running statistics are not parameters), momentum 0.1,
//!   epsilon 1e-5 unless the job overrides it.
//! - A max-pool layer after layer `i` (2×2, stride 2, rounding up odd sizes)
//!   replaces that layer's output for every consumer.
//! - Every layer output no later layer consumes is concatenated (padded as
//!   above), averaged over space, and fed to a linear classifier with bias.
//!
//! Parameters: `Σ_i filters_i · in_channels_i · kh_i · kw_i` for the
//! convolutions, `2 · Σ_i filters_i` for batch norm, and
//! `(Σ_final filters + 1) · classes` for the classifier.

use nas_domain::spec::CnnArch;
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

/// Channels, height and width of an input image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageShape {
    /// Channels.
    pub channels: i64,
    /// Height.
    pub height: i64,
    /// Width.
    pub width: i64,
}

impl ImageShape {
    /// CIFAR-10's 3×32×32.
    pub const CIFAR10: ImageShape = ImageShape {
        channels: 3,
        height: 32,
        width: 32,
    };
}

/// Settings that affect the built network.
#[derive(Clone, Copy, Debug)]
pub struct CnnOptions {
    /// Output classes.
    pub classes: i64,
    /// Batch-norm epsilon.
    pub bn_epsilon: f64,
    /// Run on channels-last (NHWC) activations: about 25% faster training
    /// on CPU (oneDNN) and the layout tensor cores want on CUDA. The values
    /// computed are the same.
    pub channels_last: bool,
    /// The precision convolutions compute in.
    pub precision: Precision,
}

/// The precision of the convolutions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// Everything in `f32`.
    F32,
    /// Mixed precision, as autocast does it: each convolution casts its
    /// input and its `f32` weights to `bf16` and computes in `bf16`; batch
    /// norm, the classifier, the loss and every parameter and gradient stay
    /// `f32`. The default on CUDA, where tensor cores run `bf16` several
    /// times faster; it runs on CPU too (slowly), which is how it is tested.
    Bf16,
}

impl Default for CnnOptions {
    fn default() -> Self {
        CnnOptions {
            classes: 10,
            bn_epsilon: 1e-5,
            channels_last: true,
            precision: Precision::F32,
        }
    }
}

/// Where a layer reads from.
#[derive(Clone, Debug)]
enum Source {
    Image,
    Layers(Vec<usize>),
}

#[derive(Debug)]
struct Layer {
    source: Source,
    /// Explicit `[left, right, top, bottom]` padding when "same" padding is
    /// asymmetric (the convolution then pads nothing).
    pad: Option<[i64; 4]>,
    /// Convolution weight `[filters, in_channels, kh, kw]`, initialised
    /// like `nn::conv` (Kaiming uniform), no bias.
    weight: Tensor,
    stride: [i64; 2],
    padding: [i64; 2],
    norm: nn::BatchNorm,
    pool: bool,
}

/// The shape bookkeeping of one layer, computed before anything is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerShape {
    /// Input channels (after concatenation).
    pub in_channels: i64,
    /// Input height and width (after padding to the largest input).
    pub in_size: (i64, i64),
    /// Output channels.
    pub out_channels: i64,
    /// Output height and width (after the optional max-pool).
    pub out_size: (i64, i64),
    /// Output height and width of the convolution (before pooling).
    pub conv_size: (i64, i64),
}

/// The shapes of every layer and the classifier's input channels.
#[derive(Clone, Debug)]
pub struct CnnShapes {
    /// Per layer.
    pub layers: Vec<LayerShape>,
    /// Layers whose outputs feed the classifier.
    pub final_layers: Vec<usize>,
    /// Channels entering the classifier.
    pub final_channels: i64,
}

impl CnnShapes {
    /// Computes the shapes of `arch` on `input` images.
    pub fn of(arch: &CnnArch, input: ImageShape) -> Self {
        let mut layers: Vec<LayerShape> = Vec::with_capacity(arch.layers.len());
        for (index, layer) in arch.layers.iter().enumerate() {
            let (in_channels, in_size) = if layer.inputs.is_empty() {
                (input.channels, (input.height, input.width))
            } else {
                let sources = layer.inputs.iter().map(|&i| layers[usize::from(i)]);
                concat_shape(sources)
            };
            let stride = (i64::from(layer.stride_height), i64::from(layer.stride_width));
            let conv_size = (ceil_div(in_size.0, stride.0), ceil_div(in_size.1, stride.1));
            let pool = arch
                .max_pool_after
                .iter()
                .any(|&after| usize::from(after) == index);
            let out_size = if pool {
                (ceil_div(conv_size.0, 2), ceil_div(conv_size.1, 2))
            } else {
                conv_size
            };
            layers.push(LayerShape {
                in_channels,
                in_size,
                out_channels: i64::from(layer.filters),
                out_size,
                conv_size,
            });
        }
        let final_layers = arch.final_layers();
        let final_channels = final_layers.iter().map(|&i| layers[i].out_channels).sum();
        CnnShapes {
            layers,
            final_layers,
            final_channels,
        }
    }

    /// Trainable parameters of the network (see the module docs).
    pub fn parameter_count(&self, arch: &CnnArch, classes: i64) -> i64 {
        let layers: i64 = arch
            .layers
            .iter()
            .zip(&self.layers)
            .map(|(layer, shape)| {
                let kernel = i64::from(layer.kernel_height) * i64::from(layer.kernel_width);
                shape.out_channels * shape.in_channels * kernel + 2 * shape.out_channels
            })
            .sum();
        layers + (self.final_channels + 1) * classes
    }

    /// Multiply-adds of each layer's convolution for one image.
    pub fn conv_macs(&self, arch: &CnnArch) -> Vec<i64> {
        arch.layers
            .iter()
            .zip(&self.layers)
            .map(|(layer, shape)| {
                let kernel = i64::from(layer.kernel_height) * i64::from(layer.kernel_width);
                kernel * shape.in_channels * shape.out_channels * shape.conv_size.0 * shape.conv_size.1
            })
            .collect()
    }

    /// Whether channels-last activations pay off on the CPU: not when most
    /// of the convolution work reads the image itself, whose 3 channels
    /// oneDNN handles badly in NHWC (a 3-layer child whose layers all read
    /// the image trains 1.5x faster in NCHW; children whose work is over
    /// concatenated feature maps gain from NHWC; see README, Benchmarks).
    pub fn prefers_channels_last(&self, arch: &CnnArch) -> bool {
        let macs = self.conv_macs(arch);
        let total: i64 = macs.iter().sum();
        let on_image: i64 = arch
            .layers
            .iter()
            .zip(&macs)
            .filter(|(layer, _)| layer.inputs.is_empty())
            .map(|(_, macs)| macs)
            .sum();
        2 * on_image <= total
    }

    /// Floats held per image for the backward pass: each layer's
    /// concatenated input, convolution, batch-norm and ReLU outputs.
    pub fn activation_floats_per_image(&self) -> i64 {
        self.layers
            .iter()
            .map(|s| {
                s.in_channels * s.in_size.0 * s.in_size.1 + 3 * s.out_channels * s.conv_size.0 * s.conv_size.1
            })
            .sum()
    }
}

/// The CNN child network.
#[derive(Debug)]
pub struct CnnChild {
    layers: Vec<Layer>,
    channels_last: bool,
    precision: Precision,
    final_layers: Vec<usize>,
    classifier: nn::Linear,
    shapes: CnnShapes,
}

impl CnnChild {
    /// Builds the network of `arch` under `path`.
    pub fn new(path: &nn::Path, arch: &CnnArch, input: ImageShape, options: CnnOptions) -> Self {
        let shapes = CnnShapes::of(arch, input);
        let layers = arch
            .layers
            .iter()
            .zip(&shapes.layers)
            .enumerate()
            .map(|(index, (spec, shape))| {
                let kernel = [i64::from(spec.kernel_height), i64::from(spec.kernel_width)];
                let stride = [i64::from(spec.stride_height), i64::from(spec.stride_width)];
                let (top, bottom) = same_padding(shape.in_size.0, stride[0], kernel[0]);
                let (left, right) = same_padding(shape.in_size.1, stride[1], kernel[1]);
                let symmetric = top == bottom && left == right;
                let layer_path = path / format!("layer{index}");
                Layer {
                    source: if spec.inputs.is_empty() {
                        Source::Image
                    } else {
                        Source::Layers(spec.inputs.iter().map(|&i| usize::from(i)).collect())
                    },
                    pad: (!symmetric).then_some([left, right, top, bottom]),
                    weight: (&layer_path / "conv").var(
                        "weight",
                        &[shape.out_channels, shape.in_channels, kernel[0], kernel[1]],
                        nn::init::DEFAULT_KAIMING_UNIFORM,
                    ),
                    stride,
                    padding: if symmetric { [top, left] } else { [0, 0] },
                    norm: nn::batch_norm2d(
                        &layer_path / "norm",
                        shape.out_channels,
                        nn::BatchNormConfig {
                            eps: options.bn_epsilon,
                            ..Default::default()
                        },
                    ),
                    pool: arch
                        .max_pool_after
                        .iter()
                        .any(|&after| usize::from(after) == index),
                }
            })
            .collect();
        let classifier = nn::linear(
            path / "classifier",
            shapes.final_channels,
            options.classes,
            Default::default(),
        );
        CnnChild {
            layers,
            channels_last: options.channels_last,
            precision: options.precision,
            final_layers: shapes.final_layers.clone(),
            classifier,
            shapes,
        }
    }

    /// The shape bookkeeping.
    pub fn shapes(&self) -> &CnnShapes {
        &self.shapes
    }

    /// A layer's convolution, in the configured precision (output `f32`).
    fn convolve(&self, layer: &Layer, input: &Tensor) -> Tensor {
        let (stride, padding) = (layer.stride, layer.padding);
        match self.precision {
            Precision::F32 => input.conv2d(&layer.weight, None::<Tensor>, stride, padding, [1, 1], 1),
            Precision::Bf16 => input
                .to_kind(Kind::BFloat16)
                .conv2d(
                    &layer.weight.to_kind(Kind::BFloat16),
                    None::<Tensor>,
                    stride,
                    padding,
                    [1, 1],
                    1,
                )
                .to_kind(Kind::Float),
        }
    }
}

/// The same values laid out channels-last (NHWC strides, NCHW shape), the
/// layout oneDNN and cuDNN convolutions run fastest on.
pub fn channels_last(tensor: &Tensor) -> Tensor {
    tensor.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

impl ModuleT for CnnChild {
    fn forward_t(&self, images: &Tensor, train: bool) -> Tensor {
        let images = if self.channels_last {
            channels_last(images)
        } else {
            images.shallow_clone()
        };
        let images = &images;
        let mut outputs: Vec<Tensor> = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let input = match &layer.source {
                Source::Image => images.shallow_clone(),
                Source::Layers(sources) => concat_padded(sources.iter().map(|&i| &outputs[i])),
            };
            let input = match layer.pad {
                Some(pad) => input.constant_pad_nd(pad),
                None => input,
            };
            let mut output = self.convolve(layer, &input).apply_t(&layer.norm, train).relu();
            if layer.pool {
                output = output.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], true);
            }
            outputs.push(output);
        }
        concat_padded(self.final_layers.iter().map(|&i| &outputs[i]))
            .mean_dim([2i64, 3].as_slice(), false, Kind::Float)
            .apply(&self.classifier)
    }
}

/// Concatenates feature maps along channels after zero-padding each at the
/// bottom and right to the largest height and width.
fn concat_padded<'a>(maps: impl Iterator<Item = &'a Tensor>) -> Tensor {
    let maps: Vec<&Tensor> = maps.collect();
    if maps.len() == 1 {
        return maps[0].shallow_clone();
    }
    let height = maps.iter().map(|m| m.size()[2]).max().unwrap_or(0);
    let width = maps.iter().map(|m| m.size()[3]).max().unwrap_or(0);
    let padded: Vec<Tensor> = maps
        .iter()
        .map(|m| {
            let size = m.size();
            if size[2] == height && size[3] == width {
                m.shallow_clone()
            } else {
                m.constant_pad_nd([0, width - size[3], 0, height - size[2]])
            }
        })
        .collect();
    Tensor::cat(&padded, 1)
}

fn concat_shape(sources: impl Iterator<Item = LayerShape>) -> (i64, (i64, i64)) {
    sources.fold((0, (0, 0)), |(channels, (h, w)), s| {
        (
            channels + s.out_channels,
            (h.max(s.out_size.0), w.max(s.out_size.1)),
        )
    })
}

/// TensorFlow's "same" padding `(before, after)` for one dimension.
fn same_padding(input: i64, stride: i64, kernel: i64) -> (i64, i64) {
    let output = ceil_div(input, stride);
    let total = ((output - 1) * stride + kernel - input).max(0);
    (total / 2, total - total / 2)
}

fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1) / b
}

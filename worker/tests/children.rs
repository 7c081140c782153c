//! Child networks: parameter counts equal a hand computation, and every spec
//! sampled from the search spaces builds and runs forward and backward.

#![allow(clippy::unwrap_used)]

use nas_domain::spec::{CellArch, CnnArch};
use nas_domain::{ArchSpec, CellSpace, CnnSpace, DepthSchedule, SearchSpace};
use nas_test_support::random_actions;
use nas_worker::model::cnn::{CnnChild, CnnOptions, CnnShapes, ImageShape};
use nas_worker::model::language_model::{self, LanguageModel, LanguageModelOptions};
use rand::SeedableRng;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

fn cnn(layers: &[String], pools: &str) -> CnnArch {
    let json_layers = layers.join(",");
    let spec = ArchSpec::from_json(&format!(
        r#"{{"version":1,"kind":"cnn","layers":[{json_layers}],"max_pool_after":[{pools}]}}"#
    ))
    .unwrap();
    spec.as_cnn().unwrap().clone()
}

fn layer(filters: u16, kh: u8, kw: u8, stride: u8, inputs: &str) -> String {
    format!(
        r#"{{"filters":{filters},"kernel_height":{kh},"kernel_width":{kw},"stride_height":{stride},"stride_width":{stride},"inputs":[{inputs}]}}"#
    )
}

fn trainable(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
}

#[test]
fn cnn_parameter_counts_equal_a_hand_computation() {
    // conv weights (no bias) + 2 per filter for batch norm + (channels + 1) · 10.
    let cases = [
        // 4·3·3·3 + 8 + 6·4·1·5 + 12 + (6 + 1)·10
        (cnn(&[layer(4, 3, 3, 1, ""), layer(6, 1, 5, 1, "0")], ""), 318),
        // layer 2 reads the concatenation of layers 0 and 1 (10 channels)
        (
            cnn(
                &[
                    layer(4, 3, 3, 1, ""),
                    layer(6, 3, 3, 1, ""),
                    layer(5, 1, 1, 1, "0,1"),
                ],
                "",
            ),
            108 + 8 + 162 + 12 + 50 + 10 + 60,
        ),
        // layers 1 and 2 are both unconsumed: the classifier reads 11 channels;
        // strides and pooling change shapes, not parameters
        (
            cnn(
                &[
                    layer(4, 3, 3, 2, ""),
                    layer(6, 3, 3, 1, "0"),
                    layer(5, 3, 3, 3, "0"),
                ],
                "0",
            ),
            108 + 8 + 6 * 4 * 9 + 12 + 5 * 4 * 9 + 10 + 12 * 10,
        ),
    ];
    for (arch, expected) in cases {
        let shapes = CnnShapes::of(&arch, ImageShape::CIFAR10);
        assert_eq!(shapes.parameter_count(&arch, 10), expected);
        let vs = nn::VarStore::new(Device::Cpu);
        let _model = CnnChild::new(&vs.root(), &arch, ImageShape::CIFAR10, CnnOptions::default());
        assert_eq!(
            trainable(&vs),
            expected,
            "the built network disagrees with the formula"
        );
    }
}

#[test]
fn cnn_shapes_follow_same_padding_strides_and_pools() {
    let arch = cnn(
        &[
            layer(4, 3, 3, 2, ""),
            layer(6, 2, 4, 1, "0"),
            layer(5, 3, 3, 3, "0,1"),
        ],
        "1",
    );
    let shapes = CnnShapes::of(&arch, ImageShape::CIFAR10);
    assert_eq!(shapes.layers[0].out_size, (16, 16));
    assert_eq!(shapes.layers[1].conv_size, (16, 16));
    assert_eq!(shapes.layers[1].out_size, (8, 8)); // pooled
    assert_eq!(shapes.layers[2].in_size, (16, 16)); // padded to the larger input
    assert_eq!(shapes.layers[2].in_channels, 10);
    assert_eq!(shapes.layers[2].out_size, (6, 6)); // ceil(16 / 3)
    let vs = nn::VarStore::new(Device::Cpu);
    let model = CnnChild::new(&vs.root(), &arch, ImageShape::CIFAR10, CnnOptions::default());
    let logits = model.forward_t(&Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu)), true);
    assert_eq!(logits.size(), [2, 10]);
}

#[test]
fn the_layout_follows_where_the_convolution_work_is() {
    // Every layer reads the image: NCHW.
    let on_image = cnn(
        &[
            layer(48, 5, 5, 1, ""),
            layer(36, 3, 5, 1, ""),
            layer(24, 1, 7, 1, ""),
        ],
        "",
    );
    let shapes = CnnShapes::of(&on_image, ImageShape::CIFAR10);
    assert_eq!(shapes.conv_macs(&on_image)[0], 5 * 5 * 3 * 48 * 32 * 32);
    assert!(!shapes.prefers_channels_last(&on_image));
    // Most work is over feature maps: NHWC.
    let stacked = cnn(
        &[
            layer(24, 3, 3, 1, ""),
            layer(36, 3, 3, 1, "0"),
            layer(36, 3, 3, 1, "0,1"),
        ],
        "",
    );
    assert!(CnnShapes::of(&stacked, ImageShape::CIFAR10).prefers_channels_last(&stacked));
}

#[test]
fn language_model_parameter_counts_equal_a_hand_computation() {
    let cell = ArchSpec::from_json(
        r#"{"version":1,"kind":"cell","leaves":2,"nodes":[
            {"combination":"add","activation":"tanh"},{"combination":"mul","activation":"sigmoid"},
            {"combination":"mul","activation":"tanh"}],
            "inject":{"combination":"add","activation":"relu"},"inject_node":0,"memory_node":1}"#,
    )
    .unwrap();
    let cell = cell.as_cell().unwrap();
    // embedding 50·8; per layer 8·16 + 16 + 8·16; decoder bias 50 (tied) or 8·50 + 50.
    for (tied, expected) in [(true, 400 + 2 * 272 + 50), (false, 400 + 2 * 272 + 450)] {
        let options = LanguageModelOptions {
            vocabulary: 50,
            hidden: 8,
            layers: 2,
            dropout: 0.0,
            tied,
            init_range: language_model::INIT_RANGE,
        };
        assert_eq!(language_model::parameter_count(&options, 2), expected);
        let vs = nn::VarStore::new(Device::Cpu);
        let _model = LanguageModel::new(&vs.root(), cell, options);
        assert_eq!(trainable(&vs), expected);
    }
}

#[test]
fn the_hidden_size_helper_lands_near_the_target() {
    let options = LanguageModelOptions {
        vocabulary: 10_000,
        hidden: 1,
        layers: 2,
        dropout: 0.5,
        tied: true,
        init_range: language_model::INIT_RANGE,
    };
    let hidden = language_model::hidden_for_parameters(&options, 8, 20_000_000);
    let count = language_model::parameter_count(&LanguageModelOptions { hidden, ..options }, 8);
    assert!(
        (count - 20_000_000).abs() < 20_000_000 / 100,
        "hidden {hidden} gives {count}"
    );
    let one_more = language_model::parameter_count(
        &LanguageModelOptions {
            hidden: hidden + 1,
            ..options
        },
        8,
    );
    assert!((one_more - 20_000_000).abs() >= (count - 20_000_000).abs());
}

#[test]
fn every_sampled_cnn_builds_and_runs_forward_and_backward() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let spaces = [
        CnnSpace {
            depth: DepthSchedule {
                start: 1,
                step: 1,
                every: 3,
                max: 20,
            },
            ..CnnSpace::paper_with_strides()
        },
        CnnSpace::paper_with_pooling(),
    ];
    let tiny = ImageShape {
        channels: 3,
        height: 8,
        width: 8,
    };
    for cnn_space in spaces {
        let space = SearchSpace::cnn(cnn_space).unwrap();
        for sample in 0..30 {
            let depth = space.depth_at(sample);
            let spec =
                ArchSpec::from_actions(&space, depth, &random_actions(&space.plan(depth), &mut rng)).unwrap();
            let arch = spec.as_cnn().unwrap();
            let vs = nn::VarStore::new(Device::Cpu);
            let model = CnnChild::new(&vs.root(), arch, tiny, CnnOptions::default());
            let logits = model.forward_t(&Tensor::randn([2, 3, 8, 8], (Kind::Float, Device::Cpu)), true);
            assert_eq!(logits.size(), [2, 10]);
            let loss = logits.cross_entropy_for_logits(&Tensor::from_slice(&[1i64, 7]));
            loss.backward();
            assert!(loss.double_value(&[]).is_finite());
            let grads: f64 = vs
                .trainable_variables()
                .iter()
                .map(|t| t.grad().abs().sum(Kind::Double).double_value(&[]))
                .sum();
            assert!(
                grads.is_finite() && grads > 0.0,
                "no gradient reached the parameters of {}",
                spec.id()
            );
        }
    }
}

#[test]
fn every_sampled_cell_builds_and_runs_forward_and_backward() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    for leaves in [2, 8] {
        let space = SearchSpace::cell(CellSpace {
            leaves,
            ..CellSpace::paper()
        })
        .unwrap();
        for _ in 0..30 {
            let spec = ArchSpec::from_actions(&space, 0, &random_actions(&space.plan(0), &mut rng)).unwrap();
            let cell: &CellArch = spec.as_cell().unwrap();
            let vs = nn::VarStore::new(Device::Cpu);
            let options = LanguageModelOptions {
                vocabulary: 30,
                hidden: 8,
                layers: 2,
                dropout: 0.1,
                tied: true,
                init_range: language_model::INIT_RANGE,
            };
            let model = LanguageModel::new(&vs.root(), cell, options);
            let tokens = Tensor::randint(30, [2, 5], (Kind::Int64, Device::Cpu));
            let (logits, state) = model.forward(&tokens, &model.zero_state(2, Device::Cpu), true);
            assert_eq!(logits.size(), [10, 30]);
            assert_eq!(state.len(), 2);
            let loss = logits.cross_entropy_for_logits(&tokens.reshape([-1]));
            loss.backward();
            assert!(loss.double_value(&[]).is_finite(), "{}", spec.id());
        }
    }
}

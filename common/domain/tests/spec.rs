//! Specs decoded from random actions are valid, round-trip through actions
//! and JSON, and keep a stable id; bad JSON is rejected with a clear reason.

#![allow(clippy::unwrap_used)]

use nas_domain::{
    Actions, ArchSpec, CellSpace, CnnSpace, DepthSchedule, Error, SearchSpace, Step, spec::limits,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The shared `random_actions` (nas-test-support depends on this crate,
/// so its module is included by path rather than as a dependency).
#[path = "../../test-support/src/actions.rs"]
mod actions;
use actions::random_actions;

fn spaces() -> Vec<SearchSpace> {
    vec![
        SearchSpace::cnn(CnnSpace::paper()).unwrap(),
        SearchSpace::cnn(CnnSpace::paper_with_strides()).unwrap(),
        SearchSpace::cnn(CnnSpace::paper_with_pooling()).unwrap(),
        SearchSpace::cell(CellSpace::paper()).unwrap(),
        SearchSpace::cnn(CnnSpace {
            filters: vec![4],
            kernel_heights: vec![1, 3],
            kernel_widths: vec![3],
            stride_heights: vec![1],
            stride_widths: vec![1],
            skip_connections: false,
            max_pool_after: vec![1],
            block_layers: 1,
            decision_order: nas_domain::space::DecisionOrder::Paper,
            depth: DepthSchedule::fixed(3),
        })
        .unwrap(),
        SearchSpace::cell(CellSpace {
            leaves: 2,
            ..CellSpace::paper()
        })
        .unwrap(),
    ]
}

#[test]
fn thousands_of_random_specs_are_valid_and_round_trip() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut checked = 0;
    for space in spaces() {
        for sample in 0..1000u64 {
            let depth = space.depth_at(sample * 40);
            let plan = space.plan(depth);
            let actions = random_actions(&plan, &mut rng);
            let spec = ArchSpec::from_actions(&space, depth, &actions).unwrap();
            assert_eq!(spec.to_actions(&space).unwrap(), actions, "actions round trip");
            assert_eq!(spec.plan(&space), plan);
            let json = serde_json::to_string(&spec).unwrap();
            let parsed = ArchSpec::from_json(&json).unwrap();
            assert_eq!(parsed, spec, "JSON round trip");
            assert_eq!(parsed.id(), spec.id(), "stable id");
            checked += 1;
        }
    }
    assert_eq!(checked, 6000);
}

#[test]
fn the_id_depends_only_on_the_architecture() {
    let space = SearchSpace::cnn(CnnSpace::paper()).unwrap();
    let plan = space.plan(6);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let a = ArchSpec::from_actions(&space, 6, &random_actions(&plan, &mut rng)).unwrap();
    let b = ArchSpec::from_actions(&space, 6, &random_actions(&plan, &mut rng)).unwrap();
    assert_ne!(a.id(), b.id());
    // Reordered keys and whitespace do not change the id.
    let value: serde_json::Value = serde_json::from_str(&a.canonical_json()).unwrap();
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    assert_eq!(ArchSpec::from_json(&pretty).unwrap().id(), a.id());
    assert_eq!(a.id().as_str().len(), 64);
    // Known value: guards the canonical form against accidental change.
    let fixed = ArchSpec::from_json(
        r#"{"version":1,"kind":"cnn","layers":[{"filters":24,"kernel_height":3,"kernel_width":3,"stride_height":1,"stride_width":1,"inputs":[]}]}"#,
    )
    .unwrap();
    assert_eq!(
        fixed.canonical_json(),
        r#"{"kind":"cnn","layers":[{"filters":24,"inputs":[],"kernel_height":3,"kernel_width":3,"stride_height":1,"stride_width":1}],"max_pool_after":[],"version":1}"#
    );
}

fn reject(json: &str) -> String {
    ArchSpec::from_json(json).unwrap_err().to_string()
}

#[test]
fn bad_specs_are_rejected_with_a_reason() {
    let layer =
        r#"{"filters":24,"kernel_height":3,"kernel_width":3,"stride_height":1,"stride_width":1,"inputs":[]}"#;
    let err = reject(&format!(r#"{{"version":2,"kind":"cnn","layers":[{layer}]}}"#));
    assert!(err.contains("unsupported architecture spec version 2"), "{err}");
    let err = reject(r#"{"version":1,"kind":"cnn","layers":[]}"#);
    assert!(err.contains("at least one layer"), "{err}");
    let err = reject(&format!(
        r#"{{"version":1,"kind":"cnn","layers":[{layer}],"colour":"red"}}"#
    ));
    assert!(err.contains("colour"), "{err}");
    let bad_input = layer.replace(r#""inputs":[]"#, r#""inputs":[1]"#);
    let err = reject(&format!(
        r#"{{"version":1,"kind":"cnn","layers":[{layer},{bad_input}]}}"#
    ));
    assert!(err.contains("layer 1 inputs: 1 must be below 1"), "{err}");
    let err = reject(&format!(
        r#"{{"version":1,"kind":"cnn","layers":[{}]}}"#,
        layer.replace(r#""filters":24"#, r#""filters":0"#)
    ));
    assert!(err.contains("filters 0 is outside"), "{err}");
    let many = vec![layer; limits::MAX_LAYERS + 1].join(",");
    let err = reject(&format!(r#"{{"version":1,"kind":"cnn","layers":[{many}]}}"#));
    assert!(err.contains("exceed the limit"), "{err}");
    let err = reject(r#"{"version":1,"kind":"transformer"}"#);
    assert!(err.contains("transformer"), "{err}");
    let err = reject(r#"{"version":1,"kind":"cnn","layers":"#);
    assert!(err.contains("malformed"), "{err}");
    let node = r#"{"combination":"add","activation":"tanh"}"#;
    let err = reject(&format!(
        r#"{{"version":1,"kind":"cell","leaves":3,"nodes":[{node},{node},{node},{node},{node}],"inject":{node},"inject_node":0,"memory_node":0}}"#
    ));
    assert!(err.contains("power-of-two"), "{err}");
    let err = reject(&format!(
        r#"{{"version":1,"kind":"cell","leaves":2,"nodes":[{node},{node},{node}],"inject":{node},"inject_node":3,"memory_node":0}}"#
    ));
    assert!(err.contains("inject_node 3"), "{err}");
}

#[test]
fn actions_that_do_not_fit_the_plan_are_rejected() {
    let space = SearchSpace::cell(CellSpace::paper()).unwrap();
    let plan = space.plan(8);
    assert_eq!(plan.tokens(), 15 * 2 + 4);
    let err = ArchSpec::from_actions(&space, 8, &Actions::new(vec![0; 3])).unwrap_err();
    assert!(matches!(err, Error::InvalidActions(_)), "{err}");
    let mut tokens = vec![0u16; plan.tokens()];
    tokens[1] = 4; // activation index out of 0..4
    let err = ArchSpec::from_actions(&space, 8, &Actions::new(tokens)).unwrap_err();
    assert!(err.to_string().contains("out of range 0..4"), "{err}");
}

#[test]
fn actions_for_a_depth_outside_the_space_are_rejected() {
    // Found by the spec_actions fuzzer: 3 layers decoded in a 6..=20 space,
    // then the spec could not be encoded back.
    let space = SearchSpace::cnn(CnnSpace::paper()).unwrap();
    let tokens = Actions::new(vec![1; space.plan(3).tokens()]);
    let err = ArchSpec::from_actions(&space, 3, &tokens).unwrap_err();
    assert!(
        err.to_string()
            .contains("3 layers is outside the depth range 6..=20"),
        "{err}"
    );
}

#[test]
fn specs_outside_a_space_are_named() {
    let space = SearchSpace::cnn(CnnSpace::paper()).unwrap();
    let layer =
        r#"{"filters":25,"kernel_height":3,"kernel_width":3,"stride_height":1,"stride_width":1,"inputs":[]}"#;
    let six = [layer; 6].join(",");
    let spec = ArchSpec::from_json(&format!(r#"{{"version":1,"kind":"cnn","layers":[{six}]}}"#)).unwrap();
    let err = spec.to_actions(&space).unwrap_err().to_string();
    assert!(err.contains("filters 25 is not one of [24, 36, 48, 64]"), "{err}");
    let cell_space = SearchSpace::cell(CellSpace::paper()).unwrap();
    assert!(spec.to_actions(&cell_space).is_err());
}

#[test]
fn the_cell_space_has_the_papers_size() {
    let space = SearchSpace::cell(CellSpace::paper()).unwrap();
    let plan = space.plan(8);
    let size: f64 = plan
        .steps()
        .iter()
        .map(|step| match step {
            Step::Choose { options, .. } => *options as f64,
            Step::Anchor { candidates } => 2f64.powi(*candidates as i32),
        })
        .product();
    assert!((6.0e16..6.5e16).contains(&size), "{size:e}");
}

#[test]
fn bad_spaces_are_rejected() {
    let err = SearchSpace::cnn(CnnSpace {
        filters: vec![],
        ..CnnSpace::paper()
    })
    .unwrap_err();
    assert!(err.to_string().contains("filters must not be empty"), "{err}");
    let err = serde_json::from_str::<SearchSpace>(
        r#"{"kind":"cell","leaves":6,"combinations":["add"],"activations":["tanh"]}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("power of two"), "{err}");
}

//! Categorical spaces and specs: parsed from TOML, decoded from actions and
//! back, ids independent of decision order, bad spaces and specs rejected
//! by kind and naming the decision; benchmark tables looked up by the
//! spec's decisions, gzipped or not.

#![allow(clippy::unwrap_used)]

use std::io::Write;

use nas_domain::oracle::{MetricTable, Missing, Oracle, OracleSource};
use nas_domain::{Actions, ArchSpec, Error, SearchSpace, Step};

const SPACE: &str = r#"
kind = "categorical"
[[decisions]]
name = "link"
options = ["0000", "0012"]
[[decisions]]
name = "ops[0]"
options = ["gcn", "gat", "skip"]
[[decisions]]
name = "width"
options = [16, 32, 0.5]
[[decisions]]
name = "fixed"
options = ["always"]
"#;

fn space() -> SearchSpace {
    toml::from_str(SPACE).unwrap()
}

fn spec(json: &str) -> ArchSpec {
    ArchSpec::from_json(&format!(
        r#"{{"version":1,"kind":"categorical","decisions":{json}}}"#
    ))
    .unwrap()
}

#[test]
fn every_architecture_of_a_space_round_trips_through_actions_and_json() {
    let space = space();
    let plan = space.plan(space.depth_at(0));
    // One softmax per decision with more than one option, in space order.
    let options: Vec<usize> = plan
        .steps()
        .iter()
        .map(|step| match step {
            Step::Choose { options, .. } => *options,
            Step::Anchor { .. } => 0,
        })
        .collect();
    assert_eq!(options, vec![2, 3, 3]);
    let mut ids = std::collections::HashSet::new();
    for a in 0..2u16 {
        for b in 0..3u16 {
            for c in 0..3u16 {
                let actions = Actions::new(vec![a, b, c]);
                let spec = ArchSpec::from_actions(&space, plan.tokens(), &actions).unwrap();
                assert_eq!(spec.to_actions(&space).unwrap(), actions);
                let parsed = ArchSpec::from_json(&serde_json::to_string(&spec).unwrap()).unwrap();
                assert_eq!(parsed.id(), spec.id());
                ids.insert(spec.id());
            }
        }
    }
    assert_eq!(ids.len(), 18, "every architecture has its own id");
}

#[test]
fn the_id_does_not_depend_on_the_order_decisions_are_written_in() {
    let one = spec(r#"{"link":"0012","ops[0]":"gat","width":0.5,"fixed":"always"}"#);
    let two = spec(r#"{"fixed":"always","width":0.5,"ops[0]":"gat","link":"0012"}"#);
    assert_eq!(one.id(), two.id());
    assert_eq!(one.canonical_json(), two.canonical_json());
}

#[test]
fn specs_outside_the_space_are_rejected_naming_the_decision() {
    let space = space();
    let cases = [
        (
            r#"{"link":"0012","ops[0]":"gin","width":16,"fixed":"always"}"#,
            "no option gin",
        ),
        (
            r#"{"link":"0012","ops[0]":"gcn","width":64,"fixed":"always"}"#,
            "\"width\" has no option 64",
        ),
        (
            r#"{"link":"0012","ops[0]":"gcn","width":16}"#,
            "\"fixed\" has no option chosen",
        ),
        (
            r#"{"link":"0012","ops[0]":"gcn","width":16,"fixed":"always","depth":3}"#,
            "no decision \"depth\"",
        ),
    ];
    for (decisions, expected) in cases {
        let error = spec(decisions).to_actions(&space).unwrap_err();
        assert!(matches!(error, Error::NotInSpace(_)), "{error:?}");
        assert!(error.to_string().contains(expected), "{decisions}: {error}");
    }
}

#[test]
fn bad_spaces_and_specs_are_rejected() {
    let spaces = [
        (r#"{"kind":"categorical","decisions":[]}"#, "1 to 256 decisions"),
        (
            r#"{"kind":"categorical","decisions":[{"name":"a","options":[1]},{"name":"a","options":[2]}]}"#,
            "\"a\" appears twice",
        ),
        (
            r#"{"kind":"categorical","decisions":[{"name":"a","options":[]}]}"#,
            "must not be empty",
        ),
        (
            r#"{"kind":"categorical","decisions":[{"name":"a","options":[1,1]}]}"#,
            "appears twice",
        ),
        (
            r#"{"kind":"categorical","decisions":[{"name":"","options":[1]}]}"#,
            "decision name",
        ),
        (
            r#"{"kind":"categorical","decisions":[{"name":"a","options":[true]}]}"#,
            "did not match",
        ),
    ];
    for (json, expected) in spaces {
        let error = serde_json::from_str::<SearchSpace>(json).unwrap_err();
        assert!(error.to_string().contains(expected), "{json}: {error}");
    }
    let specs = [
        (
            r#"{"version":1,"kind":"categorical","decisions":{}}"#,
            "1 to 256 decisions",
        ),
        (
            r#"{"version":1,"kind":"categorical","decisions":{"a":[1]}}"#,
            "did not match",
        ),
        (
            r#"{"version":1,"kind":"categorical","decisions":{"a":""}}"#,
            "1 to 256 bytes",
        ),
    ];
    for (json, expected) in specs {
        let error = ArchSpec::from_json(json).unwrap_err();
        assert!(error.to_string().contains(expected), "{json}: {error}");
    }
}

const ROWS: &str = r#"{"link": "0012", "ops": ["gcn"], "width": 16, "fixed": "always", "valid_perf": 0.7, "test_perf": 0.69}
{"link": "0012", "ops": ["gat"], "width": 16, "fixed": "always", "valid_perf": 0.8, "test_perf": 0.75}
{"link": "0000", "ops": ["gat"], "width": 0.5, "fixed": "always", "valid_perf": 0.6, "test_perf": 0.61}
"#;

#[test]
fn a_benchmark_table_answers_by_the_specs_decisions_gzipped_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("rows.jsonl");
    std::fs::write(&plain, ROWS).unwrap();
    let zipped = dir.path().join("rows.jsonl.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(ROWS.as_bytes()).unwrap();
    std::fs::write(&zipped, encoder.finish().unwrap()).unwrap();
    let best = spec(r#"{"link":"0012","ops[0]":"gat","width":16,"fixed":"always"}"#);
    let narrow = spec(r#"{"link":"0000","ops[0]":"gat","width":0.5,"fixed":"always"}"#);
    let absent = spec(r#"{"link":"0000","ops[0]":"gcn","width":32,"fixed":"always"}"#);
    for path in [&plain, &zipped] {
        let source: OracleSource = format!("table:{}#valid_perf", path.display()).parse().unwrap();
        assert!(matches!(source, OracleSource::Metric { .. }), "{source:?}");
        let table = MetricTable::load(path, "valid_perf", Missing::Fail).unwrap();
        assert_eq!(table.len(), 3);
        assert_eq!(table.reward(&best).unwrap(), 0.8);
        assert_eq!(table.reward(&narrow).unwrap(), 0.6);
        assert_eq!(table.value(&best, "test_perf").unwrap(), Some(0.75));
        assert!(matches!(
            table.reward(&absent),
            Err(Error::UnknownArchitecture(_))
        ));
        let lenient = MetricTable::load(path, "valid_perf", Missing::Reward(0.0)).unwrap();
        assert_eq!(lenient.reward(&absent).unwrap(), 0.0);
    }
    // A spec with other decision names than the first is an error, not a miss.
    let table = MetricTable::load(&plain, "valid_perf", Missing::Reward(0.0)).unwrap();
    table.reward(&best).unwrap();
    let other = spec(r#"{"link":"0012"}"#);
    assert!(
        table
            .reward(&other)
            .unwrap_err()
            .to_string()
            .contains("indexed by decisions")
    );
    // A table without the column is rejected naming the line.
    let error = MetricTable::load(&plain, "latency", Missing::Fail).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("line 1: no numeric column \"latency\""),
        "{error}"
    );
}

/// A CNN spec in the format of `bench/record_curves.py`.
fn cnn(filters: u32) -> ArchSpec {
    ArchSpec::from_json(&format!(
        r#"{{"version":1,"kind":"cnn","max_pool_after":[],"layers":[{{"filters":{filters},
        "kernel_height":3,"kernel_width":3,"stride_height":1,"stride_width":1,"inputs":[]}}]}}"#
    ))
    .unwrap()
}

#[test]
fn a_learning_curve_table_answers_other_specs_by_their_arch_id() {
    let (narrow, wide, absent) = (cnn(8), cnn(16), cnn(32));
    let row = |spec: &ArchSpec, curve: &str| {
        format!(
            r#"{{"arch_id":"{}","params":10,"valid_accuracy":{curve}}}"#,
            spec.id().as_str()
        )
    };
    let text = [
        row(&narrow, "[0.2, 0.3]"),
        row(&wide, "[0.25, 0.4]"),
        row(&narrow, "[0.9, 0.9]"),
    ]
    .join("\n");
    let table = MetricTable::parse(&text, "valid_accuracy[1]", Missing::Fail).unwrap();
    // The last epoch's accuracy; the first row of a repeated id wins.
    assert_eq!(table.reward(&narrow).unwrap(), 0.3);
    assert_eq!(table.reward(&wide).unwrap(), 0.4);
    assert_eq!(table.value(&wide, "valid_accuracy[0]").unwrap(), Some(0.25));
    assert_eq!(table.value(&wide, "params").unwrap(), Some(10.0));
    assert!(matches!(
        table.reward(&absent),
        Err(Error::UnknownArchitecture(_))
    ));
    // A table of decisions without ids cannot answer a CNN spec: an error
    // naming the column, not a miss.
    let plain = MetricTable::parse(
        r#"{"link":"0012","valid_perf":0.5}"#,
        "valid_perf",
        Missing::Reward(0.0),
    )
    .unwrap();
    let error = plain.reward(&narrow).unwrap_err().to_string();
    assert!(error.contains("no \"arch_id\" column"), "{error}");
}

//! A categorical search (a NAS-Bench-Graph-shaped space) runs end to end
//! through RabbitMQ and the object store, with surrogate workers answering
//! from a benchmark table in NAS-Bench-Graph's row format; every recorded
//! reward is the table's value for its architecture, and `replay --verify`
//! recomputes the stored policy bit for bit.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use nas_test_support::last_json;
use nas_tests::pipeline::{Pipeline, summary_of};
use nas_tests::run_ok;

const LINKS: [&str; 3] = ["0000", "0012", "0123"];
const OPS: [&str; 3] = ["gcn", "gat", "skip"];

/// The table's validation value of a row: a fixed function of the choices.
fn valid_perf(link: usize, ops: &[usize]) -> f64 {
    let score: usize = ops.iter().enumerate().map(|(i, &op)| (op + i) % 3).sum::<usize>() + 2 * link;
    0.5 + 0.02 * score as f64
}

/// Every tuple of the space except the all-`skip` ones (as in the real
/// benchmark), one JSON line each; returns the text and valid_perf by key.
fn table() -> (String, HashMap<String, f64>) {
    let mut text = String::new();
    let mut values = HashMap::new();
    for (link, name) in LINKS.iter().enumerate() {
        for code in 0..81usize {
            let ops: Vec<usize> = (0..4).map(|i| code / 3usize.pow(i) % 3).collect();
            if ops.iter().all(|&op| op == 2) {
                continue;
            }
            let names: Vec<&str> = ops.iter().map(|&op| OPS[op]).collect();
            let value = valid_perf(link, &ops);
            let row = serde_json::json!({"link": name, "ops": names, "valid_perf": value,
                                         "test_perf": value - 0.01, "latency_s": 0.01, "params_m": 0.1});
            text.push_str(&format!("{row}\n"));
            values.insert(format!("{name}/{}", names.join(",")), value);
        }
    }
    (text, values)
}

fn experiment_file(experiment: &str) -> String {
    let options = serde_json::to_string(&OPS).unwrap();
    let links = serde_json::to_string(&LINKS).unwrap();
    let mut text = format!(
        "experiment = \"{experiment}\"\nchildren = 40\nin_flight = 4\njob_timeout_seconds = 60\n\
         [controller]\nbatch_size = 4\n[controller.staleness]\nmode = \"importance\"\n[space]\nkind = \"categorical\"\n\
         [[space.decisions]]\nname = \"link\"\noptions = {links}\n"
    );
    for i in 0..4 {
        text.push_str(&format!(
            "[[space.decisions]]\nname = \"ops[{i}]\"\noptions = {options}\n"
        ));
    }
    text
}

#[test]
fn a_categorical_search_runs_on_a_benchmark_table_through_the_queue_and_replays_exactly() {
    let setup = Pipeline::custom("categorical", |experiment, _| experiment_file(experiment));
    let (rows, values) = table();
    let path = setup.path("bench.jsonl");
    std::fs::write(&path, rows).unwrap();
    let oracle = format!("table:{}#valid_perf", path.display());
    let surrogate =
        |name: &str| setup.worker_with(name, &["--surrogate", &oracle, "--surrogate-delay-ms", "20"]);
    let _workers = [surrogate("s1"), surrogate("s2")];
    let summary = summary_of(
        setup
            .controller("controller", false)
            .wait_output(Duration::from_secs(120)),
    )
    .expect("the controller finished and printed a summary");
    assert_eq!(summary["complete"], true, "{summary}");
    let finished = ["children_rewarded", "children_reused", "children_failed"]
        .iter()
        .map(|key| summary[key].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(finished, 40, "{summary}");
    // Every rewarded child got exactly the table's value for its decisions;
    // an all-skip tuple (not in the table) fails with the reason.
    let log = setup.reward_log();
    assert_eq!(log.len(), 40);
    let mut rewarded = 0;
    for record in &log {
        let decisions = &record.value["spec"]["decisions"];
        assert_eq!(record.value["spec"]["kind"], "categorical", "{}", record.value);
        let ops: Vec<&str> = (0..4)
            .map(|i| decisions[format!("ops[{i}]")].as_str().unwrap())
            .collect();
        let key = format!("{}/{}", decisions["link"].as_str().unwrap(), ops.join(","));
        // The sampling policy's log-probability travels with each child:
        // the importance weights (and their replay) read it.
        let log_prob = record.value["log_prob"].as_f64();
        assert!(log_prob.is_some_and(|p| p < 0.0), "{}", record.value);
        match (record.status.as_str(), values.get(&key)) {
            ("ok" | "reused", Some(&value)) => {
                assert_eq!(record.value["reward"].as_f64(), Some(value), "{}", record.value);
                rewarded += 1;
            }
            ("failed", None) => {}
            (status, value) => panic!(
                "{key}: status {status} with table value {value:?}: {}",
                record.value
            ),
        }
    }
    assert!(rewarded >= 30, "{rewarded} of 40 rewarded");
    // The recorded search, importance weights included, replays to the
    // very same policy.
    let output = run_ok(
        "nas-controller",
        &[
            "replay",
            &setup.experiment_name().to_string(),
            "--verify",
            "--json",
        ],
    );
    let verification = last_json(&output);
    assert_eq!(verification["identical"], true, "{verification}");
    assert_eq!(verification["rewards"], 40, "{verification}");
    assert_eq!(verification["step"], 10, "{verification}");
}

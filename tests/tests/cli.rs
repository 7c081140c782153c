//! The binaries end to end: `nas-controller sample` and `simulate`, and a
//! sampled spec accepted by `nas-worker check-job` inside a job.

#![allow(clippy::unwrap_used)]

use nas_domain::{ArchSpec, CellSpace, SearchSpace};
use nas_test_support::last_json;
use nas_tests::{run_err, run_ok, synth_cifar10};

#[test]
fn sample_prints_a_valid_spec_of_the_space() {
    let output = run_ok(
        "nas-controller",
        &["sample", "--space", "cnn", "--layers", "9", "--seed", "4"],
    );
    let spec = ArchSpec::from_json(std::str::from_utf8(&output.stdout).unwrap()).unwrap();
    assert_eq!(spec.depth(), 9);
    // The same seed gives the same spec; another seed another one.
    let again = run_ok(
        "nas-controller",
        &["sample", "--space", "cnn", "--layers", "9", "--seed", "4"],
    );
    assert_eq!(again.stdout, output.stdout);
    let other = run_ok(
        "nas-controller",
        &["sample", "--space", "cnn", "--layers", "9", "--seed", "5"],
    );
    assert_ne!(other.stdout, output.stdout);

    let output = run_ok("nas-controller", &["sample", "--space", "rnn"]);
    let spec = ArchSpec::from_json(std::str::from_utf8(&output.stdout).unwrap()).unwrap();
    let space = SearchSpace::cell(CellSpace::paper()).unwrap();
    spec.to_actions(&space).expect("the cell is in the paper's space");
}

#[test]
fn sample_reads_a_space_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.toml");
    std::fs::write(
        &path,
        "kind = \"cnn\"\nfilters = [4, 8]\nkernel_heights = [3]\nkernel_widths = [1, 3]\n\
         stride_heights = [1]\nstride_widths = [1]\nskip_connections = true\n\
         depth = { start = 3, step = 0, every = 1, max = 3 }\n",
    )
    .unwrap();
    let output = run_ok(
        "nas-controller",
        &["sample", "--space-file", path.to_str().unwrap()],
    );
    let spec = ArchSpec::from_json(std::str::from_utf8(&output.stdout).unwrap()).unwrap();
    let cnn = spec.as_cnn().unwrap();
    assert_eq!(cnn.layers.len(), 3);
    assert!(
        cnn.layers
            .iter()
            .all(|layer| layer.kernel_height == 3 && [4, 8].contains(&layer.filters))
    );

    std::fs::write(&path, "kind = \"cnn\"\nfilters = []\n").unwrap();
    let err = run_err(
        "nas-controller",
        &["sample", "--space-file", path.to_str().unwrap()],
    );
    assert!(err.contains("tiny.toml"), "{err}");
}

#[test]
fn simulate_json_has_one_run_per_strategy_and_seed() {
    let output = run_ok(
        "nas-controller",
        &[
            "simulate",
            "--oracle",
            "synthetic",
            "--space",
            "rnn",
            "--strategies",
            "reinforce,random",
            "--budget",
            "24",
            "--seeds",
            "3",
            "--output",
            "json",
        ],
    );
    let value = last_json(&output);
    let runs = value["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    for run in runs {
        assert!(["reinforce", "random"].contains(&run["strategy"].as_str().unwrap()));
        assert!(run["seed"].as_u64().unwrap() < 3);
        let rewards = run["rewards"].as_array().unwrap();
        assert_eq!(rewards.len(), 24);
        // c / ppl² with ppl in the oracle's range.
        assert!(
            rewards
                .iter()
                .all(|r| (0.001..0.03).contains(&r.as_f64().unwrap()))
        );
    }
}

#[test]
fn simulate_replays_a_reward_table() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("table.jsonl");
    // Record what random search sampled, then replay it as a table.
    let sampled: Vec<String> = (0..3)
        .map(|seed| {
            let out = run_ok(
                "nas-controller",
                &["sample", "--space", "cnn", "--seed", &seed.to_string()],
            );
            let spec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            serde_json::json!({"spec": spec, "reward": 0.25 * f64::from(seed + 1)}).to_string()
        })
        .collect();
    std::fs::write(&table, sampled.join("\n")).unwrap();
    let oracle = format!("table:{}", table.display());
    let err = run_err(
        "nas-controller",
        &["simulate", "--oracle", &oracle, "--budget", "8", "--seeds", "1"],
    );
    assert!(err.contains("no reward for architecture"), "{err}");
    let output = run_ok(
        "nas-controller",
        &[
            "simulate",
            "--oracle",
            &oracle,
            "--budget",
            "8",
            "--seeds",
            "1",
            "--missing-reward",
            "0.1",
            "--output",
            "json",
        ],
    );
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // Without --strategies: a new experiment's strategy first, then
    // regularized evolution and random search.
    let strategies: Vec<&str> = value["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["strategy"].as_str().unwrap())
        .collect();
    assert_eq!(strategies, ["predictor", "evolution", "random"]);
}

#[test]
fn a_sampled_spec_travels_in_a_job_the_worker_accepts() {
    let output = run_ok("nas-controller", &["sample", "--space", "cnn", "--seed", "1"]);
    let spec: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let id = ArchSpec::from_json(&spec.to_string()).unwrap().id();
    let job = serde_json::json!({
        "schema_version": 1,
        "job_id": "6f1c1f43-7d1a-4a8e-9c55-8f1e2a3b4c5d",
        "experiment": "demo",
        "policy_version": 0,
        "attempt": 1,
        "spec": spec,
        "task": "cifar10",
        "dataset": {"name": "cifar10"},
        "budget": {"epochs": 1},
        "reward": {"kind": "accuracy", "power": 3.0, "window": 5},
        "seed": 1
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.json");
    std::fs::write(&path, job.to_string()).unwrap();
    let output = run_ok("nas-worker", &["check-job", path.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&output.stdout).contains(id.as_str()));
    std::fs::write(
        &path,
        job.to_string()
            .replace("\"schema_version\":1", "\"schema_version\":9"),
    )
    .unwrap();
    let err = run_err("nas-worker", &["check-job", path.to_str().unwrap()]);
    assert!(err.contains("unsupported train job version 9"), "{err}");
}

/// A cell that trains stably (the LSTM-like cell of the worker's tests).
const LSTM_LIKE_CELL: &str = r#"{"version":1,"kind":"cell","leaves":2,"nodes":[
    {"combination":"add","activation":"tanh"},{"combination":"add","activation":"sigmoid"},
    {"combination":"mul","activation":"tanh"}],
    "inject":{"combination":"add","activation":"identity"},"inject_node":0,"memory_node":0}"#;

const TRAIN_FLAGS: [&str; 8] = [
    "--epochs",
    "1",
    "--threads",
    "1",
    "--device",
    "cpu",
    "--output",
    "json",
];

#[test]
fn train_prints_the_promised_json_for_cifar10() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    synth_cifar10(&dir.path().join("cifar"), 60, 10);
    let cnn = run_ok(
        "nas-controller",
        &["sample", "--space", "cnn", "--layers", "3", "--seed", "2"],
    );
    std::fs::write(path("cnn.json"), &cnn.stdout).unwrap();
    let spec = path("cnn.json");
    let data = path("cifar");
    let args = [
        "train",
        "--spec",
        &spec,
        "--task",
        "cifar10",
        "--data",
        &data,
        "--batch-size",
        "32",
    ];
    let cifar = last_json(&run_ok("nas-worker", &[&args[..], &TRAIN_FLAGS].concat()));
    assert_eq!(cifar["status"], "ok", "{cifar}");
    for key in ["reward", "params", "train_seconds", "throughput"] {
        assert!(cifar[key].as_f64().unwrap() > 0.0, "{key} in {cifar}");
    }
    let accuracy = cifar["epochs"][0]["val_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&accuracy));
    assert!((cifar["reward"].as_f64().unwrap() - accuracy.powi(3)).abs() < 1e-9);
}

#[test]
fn train_prints_the_promised_json_for_ptb_and_names_a_mismatched_task() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let synth = [
        "data",
        "synth",
        "ptb",
        "--out",
        &path("ptb"),
        "--sentences",
        "300",
        "--vocabulary",
        "50",
    ];
    run_ok("nas-controller", &synth);
    std::fs::write(path("cell.json"), LSTM_LIKE_CELL).unwrap();
    let cnn = run_ok("nas-controller", &["sample", "--space", "cnn", "--layers", "3"]);
    std::fs::write(path("cnn.json"), &cnn.stdout).unwrap();
    let (spec, data) = (path("cell.json"), path("ptb"));
    let args = [
        "train", "--spec", &spec, "--task", "ptb", "--data", &data, "--hidden", "16",
    ];
    let ptb = last_json(&run_ok(
        "nas-worker",
        &[&args[..], &["--train-subset", "2000"], &TRAIN_FLAGS].concat(),
    ));
    assert_eq!(ptb["status"], "ok", "{ptb}");
    assert!(ptb["params"].as_i64().unwrap() > 0);
    let perplexity = ptb["epochs"][0]["val_perplexity"].as_f64().unwrap();
    assert!(perplexity > 1.0 && perplexity < 1000.0, "{ptb}");
    let reward = ptb["reward"].as_f64().unwrap();
    let best = ptb["metric"].as_f64().unwrap();
    assert!((reward - 80.0 / (best * best)).abs() < 1e-9, "{ptb}");

    let err = run_err(
        "nas-worker",
        &[
            "train",
            "--spec",
            &path("cell.json"),
            "--task",
            "cifar10",
            "--data",
            &path("cifar"),
        ],
    );
    assert!(err.contains("trains Cnn specs"), "{err}");
    let err = run_err(
        "nas-worker",
        &[
            "train",
            "--spec",
            &path("cnn.json"),
            "--task",
            "cifar10",
            "--data",
            &path("ptb"),
        ],
    );
    assert!(err.contains("holds neither"), "{err}");
}

#[test]
fn a_config_with_an_unknown_key_or_a_bad_value_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let cases = [
        ("children = 4\nchilden_typo = 3\n", "unknown field `childen_typo`"),
        ("children = 4\nin_flight = 0\n", "in_flight"),
        ("children = \"four\"\n", "invalid type: string \"four\""),
    ];
    for (index, (body, expected)) in cases.iter().enumerate() {
        let config = dir.path().join(format!("bad-{index}.toml"));
        std::fs::write(
            &config,
            format!("experiment = \"bad-{index}\"\ntask = \"cifar10\"\n{body}"),
        )
        .unwrap();
        let stderr = run_err(
            "nas-controller",
            &[
                "search",
                "--config",
                config.to_str().unwrap(),
                "--embedded",
                "--store",
                store.to_str().unwrap(),
            ],
        );
        assert!(stderr.contains(expected), "{body}: {stderr}");
    }
}

//! The paper's remaining experiments, end to end through the binaries: the
//! pooling space (NAS v3) whose fresh-policy children all fit the default
//! limits and whose search runs on the CPU, and the paper-size PTB child
//! (`--params 20M`) with bits per character for character-level PTB.

#![allow(clippy::unwrap_used)]

use nas_test_support::last_json;
use nas_tests::{json_lines, run_ok, synth_cifar10};

#[test]
fn a_fresh_policy_s_pooling_children_all_fit_the_default_limits() {
    let dir = tempfile::tempdir().unwrap();
    let specs = dir.path().join("cnn-pool.jsonl");
    let sampled = run_ok(
        "nas-controller",
        &["sample", "--space", "cnn-pool", "--count", "200"],
    );
    let lines = json_lines(&sampled);
    assert_eq!(lines.len(), 200);
    for spec in &lines {
        // 13 predicted blocks of 3 convolutions, pools after the 13th and
        // 24th, the v3 filter options.
        let layers = spec["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 39, "{spec}");
        assert_eq!(spec["max_pool_after"], serde_json::json!([12, 23]));
        for layer in layers {
            assert!(
                [6, 12, 24, 36].contains(&layer["filters"].as_u64().unwrap()),
                "{layer}"
            );
        }
        // The second layer of the first block reads the first.
        assert!(
            layers[1]["inputs"].as_array().unwrap().contains(&0.into()),
            "{spec}"
        );
    }
    std::fs::write(&specs, &sampled.stdout).unwrap();
    let estimate = run_ok("nas-worker", &["estimate", specs.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&estimate.stderr);
    println!("{stderr}");
    assert!(stderr.contains("200 specs, 200 within the limits"), "{stderr}");
    let largest: f64 = stderr
        .split("the largest activation estimate is ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(largest > 0.1 && largest <= 8.0, "{stderr}");

    // The limit is real: at a tenth of the default most children are over,
    // and the command says so by its exit status.
    let tight = nas_tests::run_err(
        "nas-worker",
        &["estimate", specs.to_str().unwrap(), "--max-activation-gib", "0.1"],
    );
    assert!(tight.contains("specs are over the limits"), "{tight}");
}

#[test]
fn a_three_child_pooling_search_runs_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    synth_cifar10(&data, 20, 10);
    let config = dir.path().join("pool.toml");
    std::fs::write(
        &config,
        "task = \"cifar10\"\nchildren = 3\nin_flight = 1\n[budget]\nepochs = 1\nbatch_size = 16\n\
         train_examples = 32\nvalid_examples = 16\n[controller]\nbatch_size = 3\n",
    )
    .unwrap();
    let store = dir.path().join("runs");
    let mut args = nas_tests::embedded_search_args(&config, &data, &store, "pool", "127.0.0.1:0");
    args.extend(["--space".to_owned(), "cnn-pool".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run_ok("nas-controller", &args);
    let summary = last_json(&output);
    assert_eq!(summary["complete"], true, "{summary}");
    assert_eq!(summary["children_rewarded"], 3, "{summary}");
    assert_eq!(summary["children_failed"], 0, "{summary}");
    let log = run_ok(
        "nas-controller",
        &["log", "pool", "--store", store.to_str().unwrap()],
    );
    let records = json_lines(&log);
    assert_eq!(records.len(), 3);
    for record in &records {
        assert_eq!(record["spec"]["layers"].as_array().unwrap().len(), 39, "{record}");
    }
}

/// Synthetic PTB (word and character files) under `dir`.
fn synth_ptb(dir: &std::path::Path) -> String {
    let out = dir.join("ptb");
    nas_tests::synth_ptb(&out, 300, 50);
    out.to_str().unwrap().to_owned()
}

/// `nas-worker train` of the cell at `cell` on `task` with `extra` flags,
/// on the CPU: its JSON report.
fn train_cell(cell: &str, task: &str, data: &str, extra: &[&str]) -> serde_json::Value {
    let common = [
        "train",
        "--spec",
        cell,
        "--task",
        task,
        "--data",
        data,
        "--threads",
        "2",
        "--device",
        "cpu",
        "--output",
        "json",
    ];
    let output = run_ok("nas-worker", &[&common[..], extra].concat());
    last_json(&output)
}

#[test]
fn a_ptb_child_sized_by_parameters_lands_within_five_percent() {
    let dir = tempfile::tempdir().unwrap();
    let cell = dir.path().join("cell.json");
    let sampled = run_ok("nas-controller", &["sample", "--space", "rnn", "--seed", "3"]);
    std::fs::write(&cell, &sampled.stdout).unwrap();
    let cell = cell.to_str().unwrap();
    // The paper's size with Penn Treebank's 10,000 words, as a worker
    // would build it.
    let estimate = run_ok(
        "nas-worker",
        &["estimate", cell, "--params", "20M", "--output", "json"],
    );
    let line: serde_json::Value = json_lines(&estimate).remove(0);
    let params = line["params"].as_f64().unwrap();
    assert!((params - 20e6).abs() / 20e6 < 0.05, "{line}");
    // The CPU default stays the small model.
    let small = json_lines(&run_ok("nas-worker", &["estimate", cell, "--output", "json"])).remove(0);
    assert!(small["params"].as_f64().unwrap() < 5e6, "{small}");
    // Trained on a 50-word corpus, --params 20M still builds 20 M.
    let data = synth_ptb(dir.path());
    let flags = [
        "--params",
        "20M",
        "--train-subset",
        "1400",
        "--valid-subset",
        "700",
        "--batch-size",
        "20",
        "--epochs",
        "1",
    ];
    let trained = train_cell(cell, "ptb", &data, &flags);
    assert_eq!(trained["status"], "ok", "{trained}");
    let params = trained["params"].as_f64().unwrap();
    assert!((params - 20e6).abs() / 20e6 < 0.05, "{trained}");
}

#[test]
fn character_level_results_carry_bits_per_character() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cell.json");
    let sampled = run_ok("nas-controller", &["sample", "--space", "rnn", "--seed", "1"]);
    std::fs::write(&path, &sampled.stdout).unwrap();
    let cell = path.to_str().unwrap();
    let data = synth_ptb(dir.path());
    let flags = [
        "--hidden",
        "16",
        "--train-subset",
        "4000",
        "--epochs",
        "2",
        "--evaluate-test",
    ];
    let trained = train_cell(cell, "ptb-char", &data, &flags);
    assert_eq!(trained["status"], "ok", "{trained}");
    // By hand: the mean validation loss in nats over ln 2.
    for epoch in trained["epochs"].as_array().unwrap() {
        let loss = epoch["val_loss"].as_f64().unwrap();
        let bits = epoch["val_bits_per_char"].as_f64().unwrap();
        assert!((bits - loss / std::f64::consts::LN_2).abs() < 1e-9, "{epoch}");
        let perplexity = epoch["val_perplexity"].as_f64().unwrap();
        assert!((bits - perplexity.log2()).abs() < 1e-6, "{epoch}");
    }
    let best = trained["metric"].as_f64().unwrap();
    let bits = trained["bits_per_char"].as_f64().unwrap();
    assert!((bits - best.log2()).abs() < 1e-9, "{trained}");
    assert!(bits > 0.0 && bits < 8.0, "{trained}");
    let test = trained["test_bits_per_char"].as_f64().unwrap();
    assert!((test - trained["test_metric"].as_f64().unwrap().log2()).abs() < 1e-9);
    // Word-level results have no bits per character.
    let word = train_cell(
        cell,
        "ptb",
        &data,
        &["--hidden", "16", "--train-subset", "2000", "--epochs", "1"],
    );
    assert!(word["epochs"][0].get("val_bits_per_char").is_none(), "{word}");
    assert!(word.get("bits_per_char").is_none(), "{word}");
}

//! The tools that work on a stored REINFORCE search, end to end on a small
//! embedded search (`tools-rl`, see `nas_tests::tools`): replay (and
//! `--verify`), re-evaluation (the top architectures, the final grid, a
//! widened net) and export (PyTorch modules load and match the Rust
//! children's parameter counts; JSON and DOT).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use nas_test_support::last_json;
use nas_tests::tools::tools;
use nas_tests::{run_err, run_ok};

#[test]
fn replay_verify_reproduces_the_recorded_policy_exactly() {
    tools().experiment("tools-rl");
    let store = tools().store_arg();
    let output = run_ok(
        "nas-controller",
        &[
            "replay",
            "verify",
            "--experiment",
            "tools-rl",
            "--store",
            &store,
            "--output",
            "json",
        ],
    );
    let verification = last_json(&output);
    assert_eq!(verification["identical"], true, "{verification}");
    assert_eq!(verification["differing"], 0);
    assert_eq!(verification["rewards"], 12);
    assert_eq!(verification["step"], 3);
    assert!(verification["scalars"].as_u64().unwrap() > 1000);
    // A replay with another reward transform trains the same number of steps.
    let output = run_ok(
        "nas-controller",
        &[
            "replay",
            "train",
            "--experiment",
            "tools-rl",
            "--store",
            &store,
            "--fresh",
            "--reward-transform",
            "batch-rank",
            "--output",
            "json",
        ],
    );
    let report = last_json(&output);
    assert_eq!(report["rewards"], 12);
    assert_eq!(report["steps"].as_array().unwrap().len(), 3);
    let err = run_err(
        "nas-controller",
        &[
            "replay",
            "verify",
            "--experiment",
            "nothing-here",
            "--store",
            &store,
        ],
    );
    assert!(err.contains("no experiment nothing-here"), "{err}");
}

#[test]
fn reevaluation_trains_the_top_architectures_into_their_own_table() {
    let log_before = tools().reward_log("tools-rl");
    let summary = reevaluate_rl(&[
        "--workers",
        "2",
        "--top",
        "2",
        "--seeds",
        "2",
        "--epochs",
        "1",
        "--test",
    ]);
    let rows = summary["results"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{summary}");
    for row in rows {
        assert_eq!(row["metric"]["count"], 2, "two seeds per architecture: {row}");
        assert!(row["metric"]["std"].as_f64().unwrap() >= 0.0);
    }
    let pick = &summary["pick"];
    assert_eq!(pick["test_metric"]["count"], 2, "{pick}");
    let root = tools()
        .store
        .join("experiments/tools-rl/reevaluations/tools-rl-reeval");
    assert_eq!(std::fs::read_dir(root.join("results")).unwrap().count(), 4);
    assert!(root.join("summary.json").is_file());
    // The policy's reward log is untouched (its records, not its objects:
    // results handled together share one object).
    assert_eq!(log_before.len(), 12);
    assert_eq!(tools().reward_log("tools-rl"), log_before);
    // The final grid over the CIFAR-10 hyperparameters has 16 points.
    let summary = reevaluate_rl(&[
        "--top",
        "1",
        "--seeds",
        "1",
        "--epochs",
        "2",
        "--grid",
        "--name",
        "tools-grid",
    ]);
    assert_eq!(summary["results"].as_array().unwrap().len(), 16);
    // The report shows the re-evaluations.
    let (_out, html) = tools().report_of("tools-rl", &[]);
    assert!(
        html.contains("Re-evaluation tools-rl-reeval") && html.contains("Final pick"),
        "{html}"
    );
}

/// `nas-controller reevaluate tools-rl --embedded --output json` with `args`:
/// its summary.
fn reevaluate_rl(args: &[&str]) -> serde_json::Value {
    let store = tools().store_arg();
    let mut all = vec![
        "reevaluate",
        "tools-rl",
        "--store",
        &store,
        "--embedded",
        "--output",
        "json",
    ];
    all.extend_from_slice(args);
    last_json(&run_ok("nas-controller", &all))
}

/// The venv's Python with torch (`make test` sets `NAS_PYTHON`).
fn python() -> String {
    std::env::var("NAS_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Loads an exported module with PyTorch and counts its parameters.
fn pytorch_parameters(module: &Path, arguments: &str) -> u64 {
    let script = format!(
        "import importlib.util\nspec = importlib.util.spec_from_file_location('arch', r'{}')\n\
         module = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(module)\n\
         model = module.build({arguments})\nprint(sum(p.numel() for p in model.parameters() if p.requires_grad))\n",
        module.display()
    );
    let output = Command::new(python())
        .args(["-c", &script])
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .lines()
        .last()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn exported_pytorch_cnns_match_the_rust_parameter_counts() {
    tools().experiment("tools-rl");
    let store = tools().store_arg();
    let dir = tempfile::tempdir().unwrap();
    // CNNs: architectures of the search against their worker's count.
    let mut checked = 0;
    for record in tools().reward_log("tools-rl").iter().take(4) {
        let id = record["arch_id"].as_str().unwrap();
        let rust = record["result"]["param_count"].as_u64().unwrap();
        let module = dir.path().join(format!("{}.py", &id[..12]));
        run_ok(
            "nas-controller",
            &[
                "export",
                &id[..12],
                "--experiment",
                "tools-rl",
                "--store",
                &store,
                "--format",
                "pytorch",
                "--out",
                module.to_str().unwrap(),
            ],
        );
        assert_eq!(pytorch_parameters(&module, ""), rust, "architecture {id}");
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn widening_adds_filters_to_the_retrained_and_the_exported_net() {
    let store = tools().store_arg();
    let record = &tools().reward_log("tools-rl")[0];
    let id = &record["arch_id"].as_str().unwrap()[..12];
    let found = record["result"]["param_count"].as_u64().unwrap();
    // Re-evaluation trains the net with 40 more filters in every layer.
    let summary = reevaluate_rl(&[
        "--arch",
        id,
        "--widen",
        "40",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--name",
        "tools-wide",
    ]);
    let widened_id = summary["results"][0]["architecture_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(&widened_id[..12], id, "the widened net has an id of its own");
    let results = tools()
        .store
        .join("experiments/tools-rl/reevaluations/tools-wide/results");
    let entry = std::fs::read_dir(results).unwrap().next().unwrap().unwrap();
    let result: serde_json::Value = serde_json::from_slice(&std::fs::read(entry.path()).unwrap()).unwrap();
    let trained = result["param_count"].as_u64().unwrap();
    assert!(trained > found, "{trained} parameters widened from {found}");
    // The exported widened module has exactly the trained net's parameters,
    // and every layer 40 filters more than the net as found.
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("wide.py");
    let export = |format: &str, out: &Path| {
        run_ok(
            "nas-controller",
            &[
                "export",
                id,
                "--experiment",
                "tools-rl",
                "--store",
                &store,
                "--widen",
                "40",
                "--format",
                format,
                "--out",
                out.to_str().unwrap(),
            ],
        );
    };
    export("pytorch", &module);
    assert_eq!(pytorch_parameters(&module, ""), trained);
    let spec_path = dir.path().join("wide.json");
    export("json", &spec_path);
    let wide: serde_json::Value = serde_json::from_slice(&std::fs::read(&spec_path).unwrap()).unwrap();
    let filters = |spec: &serde_json::Value| -> Vec<u64> {
        spec["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["filters"].as_u64().unwrap())
            .collect()
    };
    let original: Vec<u64> = filters(&record["spec"]).iter().map(|f| f + 40).collect();
    assert_eq!(filters(&wide), original);
    assert_eq!(
        wide["layers"].as_array().unwrap().len(),
        record["spec"]["layers"].as_array().unwrap().len()
    );
}

#[test]
fn an_exported_pytorch_cell_matches_the_rust_parameter_count() {
    let dir = tempfile::tempdir().unwrap();
    // The worker's language model against the exported one.
    let ptb = dir.path().join("ptb");
    nas_tests::synth_ptb(&ptb, 200, 40);
    let cell = dir.path().join("cell.json");
    std::fs::write(
        &cell,
        run_ok("nas-controller", &["sample", "--space", "rnn", "--seed", "3"]).stdout,
    )
    .unwrap();
    let trained = last_json(&run_ok(
        "nas-worker",
        &[
            "train",
            "--spec",
            cell.to_str().unwrap(),
            "--task",
            "ptb",
            "--data",
            ptb.to_str().unwrap(),
            "--hidden",
            "16",
            "--train-subset",
            "400",
            "--device",
            "cpu",
            "--output",
            "json",
        ],
    ));
    let text = std::fs::read_to_string(ptb.join("ptb.train.txt")).unwrap();
    let mut vocabulary: std::collections::HashSet<&str> = text.split_whitespace().collect();
    vocabulary.insert("<eos>");
    let module = dir.path().join("cell.py");
    run_ok(
        "nas-controller",
        &[
            "export",
            cell.to_str().unwrap(),
            "--format",
            "pytorch",
            "--out",
            module.to_str().unwrap(),
        ],
    );
    let python = pytorch_parameters(&module, &format!("vocabulary={}, hidden=16", vocabulary.len()));
    assert_eq!(python, trained["params"].as_u64().unwrap());
    // JSON and DOT exports of the same spec.
    let json = run_ok(
        "nas-controller",
        &["export", cell.to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&json.stdout).unwrap()["kind"],
        "cell"
    );
    let dot = String::from_utf8(
        run_ok(
            "nas-controller",
            &["export", cell.to_str().unwrap(), "--format", "dot"],
        )
        .stdout,
    )
    .unwrap();
    assert!(dot.contains("c_{t-1}") && dot.contains("-> ht"));
}

#[test]
fn a_resume_that_would_change_the_strategy_or_the_objective_is_refused_naming_each_change() {
    tools().experiment("tools-rl");
    let store = tools().store_arg();
    let err = run_err(
        "nas-controller",
        &[
            "search",
            "--embedded",
            "--store",
            &store,
            "--experiment",
            "tools-rl",
            "--resume",
            "--strategy",
            "evolution",
            "--objective",
            "mnas:parameters:1500:0:-1",
            "--children",
            "20",
        ],
    );
    assert!(
        err.contains("strategy: stored \"reinforce\", given \"evolution\"")
            && err.contains("objective: stored none, given")
            && !err.contains("children: stored"),
        "{err}"
    );
    // Nothing was searched: the reward log is as it was.
    assert_eq!(tools().reward_log("tools-rl").len(), 12);
}

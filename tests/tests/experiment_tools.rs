//! The commands that work on stored experiments, end to end on small
//! embedded searches: replay (and `--verify`), report, export (PyTorch
//! modules load and match the Rust children's parameter counts),
//! re-evaluation, the evolution strategy in `search` and `simulate`, and
//! a search whose reward is shaped by a parameter target (MnasNet's hard
//! constraint): its rewards by hand, replay `--verify` and `--objective`,
//! and the report's Pareto front and cost-limited leaderboard.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use nas_tests::{run_err, run_ok, synth_cifar10};

/// A store with three small searches (REINFORCE, evolution, random) on
/// synthetic CIFAR-10, made once for every test of this file.
struct Fixture {
    _dir: tempfile::TempDir,
    store: PathBuf,
    data: PathBuf,
}

/// A tiny search of 12 children; the space is the tests' tiny space.
fn config_text() -> String {
    format!(
        "task = \"cifar10\"\nchildren = 12\nin_flight = 2\n[budget]\nepochs = 1\nbatch_size = 32\n\
         [controller]\nbatch_size = 4\n[evolution]\npopulation = 4\nsample = 2\n[space]\n{}",
        nas_tests::pipeline::TINY_SPACE
    )
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("runs");
        let data = dir.path().join("data");
        let data_arg = data.to_str().unwrap();
        synth_cifar10(&data, 60, 40);
        let config = dir.path().join("tools.toml");
        std::fs::write(&config, config_text()).unwrap();
        let objective = format!("mnas:parameters:{PARAMETER_TARGET}:0:-1");
        for (experiment, strategy, extra) in [
            ("tools-rl", "reinforce", None),
            ("tools-evo", "evolution", None),
            ("tools-random", "random", None),
            ("tools-mo", "reinforce", Some(["--objective", objective.as_str()])),
        ] {
            let mut args = vec![
                "search",
                "--embedded",
                "--workers",
                "2",
                "--config",
                config.to_str().unwrap(),
                "--data",
                data_arg,
                "--store",
                store.to_str().unwrap(),
                "--experiment",
                experiment,
                "--strategy",
                strategy,
                "--metrics-addr",
                "127.0.0.1:0",
            ];
            args.extend(extra.iter().flatten());
            run_ok("nas-controller", &args);
        }
        Fixture {
            _dir: dir,
            store,
            data,
        }
    })
}

/// The parameter target of `tools-mo`: the tiny space's children fall on
/// both sides of it (the test checks that they do).
const PARAMETER_TARGET: f64 = 1500.0;

fn store_arg() -> String {
    fixture().store.to_str().unwrap().to_owned()
}

fn last_json(output: &std::process::Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn replay_verify_reproduces_the_recorded_policy_exactly() {
    let store = store_arg();
    let output = run_ok(
        "nas-controller",
        &["replay", "tools-rl", "--store", &store, "--verify", "--json"],
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
            "tools-rl",
            "--store",
            &store,
            "--fresh",
            "--reward-transform",
            "batch-rank",
            "--json",
        ],
    );
    let report = last_json(&output);
    assert_eq!(report["rewards"], 12);
    assert_eq!(report["steps"].as_array().unwrap().len(), 3);
    let err = run_err(
        "nas-controller",
        &["replay", "nothing-here", "--store", &store, "--verify"],
    );
    assert!(err.contains("no experiment nothing-here"), "{err}");
}

fn magic(path: &Path, expected: &[u8]) -> bool {
    std::fs::read(path).unwrap().starts_with(expected)
}

/// Renders the report of `experiment` with `extra` flags; returns its
/// folder and its page.
fn report_of(experiment: &str, extra: &[&str]) -> (tempfile::TempDir, String) {
    let out = tempfile::tempdir().unwrap();
    let store = store_arg();
    let mut args = vec![
        "report",
        experiment,
        "--store",
        &store,
        "--out",
        out.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run_ok("nas-controller", &args);
    let html = std::fs::read_to_string(out.path().join("index.html")).unwrap();
    (out, html)
}

#[test]
fn the_report_renders_with_its_plots_and_diagrams() {
    let (out, html) = report_of("tools-rl", &["--compare", "tools-evo,tools-random"]);
    for reference in [
        "rewards.png",
        "rewards.svg",
        "comparison.png",
        "cost.png",
        "architecture-1.svg",
        "architecture-1.dot",
    ] {
        assert!(
            html.contains(reference),
            "the page does not reference {reference}"
        );
        assert!(
            out.path().join(reference).is_file(),
            "{reference} was not written"
        );
    }
    assert!(html.contains("tools-evo (evolution)") && html.contains("tools-random (random)"));
    for png in ["rewards.png", "comparison.png", "cost.png"] {
        assert!(magic(&out.path().join(png), b"\x89PNG"), "{png} is not a PNG");
        assert!(
            std::fs::metadata(out.path().join(png)).unwrap().len() > 5_000,
            "{png} is empty"
        );
    }
    let svg = std::fs::read_to_string(out.path().join("rewards.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("best so far"));
    let diagram = std::fs::read_to_string(out.path().join("architecture-1.svg")).unwrap();
    assert!(diagram.contains("image") && diagram.contains("global average pool"));
    let dot = std::fs::read_to_string(out.path().join("architecture-1.dot")).unwrap();
    assert!(dot.starts_with("digraph") && dot.contains("-> output"));
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
    let store = store_arg();
    let dir = tempfile::tempdir().unwrap();
    // CNNs: every architecture of the search against its worker's count.
    let log = fixture().store.join("experiments/tools-rl/rewards");
    let mut checked = 0;
    for entry in std::fs::read_dir(&log).unwrap().take(4) {
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
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
    let store = store_arg();
    let record = &reward_log("tools-rl")[0];
    let id = &record["arch_id"].as_str().unwrap()[..12];
    let found = record["result"]["param_count"].as_u64().unwrap();
    // Re-evaluation trains the net with 40 more filters in every layer.
    let output = run_ok(
        "nas-controller",
        &[
            "reevaluate",
            "tools-rl",
            "--store",
            &store,
            "--embedded",
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
            "--json",
        ],
    );
    let summary = last_json(&output);
    let widened_id = summary["results"][0]["architecture_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(&widened_id[..12], id, "the widened net has an id of its own");
    let results = fixture()
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
    run_ok(
        "nas-controller",
        &[
            "data",
            "synth",
            "ptb",
            "--out",
            ptb.to_str().unwrap(),
            "--sentences",
            "200",
            "--vocabulary",
            "40",
        ],
    );
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
            "--json",
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
fn reevaluation_trains_the_top_architectures_into_their_own_table() {
    let store = store_arg();
    let output = run_ok(
        "nas-controller",
        &[
            "reevaluate",
            "tools-rl",
            "--store",
            &store,
            "--embedded",
            "--workers",
            "2",
            "--top",
            "2",
            "--seeds",
            "2",
            "--epochs",
            "1",
            "--test",
            "--json",
        ],
    );
    let summary = last_json(&output);
    let rows = summary["results"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{summary}");
    for row in rows {
        assert_eq!(row["metric"]["count"], 2, "two seeds per architecture: {row}");
        assert!(row["metric"]["std"].as_f64().unwrap() >= 0.0);
    }
    let pick = &summary["pick"];
    assert_eq!(pick["test_metric"]["count"], 2, "{pick}");
    let root = fixture()
        .store
        .join("experiments/tools-rl/reevaluations/tools-rl-reeval");
    assert_eq!(std::fs::read_dir(root.join("results")).unwrap().count(), 4);
    assert!(root.join("summary.json").is_file());
    // The policy's reward log is untouched.
    assert_eq!(
        std::fs::read_dir(fixture().store.join("experiments/tools-rl/rewards"))
            .unwrap()
            .count(),
        12
    );
    // The final grid over the CIFAR-10 hyperparameters has 16 points.
    let output = run_ok(
        "nas-controller",
        &[
            "reevaluate",
            "tools-rl",
            "--store",
            &store,
            "--embedded",
            "--top",
            "1",
            "--seeds",
            "1",
            "--epochs",
            "2",
            "--grid",
            "--name",
            "tools-grid",
            "--json",
        ],
    );
    let summary = last_json(&output);
    assert_eq!(summary["results"].as_array().unwrap().len(), 16);
    // The report shows the re-evaluations.
    let (_out, html) = report_of("tools-rl", &[]);
    assert!(
        html.contains("Re-evaluation tools-rl-reeval") && html.contains("Final pick"),
        "{html}"
    );
    let _ = &fixture().data;
}

#[test]
fn evolution_searches_and_simulates() {
    // The reward log is JSON lines, one object per batch of results.
    let log = fixture().store.join("experiments/tools-evo/rewards");
    let records: usize = std::fs::read_dir(&log)
        .unwrap()
        .map(|entry| {
            std::fs::read_to_string(entry.unwrap().path())
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    assert_eq!(records, 12);
    let output = run_ok(
        "nas-controller",
        &[
            "simulate",
            "--strategies",
            "evolution,random",
            "--budget",
            "200",
            "--seeds",
            "3",
            "--json",
        ],
    );
    let value = last_json(&output);
    let runs = value["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    assert!(runs.iter().any(|run| run["strategy"] == "evolution"));
}

/// The reward log of `experiment` as JSON values.
fn reward_log(experiment: &str) -> Vec<serde_json::Value> {
    let store = store_arg();
    let output = run_ok("nas-controller", &["log", experiment, "--store", &store]);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn a_parameter_target_shapes_rewards_and_replays_under_other_weights() {
    let store = store_arg();
    let records = reward_log("tools-mo");
    let (mut under, mut over) = (0, 0);
    for record in records.iter().filter(|r| r["status"] == "ok") {
        let result = &record["result"];
        let raw = result["outcome"]["reward"].as_f64().unwrap();
        let parameters = result["costs"]["parameters"].as_f64().unwrap();
        assert_eq!(parameters, result["param_count"].as_f64().unwrap(), "{result}");
        // MnasNet's hard constraint: unchanged at or below the target,
        // times (parameters / target)^-1 above it.
        let expected = if parameters <= PARAMETER_TARGET {
            under += 1;
            raw
        } else {
            over += 1;
            raw * PARAMETER_TARGET / parameters
        };
        let reward = record["reward"].as_f64().unwrap();
        assert!(
            (reward - expected).abs() < 1e-9,
            "{reward} against {expected}: {record}"
        );
    }
    assert!(
        under > 0 && over > 0,
        "children on both sides of the target: {under} under, {over} over"
    );
    // Replay --verify reproduces the policy learned from shaped rewards.
    let output = run_ok(
        "nas-controller",
        &["replay", "tools-mo", "--store", &store, "--verify", "--json"],
    );
    let verification = last_json(&output);
    assert_eq!(verification["identical"], true, "{verification}");
    // Another objective on the recorded costs: a target below every child
    // divides each reward by its parameters / target, so the cheapest
    // trained child that is good enough can win; the best is reported.
    let output = run_ok(
        "nas-controller",
        &[
            "replay",
            "tools-mo",
            "--store",
            &store,
            "--fresh",
            "--objective",
            "mnas:parameters:1:0:-1",
            "--json",
        ],
    );
    let replayed = last_json(&output);
    assert_eq!(replayed["objective"], "mnas:parameters:1:0:-1");
    let best = replayed["best"][1].as_f64().unwrap();
    let expected_best = records
        .iter()
        .filter(|r| r["status"] == "ok")
        .map(|r| {
            let result = &r["result"];
            result["outcome"]["reward"].as_f64().unwrap() / result["costs"]["parameters"].as_f64().unwrap()
        })
        .fold(f64::MIN, f64::max);
    assert!(
        (best - expected_best).abs() < 1e-12,
        "{best} against {expected_best}"
    );
}

#[test]
fn the_report_of_a_shaped_search_shows_its_front_and_a_cost_limited_leaderboard() {
    let store = store_arg();
    let records = reward_log("tools-mo");
    // The report plots the front against parameters and lists it; a cost
    // limit keeps the leaderboard under it.
    let limit = format!("parameters={PARAMETER_TARGET}");
    let (out, html) = report_of("tools-mo", &["--max-cost", &limit, "--rank-by", "metric"]);
    assert!(
        html.contains("Pareto fronts") && html.contains("front-parameters.png"),
        "no front"
    );
    assert!(magic(&out.path().join("front-parameters.png"), b"\x89PNG"));
    let svg = std::fs::read_to_string(out.path().join("front-parameters.svg")).unwrap();
    assert!(svg.contains("Pareto front") && svg.contains("every trained child"));
    assert!(html.contains("Ranked by validation metric") && html.contains("parameters ≤ 1.5 k"));
    let leaderboard = html.split("<h2>Leaderboard</h2>").nth(1).unwrap();
    let leaderboard = leaderboard.split("</table>").next().unwrap();
    let parameters_of = |short: &str| {
        records
            .iter()
            .find(|r| r["arch_id"].as_str().unwrap().starts_with(short))
            .map(|r| r["result"]["param_count"].as_f64().unwrap())
            .unwrap()
    };
    let shown: Vec<f64> = leaderboard
        .split("</td><td class=\"l\">")
        .skip(1)
        .step_by(3)
        .map(|cell| parameters_of(&cell[..12]))
        .collect();
    assert!(!shown.is_empty(), "an empty leaderboard: {leaderboard}");
    assert!(shown.iter().all(|&p| p <= PARAMETER_TARGET), "{shown:?}");
    // An unknown cost in a limit is named.
    let err = run_err(
        "nas-controller",
        &[
            "report",
            "tools-mo",
            "--store",
            &store,
            "--out",
            "/tmp/x",
            "--max-cost",
            "flops=1",
        ],
    );
    assert!(err.contains("unknown cost \"flops\""), "{err}");
}

#[test]
fn reevaluation_takes_the_pareto_front() {
    let store = store_arg();
    let records = reward_log("tools-mo");
    // Re-evaluation takes the front against parameters: exactly the
    // trained children no other beats on both accuracy and parameters.
    let trained: Vec<(String, f64, f64)> = records
        .iter()
        .filter(|r| r["status"] == "ok")
        .map(|r| {
            let id = r["arch_id"].as_str().unwrap().to_owned();
            (
                id,
                r["metric"].as_f64().unwrap(),
                r["result"]["param_count"].as_f64().unwrap(),
            )
        })
        .collect();
    // Of children with equal scores, the first one logged stands for them.
    let mut front: Vec<String> = trained
        .iter()
        .enumerate()
        .filter(|(_, (_, m, p))| {
            !trained
                .iter()
                .any(|(_, n, q)| n >= m && q <= p && (n > m || q < p))
        })
        .filter(|(i, (_, m, p))| !trained[..*i].iter().any(|(_, n, q)| n == m && q == p))
        .map(|(_, (id, _, _))| id.clone())
        .collect();
    front.sort();
    front.dedup();
    let output = run_ok(
        "nas-controller",
        &[
            "reevaluate",
            "tools-mo",
            "--store",
            &store,
            "--embedded",
            "--pareto",
            "parameters",
            "--seeds",
            "1",
            "--epochs",
            "1",
            "--json",
        ],
    );
    let summary = last_json(&output);
    let mut reevaluated: Vec<String> = summary["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["architecture_id"].as_str().unwrap().to_owned())
        .collect();
    reevaluated.sort();
    assert_eq!(reevaluated, front, "{summary}");
}

//! Multi-objective search on a benchmark table with costs: `simulate
//! --objective` searches for the shaped reward, finds the table's true
//! front (checked by brute force here) and scores every run's front by
//! hypervolume; a cost without a column, or a column the table lacks, is
//! named.

#![allow(clippy::unwrap_used)]

use nas_tests::{run_err, run_ok};

const LINKS: [&str; 3] = ["0000", "0012", "0123"];
const OPS: [&str; 3] = ["gcn", "gat", "skip"];

/// Accuracy and latency of a row: every `gat` adds accuracy and latency,
/// so the two trade off.
fn row(link: usize, ops: &[usize]) -> (f64, f64) {
    let gats = ops.iter().filter(|&&op| op == 1).count() as f64;
    let skips = ops.iter().filter(|&&op| op == 2).count() as f64;
    let accuracy = 0.5 + 0.05 * gats + 0.01 * link as f64 - 0.02 * skips;
    let latency = 0.001 * (1.0 + 2.0 * gats + link as f64) * (1.0 - 0.1 * skips);
    (accuracy, latency)
}

/// The table (NAS-Bench-Graph's row format) and every row's (accuracy, latency).
fn table() -> (String, Vec<(f64, f64)>) {
    let mut text = String::new();
    let mut rows = Vec::new();
    for (link, name) in LINKS.iter().enumerate() {
        for code in 0..81usize {
            let ops: Vec<usize> = (0..4).map(|i| code / 3usize.pow(i) % 3).collect();
            if ops.iter().all(|&op| op == 2) {
                continue;
            }
            let (accuracy, latency) = row(link, &ops);
            let names: Vec<&str> = ops.iter().map(|&op| OPS[op]).collect();
            let line = serde_json::json!({"link": name, "ops": names, "valid_perf": accuracy,
                                          "test_perf": accuracy, "latency_s": latency});
            text.push_str(&format!("{line}\n"));
            rows.push((accuracy, latency));
        }
    }
    (text, rows)
}

fn space() -> String {
    let options = serde_json::to_string(&OPS).unwrap();
    let links = serde_json::to_string(&LINKS).unwrap();
    let mut text = format!("kind = \"categorical\"\n[[decisions]]\nname = \"link\"\noptions = {links}\n");
    for i in 0..4 {
        text.push_str(&format!(
            "[[decisions]]\nname = \"ops[{i}]\"\noptions = {options}\n"
        ));
    }
    text
}

/// The non-dominated (accuracy, latency) pairs, by brute force.
fn true_front(rows: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut front: Vec<(f64, f64)> = rows
        .iter()
        .copied()
        .filter(|&(a, l)| !rows.iter().any(|&(b, m)| b >= a && m <= l && (b > a || m < l)))
        .collect();
    front.sort_by(|x, y| y.0.total_cmp(&x.0));
    front.dedup();
    front
}

#[test]
fn a_shaped_search_finds_fronts_scored_against_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (text, rows) = table();
    let table_path = dir.path().join("table.jsonl");
    std::fs::write(&table_path, text).unwrap();
    let space_path = dir.path().join("space.toml");
    std::fs::write(&space_path, space()).unwrap();
    let oracle = format!("table:{}#valid_perf", table_path.display());
    let base = [
        "simulate",
        "--oracle",
        &oracle,
        "--space-file",
        space_path.to_str().unwrap(),
        "--missing-reward",
        "0",
        "--strategies",
        "reinforce,random",
        "--budget",
        "60",
        "--seeds",
        "3",
        "--objective",
        "mnas:latency:0.003",
    ];
    let mut args = base.to_vec();
    args.extend(["--cost-column", "latency=latency_s", "--json"]);
    let output = run_ok("nas-controller", &args);
    let text = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let pareto = &report["pareto"];
    assert_eq!(pareto["cost"], "latency");
    let found: Vec<(f64, f64)> = pareto["true_front"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["metric"].as_f64().unwrap(), p["cost"].as_f64().unwrap()))
        .collect();
    assert_eq!(found, true_front(&rows));
    let strategies = pareto["strategies"].as_array().unwrap();
    assert_eq!(strategies.len(), 2);
    for row in strategies {
        let ratio = row["median_ratio"].as_f64().unwrap();
        assert!(ratio > 0.5 && ratio <= 1.0 + 1e-9, "{row}");
        assert_eq!(row["runs"], 3);
    }
    // Every child's reward is the shaped one: accuracy · (latency/0.003)^-0.07.
    let run = &report["runs"][0];
    assert!(run["rewards"].as_array().unwrap().iter().all(|r| {
        let r = r.as_f64().unwrap();
        rows.iter()
            .any(|&(a, l)| (a * (l / 0.003f64).powf(-0.07) - r).abs() < 1e-9)
            || r == 0.0
    }));
    // A cost without a column, and a column the table lacks, are named.
    let mut args = base.to_vec();
    args.extend(["--cost-column", "parameters=params_m"]);
    let error = run_err("nas-controller", &args);
    assert!(error.contains("--cost-column latency=COLUMN"), "{error}");
    let mut args = base.to_vec();
    args.extend(["--cost-column", "latency=latency_ms"]);
    let error = run_err("nas-controller", &args);
    assert!(error.contains("no latency (column \"latency_ms\")"), "{error}");
}

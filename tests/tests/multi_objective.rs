//! Multi-objective search on a benchmark table with costs: `simulate
//! --objective` searches for the shaped reward, finds the table's true
//! front and scores every run's front by hypervolume (fronts, boxes and
//! hypervolumes checked by brute force here); a cost without a column, or
//! a column the table lacks, is named. A live embedded search serves its report, front included, at `/`
//! on its metrics port while it runs.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use nas_test_support::{last_json, pareto as brute};
use nas_tests::{Service, free_port, http_get, run_err, run_ok, synth_cifar10};

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

/// The report's box, true hypervolume and each strategy's median front
/// and ratio, against brute force over the table's `rows`.
fn assert_scored_by_brute_force(pareto: &serde_json::Value, rows: &[(f64, f64)]) {
    // The box: the worst accuracy and the largest latency, widened by a
    // tenth of each range; the true hypervolume is the rows' area in it.
    let (accuracies, latencies): (Vec<f64>, Vec<f64>) = rows.iter().copied().unzip();
    let (worst, best) = (min(&accuracies), max(&accuracies));
    let (cheapest, costliest) = (min(&latencies), max(&latencies));
    let reference = (
        worst - 0.1 * (best - worst),
        costliest + 0.1 * (costliest - cheapest),
    );
    let reported = (
        pareto["reference"][0].as_f64().unwrap(),
        pareto["reference"][1].as_f64().unwrap(),
    );
    assert!(
        (reported.0 - reference.0).abs() < 1e-12 && (reported.1 - reference.1).abs() < 1e-12,
        "{reported:?} against {reference:?}"
    );
    let true_hypervolume = brute::hypervolume(rows, reference);
    let reported = pareto["true_hypervolume"].as_f64().unwrap();
    assert!(
        (reported - true_hypervolume).abs() < 1e-9 * true_hypervolume,
        "{reported} against {true_hypervolume}"
    );
    let strategies = pareto["strategies"].as_array().unwrap();
    assert_eq!(strategies.len(), 2);
    for row in strategies {
        assert_eq!(row["runs"], 3);
        // The median run's front: rows of the table, none beating another,
        // whose area over the true one is the median ratio (of 3 runs, the
        // middle one's).
        let front = points(&row["median_front"]);
        assert!(!front.is_empty(), "{row}");
        assert!(front.iter().all(|point| rows.contains(point)), "{row}");
        assert_eq!(
            brute::non_dominated(&front).len(),
            front.len(),
            "a dominated point: {row}"
        );
        let ratio = row["median_ratio"].as_f64().unwrap();
        let expected = brute::hypervolume(&front, reference) / true_hypervolume;
        assert!(
            (ratio - expected).abs() < 1e-9,
            "{ratio} against {expected}: {row}"
        );
        assert!(ratio > 0.0 && ratio <= 1.0 + 1e-9, "{row}");
        let number = |value: &serde_json::Value| value.as_f64().unwrap();
        let ordered = [
            number(&row["range"][0]),
            number(&row["quartiles"][0]),
            ratio,
            number(&row["quartiles"][1]),
            number(&row["range"][1]),
        ];
        assert!(ordered.windows(2).all(|w| w[0] <= w[1]), "{row}");
    }
}

/// The non-dominated (accuracy, latency) pairs, by brute force, best
/// accuracy first.
fn true_front(rows: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut front: Vec<(f64, f64)> = brute::non_dominated(rows).into_iter().map(|i| rows[i]).collect();
    front.sort_by(|x, y| y.0.total_cmp(&x.0));
    front
}

/// A front of the report as (metric, cost) pairs.
fn points(front: &serde_json::Value) -> Vec<(f64, f64)> {
    front
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["metric"].as_f64().unwrap(), p["cost"].as_f64().unwrap()))
        .collect()
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
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
    args.extend(["--cost-column", "latency=latency_s", "--output", "json"]);
    let output = run_ok("nas-controller", &args);
    let report = last_json(&output);
    let pareto = &report["pareto"];
    assert_eq!(pareto["cost"], "latency");
    assert_eq!(points(&pareto["true_front"]), true_front(&rows));
    assert_scored_by_brute_force(pareto, &rows);
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

#[test]
fn a_running_search_serves_its_live_report_with_the_front() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    synth_cifar10(&data, 60, 40);
    let config = dir.path().join("live.toml");
    std::fs::write(
        &config,
        format!(
            "task = \"cifar10\"\nchildren = 40\nin_flight = 2\n[budget]\nepochs = 1\nbatch_size = 32\n\
             [controller]\nbatch_size = 4\n[objective]\nkind = \"mnas\"\n\
             costs = [{{ cost = \"parameters\", target = 3000, alpha = 0, beta = -1 }}]\n[space]\n{}",
            nas_tests::pipeline::TINY_SPACE
        ),
    )
    .unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let store = dir.path().join("runs");
    let mut args = nas_tests::embedded_search_args(&config, &data, &store, "live", &address);
    args.extend(["--live-report-seconds".to_owned(), "1".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut search = Service::start("nas-controller", &args, &dir.path().join("search.log"), &[]);
    // Until the first results, `/` has no page yet; then the report, with
    // the front once two children report their parameters.
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut page = String::new();
    while Instant::now() < deadline && search.is_running() {
        if let Ok((200, kind, body)) = http_get(&address, "/") {
            assert_eq!(kind, "text/html; charset=utf-8");
            page = String::from_utf8_lossy(&body).into_owned();
            if page.contains("front-parameters.png") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        page.contains("front-parameters.png"),
        "no live report with a front while the search ran: {page:?}\n{}",
        search.log_text()
    );
    assert!(
        page.contains("http-equiv=\"refresh\" content=\"1\""),
        "the page does not reload itself"
    );
    assert!(
        page.contains("shaped by <code>mnas:parameters:3000:0:-1</code>"),
        "{page}"
    );
    let (status, kind, png) = http_get(&address, "/front-parameters.png").unwrap();
    assert_eq!((status, kind.as_str()), (200, "image/png"));
    assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000);
    let (status, _, _) = http_get(&address, "/no-such-file.png").unwrap();
    assert_eq!(status, 404);
    let (status, _, _) = http_get(&address, "/metrics").unwrap();
    assert_eq!(status, 200);
    let summary =
        nas_tests::pipeline::summary_of(search.wait_output(Duration::from_secs(300))).expect("a summary");
    assert_eq!(summary["complete"], true, "{summary}");
    assert_eq!(summary["objective"], "mnas:parameters:3000:0:-1");
    // The summary's leaderboard carries each leader's costs.
    assert!(
        summary["leaderboard"][0]["costs"]["parameters"].as_f64().unwrap() > 0.0,
        "{summary}"
    );
}

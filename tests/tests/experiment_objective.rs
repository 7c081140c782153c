//! A search whose reward is shaped by a parameter target (MnasNet's hard
//! constraint), `tools-mo` of `nas_tests::tools`: its rewards by hand,
//! replay `--verify` and `--objective`, the report's Pareto front and
//! cost-limited leaderboard, and re-evaluation of the front.

#![allow(clippy::unwrap_used)]

use nas_test_support::last_json;
use nas_tests::tools::{PARAMETER_TARGET, magic, tools};
use nas_tests::{run_err, run_ok};

#[test]
fn a_parameter_target_shapes_rewards_and_replays_under_other_weights() {
    let store = tools().store_arg();
    let records = tools().reward_log("tools-mo");
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
        &[
            "replay",
            "verify",
            "--experiment",
            "tools-mo",
            "--store",
            &store,
            "--output",
            "json",
        ],
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
            "train",
            "--experiment",
            "tools-mo",
            "--store",
            &store,
            "--fresh",
            "--objective",
            "mnas:parameters:1:0:-1",
            "--output",
            "json",
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
    let store = tools().store_arg();
    let records = tools().reward_log("tools-mo");
    // The report plots the front against parameters and lists it; a cost
    // limit keeps the leaderboard under it.
    let limit = format!("parameters={PARAMETER_TARGET}");
    let (out, html) = tools().report_of("tools-mo", &["--max-cost", &limit, "--rank-by", "metric"]);
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
    let store = tools().store_arg();
    let records = tools().reward_log("tools-mo");
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
            "--output",
            "json",
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

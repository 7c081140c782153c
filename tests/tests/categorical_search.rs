//! A categorical search (a NAS-Bench-Graph-shaped space) runs end to end
//! through RabbitMQ and the object store, with surrogate workers answering
//! from a benchmark table in NAS-Bench-Graph's row format; every recorded
//! reward is the table's value for its architecture, and `replay --verify`
//! recomputes the stored policy bit for bit; a local search and a
//! predictor-guided search killed mid-search resume without proposing any
//! architecture twice, and `replay verify` proposes every child again; so
//! does a predictor searching the front of a reward shaped by a cost, and
//! the predictor, evolution and REINFORCE warm-started from an earlier
//! experiment over an edited space (a decision added, an option removed). A
//! search stops at its GPU-hour budget with every published child
//! recorded, and a resume takes it past its original children.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use nas_test_support::last_json;
use nas_tests::pipeline::{LoggedReward, Pipeline, summary_of};
use nas_tests::{Service, run_ok};

const LINKS: [&str; 3] = ["0000", "0012", "0123"];
const OPS: [&str; 3] = ["gcn", "gat", "skip"];

/// The table's validation value of a row: a fixed function of the choices.
fn valid_perf(link: usize, ops: &[usize]) -> f64 {
    let score: usize = ops.iter().enumerate().map(|(i, &op)| (op + i) % 3).sum::<usize>() + 2 * link;
    0.5 + 0.02 * score as f64
}

/// The decision the warm-start test adds to the space, and its options
/// (the wider one scores 0.01 more).
const ADDED: &str = "width";
const WIDTHS: [&str; 2] = ["narrow", "wide"];

/// The space a table covers: the benchmark's, or with [`ADDED`] too.
#[derive(Clone, Copy, PartialEq)]
enum Space {
    Benchmark,
    Widened,
}

/// Every tuple of `space` except the all-`skip` ones (as in the real
/// benchmark), one JSON line each; returns the text and valid_perf by key.
fn table(space: Space) -> (String, HashMap<String, f64>) {
    let widths: &[&str] = match space {
        Space::Benchmark => &[""],
        Space::Widened => &WIDTHS,
    };
    let mut text = String::new();
    let mut values = HashMap::new();
    for (link, name) in LINKS.iter().enumerate() {
        for code in 0..81usize {
            let ops: Vec<usize> = (0..4).map(|i| code / 3usize.pow(i) % 3).collect();
            if ops.iter().all(|&op| op == 2) {
                continue;
            }
            let names: Vec<&str> = ops.iter().map(|&op| OPS[op]).collect();
            for (wider, width) in widths.iter().enumerate() {
                let value = valid_perf(link, &ops) + 0.01 * wider as f64;
                let mut row = serde_json::json!({"link": name, "ops": names, "valid_perf": value,
                                                 "test_perf": value - 0.01, "latency_s": 0.01, "params_m": 0.1});
                let mut key = format!("{name}/{}", names.join(","));
                if space == Space::Widened {
                    row[ADDED] = serde_json::json!(width);
                    key = format!("{key}/{width}");
                }
                text.push_str(&format!("{row}\n"));
                values.insert(key, value);
            }
        }
    }
    (text, values)
}

fn experiment_file(experiment: &str, strategy: &str, job_timeout_seconds: u32) -> String {
    let options = serde_json::to_string(&OPS).unwrap();
    let links = serde_json::to_string(&LINKS).unwrap();
    let mut text = format!(
        "experiment = \"{experiment}\"\nstrategy = \"{strategy}\"\nchildren = 40\nin_flight = 4\n\
         job_timeout_seconds = {job_timeout_seconds}\n\
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

/// `space`'s table written into the pipeline's folder and two surrogate workers
/// answering from it after `delay_ms`; returns valid_perf by key.
fn surrogates(setup: &Pipeline, delay_ms: u64, space: Space) -> (HashMap<String, f64>, [Service; 2]) {
    let (rows, values) = table(space);
    let path = setup.path("bench.jsonl");
    std::fs::write(&path, rows).unwrap();
    let oracle = format!("table:{}#valid_perf", path.display());
    (
        values,
        [
            setup.surrogate_from("s1", &oracle, delay_ms),
            setup.surrogate_from("s2", &oracle, delay_ms),
        ],
    )
}

/// A child's decisions as `link/op,op,op,op` (then `/width` when it has one).
fn key_of(decisions: &serde_json::Value) -> String {
    let ops: Vec<&str> = (0..4)
        .map(|i| decisions[format!("ops[{i}]")].as_str().unwrap())
        .collect();
    let key = format!("{}/{}", decisions["link"].as_str().unwrap(), ops.join(","));
    match decisions[ADDED].as_str() {
        Some(width) => format!("{key}/{width}"),
        None => key,
    }
}

#[test]
fn a_categorical_search_runs_on_a_benchmark_table_through_the_queue_and_replays_exactly() {
    let setup = Pipeline::custom("categorical", |experiment, _| {
        experiment_file(experiment, "reinforce", 60)
    });
    let (values, _workers) = surrogates(&setup, 20, Space::Benchmark);
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
        assert_eq!(record.value["spec"]["kind"], "categorical", "{}", record.value);
        let key = key_of(&record.value["spec"]["decisions"]);
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
            "verify",
            "--experiment",
            &setup.experiment_name().to_string(),
            "--output",
            "json",
        ],
    );
    let verification = last_json(&output);
    assert_eq!(verification["identical"], true, "{verification}");
    assert_eq!(verification["rewards"], 40, "{verification}");
    assert_eq!(verification["step"], 10, "{verification}");
}

#[test]
fn a_local_search_killed_mid_search_resumes_without_repeating_a_child() {
    let jobs = killed_and_resumed("local_search", "");
    // After the 10 random ones, each child is a one-decision neighbour of
    // one before.
    for (at, (index, _, tokens)) in jobs.iter().enumerate().skip(10) {
        let neighbour = jobs[..at]
            .iter()
            .any(|earlier| earlier.2.iter().zip(tokens).filter(|(a, b)| a != b).count() == 1);
        assert!(
            neighbour,
            "sample {index} {tokens:?} is no neighbour of an earlier child"
        );
    }
}

#[test]
fn a_predictor_search_killed_mid_search_resumes_without_repeating_a_child() {
    let jobs = killed_and_resumed("predictor", "");
    // After the 10 random ones the model guides: most children take the
    // best link (0123, worth the most in the table), where a uniform draw
    // takes it one time in three.
    let best_link = jobs[10..].iter().filter(|job| job.2[0] == 2).count();
    assert!(best_link >= 20, "{best_link} of 30 on the best link: {jobs:?}");
}

#[test]
fn a_front_search_killed_mid_search_resumes_and_replays_with_the_same_objectives() {
    // The surrogates' training seconds are their delays: 50 ms before the
    // kill, 700 ms after, so the cost differs by worker and what the front
    // search proposes depends on the costs in the log. `replay verify`
    // (inside) proposes all 40 again from the reward log's objectives.
    let objective = "[objective]\nkind = \"mnas\"\ncosts = [{ cost = \"train_seconds\", target = 1.0 }]\n";
    killed_and_resumed("predictor", objective);
}

/// Runs a search to a GPU-hour budget with surrogate workers (each child
/// reports 100 ms of training on device `surrogate`), then resumes it with
/// a larger budget and more children than it first had, and once it has
/// finished, extends it by more children again.
#[test]
fn a_search_stops_at_its_gpu_hour_budget_with_nothing_lost_and_extends_past_its_children() {
    let setup = Pipeline::custom("categorical-budget", |experiment, _| {
        experiment_file(experiment, "predictor", 60)
    });
    let (_values, _workers) = surrogates(&setup, 100, Space::Benchmark);
    // 1.2 training seconds: about 12 of the 40 children.
    let budget = (1.2 / 3600.0).to_string();
    let first = setup.controller_with(
        "controller-1",
        false,
        &[
            "--max-gpu-hours",
            &budget,
            "--price",
            "surrogate=3.6/h,cuda=2.5/h",
        ],
    );
    let summary = summary_of(first.wait_output(Duration::from_secs(120)))
        .unwrap_or_else(|| panic!("no summary\n{}", setup.log_tails(&["controller-1"])));
    assert_eq!(summary["complete"], false, "{summary}");
    assert_eq!(summary["stopped_by_budget"], "max_gpu_hours", "{summary}");
    let published = summary["children_published"].as_u64().unwrap();
    let finished = ["children_rewarded", "children_reused", "children_failed"]
        .iter()
        .map(|key| summary[key].as_u64().unwrap())
        .sum::<u64>();
    // It waited for the children in flight: every one published is
    // recorded, and the budget stopped it well before its 40.
    assert_eq!(finished, published, "{summary}");
    assert_eq!(setup.reward_log().len() as u64, published);
    assert!((12..=20).contains(&published), "{summary}");
    // The hours are the workers' reported seconds (reused rewards cost
    // nothing), priced by device kind.
    let hours = summary["training_hours"].as_f64().unwrap();
    assert_tenths_per_child(&summary);
    assert!(hours * 3600.0 >= 1.2 - 1e-9, "{summary}");
    assert_eq!(
        summary["training_hours_by_device"]["surrogate"].as_f64(),
        Some(hours)
    );
    let cost = summary["cost"].as_f64().unwrap();
    assert!((cost - 3.6 * hours).abs() < 1e-9, "{summary}");
    // Resumed with more hours and more children than it was created with:
    // it goes on to 50, each child counted once.
    let (summary, log) = resumed_to(&setup, "controller-2", 50);
    assert_tenths_per_child(&summary);
    // A finished search extended: 6 more children, the first 50 untouched.
    let (_, extended) = resumed_to(&setup, "controller-3", 56);
    assert_eq!(
        extended[..50]
            .iter()
            .map(|record| &record.value)
            .collect::<Vec<_>>(),
        log.iter().map(|record| &record.value).collect::<Vec<_>>(),
        "the finished search's records changed"
    );
}

/// Resumes `setup`'s search as `name` with an hour of GPU budget and
/// `children` children in all; checks it completed with each child recorded
/// once, and returns its summary and the reward log.
fn resumed_to(setup: &Pipeline, name: &str, children: u64) -> (serde_json::Value, Vec<LoggedReward>) {
    let total = children.to_string();
    let resumed = setup.controller_with(name, true, &["--max-gpu-hours", "1", "--children", &total]);
    let summary = summary_of(resumed.wait_output(Duration::from_secs(120)))
        .unwrap_or_else(|| panic!("no summary\n{}", setup.log_tails(&[name])));
    assert_eq!(summary["complete"], true, "{summary}");
    let log = setup.reward_log();
    let sequences: Vec<u64> = log.iter().map(|record| record.sequence).collect();
    assert_eq!(sequences, (0..children).collect::<Vec<_>>());
    (summary, log)
}

/// The summary's training hours are 0.1 s per rewarded child (a failed one
/// may count 0.1 s or nothing, as its worker reported).
fn assert_tenths_per_child(summary: &serde_json::Value) {
    let rewarded = summary["children_rewarded"].as_u64().unwrap() as f64;
    let failed = summary["children_failed"].as_u64().unwrap() as f64;
    let children = summary["training_hours"].as_f64().unwrap() * 3600.0 / 0.1;
    assert!((children - children.round()).abs() < 1e-6, "{summary}");
    assert!(
        (rewarded..=rewarded + failed).contains(&children.round()),
        "{summary}"
    );
}

/// Searches warm-started from an earlier experiment's reward log over a
/// space edited since (a decision added, which the earlier children lack;
/// one option of `ops[3]` removed: the earlier children that chose it keep
/// their other decisions), each killed mid-search, resumed, and verified by
/// `replay verify` (inside `killed_and_resumed_with`: the step-0 checkpoint
/// holds the prior, or REINFORCE's policy after learning from it).
#[test]
fn a_warm_started_search_over_an_edited_space_resumes_and_replays_exactly() {
    let earlier = Pipeline::custom("categorical-earlier", |experiment, _| {
        experiment_file(experiment, "predictor", 60)
    });
    let (_values, _workers) = surrogates(&earlier, 10, Space::Benchmark);
    let summary = summary_of(
        earlier
            .controller("controller", false)
            .wait_output(Duration::from_secs(120)),
    )
    .expect("the earlier search finished");
    assert_eq!(summary["complete"], true, "{summary}");
    let source = earlier.experiment_name().to_string();
    let edit = |file: String| {
        let warm = format!("warm_start = [\"{source}\"]\n");
        let options = serde_json::to_string(&OPS).unwrap();
        let (before, last) = file.rsplit_once(&options).unwrap();
        let widths = serde_json::to_string(&WIDTHS).unwrap();
        warm + before
            + "[\"gcn\", \"skip\"]"
            + last
            + &format!("[[space.decisions]]\nname = \"{ADDED}\"\noptions = {widths}\n")
    };
    // Guided from the first child: the best link (0123) from the start,
    // where a cold search draws its first 10 at random (a third of them on
    // it); evolution's first children are the earlier search's best,
    // trained again; REINFORCE took policy-gradient steps on them.
    for strategy in ["predictor", "evolution", "reinforce"] {
        let jobs = killed_and_resumed_with(&format!("{strategy}-warm"), strategy, Space::Widened, &edit);
        let best_link = jobs[..10].iter().filter(|job| job.2[0] == 2).count();
        assert!(
            best_link >= 7,
            "{strategy}: {best_link} of the first 10 on the best link: {jobs:?}"
        );
        assert!(
            jobs.iter().all(|job| job.2[4] < 2 && job.2[5] < 2),
            "{strategy}: ops[3] and width have two options each: {jobs:?}"
        );
    }
}

/// Checks with `replay verify` that the 40-child `experiment` of `strategy`
/// is reproduced: every child proposed again, from the first checkpoint
/// and the rewards each one was proposed after, as if the controller had
/// never been killed (REINFORCE: every step taken again gives the stored
/// tensors bit for bit).
fn assert_replayed_exactly(experiment: &str, strategy: &str) {
    let output = run_ok(
        "nas-controller",
        &["replay", "verify", "--experiment", experiment, "--output", "json"],
    );
    let verification = last_json(&output);
    assert_eq!(verification["identical"], true, "{verification}");
    if strategy == "reinforce" {
        assert_eq!(verification["rewards"], 40, "{verification}");
        assert_eq!(verification["state_matches"], true, "{verification}");
        assert_eq!(verification["max_difference"], 0.0, "{verification}");
    } else {
        assert_eq!(verification["proposals"]["compared"], 40, "{verification}");
        assert_eq!(verification["proposals"]["differing"], 0, "{verification}");
    }
}

/// Runs a 40-child search with `strategy` (and `extra` TOML), kills the
/// controller after 16 rewards with children in flight, resumes it, and
/// checks every child is counted once with the table's metric, none
/// proposed twice (but by evolution and REINFORCE), and `replay verify` proposes each
/// again; the jobs as (sample index, job id, tokens), by sample.
fn killed_and_resumed(strategy: &str, extra: &str) -> Vec<(u64, String, Vec<u64>)> {
    let name = format!("{strategy}{}", if extra.is_empty() { "" } else { "-shaped" });
    killed_and_resumed_with(&name, strategy, Space::Benchmark, &|file| file + extra)
}

/// [`killed_and_resumed`] over `space` with the experiment file edited by
/// `edit`.
fn killed_and_resumed_with(
    name: &str,
    strategy: &str,
    space: Space,
    edit: &dyn Fn(String) -> String,
) -> Vec<(u64, String, Vec<u64>)> {
    let stem = format!("categorical-{name}");
    let setup = Pipeline::custom(&stem, |experiment, _| {
        edit(experiment_file(experiment, strategy, 5))
    });
    let (values, [mut s1, mut s2]) = surrogates(&setup, 50, space);
    let mut controller = setup.controller("controller-1", false);
    let deadline = Instant::now() + Duration::from_secs(120);
    while setup.reward_log().len() < 16 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(setup.reward_log().len() >= 16, "{}", controller.log_text());
    // The controller dies with children in flight; slow workers finish
    // them one by one after it resumes, so it proposes while others are
    // still in flight (a resumed strategy that forgot them would propose
    // them again). The fast workers' jobs come back after the job timeout.
    controller.kill();
    s1.kill();
    s2.kill();
    let oracle = format!("table:{}#valid_perf", setup.path("bench.jsonl").display());
    let _slow = [
        setup.surrogate_from("s3", &oracle, 700),
        setup.surrogate_from("s4", &oracle, 700),
    ];
    let resumed = setup.controller("controller-2", true);
    let summary = summary_of(resumed.wait_output(Duration::from_secs(120)))
        .unwrap_or_else(|| panic!("no summary\n{}", setup.log_tails(&["controller-2", "s3", "s4"])));
    assert_eq!(summary["complete"], true, "{summary}");
    let resumed_log = std::fs::read_to_string(setup.path("controller-2.log")).unwrap();
    assert!(resumed_log.contains("resumed"), "{resumed_log}");
    // Every child counted once, with the table's value (or failed: an
    // all-skip tuple is not in the table).
    let log = setup.reward_log();
    let sequences: Vec<u64> = log.iter().map(|record| record.sequence).collect();
    assert_eq!(sequences, (0..40).collect::<Vec<_>>());
    for record in &log {
        let key = key_of(&record.value["spec"]["decisions"]);
        match values.get(&key) {
            Some(&value) => assert_eq!(record.value["metric"].as_f64(), Some(value), "{}", record.value),
            None => assert_eq!(record.status, "failed", "{}", record.value),
        }
    }
    // No architecture was proposed twice, across the kill: the resumed
    // strategy knew every child trained and every one in flight.
    let mut jobs: Vec<(u64, String, Vec<u64>)> = setup
        .job_records()
        .iter()
        .map(|record| {
            let tokens = record["actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_u64().unwrap())
                .collect();
            (
                record["sample_index"].as_u64().unwrap(),
                record["job"]["job_id"].as_str().unwrap().to_owned(),
                tokens,
            )
        })
        .collect();
    jobs.sort();
    jobs.dedup_by(|a, b| a.1 == b.1);
    assert_eq!(jobs.len(), 40, "{jobs:?}");
    // (Regularized evolution, as published, may mutate its way back to an
    // architecture it tried, and REINFORCE without redraws samples one
    // again: only the others promise distinct children.)
    let distinct: std::collections::HashSet<&Vec<u64>> = jobs.iter().map(|job| &job.2).collect();
    if !matches!(strategy, "evolution" | "reinforce") {
        assert_eq!(distinct.len(), 40, "an architecture was proposed twice: {jobs:?}");
    }
    assert_replayed_exactly(&setup.experiment_name().to_string(), strategy);
    jobs
}

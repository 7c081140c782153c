//! One command-line grammar: the new spellings (`simulate search|stopping`,
//! `replay verify`, `--experiment`, `--output json`, `--children`) and the
//! deprecated ones of the last release give the same results, the old ones
//! with a warning; a mode's missing setting is an error that names it.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use nas_test_support::last_json;
use nas_tests::{run_err, run_ok};

fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .to_string_lossy()
        .into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn simulate_search_and_its_old_spelling_agree() {
    let common = [
        "--oracle",
        "synthetic",
        "--space",
        "cnn",
        "--strategies",
        "random",
        "--seeds",
        "2",
    ];
    let new = run_ok(
        "nas-controller",
        &[
            &["simulate", "search"],
            &common[..],
            &["--children", "30", "--output", "json"],
        ]
        .concat(),
    );
    let old = run_ok(
        "nas-controller",
        &[&["simulate"], &common[..], &["--budget", "30", "--json"]].concat(),
    );
    assert_eq!(last_json(&new)["runs"], last_json(&old)["runs"]);
    assert_eq!(last_json(&new)["budget"], 30);
    assert!(!stderr(&new).contains("deprecated"), "{}", stderr(&new));
    for flag in ["--budget", "--json", "without a subcommand"] {
        assert!(
            stderr(&old).contains(flag),
            "no warning for {flag}: {}",
            stderr(&old)
        );
    }
}

#[test]
fn simulate_stopping_and_its_old_spelling_agree() {
    let oracle = format!(
        "curves:{}#valid_accuracy",
        repo("bench/tables/cifar10-tiny-curves.jsonl")
    );
    let space = repo("bench/spaces/tiny-cnn.toml");
    let common = [
        "--oracle",
        &oracle,
        "--space-file",
        &space,
        "--strategies",
        "random",
        "--seeds",
        "2",
        "--gpu-seconds",
        "600",
    ];
    let new = run_ok(
        "nas-controller",
        &[
            &["simulate", "stopping"],
            &common[..],
            &["--rules", "none,asha:1:3", "--output", "json"],
        ]
        .concat(),
    );
    let old = run_ok(
        "nas-controller",
        &[
            &["simulate"],
            &common[..],
            &["--stopping", "none,asha:1:3", "--output", "json"],
        ]
        .concat(),
    );
    let (new, old_json) = (last_json(&new), last_json(&old));
    assert_eq!(new["summaries"], old_json["summaries"]);
    assert_eq!(new["summaries"].as_array().map(Vec::len), Some(2));
    assert!(
        stderr(&old).contains("simulate stopping --rules"),
        "{}",
        stderr(&old)
    );

    let missing = run_err(
        "nas-controller",
        &[
            "simulate",
            "stopping",
            "--oracle",
            &oracle,
            "--space-file",
            &space,
            "--rules",
            "none",
        ],
    );
    assert!(missing.contains("--gpu-seconds"), "{missing}");
    let wrong_mode = run_err(
        "nas-controller",
        &[
            "simulate",
            "stopping",
            "--oracle",
            "synthetic",
            "--rules",
            "none",
            "--gpu-seconds",
            "10",
        ],
    );
    assert!(wrong_mode.contains("learning-curve oracle"), "{wrong_mode}");
}

#[test]
fn the_experiment_is_named_by_flag_variable_or_the_old_positional() {
    let store = tempfile::tempdir().unwrap();
    let store = store.path().to_str().unwrap();
    let by_flag = run_err(
        "nas-controller",
        &["log", "--store", store, "--experiment", "ghost"],
    );
    assert!(by_flag.contains("no experiment ghost"), "{by_flag}");
    assert!(!by_flag.contains("deprecated"), "{by_flag}");
    let by_position = run_err("nas-controller", &["log", "--store", store, "ghost"]);
    assert!(
        by_position.contains("no experiment ghost") && by_position.contains("deprecated"),
        "{by_position}"
    );
    let by_variable = std::process::Command::new(nas_tests::binary("nas-controller"))
        .args(["replay", "verify", "--store", store])
        .env("NAS_EXPERIMENT", "ghost")
        .output()
        .unwrap();
    assert!(stderr(&by_variable).contains("ghost"), "{}", stderr(&by_variable));
    let unnamed = run_err("nas-controller", &["report", "--store", store, "--out", store]);
    assert!(unnamed.contains("--experiment"), "{unnamed}");
    let old_verify = run_err(
        "nas-controller",
        &["replay", "--store", store, "ghost", "--verify"],
    );
    assert!(
        old_verify.contains("replay verify") && old_verify.contains("ghost"),
        "{old_verify}"
    );
    let mixed = run_err(
        "nas-controller",
        &[
            "replay",
            "--verify",
            "--fresh",
            "--store",
            store,
            "--experiment",
            "ghost",
        ],
    );
    assert!(mixed.contains("no training settings"), "{mixed}");
}

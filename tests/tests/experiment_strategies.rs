//! Search strategies side by side on small embedded searches (see
//! `nas_tests::tools`): the report of a REINFORCE search compared with an
//! evolution and a random one, and evolution in `search` and `simulate`,
//! where it must beat random search on an oracle that rewards mutating the
//! best.

#![allow(clippy::unwrap_used)]

use nas_test_support::last_json;
use nas_tests::run_ok;
use nas_tests::tools::{magic, tools};

#[test]
fn the_report_renders_with_its_plots_and_diagrams() {
    tools().experiment("tools-evo");
    tools().experiment("tools-random");
    let (out, html) = tools().report_of("tools-rl", &["--compare", "tools-evo,tools-random"]);
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

/// Positions where two token sequences differ (`usize::MAX` for
/// sequences of different lengths: different depths).
fn distance(a: &serde_json::Value, b: &serde_json::Value) -> usize {
    let (a, b) = (a.as_array().unwrap(), b.as_array().unwrap());
    if a.len() != b.len() {
        return usize::MAX;
    }
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

#[test]
fn evolution_searches_with_one_decision_mutations_of_earlier_children() {
    let log = tools().reward_log("tools-evo");
    assert_eq!(log.len(), 12);
    // Population 4 and 2 children in flight: from sample 6 on, each child
    // was sampled after at least 5 results, so it is a mutation (one
    // decision changed) of a child logged before it. Random children of
    // the tiny space (4096 architectures, 12 tokens) almost never are.
    let mut mutations = 0;
    for record in log.iter().filter(|r| r["sample_index"].as_u64().unwrap() >= 6) {
        let sequence = record["sequence"].as_u64().unwrap();
        let parents = log
            .iter()
            .filter(|other| other["sequence"].as_u64().unwrap() < sequence)
            .filter(|other| distance(&other["actions"], &record["actions"]) == 1)
            .count();
        assert!(
            parents > 0,
            "child {record} is no one-decision mutation of an earlier child"
        );
        mutations += 1;
    }
    assert_eq!(mutations, 6);
}

/// A space of 8 decisions of 6 options: the synthetic oracle scores each
/// option of each decision on its own, so mutating a good child is likely
/// to give a good child.
const CATEGORICAL: &str = "kind = \"categorical\"\n\
    [[decisions]]\nname = \"a\"\noptions = [0, 1, 2, 3, 4, 5]\n\
    [[decisions]]\nname = \"b\"\noptions = [0, 1, 2, 3, 4, 5]\n\
    [[decisions]]\nname = \"c\"\noptions = [0, 1, 2, 3, 4, 5]\n\
    [[decisions]]\nname = \"d\"\noptions = [0, 1, 2, 3, 4, 5]\n\
    [[decisions]]\nname = \"e\"\noptions = [0, 1, 2, 3, 4, 5]\n\
    [[decisions]]\nname = \"f\"\noptions = [0, 1, 2, 3, 4, 5]\n\
    [[decisions]]\nname = \"g\"\noptions = [0, 1, 2, 3, 4, 5]\n\
    [[decisions]]\nname = \"h\"\noptions = [0, 1, 2, 3, 4, 5]\n";

#[test]
fn simulated_evolution_improves_where_random_search_stays_flat() {
    let dir = tempfile::tempdir().unwrap();
    let space = dir.path().join("space.toml");
    std::fs::write(&space, CATEGORICAL).unwrap();
    let output = run_ok(
        "nas-controller",
        &[
            "simulate",
            "search",
            "--space-file",
            space.to_str().unwrap(),
            "--strategies",
            "evolution,random",
            "--population",
            "20",
            "--tournament",
            "5",
            "--children",
            "300",
            "--seeds",
            "3",
            "--output",
            "json",
        ],
    );
    let value = last_json(&output);
    let runs = value["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    let rewards = |run: &serde_json::Value| -> Vec<f64> {
        run["rewards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_f64().unwrap())
            .collect()
    };
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
    for seed in 0..3 {
        let of = |strategy: &str| {
            rewards(
                runs.iter()
                    .find(|run| run["strategy"] == strategy && run["seed"] == seed)
                    .unwrap(),
            )
        };
        let (evolution, random) = (of("evolution"), of("random"));
        assert_eq!((evolution.len(), random.len()), (300, 300));
        // The first 20 children of evolution are random; its last 100
        // descend from the best of them and beat random search's.
        let (first, last) = (mean(&evolution[..20]), mean(&evolution[200..]));
        let random_last = mean(&random[200..]);
        assert!(
            last > first + 0.04 && last > random_last + 0.04,
            "seed {seed}: evolution {first:.4} then {last:.4}, random search {random_last:.4}"
        );
    }
}

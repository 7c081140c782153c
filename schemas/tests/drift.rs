//! The committed schema files must equal what the code generates.

#![allow(clippy::unwrap_used)]

#[test]
fn committed_schemas_match_the_code() {
    let dir = nas_schemas::schema_dir();
    for (name, generated) in nas_schemas::generate() {
        let path = dir.join(name);
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("{} is missing ({error}); run `make schemas`", path.display()));
        let committed: serde_json::Value =
            serde_json::from_str(&committed).expect("committed schema is JSON");
        assert!(
            committed == generated,
            "{name} drifted from the Rust types; run `make schemas` and commit the result"
        );
    }
}

#[test]
fn a_job_schema_describes_the_spec_and_version() {
    let generated = nas_schemas::generate();
    let job = &generated
        .iter()
        .find(|(name, _)| *name == "train_job.schema.json")
        .unwrap()
        .1;
    let text = job.to_string();
    for field in [
        "schema_version",
        "job_id",
        "policy_version",
        "spec",
        "budget",
        "seed",
        "attempt",
    ] {
        assert!(text.contains(field), "train_job schema lacks {field}");
    }
}

#[test]
fn the_early_stopping_schemas_describe_their_fields() {
    let generated = nas_schemas::generate();
    let text = |file: &str| {
        generated
            .iter()
            .find(|(name, _)| *name == file)
            .unwrap_or_else(|| panic!("{file} is not generated"))
            .1
            .to_string()
    };
    let progress = text("epoch_progress.schema.json");
    for field in ["job_id", "attempt", "epochs", "train_seconds", "worker_id"] {
        assert!(progress.contains(field), "epoch_progress schema lacks {field}");
    }
    let stop = text("stop_job.schema.json");
    for field in ["job_id", "epoch", "rule"] {
        assert!(stop.contains(field), "stop_job schema lacks {field}");
    }
    assert!(
        text("train_result.schema.json").contains(r#""const":"stopped""#),
        "train_result schema lacks the stopped outcome"
    );
}

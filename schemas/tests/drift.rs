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

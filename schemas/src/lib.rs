//! JSON Schemas of everything that crosses the wire, generated from the
//! types in `nas-domain` so the files in this folder cannot drift from the
//! code unnoticed.
//!
//! `cargo run -p nas-schemas` (or `make schemas`) rewrites the `*.schema.json`
//! files next to this crate; the `drift` test fails when the committed files
//! differ from what the code generates.

use std::path::{Path, PathBuf};

use nas_domain::{ArchSpec, EpochProgress, SearchSpace, StopJob, TrainJob, TrainResult};
use schemars::schema_for;
use serde_json::Value;

/// Every generated schema, by file name.
pub fn generate() -> Vec<(&'static str, Value)> {
    vec![
        ("train_job.schema.json", schema_for!(TrainJob).to_value()),
        ("train_result.schema.json", schema_for!(TrainResult).to_value()),
        ("arch_spec.schema.json", schema_for!(ArchSpec).to_value()),
        ("search_space.schema.json", schema_for!(SearchSpace).to_value()),
        (
            "epoch_progress.schema.json",
            schema_for!(EpochProgress).to_value(),
        ),
        ("stop_job.schema.json", schema_for!(StopJob).to_value()),
    ]
}

/// The folder the schema files live in (this crate's root).
pub fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The text a schema file holds: pretty JSON and a final newline.
pub fn render(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

//! Canonical JSON (object keys sorted, no insignificant whitespace) and a
//! version probe that reads one field before a full parse.
//!
//! Keys are sorted here rather than relying on `serde_json`'s map type, so
//! the bytes, and the hashes of them, do not depend on cargo features.

use serde::Serialize;
use serde_json::Value;

use crate::{Error, Result};

/// Serializes `value` as canonical JSON.
pub fn to_string<T: Serialize>(value: &T) -> String {
    // Serializing plain data types into a `Value` cannot fail.
    let value = serde_json::to_value(value).unwrap_or(Value::Null);
    let mut out = String::new();
    write_value(&value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_value(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The top-level version field of a document, read without building the
/// rest (unknown fields are skipped, not stored).
#[derive(serde::Deserialize)]
struct VersionProbe {
    #[serde(alias = "schema_version")]
    version: Option<u64>,
}

/// Reads only the top-level `version` (or `schema_version`) field of a JSON
/// object and fails with [`Error::UnsupportedVersion`] when it is present and
/// not `supported`. Malformed JSON and a missing field are left for the full
/// parse to report.
pub fn check_version(json: &str, what: &'static str, supported: u32) -> Result<()> {
    let Ok(VersionProbe { version: Some(found) }) = serde_json::from_str::<VersionProbe>(json) else {
        return Ok(());
    };
    if found == u64::from(supported) {
        return Ok(());
    }
    Err(Error::UnsupportedVersion {
        what,
        found: u32::try_from(found).unwrap_or(u32::MAX),
        supported,
    })
}

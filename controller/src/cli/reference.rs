//! The book's reference pages for the controller, generated from the code:
//! `docs/src/reference/cli.md` from the command line ([`super::Cli`]) and
//! `docs/src/reference/configuration.md` from [`ExperimentConfig`] (its
//! JSON Schema, whose descriptions are the fields' doc comments, and its
//! defaults for each task). The tests below fail when a page drifts from
//! the code; `make reference` rewrites them.

use std::fmt::Write;

use nas_controller::experiment::config::{BUDGET_SETTINGS, ExperimentConfig};
use nas_domain::Task;
use nas_infra::reference::cell;
use serde_json::{Map, Value};

/// The configuration reference page.
pub(super) fn configuration_markdown() -> String {
    let schema = schemars::schema_for!(ExperimentConfig).to_value();
    let defaults = |task| {
        ExperimentConfig::defaults(task)
            .ok()
            .and_then(|config| serde_json::to_value(config).ok())
            .unwrap_or(Value::Null)
    };
    let (cifar, ptb) = (defaults(Task::Cifar10), defaults(Task::PtbWord));
    let mut out = format!(
        "# Configuration\n\n<!-- Generated from the code by the tests (NAS_UPDATE_REFERENCE=1 rewrites it): do not edit. -->\n\n\
         An experiment is configured by a TOML file (`search --config FILE`), `NAS_…` variables and flags, \
         each overriding the one before; a resumed search keeps its stored `config.json` and takes only \
         the budget settings ({}) from the flags. \
         Unknown keys are errors. The tables below list every key with its defaults for CIFAR-10 and \
         Penn Treebank (word level); `[space]`, `[reward]`, `[trial]` and `[objective]` replace the \
         default as a whole.\n\n\
         | key | CIFAR-10 default | PTB default | meaning |\n|---|---|---|---|\n",
        BUDGET_SETTINGS.join(", ")
    );
    let root = schema.get("properties").and_then(Value::as_object);
    for (key, property) in root.into_iter().flatten() {
        rows(&mut out, &schema, key, property, cifar.get(key), ptb.get(key), 0);
    }
    out.push_str(
        "\nOne more key is read from a file or a flag but not stored: `paper_strict = true` \
         (`--paper-strict`, `NAS_PAPER_STRICT`) sets every default that differs from the paper back \
         to the paper's value after the other settings (see the controller reference).\n",
    );
    out.push_str("\n## Defaults as TOML\n\nCIFAR-10 (`--task cifar10`):\n\n```toml\n");
    out.push_str(&as_toml(&cifar));
    out.push_str("```\n");
    out
}

/// One row per key; a table of settings gets a row per inner key too.
fn rows(
    out: &mut String,
    schema: &Value,
    key: &str,
    property: &Value,
    cifar: Option<&Value>,
    ptb: Option<&Value>,
    depth: usize,
) {
    let resolved = resolve(schema, property);
    let description = property
        .get("description")
        .or_else(|| resolved.get("description"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let whole = matches!(key, "space" | "reward" | "trial" | "objective");
    let mut inner = Map::new();
    if !whole && depth < 2 {
        properties(schema, resolved, &mut inner);
    }
    let inner = Some(&inner).filter(|inner| !inner.is_empty());
    let _ = writeln!(
        out,
        "| `{key}` | {} | {} | {} |",
        inner.map_or_else(|| shown(cifar), |_| "(table)".to_owned()),
        inner.map_or_else(|| shown(ptb), |_| "(table)".to_owned()),
        cell(description)
    );
    for (name, inner_property) in inner.into_iter().flatten() {
        rows(
            out,
            schema,
            &format!("{key}.{name}"),
            inner_property,
            cifar.and_then(|value| value.get(name)),
            ptb.and_then(|value| value.get(name)),
            depth + 1,
        );
    }
}

/// The keys of a table: its own properties and those of the variants it
/// flattens (a tagged rule's `rule`, `min_epochs`, …), first description
/// kept.
fn properties(schema: &Value, table: &Value, out: &mut Map<String, Value>) {
    for (key, property) in table
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        out.entry(key.clone()).or_insert_with(|| property.clone());
    }
    for combinator in ["allOf", "oneOf", "anyOf"] {
        for variant in table
            .get(combinator)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            properties(schema, resolve(schema, variant), out);
        }
    }
}

/// The schema behind a `$ref`, or the non-null side of an optional value.
fn resolve<'a>(schema: &'a Value, property: &'a Value) -> &'a Value {
    if let Some(reference) = property.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        if let Some(target) = schema.get("$defs").and_then(|defs| defs.get(name)) {
            return resolve(schema, target);
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = property.get(key).and_then(Value::as_array) {
            let non_null: Vec<&Value> = options
                .iter()
                .filter(|option| option.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            if let [only] = non_null.as_slice() {
                return resolve(schema, only);
            }
        }
    }
    property
}

/// A default as a table cell: compact JSON, or "none".
fn shown(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "none".to_owned(),
        Some(Value::String(text)) => format!("`\"{}\"`", cell(text)),
        Some(value) => {
            let text = value.to_string();
            if text.len() > 60 {
                "(see below)".to_owned()
            } else {
                format!("`{}`", cell(&text))
            }
        }
    }
}

/// A default configuration as TOML (its null fields left out).
fn as_toml(value: &Value) -> String {
    fn strip(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(_, inner)| !inner.is_null())
                    .map(|(key, inner)| (key.clone(), strip(inner)))
                    .collect::<Map<_, _>>(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    toml::to_string(&strip(value)).unwrap_or_else(|error| format!("# not representable in TOML: {error}\n"))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::CommandFactory;
    use nas_infra::reference::{check_page, cli_markdown};

    fn page(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../docs/src/reference")
            .join(name)
    }

    #[test]
    fn cli_reference_matches_the_code() {
        let generated = cli_markdown("nas-controller", &super::super::Cli::command());
        assert!(generated.contains("## `nas-controller simulate stopping`"));
        assert!(generated.contains("`--experiment <NAME>`"));
        check_page(&page("cli.md"), &generated).unwrap_or_else(|error| panic!("{error}"));
    }

    #[test]
    fn configuration_reference_matches_the_code() {
        let generated = super::configuration_markdown();
        for key in [
            "`budget.epochs`",
            "`controller.learning_rate`",
            "`stopping.rule`",
            "`objective`",
        ] {
            assert!(
                generated.contains(key),
                "{key} missing from the configuration reference"
            );
        }
        check_page(&page("configuration.md"), &generated).unwrap_or_else(|error| panic!("{error}"));
    }

    #[test]
    fn the_command_line_is_consistent() {
        super::super::Cli::command().debug_assert();
    }
}

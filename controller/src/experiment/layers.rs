//! How the sources of a configuration combine: each [`Overrides`] becomes a
//! partial configuration (a JSON value keyed as the experiment's
//! configuration), and the layers are merged over the defaults as values,
//! lowest precedence first; the configuration deserializes the result
//! once — so no field is copied by hand and the one type's own parsing
//! checks the whole.
//!
//! Merging is by key, table into table, except where a value is a choice
//! whose settings only make sense together: the space, the reward
//! function, the trial command and the objective are replaced whole, and a
//! new stopping rule drops the settings of the rule it replaces. A key a
//! layer leaves unset (`null`) keeps the value below it.

use serde_json::{Map, Value};

use super::overrides::Overrides;
use crate::{Error, Result};

/// Tables that a layer replaces whole instead of merging into.
const REPLACED: [&str; 4] = ["space", "reward", "trial", "objective"];

/// The `[stopping]` keys that belong to no particular rule.
const STOPPING_SHARED: [&str; 2] = ["stopped_reward", "sampled_again"];

/// `base` (a whole configuration as a value) with every layer's settings
/// written over it in order.
pub(super) fn merged(mut base: Value, layers: &[&Overrides]) -> Result<Value> {
    for layer in layers {
        merge_top(&mut base, partial(layer)?);
    }
    Ok(base)
}

/// A configuration (or a part of one) as a value.
pub(super) fn to_value<T: serde::Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|error| Error::Config(format!("a configuration as a value: {error}")))
}

/// The settings one layer sets, keyed as in [`ExperimentConfig`].
fn partial(layer: &Overrides) -> Result<Value> {
    let mut value = to_value(layer)?;
    let Some(map) = value.as_object_mut() else {
        return Ok(Value::Null);
    };
    map.remove("paper_strict");
    if let Some(staleness) = &layer.staleness {
        table(map, "controller").insert("staleness".into(), to_value(staleness)?);
    }
    if let Some(rule) = &layer.stopping_rule {
        let stopping = table(map, "stopping");
        if let Value::Object(rule) = to_value(rule)? {
            stopping.extend(rule);
        }
    }
    Ok(value)
}

/// The table at `key` in `map`, created if missing or unset.
fn table<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = map.entry(key.to_owned()).or_insert(Value::Null);
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(inner) => inner,
        _ => unreachable!("just made a table"),
    }
}

/// Merges a layer into the configuration's top-level table.
fn merge_top(base: &mut Value, layer: Value) {
    let (Value::Object(base), Value::Object(layer)) = (base, layer) else {
        return;
    };
    for (key, value) in layer {
        if value.is_null() {
            continue;
        }
        if REPLACED.contains(&key.as_str()) {
            base.insert(key, value);
            continue;
        }
        if key == "stopping"
            && value.get("rule").is_some()
            && let Some(Value::Object(stopping)) = base.get_mut("stopping")
        {
            stopping.retain(|name, _| STOPPING_SHARED.contains(&name.as_str()));
        }
        merge(base.entry(key).or_insert(Value::Null), value);
    }
}

/// Writes `layer` over `base`, table into table; unset keys keep `base`'s.
fn merge(base: &mut Value, layer: Value) {
    match (base, layer) {
        (_, Value::Null) => {}
        (Value::Object(base), Value::Object(layer)) => {
            for (key, value) in layer.into_iter().filter(|(_, value)| !value.is_null()) {
                merge(base.entry(key).or_insert(Value::Null), value);
            }
        }
        (base, layer) => *base = layer,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tables_merge_unset_keys_keep_and_choices_replace() {
        let mut base = json!({"budget": {"epochs": 50, "batch_size": null}, "reward": {"kind": "perplexity", "c": 80.0}});
        merge_top(
            &mut base,
            json!({"budget": {"epochs": null, "batch_size": 64}, "reward": {"kind": "accuracy"}, "seed": null}),
        );
        assert_eq!(
            base,
            json!({"budget": {"epochs": 50, "batch_size": 64}, "reward": {"kind": "accuracy"}})
        );
    }

    #[test]
    fn an_unset_key_missing_below_stays_missing() {
        let mut base = json!({"budget": {"epochs": 50}});
        merge_top(&mut base, json!({"budget": {"evaluate_test": null}}));
        assert_eq!(base, json!({"budget": {"epochs": 50}}));
    }

    #[test]
    fn a_new_stopping_rule_drops_the_old_rules_settings() {
        let mut base = json!({"stopping": {"rule": "median", "min_children": 3, "sampled_again": "retrain"}});
        merge_top(
            &mut base,
            json!({"stopping": {"rule": "asha", "min_epochs": 1, "reduction": 3}}),
        );
        assert_eq!(
            base,
            json!({"stopping": {"rule": "asha", "min_epochs": 1, "reduction": 3, "sampled_again": "retrain"}})
        );
    }
}

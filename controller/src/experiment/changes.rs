//! What a resumed search was given that differs from what it was created
//! with. `--resume` keeps the stored configuration (only the budget
//! settings change), so a file or flag that would change anything else —
//! an edited space, another objective, a new strategy setting — is an
//! error naming each change rather than a setting silently ignored.

use serde_json::Value;

/// Each difference between `stored` and `given` (two configurations as
/// values), as `path: stored …, given …`; lists of named items (the
/// space's decisions) are compared by name, so an added, removed or edited
/// decision is named as such.
pub fn differences(stored: &Value, given: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff("", stored, given, &mut out);
    out
}

fn diff(path: &str, stored: &Value, given: &Value, out: &mut Vec<String>) {
    match (stored, given) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let inner = join(path, key);
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => diff(&inner, x, y, out),
                    (Some(x), None) => out.push(format!("{inner}: stored {}, given none", short(x))),
                    (None, Some(y)) => out.push(format!("{inner}: stored none, given {}", short(y))),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if named(a) && named(b) => {
            let found = out.len();
            for item in a {
                let name = name_of(item);
                let inner = format!("{path}[{name}]");
                match b.iter().find(|other| name_of(other) == name) {
                    Some(other) => diff(&inner, item, other, out),
                    None => out.push(format!("{inner}: removed")),
                }
            }
            for item in b
                .iter()
                .filter(|item| !a.iter().any(|other| name_of(other) == name_of(item)))
            {
                out.push(format!("{path}[{}]: added", name_of(item)));
            }
            let before: Vec<&str> = a.iter().map(name_of).collect();
            let after: Vec<&str> = b.iter().map(name_of).collect();
            if before.len() == after.len() && before != after && out.len() == found {
                out.push(format!("{path}: reordered"));
            }
        }
        _ if stored != given => out.push(format!(
            "{}: stored {}, given {}",
            path,
            short(stored),
            short(given)
        )),
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Whether every item of `items` is an object with a string `name`.
fn named(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|item| item.get("name").is_some_and(Value::is_string))
}

fn name_of(item: &Value) -> &str {
    item.get("name").and_then(Value::as_str).unwrap_or_default()
}

/// A value as compact JSON, cut after 60 characters.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_change_is_named_by_its_path_and_decisions_by_name() {
        let stored = json!({"strategy": "predictor", "predictor": {"exploration": 0.3, "initial": 10},
            "space": {"decisions": [{"name": "link", "options": ["a", "b"]}, {"name": "op", "options": ["x"]}]}});
        let given = json!({"strategy": "predictor", "predictor": {"exploration": 0.5, "initial": 10},
            "space": {"decisions": [{"name": "link", "options": ["a"]}, {"name": "act", "options": ["y"]}]},
            "objective": {"kind": "mnas"}});
        assert_eq!(
            differences(&stored, &given),
            [
                "objective: stored none, given {\"kind\":\"mnas\"}",
                "predictor.exploration: stored 0.3, given 0.5",
                "space.decisions[link].options: stored [\"a\",\"b\"], given [\"a\"]",
                "space.decisions[op]: removed",
                "space.decisions[act]: added",
            ]
        );
        assert!(differences(&stored, &stored).is_empty());
    }

    #[test]
    fn reordered_decisions_are_a_change() {
        let stored = json!({"decisions": [{"name": "a"}, {"name": "b"}]});
        let given = json!({"decisions": [{"name": "b"}, {"name": "a"}]});
        assert_eq!(differences(&stored, &given), ["decisions: reordered"]);
    }
}

//! The controller's modules form no cycle: each folder (`experiment`,
//! `search`, `offline`, `present`, …) and each module inside a folder uses
//! only those below it. Read from the sources: every `crate::…` and
//! `super::…` path outside comments and test modules is an edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The module path of a source file (`search/mod.rs` → `search`).
fn module_of(root: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(root).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the source folder reads") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments and its test module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module paths `text` names after `prefix` (`crate::a::b` → `[a, b]`).
fn paths_after(text: &str, prefix: &str) -> Vec<Vec<String>> {
    text.match_indices(prefix)
        .filter(|(at, _)| !text[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
        .map(|(at, _)| {
            text[at + prefix.len()..]
                .split("::")
                .map(|part| {
                    part.chars()
                        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                        .collect::<String>()
                })
                .take_while(|part| !part.is_empty())
                .collect()
        })
        .collect()
}

/// Edges between modules cut at `depth` path segments.
fn edges(depth: usize) -> BTreeMap<String, BTreeSet<String>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let cut = |path: &[String]| path.iter().take(depth).cloned().collect::<Vec<_>>().join("::");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = module_of(&root, &file);
        if module.first().is_some_and(|first| first == "cli") {
            continue; // the binary's command line, above everything
        }
        let text = code(&std::fs::read_to_string(&file).expect("a source file reads"));
        let parent: Vec<String> = module[..module.len().saturating_sub(1)].to_vec();
        let mut targets = paths_after(&text, "crate::");
        targets.extend(
            paths_after(&text, "super::")
                .into_iter()
                .map(|path| [parent.clone(), path].concat()),
        );
        let from = cut(&module);
        for target in targets {
            let to = cut(&target);
            let nested =
                to.is_empty() || from.starts_with(&format!("{to}::")) || to.starts_with(&format!("{from}::"));
            if to != from && !nested {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    graph
}

/// A cycle through `graph`, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|seen| seen == node) {
            let mut found = stack[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, stack, done) {
                return Some(found);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn folders_form_no_cycle() {
    let graph = edges(1);
    assert!(
        graph
            .get("search")
            .is_some_and(|uses| uses.contains("experiment"))
    );
    assert_eq!(
        cycle(&graph),
        None,
        "module cycle among the controller's folders: {graph:#?}"
    );
}

#[test]
fn modules_inside_folders_form_no_cycle() {
    for depth in [2, 3] {
        let graph = edges(depth);
        assert_eq!(cycle(&graph), None, "module cycle at depth {depth}");
    }
}

#[test]
fn a_cycle_is_found() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]
    .into();
    assert_eq!(cycle(&graph), Some(vec!["a".into(), "b".into(), "a".into()]));
}

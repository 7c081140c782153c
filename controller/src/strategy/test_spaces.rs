//! Spaces and measures the strategies' unit tests share.

#![allow(clippy::unwrap_used)]

use nas_domain::{Actions, SearchSpace};

use super::Strategy;

/// A categorical space of `decisions` decisions with `options` options each.
pub fn categorical(decisions: usize, options: usize) -> SearchSpace {
    let list: Vec<String> = (0..options).map(|o| o.to_string()).collect();
    let mut text = String::from("kind = \"categorical\"\n");
    for d in 0..decisions {
        text.push_str(&format!(
            "[[decisions]]\nname = \"d{d}\"\noptions = [{}]\n",
            list.join(", ")
        ));
    }
    toml::from_str(&text).unwrap()
}

/// The tests' tiny CNN space: 3 layers, skip connections (anchor bits).
pub fn tiny_cnn() -> SearchSpace {
    toml::from_str(include_str!("../../../tests/fixtures/tiny-cnn-space.toml")).unwrap()
}

/// Positions where two token sequences differ.
pub fn distance(a: &Actions, b: &Actions) -> usize {
    assert_eq!(a.tokens().len(), b.tokens().len());
    a.tokens().iter().zip(b.tokens()).filter(|(x, y)| x != y).count()
}

/// The tokens of the next `count` children `strategy` proposes.
pub fn proposed(strategy: &mut dyn Strategy, count: usize) -> Vec<Actions> {
    strategy
        .propose(count)
        .unwrap()
        .into_iter()
        .map(|proposal| proposal.actions)
        .collect()
}

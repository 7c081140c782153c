//! The child a sampled model likes best among those not yet seen: every
//! child of a small space is scored (up to [`ENUMERATE_LIMIT`]); a larger
//! one is climbed one decision at a time from several starts (the best
//! children so far and random ones), and the best unseen point reached, or
//! failing that the best unseen neighbour of one, wins. Ties go to the
//! first found, so the choice is a function of the weights and the starts.

use super::model::Layout;

/// Spaces with at most this many children are scored in full.
pub const ENUMERATE_LIMIT: usize = 1 << 17;

/// Sweeps over the decisions a climb makes at most.
const MAX_SWEEPS: usize = 32;

/// The children of `layout`'s plan, when at most [`ENUMERATE_LIMIT`].
fn space_size(layout: &Layout) -> Option<usize> {
    layout.options().iter().try_fold(1usize, |size, &o| {
        size.checked_mul(o).filter(|&s| s <= ENUMERATE_LIMIT)
    })
}

/// The best child under `theta` for which `seen` is false; `starts` gives
/// the starts of the climbs, called only for a large space.
pub fn best_unseen(
    layout: &Layout,
    theta: &[f64],
    starts: impl FnOnce() -> Vec<Vec<u16>>,
    seen: impl Fn(&[u16]) -> bool,
) -> Option<Vec<u16>> {
    match space_size(layout) {
        Some(_) => enumerate(layout, theta, &seen),
        None => climb_all(layout, theta, &starts(), &seen),
    }
}

/// Scores every child (an odometer over the tokens).
fn enumerate(layout: &Layout, theta: &[f64], seen: &impl Fn(&[u16]) -> bool) -> Option<Vec<u16>> {
    let options = layout.options();
    let mut tokens = vec![0u16; options.len()];
    let mut best: Option<(f64, Vec<u16>)> = None;
    loop {
        let score = layout.score(theta, &tokens);
        if best.as_ref().is_none_or(|(top, _)| score > *top) && !seen(&tokens) {
            best = Some((score, tokens.clone()));
        }
        // The next child: the last token that can still grow does.
        let Some(at) = (0..tokens.len())
            .rev()
            .find(|&at| usize::from(tokens[at]) + 1 < options[at])
        else {
            break;
        };
        tokens[at] += 1;
        tokens[at + 1..].fill(0);
    }
    best.map(|(_, tokens)| tokens)
}

/// Climbs from every start; the best unseen result.
fn climb_all(
    layout: &Layout,
    theta: &[f64],
    starts: &[Vec<u16>],
    seen: &impl Fn(&[u16]) -> bool,
) -> Option<Vec<u16>> {
    let mut best: Option<(f64, Vec<u16>)> = None;
    for start in starts {
        let top = climb(layout, theta, start.clone());
        let found = if seen(&top) {
            best_neighbour(layout, theta, &top, seen)
        } else {
            Some((layout.score(theta, &top), top))
        };
        if let Some((score, tokens)) = found
            && best.as_ref().is_none_or(|(top, _)| score > *top)
        {
            best = Some((score, tokens));
        }
    }
    best.map(|(_, tokens)| tokens)
}

/// Coordinate ascent: each decision in turn takes its best value given the
/// others, until a sweep changes nothing.
fn climb(layout: &Layout, theta: &[f64], mut tokens: Vec<u16>) -> Vec<u16> {
    for _ in 0..MAX_SWEEPS {
        let mut changed = false;
        for at in 0..tokens.len() {
            let current = tokens[at];
            let mut best = (layout.score(theta, &tokens), current);
            for value in 0..layout.options()[at] as u16 {
                tokens[at] = value;
                let score = layout.score(theta, &tokens);
                if score > best.0 {
                    best = (score, value);
                }
            }
            tokens[at] = best.1;
            changed |= best.1 != current;
        }
        if !changed {
            break;
        }
    }
    tokens
}

/// The best unseen one-decision neighbour of `tokens`.
fn best_neighbour(
    layout: &Layout,
    theta: &[f64],
    tokens: &[u16],
    seen: &impl Fn(&[u16]) -> bool,
) -> Option<(f64, Vec<u16>)> {
    let mut best: Option<(f64, Vec<u16>)> = None;
    let mut changed = tokens.to_vec();
    for at in 0..tokens.len() {
        for value in 0..layout.options()[at] as u16 {
            if value == tokens[at] {
                continue;
            }
            changed[at] = value;
            let score = layout.score(theta, &changed);
            if best.as_ref().is_none_or(|(top, _)| score > *top) && !seen(&changed) {
                best = Some((score, changed.clone()));
            }
        }
        changed[at] = tokens[at];
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::test_spaces::categorical;

    /// Weights that make token `i` best at value `i % options`.
    fn peaked(layout: &Layout) -> Vec<f64> {
        let mut theta = vec![0.0; layout.features()];
        let mut active = Vec::new();
        let target: Vec<u16> = (0..layout.options().len())
            .map(|i| (i % layout.options()[i]) as u16)
            .collect();
        layout.active_into(&target, &mut active);
        for feature in active {
            theta[feature] = 1.0;
        }
        theta
    }

    #[test]
    fn a_small_space_is_scored_in_full_and_seen_children_are_skipped() {
        let layout = Layout::of(&categorical(4, 3).plan(4), 1000);
        assert_eq!(space_size(&layout), Some(81));
        let theta = peaked(&layout);
        assert_eq!(
            best_unseen(&layout, &theta, Vec::new, |_| false),
            Some(vec![0, 1, 2, 0])
        );
        let second = best_unseen(&layout, &theta, Vec::new, |t| t == [0, 1, 2, 0]).unwrap();
        assert_eq!(
            second.iter().zip([0, 1, 2, 0]).filter(|(a, b)| **a != *b).count(),
            1
        );
        assert_eq!(best_unseen(&layout, &theta, Vec::new, |_| true), None);
    }

    #[test]
    fn a_large_space_is_climbed_to_the_peak_from_any_start() {
        let layout = Layout::of(&categorical(12, 4).plan(12), 200);
        assert_eq!(space_size(&layout), None);
        let theta = peaked(&layout);
        let peak: Vec<u16> = (0..12).map(|i| (i % 4) as u16).collect();
        let starts = vec![vec![3; 12], vec![1; 12]];
        assert_eq!(
            best_unseen(&layout, &theta, || starts.clone(), |_| false),
            Some(peak.clone())
        );
        // The peak seen: its best neighbour.
        let next = best_unseen(&layout, &theta, || starts.clone(), |t| t == peak.as_slice()).unwrap();
        assert_eq!(next.iter().zip(&peak).filter(|(a, b)| a != b).count(), 1);
    }
}

//! The child a score (a sampled model, or a weighting of several) likes
//! best among those not yet seen: every
//! child of a small space is scored (up to [`ENUMERATE_LIMIT`]); a larger
//! one is climbed one decision at a time from several starts (the best
//! children so far and random ones), and the best unseen point reached, or
//! failing that the best unseen neighbour of one, wins. Ties go to the
//! first found, so the choice is a function of the score and the starts.

/// Spaces with at most this many children are scored in full.
pub const ENUMERATE_LIMIT: usize = 1 << 17;

/// Sweeps over the decisions a climb makes at most.
const MAX_SWEEPS: usize = 32;

/// The children of a plan whose tokens have `options` values each, when at
/// most [`ENUMERATE_LIMIT`].
fn space_size(options: &[usize]) -> Option<usize> {
    options.iter().try_fold(1usize, |size, &o| {
        size.checked_mul(o).filter(|&s| s <= ENUMERATE_LIMIT)
    })
}

/// The best child by `score` for which `seen` is false, among those whose
/// tokens take `options` values each; `starts` gives the starts of the
/// climbs, called only for a large space.
pub fn best_unseen(
    options: &[usize],
    score: impl Fn(&[u16]) -> f64,
    starts: impl FnOnce() -> Vec<Vec<u16>>,
    seen: impl Fn(&[u16]) -> bool,
) -> Option<Vec<u16>> {
    match space_size(options) {
        Some(_) => enumerate(options, &score, &seen),
        None => climb_all(options, &score, &starts(), &seen),
    }
}

/// Scores every child (an odometer over the tokens).
fn enumerate(
    options: &[usize],
    score: &impl Fn(&[u16]) -> f64,
    seen: &impl Fn(&[u16]) -> bool,
) -> Option<Vec<u16>> {
    let mut tokens = vec![0u16; options.len()];
    let mut best: Option<(f64, Vec<u16>)> = None;
    loop {
        let value = score(&tokens);
        if best.as_ref().is_none_or(|(top, _)| value > *top) && !seen(&tokens) {
            best = Some((value, tokens.clone()));
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
    options: &[usize],
    score: &impl Fn(&[u16]) -> f64,
    starts: &[Vec<u16>],
    seen: &impl Fn(&[u16]) -> bool,
) -> Option<Vec<u16>> {
    let mut best: Option<(f64, Vec<u16>)> = None;
    for start in starts {
        let top = climb(options, score, start.clone());
        let found = if seen(&top) {
            best_neighbour(options, score, &top, seen)
        } else {
            Some((score(&top), top))
        };
        if let Some((value, tokens)) = found
            && best.as_ref().is_none_or(|(top, _)| value > *top)
        {
            best = Some((value, tokens));
        }
    }
    best.map(|(_, tokens)| tokens)
}

/// Coordinate ascent: each decision in turn takes its best value given the
/// others, until a sweep changes nothing.
fn climb(options: &[usize], score: &impl Fn(&[u16]) -> f64, mut tokens: Vec<u16>) -> Vec<u16> {
    for _ in 0..MAX_SWEEPS {
        let mut changed = false;
        for at in 0..tokens.len() {
            let current = tokens[at];
            let mut best = (score(&tokens), current);
            for value in 0..options[at] as u16 {
                tokens[at] = value;
                let scored = score(&tokens);
                if scored > best.0 {
                    best = (scored, value);
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
    options: &[usize],
    score: &impl Fn(&[u16]) -> f64,
    tokens: &[u16],
    seen: &impl Fn(&[u16]) -> bool,
) -> Option<(f64, Vec<u16>)> {
    let mut best: Option<(f64, Vec<u16>)> = None;
    let mut changed = tokens.to_vec();
    for at in 0..tokens.len() {
        for value in 0..options[at] as u16 {
            if value == tokens[at] {
                continue;
            }
            changed[at] = value;
            let scored = score(&changed);
            if best.as_ref().is_none_or(|(top, _)| scored > *top) && !seen(&changed) {
                best = Some((scored, changed.clone()));
            }
        }
        changed[at] = tokens[at];
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::predictor::model::Layout;
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
        assert_eq!(space_size(layout.options()), Some(81));
        let theta = peaked(&layout);
        let score = |tokens: &[u16]| layout.score(&theta, tokens);
        let options = layout.options();
        assert_eq!(
            best_unseen(options, score, Vec::new, |_| false),
            Some(vec![0, 1, 2, 0])
        );
        let second = best_unseen(options, score, Vec::new, |t| t == [0, 1, 2, 0]).unwrap();
        assert_eq!(
            second.iter().zip([0, 1, 2, 0]).filter(|(a, b)| **a != *b).count(),
            1
        );
        assert_eq!(best_unseen(options, score, Vec::new, |_| true), None);
    }

    #[test]
    fn a_large_space_is_climbed_to_the_peak_from_any_start() {
        let layout = Layout::of(&categorical(12, 4).plan(12), 200);
        assert_eq!(space_size(layout.options()), None);
        let theta = peaked(&layout);
        let score = |tokens: &[u16]| layout.score(&theta, tokens);
        let options = layout.options();
        let peak: Vec<u16> = (0..12).map(|i| (i % 4) as u16).collect();
        let starts = vec![vec![3; 12], vec![1; 12]];
        assert_eq!(
            best_unseen(options, score, || starts.clone(), |_| false),
            Some(peak.clone())
        );
        // The peak seen: its best neighbour.
        let next = best_unseen(options, score, || starts.clone(), |t| t == peak.as_slice()).unwrap();
        assert_eq!(next.iter().zip(&peak).filter(|(a, b)| a != b).count(), 1);
    }
}

//! The child a score (a sampled model, or a weighting of several) likes
//! best among those not yet seen: every
//! child of a small space is scored (up to [`ENUMERATE_LIMIT`]); a larger
//! one is climbed one decision at a time from several starts (the best
//! children so far and random ones), and the best unseen point reached, or
//! failing that the best unseen neighbour of one, wins. Ties go to the
//! first found, so the choice is a function of the score and the starts.
//!
//! [`best_unseen_near`] restricts the choice to the children within a few
//! decisions of some centres (the predictor's best children so far): it
//! scores that neighbourhood alone, in any space, and picks what scoring
//! the whole space with everything else excluded would pick.

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

/// The best child by `score` for which `seen` is false among those within
/// `radius` decisions of one of `centres`; `None` when each is seen. Ties
/// go to the smallest tokens (the order a full scan meets them in), so
/// the choice is the one [`enumerate`] would make with every child
/// outside the neighbourhood excluded. A neighbourhood too large to list
/// is searched by [`best_unseen`] with the rest scored −∞.
pub fn best_unseen_near(
    options: &[usize],
    score: impl Fn(&[u16]) -> f64,
    centres: &[Vec<u16>],
    radius: usize,
    seen: impl Fn(&[u16]) -> bool,
) -> Option<Vec<u16>> {
    let near = |tokens: &[u16]| centres.iter().any(|centre| differing(centre, tokens) <= radius);
    let listed = ball_size(options, radius).and_then(|size| size.checked_mul(centres.len()));
    if listed.is_none_or(|size| size > ENUMERATE_LIMIT) {
        let masked = |tokens: &[u16]| {
            if near(tokens) {
                score(tokens)
            } else {
                f64::NEG_INFINITY
            }
        };
        return best_unseen(options, masked, || centres.to_vec(), seen).filter(|tokens| near(tokens));
    }
    let mut best: Option<(f64, Vec<u16>)> = None;
    for centre in centres {
        let mut tokens = centre.clone();
        visit_ball(options, &mut tokens, 0, radius, &mut |tokens| {
            let value = score(tokens);
            let better = best
                .as_ref()
                .is_none_or(|(top, at)| value > *top || (value == *top && tokens < at.as_slice()));
            if better && !seen(tokens) {
                best = Some((value, tokens.to_vec()));
            }
        });
    }
    best.map(|(_, tokens)| tokens)
}

/// How many decisions two children's tokens differ in.
pub fn differing(a: &[u16], b: &[u16]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

/// How many children lie within `radius` decisions of one child (itself
/// included), at most; `None` past `usize`.
fn ball_size(options: &[usize], radius: usize) -> Option<usize> {
    // within[r]: the children of the decisions so far that differ in r.
    let mut within = vec![0usize; radius + 1];
    within[0] = 1;
    for &count in options {
        for r in (1..=radius).rev() {
            within[r] = within[r].checked_add(within[r - 1].checked_mul(count.saturating_sub(1))?)?;
        }
    }
    within.iter().try_fold(0usize, |total, &n| total.checked_add(n))
}

/// Calls `each` on every child that differs from `tokens` in at most
/// `changes` of the decisions from `at` on (`tokens` itself included);
/// `tokens` is restored before returning.
fn visit_ball(
    options: &[usize],
    tokens: &mut [u16],
    at: usize,
    changes: usize,
    each: &mut impl FnMut(&[u16]),
) {
    if at == tokens.len() {
        each(tokens);
        return;
    }
    visit_ball(options, tokens, at + 1, changes, each);
    if changes == 0 {
        return;
    }
    let original = tokens[at];
    for value in (0..options[at] as u16).filter(|&value| value != original) {
        tokens[at] = value;
        visit_ball(options, tokens, at + 1, changes - 1, each);
    }
    tokens[at] = original;
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
    use crate::strategy::predictor::layout::Layout;
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

    /// A score with many ties: a hash of the tokens, in five levels.
    fn lumpy(tokens: &[u16]) -> f64 {
        let hash = tokens
            .iter()
            .fold(17u64, |h, &t| h.wrapping_mul(31).wrapping_add(u64::from(t) + 7));
        ((hash >> 3) % 5) as f64
    }

    #[test]
    fn a_neighbourhood_draw_picks_what_the_masked_full_scan_picks() {
        let options = [3, 4, 2, 5, 3];
        let centres = vec![vec![0, 1, 1, 4, 2], vec![2, 3, 0, 0, 1]];
        for radius in 1..=3 {
            for seen_every in [0u64, 2, 3] {
                let seen = |t: &[u16]| {
                    seen_every > 0 && (lumpy(t) as u64 + u64::from(t[0])).is_multiple_of(seen_every)
                };
                let near = |t: &[u16]| centres.iter().any(|c| differing(c, t) <= radius);
                let masked = |t: &[u16]| if near(t) { lumpy(t) } else { f64::NEG_INFINITY };
                let full = best_unseen(&options, masked, Vec::new, seen).filter(|t| near(t));
                let listed = best_unseen_near(&options, lumpy, &centres, radius, seen);
                assert_eq!(listed, full, "radius {radius}, seen every {seen_every}");
                assert!(listed.is_some());
            }
        }
        assert_eq!(best_unseen_near(&options, lumpy, &centres, 1, |_| true), None);
    }

    #[test]
    fn a_large_space_neighbourhood_yields_its_best_member() {
        let options = [4; 12];
        assert_eq!(space_size(&options), None);
        let centre = vec![0u16; 12];
        // Changing the first decision helps a little, the last one most.
        let score = |t: &[u16]| f64::from(t[0].min(1)) + 3.0 * f64::from(t[11].min(1)) * f64::from(t[11]);
        let seen = |t: &[u16]| t == centre.as_slice();
        let found = best_unseen_near(&options, score, std::slice::from_ref(&centre), 1, seen);
        let mut best = centre.clone();
        best[11] = 3;
        assert_eq!(found, Some(best));
        assert_eq!(ball_size(&options, 1), Some(1 + 12 * 3));
        assert_eq!(ball_size(&options, 2), Some(1 + 12 * 3 + 66 * 9));
    }
}

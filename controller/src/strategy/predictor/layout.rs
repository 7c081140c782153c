//! The features of a plan: an intercept, one feature per value of each
//! token, and one per pair of values of two tokens, the pairs of nearby
//! tokens first, as many as `max_features` allows. A child has one active
//! feature per group, so it is a short list of indices; the model's weights
//! are indexed by these features.

use nas_domain::Plan;

use crate::strategy;

/// The features of one plan.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Options of each token.
    options: Vec<usize>,
    /// The first feature of each token's values.
    main: Vec<usize>,
    /// Pairs of tokens `(a, b)` with the first feature of their values.
    pairs: Vec<(usize, usize, usize)>,
    /// Features in all.
    len: usize,
}

impl Layout {
    /// The features of `plan`: the intercept and every token's values, then
    /// pairs of tokens by distance (neighbours first) while the total stays
    /// within `max_features`.
    pub fn of(plan: &Plan, max_features: usize) -> Self {
        let options: Vec<usize> = strategy::token_options(plan)
            .into_iter()
            .map(|(_, o)| o)
            .collect();
        let mut len = 1;
        let main = options
            .iter()
            .map(|&o| {
                len += o;
                len - o
            })
            .collect();
        let mut pairs = Vec::new();
        'distances: for distance in 1..options.len() {
            for a in 0..options.len() - distance {
                let b = a + distance;
                let size = options[a] * options[b];
                if len + size > max_features {
                    break 'distances;
                }
                pairs.push((a, b, len));
                len += size;
            }
        }
        Layout {
            options,
            main,
            pairs,
            len,
        }
    }

    /// Features in all.
    pub fn features(&self) -> usize {
        self.len
    }

    /// The first feature of a pair of values (all features when there
    /// is no pair): the intercept and the main effects are the features
    /// before it.
    pub fn pairs_from(&self) -> usize {
        self.pairs.first().map_or(self.len, |pair| pair.2)
    }

    /// Options of each token.
    pub fn options(&self) -> &[usize] {
        &self.options
    }

    /// The active features of `tokens`: the intercept, its values, then
    /// its pairs of values.
    fn active<'a>(&'a self, tokens: &'a [u16]) -> impl Iterator<Item = usize> + 'a {
        let values = tokens
            .iter()
            .zip(&self.main)
            .map(|(&token, first)| first + usize::from(token));
        let pairs = self
            .pairs
            .iter()
            .map(|&(a, b, first)| first + usize::from(tokens[a]) * self.options[b] + usize::from(tokens[b]));
        std::iter::once(0).chain(values).chain(pairs)
    }

    /// The active features of partly known `tokens`: the intercept, the
    /// value of each known token, and the pairs of two known ones.
    pub(super) fn active_known(&self, tokens: &[Option<u16>]) -> Vec<usize> {
        let values = (tokens.iter().zip(&self.main))
            .filter_map(|(&token, first)| token.map(|token| first + usize::from(token)));
        let pairs = self.pairs.iter().filter_map(|&(a, b, first)| {
            let (value_a, value_b) = (tokens[a]?, tokens[b]?);
            Some(first + usize::from(value_a) * self.options[b] + usize::from(value_b))
        });
        std::iter::once(0).chain(values).chain(pairs).collect()
    }

    /// The active features of `tokens`, written into `out`.
    pub fn active_into(&self, tokens: &[u16], out: &mut Vec<usize>) {
        out.clear();
        out.extend(self.active(tokens));
    }

    /// The score of `tokens` under the weights `theta`.
    pub fn score(&self, theta: &[f64], tokens: &[u16]) -> f64 {
        let mut active = self.active(tokens);
        let first = active.next().map_or(0.0, |feature| theta[feature]);
        active.fold(first, |sum, feature| sum + theta[feature])
    }
}

//! Warm starts in simulations: each run learns first from children of
//! earlier searches on other tables. An earlier search is stood in for by
//! `children` rows of the source table drawn uniformly for the run's seed
//! (the reward log a random search of that many children would have
//! written), so every seed sees a different earlier search.

use nas_domain::SearchSpace;
use nas_domain::oracle::metric_table::MetricTable;
use rand::Rng;

use crate::Result;
use crate::strategy::sample_rng;
use crate::strategy::warm::{self, PriorChild};

/// Mixed into the seed of the draws, so they are not the strategy's own
/// random streams.
const SALT: u64 = 0x5741_524d_5354_4152;

/// A source's rows: each one's tokens in the searched space and its value.
type Rows = Vec<(Vec<Option<u16>>, f64)>;

/// Earlier searches every run learns from.
#[derive(Clone, Debug)]
pub struct WarmStart {
    /// Each source's name and rows in the searched space's tokens.
    sources: Vec<(String, Rows)>,
    /// Children drawn from each source per run.
    children: usize,
}

impl WarmStart {
    /// The sources (name and table) matched to `space` by decision name;
    /// `children` rows of each per run.
    pub fn new(space: &SearchSpace, sources: &[(String, MetricTable)], children: usize) -> Result<Self> {
        let names = warm::decision_names(space)?;
        let sources = sources
            .iter()
            .map(|(name, table)| {
                let rows = table
                    .rows_of(&names)
                    .into_iter()
                    .map(|(values, reward)| {
                        let tokens = warm::tokens_by_name(space, |decision| {
                            let at = names.iter().position(|n| n == decision)?;
                            values[at].clone()
                        })?;
                        Ok((tokens, reward))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok((name.clone(), rows))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(WarmStart { sources, children })
    }

    /// The prior of the run with `seed`: `children` distinct rows of each
    /// source (all of a smaller one), drawn from the seed.
    pub fn prior(&self, seed: u64) -> Vec<PriorChild> {
        let mut prior = Vec::new();
        for (index, (name, rows)) in self.sources.iter().enumerate() {
            let mut rng = sample_rng(seed ^ SALT, index as u64);
            let mut order: Vec<usize> = (0..rows.len()).collect();
            let take = self.children.min(rows.len());
            for at in 0..take {
                let pick = rng.random_range(at..order.len());
                order.swap(at, pick);
            }
            prior.extend(order[..take].iter().map(|&row| PriorChild {
                source: name.clone(),
                tokens: rows[row].0.clone(),
                reward: rows[row].1,
            }));
        }
        prior
    }
}

#[cfg(test)]
mod tests {
    use nas_domain::oracle::Missing;

    use super::*;

    #[test]
    fn rows_are_matched_by_name_and_drawn_apart_for_each_seed() {
        let space: SearchSpace = toml::from_str(
            "kind = \"categorical\"\n[[decisions]]\nname = \"op\"\noptions = [\"a\", \"b\"]\n\
             [[decisions]]\nname = \"width\"\noptions = [8, 16]\n",
        )
        .unwrap();
        // The source has no `width` and an option `c` this space lacks.
        let text = "{\"op\": \"a\", \"depth\": 2, \"acc\": 0.5}\n{\"op\": \"b\", \"depth\": 2, \"acc\": 0.7}\n\
                    {\"op\": \"c\", \"depth\": 3, \"acc\": 0.9}\n";
        let warm = WarmStart::new(&space, &[("old".into(), table(text))], 2).unwrap();
        let prior = warm.prior(4);
        assert_eq!(prior.len(), 2);
        assert_eq!(prior, warm.prior(4));
        for child in &prior {
            let expected = match child.reward {
                0.5 => Some(0),
                0.7 => Some(1),
                _ => None,
            };
            assert_eq!(child.tokens, [expected, None], "{child:?}");
            assert_eq!(child.source, "old");
        }
        assert_ne!(prior[0].reward, prior[1].reward);
        let all = WarmStart::new(&space, &[("old".into(), table(text))], 10).unwrap();
        assert_eq!(all.prior(0).len(), 3);
    }

    fn table(text: &str) -> MetricTable {
        MetricTable::parse(text, "acc", Missing::Fail).unwrap()
    }
}

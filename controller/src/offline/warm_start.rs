//! Warm starts in simulations: each run learns first from children of
//! earlier searches on other tables. An earlier search is either stood in
//! for by `children` rows of a benchmark table drawn uniformly for the
//! run's seed (the reward log a random search of that many children would
//! have written, `table:FILE#COLUMN`), so every seed sees a different
//! earlier search, or read from runs a simulation recorded (`runs:FILE`,
//! [`super::recorded`]): the run with the same seed, its first `children`
//! children, the search that strategy actually made.

use std::collections::BTreeMap;
use std::path::PathBuf;

use nas_domain::SearchSpace;
use nas_domain::oracle::Missing;
use nas_domain::oracle::metric_table::MetricTable;
use rand::Rng;

use super::recorded::RecordedRuns;
use crate::strategy::sample_rng;
use crate::strategy::warm::{self, PriorChild};
use crate::{Error, Result};

/// Mixed into the seed of the draws, so they are not the strategy's own
/// random streams.
const SALT: u64 = 0x5741_524d_5354_4152;

/// Children in the searched space's tokens, each with its value.
type Rows = Vec<(Vec<Option<u16>>, f64)>;

/// Where a simulated warm start's earlier search comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum WarmSource {
    /// Rows of a benchmark table scored by a column, drawn for each run.
    Table {
        /// The table file.
        path: PathBuf,
        /// The metric column.
        column: String,
    },
    /// Runs recorded by `simulate search --record-runs`.
    Runs(PathBuf),
}

impl std::fmt::Display for WarmSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WarmSource::Table { path, column } => write!(f, "table:{}#{column}", path.display()),
            WarmSource::Runs(path) => write!(f, "runs:{}", path.display()),
        }
    }
}

impl std::str::FromStr for WarmSource {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let wrong = || {
            Error::Config(format!(
                "a warm-start source is `table:FILE#COLUMN` (a benchmark table) or `runs:FILE` (runs \
                 recorded by `simulate search --record-runs`), not {text:?}"
            ))
        };
        match text.split_once(':').ok_or_else(wrong)? {
            ("table", rest) => match rest.rsplit_once('#') {
                Some((path, column)) if !path.is_empty() && !column.is_empty() => Ok(WarmSource::Table {
                    path: PathBuf::from(path),
                    column: column.to_owned(),
                }),
                _ => Err(wrong()),
            },
            ("runs", path) if !path.is_empty() => Ok(WarmSource::Runs(PathBuf::from(path))),
            _ => Err(wrong()),
        }
    }
}

/// One source's children.
#[derive(Clone, Debug)]
enum Children {
    /// A table's rows, drawn for each run.
    Drawn(Rows),
    /// Recorded runs, by seed.
    BySeed(BTreeMap<u64, Rows>),
}

/// Earlier searches every run learns from.
#[derive(Clone, Debug)]
pub struct WarmStart {
    /// Each source's name and children in the searched space's tokens.
    sources: Vec<(String, Children)>,
    /// Children taken from each source per run.
    children: usize,
}

impl WarmStart {
    /// Reads `sources` and matches their children to `space` by decision
    /// name; `children` of each per run. Every seed in `seeds` must have a
    /// run in each recorded source.
    pub fn load(space: &SearchSpace, sources: &[WarmSource], children: usize, seeds: &[u64]) -> Result<Self> {
        let names = warm::decision_names(space)?;
        let sources = (sources.iter())
            .map(|source| {
                let children = match source {
                    WarmSource::Table { path, column } => Children::Drawn(table_rows(
                        space,
                        &names,
                        &MetricTable::load(path, column, Missing::Fail)?,
                    )?),
                    WarmSource::Runs(path) => Children::BySeed(
                        recorded_rows(space, &RecordedRuns::load(path)?, seeds)
                            .map_err(|reason| Error::Config(format!("--warm-start {source}: {reason}")))?,
                    ),
                };
                Ok((source.to_string(), children))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(WarmStart { sources, children })
    }

    /// The sources (name and table in memory) matched to `space` by
    /// decision name; `children` rows of each per run (the unit tests'
    /// way in; `load` reads files).
    #[cfg(test)]
    pub fn new(space: &SearchSpace, sources: &[(String, MetricTable)], children: usize) -> Result<Self> {
        let names = warm::decision_names(space)?;
        let sources = (sources.iter())
            .map(|(name, table)| Ok((name.clone(), Children::Drawn(table_rows(space, &names, table)?))))
            .collect::<Result<Vec<_>>>()?;
        Ok(WarmStart { sources, children })
    }

    /// The prior of the run with `seed`: `children` distinct rows of each
    /// table (all of a smaller one), drawn from the seed, and the first
    /// `children` children of each recorded run with that seed (none for
    /// a seed [`WarmStart::load`] was not given: it checks them all).
    pub fn prior(&self, seed: u64) -> Vec<PriorChild> {
        let mut prior = Vec::new();
        for (index, (name, children)) in self.sources.iter().enumerate() {
            let child = |(tokens, reward): &(Vec<Option<u16>>, f64)| PriorChild {
                source: name.clone(),
                tokens: tokens.clone(),
                reward: *reward,
            };
            match children {
                Children::Drawn(rows) => {
                    let mut rng = sample_rng(seed ^ SALT, index as u64);
                    let mut order: Vec<usize> = (0..rows.len()).collect();
                    let take = self.children.min(rows.len());
                    for at in 0..take {
                        let pick = rng.random_range(at..order.len());
                        order.swap(at, pick);
                    }
                    prior.extend(order[..take].iter().map(|&row| child(&rows[row])));
                }
                Children::BySeed(runs) => {
                    let run = runs.get(&seed).map_or(&[][..], Vec::as_slice);
                    prior.extend(run.iter().take(self.children).map(child));
                }
            }
        }
        prior
    }
}

/// A table's rows in `space`'s tokens (`names`: its decisions).
fn table_rows(space: &SearchSpace, names: &[String], table: &MetricTable) -> Result<Rows> {
    (table.rows_of(names).into_iter())
        .map(|(values, reward)| {
            let tokens = warm::tokens_by_name(space, |decision| {
                let at = names.iter().position(|n| n == decision)?;
                values[at].clone()
            })?;
            Ok((tokens, reward))
        })
        .collect()
}

/// The recorded runs of `seeds` in `space`'s tokens.
fn recorded_rows(
    space: &SearchSpace,
    recorded: &RecordedRuns,
    seeds: &[u64],
) -> std::result::Result<BTreeMap<u64, Rows>, String> {
    let mut runs = BTreeMap::new();
    for &seed in seeds {
        let Some(run) = recorded.runs.get(&seed) else {
            let (first, last) = (recorded.runs.keys().next(), recorded.runs.keys().next_back());
            return Err(format!(
                "no run with seed {seed} (it holds {} runs, seeds {} to {}); record them with the same \
                 --first-seed and --seeds",
                recorded.runs.len(),
                first.map_or(0, |s| *s),
                last.map_or(0, |s| *s)
            ));
        };
        let rows = (run.iter())
            .map(|(spec, reward)| {
                let arch = spec
                    .as_categorical()
                    .ok_or("its runs did not search a categorical space")?;
                let tokens = warm::tokens_of(space, arch).map_err(|e| e.to_string())?;
                Ok((tokens, *reward))
            })
            .collect::<std::result::Result<Rows, String>>()?;
        runs.insert(seed, rows);
    }
    Ok(runs)
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

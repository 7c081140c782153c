//! Warm starts: children of earlier searches that a new search learns from
//! before its first child. Each earlier child is matched to this search's
//! space by decision name ([`tokens_by_name`]): a decision the earlier
//! search did not have, or an option it chose that this space lacks, is
//! unknown for that child, and a decision this space lacks is dropped.
//! Rewards are compared only within their source ([`PriorChild::source`]),
//! so a source with another task or another metric's scale can be learned
//! from too. The children are part of the strategy's state, so its
//! checkpoints, a resume and `replay verify` see the same prior.

use std::collections::BTreeMap;

use nas_domain::{CategoricalArch, CategoricalSpace, Choice, SearchSpace, SpaceDefinition};
use serde::{Deserialize, Serialize};

use crate::strategy::rank::ranks;
use crate::{Error, Result};

/// One child of an earlier search, in this search's tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriorChild {
    /// Where it comes from (an experiment, a table): rewards are ranked
    /// within their source.
    pub source: String,
    /// Its value of each token of this space's plan; `None` where the
    /// earlier search had no such decision or chose an option this space
    /// lacks.
    pub tokens: Vec<Option<u16>>,
    /// Its reward in the earlier search.
    pub reward: f64,
}

impl PriorChild {
    /// Whether it says anything about this space (a token known).
    pub fn informative(&self) -> bool {
        self.tokens.iter().any(Option::is_some)
    }
}

/// Each child's reward ranked within its source, from 0 (its worst) to 1
/// (its best), ties sharing their mean rank: what the strategies learn
/// from, so sources on other scales weigh alike.
pub fn ranks_within_source(prior: &[PriorChild]) -> Vec<f64> {
    let mut by_source: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (at, child) in prior.iter().enumerate() {
        by_source.entry(&child.source).or_default().push(at);
    }
    let mut ranked = vec![0.0; prior.len()];
    for children in by_source.values() {
        let rewards: Vec<f64> = children.iter().map(|&at| prior[at].reward).collect();
        for (&at, rank) in children.iter().zip(ranks(&rewards)) {
            ranked[at] = rank;
        }
    }
    ranked
}

/// The tokens of `space` (a categorical one) for a child whose decisions
/// `value` gives by name: one per decision with more than one option (the
/// plan's), `None` where `value` has none or one outside the options.
pub fn tokens_by_name(
    space: &SearchSpace,
    value: impl Fn(&str) -> Option<Choice>,
) -> Result<Vec<Option<u16>>> {
    let space = categorical(space)?;
    Ok(space
        .decisions
        .iter()
        .filter(|decision| decision.options.len() > 1)
        .map(|decision| {
            let choice = value(&decision.name)?;
            let at = decision.options.iter().position(|option| *option == choice)?;
            u16::try_from(at).ok()
        })
        .collect())
}

/// The tokens of `space` for a categorical architecture of an earlier
/// search (see [`tokens_by_name`]).
pub fn tokens_of(space: &SearchSpace, arch: &CategoricalArch) -> Result<Vec<Option<u16>>> {
    tokens_by_name(space, |name| arch.decisions.get(name).cloned())
}

/// The names of `space`'s decisions (a categorical one).
pub fn decision_names(space: &SearchSpace) -> Result<Vec<String>> {
    Ok(categorical(space)?
        .decisions
        .iter()
        .map(|d| d.name.clone())
        .collect())
}

fn categorical(space: &SearchSpace) -> Result<&CategoricalSpace> {
    match &**space {
        SpaceDefinition::Categorical(space) => Ok(space),
        _ => Err(Error::Config(
            "a warm start matches decisions by name, so it needs a categorical space".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::test_spaces::categorical as space_of;

    #[test]
    fn decisions_match_by_name_and_unknown_ones_stay_unknown() {
        let space = space_of(3, 3);
        let names = decision_names(&space).unwrap();
        let SpaceDefinition::Categorical(definition) = &*space else {
            unreachable!()
        };
        let second = definition.decisions[1].options[2].clone();
        let tokens = tokens_by_name(&space, |name| {
            if name == names[1] {
                Some(second.clone())
            } else if name == names[2] {
                Some(Choice::Text("not an option".into()))
            } else {
                None
            }
        })
        .unwrap();
        assert_eq!(tokens, [None, Some(2), None]);
    }
}

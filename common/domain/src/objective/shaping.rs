//! Reward shaping: how an experiment trades its reward against costs
//! (`[objective]` in its configuration).
//!
//! - [`ShapingKind::Mnas`] (Tan et al. 2019, MnasNet):
//!   `R = reward · Π (cost / target)^w`, with `w = alpha` when the cost is
//!   at most its target and `w = beta` above it. MnasNet's soft constraint
//!   is `alpha = beta = -0.07`; its hard one `alpha = 0, beta = -1`.
//! - [`ShapingKind::WeightedSum`]: `R = reward − Σ weight · cost / target`.
//!
//! With the default metric reward (a table's accuracy), MnasNet's shaping
//! is its paper's formula; with the paper's accuracy³ reward the exponents
//! act on the cubed accuracy. Shaping assumes a non-negative reward (a
//! negated metric would be favoured by its costs). A cost ratio below
//! 1/1000 counts as 1/1000, so a zero cost cannot make the reward explode.
//! A search's `[objective]` (or `--objective`) shapes every trained or
//! stopped child's reward; `simulate --objective` and
//! `replay --fresh --objective` apply it to tables and recorded searches.

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::costs::{Cost, Costs};
use crate::{Error, Result};

/// The `+`-joined terms of an objective's text; a `+` inside a number
/// (`1e+6`) does not split.
fn terms_of(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut cuts = Vec::new();
    for (index, byte) in bytes.iter().enumerate() {
        if *byte == b'+' && bytes.get(index + 1).is_some_and(u8::is_ascii_alphabetic) {
            cuts.push(&text[start..index]);
            start = index + 1;
        }
    }
    cuts.push(&text[start..]);
    cuts.into_iter()
}

/// How the costs combine with the reward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShapingKind {
    /// `reward · Π (cost / target)^w`.
    Mnas,
    /// `reward − Σ weight · cost / target`.
    WeightedSum,
}

/// One cost of a shaping and its constants.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostTerm {
    /// The cost.
    pub cost: Cost,
    /// The target (MnasNet) or the scale (weighted sum) of the cost; > 0.
    pub target: f64,
    /// MnasNet: the exponent at or below the target (default -0.07).
    #[serde(default = "soft")]
    pub alpha: f64,
    /// MnasNet: the exponent above the target (default -0.07).
    #[serde(default = "soft")]
    pub beta: f64,
    /// Weighted sum: the weight of `cost / target` (default 1).
    #[serde(default = "one")]
    pub weight: f64,
}

/// The smallest cost ratio MnasNet's shaping uses.
const MIN_RATIO: f64 = 1e-3;

fn soft() -> f64 {
    -0.07
}
fn one() -> f64 {
    1.0
}

impl CostTerm {
    /// MnasNet's soft constraint on `cost` (`alpha = beta = -0.07`).
    pub fn soft(cost: Cost, target: f64) -> Self {
        CostTerm {
            cost,
            target,
            alpha: soft(),
            beta: soft(),
            weight: one(),
        }
    }

    /// MnasNet's hard constraint on `cost` (`alpha = 0`, `beta = -1`).
    pub fn hard(cost: Cost, target: f64) -> Self {
        CostTerm {
            alpha: 0.0,
            beta: -1.0,
            ..CostTerm::soft(cost, target)
        }
    }
}

/// The fields of a [`RewardShaping`], as they appear in TOML and JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RewardShapingFields {
    /// How the costs combine.
    pub kind: ShapingKind,
    /// The costs, each once.
    pub costs: Vec<CostTerm>,
}

/// A validated reward shaping (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "RewardShapingFields", into = "RewardShapingFields")]
#[schemars(with = "RewardShapingFields")]
pub struct RewardShaping(RewardShapingFields);

impl TryFrom<RewardShapingFields> for RewardShaping {
    type Error = Error;

    fn try_from(fields: RewardShapingFields) -> Result<Self> {
        let invalid = |reason: String| Err(Error::InvalidConfig(format!("objective: {reason}")));
        if fields.costs.is_empty() {
            return invalid("name at least one cost".into());
        }
        let mut seen = HashSet::new();
        for term in &fields.costs {
            if !seen.insert(term.cost) {
                return invalid(format!("{} is named twice", term.cost));
            }
            if !(term.target.is_finite() && term.target > 0.0) {
                return invalid(format!(
                    "the target of {} must be positive, not {}",
                    term.cost, term.target
                ));
            }
            for (name, value) in [
                ("alpha", term.alpha),
                ("beta", term.beta),
                ("weight", term.weight),
            ] {
                if !value.is_finite() {
                    return invalid(format!("{name} of {} must be finite, not {value}", term.cost));
                }
            }
        }
        Ok(RewardShaping(fields))
    }
}

impl From<RewardShaping> for RewardShapingFields {
    fn from(shaping: RewardShaping) -> Self {
        shaping.0
    }
}

impl std::str::FromStr for RewardShaping {
    type Err = Error;

    /// [`RewardShaping::from_text`], so a command line can take one directly.
    fn from_str(text: &str) -> Result<Self> {
        Self::from_text(text)
    }
}

impl RewardShaping {
    /// A shaping of `kind` over `costs` (checked).
    pub fn new(kind: ShapingKind, costs: Vec<CostTerm>) -> Result<Self> {
        Self::try_from(RewardShapingFields { kind, costs })
    }

    /// Parses `mnas:COST:TARGET[:ALPHA:BETA]` or `sum:COST:TARGET[:WEIGHT]`,
    /// several joined by `+` (`mnas:latency:0.005+parameters:1e6`; later
    /// terms take the first one's kind).
    pub fn from_text(text: &str) -> Result<Self> {
        let bad = || {
            Error::InvalidConfig(format!(
                "an objective is mnas:COST:TARGET[:ALPHA:BETA] or sum:COST:TARGET[:WEIGHT] (terms joined by +), not {text:?}"
            ))
        };
        let (kind, rest) = match text.split_once(':') {
            Some(("mnas", rest)) => (ShapingKind::Mnas, rest),
            Some(("sum", rest)) => (ShapingKind::WeightedSum, rest),
            _ => return Err(bad()),
        };
        let mut costs = Vec::new();
        for term in terms_of(rest) {
            let parts: Vec<&str> = term.split(':').collect();
            let number = |index: usize| parts[index].parse::<f64>().map_err(|_| bad());
            let cost: Cost = parts[0].parse()?;
            if parts.len() < 2 {
                return Err(bad());
            }
            let mut term = CostTerm::soft(cost, number(1)?);
            match (kind, parts.len()) {
                (_, 2) => {}
                (ShapingKind::Mnas, 4) => {
                    term.alpha = number(2)?;
                    term.beta = number(3)?;
                }
                (ShapingKind::WeightedSum, 3) => term.weight = number(2)?,
                _ => return Err(bad()),
            }
            costs.push(term);
        }
        Self::new(kind, costs)
    }

    /// How the costs combine.
    pub fn kind(&self) -> ShapingKind {
        self.0.kind
    }

    /// The costs and their constants.
    pub fn terms(&self) -> &[CostTerm] {
        &self.0.costs
    }

    /// The costs this shaping needs.
    pub fn costs(&self) -> impl Iterator<Item = Cost> + '_ {
        self.0.costs.iter().map(|term| term.cost)
    }

    /// The shaped reward of a child with `reward` and `costs`; an error
    /// naming the first cost the child lacks.
    pub fn shape(&self, reward: f64, costs: &Costs) -> Result<f64> {
        let mut shaped = reward;
        for term in &self.0.costs {
            let value = costs.get(term.cost).ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "the objective needs the child's {}, which its result does not report",
                    term.cost
                ))
            })?;
            let ratio = value / term.target;
            shaped = match self.0.kind {
                ShapingKind::Mnas => {
                    let exponent = if value <= term.target {
                        term.alpha
                    } else {
                        term.beta
                    };
                    // A zero cost with a negative exponent would be infinite.
                    shaped * ratio.max(MIN_RATIO).powf(exponent)
                }
                ShapingKind::WeightedSum => shaped - term.weight * ratio,
            };
        }
        Ok(shaped)
    }

    /// A short label (`mnas:latency:0.005:-0.07:-0.07`).
    pub fn label(&self) -> String {
        let (prefix, terms): (&str, Vec<String>) = match self.0.kind {
            ShapingKind::Mnas => (
                "mnas",
                self.0
                    .costs
                    .iter()
                    .map(|t| format!("{}:{}:{}:{}", t.cost, t.target, t.alpha, t.beta))
                    .collect(),
            ),
            ShapingKind::WeightedSum => (
                "sum",
                self.0
                    .costs
                    .iter()
                    .map(|t| format!("{}:{}:{}", t.cost, t.target, t.weight))
                    .collect(),
            ),
        };
        format!("{prefix}:{}", terms.join("+"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn costs(latency: f64, parameters: f64) -> Costs {
        Costs::new()
            .with(Cost::Latency, latency)
            .unwrap()
            .with(Cost::Parameters, parameters)
            .unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn mnas_shaping_by_hand_on_both_sides_of_the_target() {
        let soft = RewardShaping::new(ShapingKind::Mnas, vec![CostTerm::soft(Cost::Latency, 0.01)]).unwrap();
        // Twice the target: 0.8 · 2^-0.07 = 0.761_...
        assert!(close(
            soft.shape(0.8, &costs(0.02, 0.0)).unwrap(),
            0.8 * 2f64.powf(-0.07)
        ));
        // Half the target: rewarded, 0.8 · 0.5^-0.07.
        assert!(close(
            soft.shape(0.8, &costs(0.005, 0.0)).unwrap(),
            0.8 * 0.5f64.powf(-0.07)
        ));
        assert!(close(soft.shape(0.8, &costs(0.01, 0.0)).unwrap(), 0.8));
        let hard = RewardShaping::new(ShapingKind::Mnas, vec![CostTerm::hard(Cost::Latency, 0.01)]).unwrap();
        // Below the target nothing changes; above, the reward falls as 1/ratio.
        assert!(close(hard.shape(0.8, &costs(0.005, 0.0)).unwrap(), 0.8));
        assert!(close(hard.shape(0.8, &costs(0.04, 0.0)).unwrap(), 0.2));
        // Two costs multiply (and an exponent's `+` does not split terms).
        let both = RewardShaping::from_text("mnas:latency:0.01:0:-1+parameters:1e+3:0:-0.5").unwrap();
        assert!(close(
            both.shape(0.8, &costs(0.02, 4000.0)).unwrap(),
            0.8 * 0.5 * 0.5
        ));
        // A zero cost counts as a thousandth of the target.
        let zero = soft.shape(0.8, &costs(0.0, 0.0)).unwrap();
        assert!(close(zero, 0.8 * 1e-3f64.powf(-0.07)), "{zero}");
    }

    #[test]
    fn weighted_sum_by_hand() {
        let sum = RewardShaping::from_text("sum:latency:0.01:0.1+parameters:1000").unwrap();
        // 0.8 − 0.1·(0.02/0.01) − 1·(500/1000) = 0.1
        assert!(close(sum.shape(0.8, &costs(0.02, 500.0)).unwrap(), 0.1));
        assert_eq!(sum.label(), "sum:latency:0.01:0.1+parameters:1000:1");
        assert_eq!(RewardShaping::from_text(&sum.label()).unwrap(), sum);
    }

    #[test]
    fn a_missing_cost_is_named() {
        let shaping = RewardShaping::from_text("mnas:peak_memory:1e9").unwrap();
        let error = shaping.shape(0.5, &costs(0.1, 1.0)).unwrap_err().to_string();
        assert!(error.contains("peak_memory"), "{error}");
    }

    #[test]
    fn bad_objectives_are_rejected_with_their_problem() {
        for (text, problem) in [
            ("mnas:latency:0", "must be positive"),
            ("mnas:latency:-1", "must be positive"),
            ("mnas:latency:1+latency:2", "named twice"),
            ("mnas:watts:1", "unknown cost"),
            ("max:latency:1", "an objective is"),
            ("mnas:latency", "an objective is"),
            ("mnas:latency:1:2", "an objective is"),
            ("sum:latency:x", "an objective is"),
        ] {
            let error = RewardShaping::from_text(text).unwrap_err().to_string();
            assert!(error.contains(problem), "{text}: {error}");
        }
        let toml_error = serde_json::from_str::<RewardShaping>(r#"{"kind": "mnas", "costs": []}"#)
            .unwrap_err()
            .to_string();
        assert!(toml_error.contains("at least one cost"), "{toml_error}");
    }

    #[test]
    fn a_configured_shaping_reads_with_defaults() {
        let shaping: RewardShaping =
            serde_json::from_str(r#"{"kind": "mnas", "costs": [{"cost": "latency", "target": 0.005}]}"#)
                .unwrap();
        assert_eq!(shaping.terms()[0], CostTerm::soft(Cost::Latency, 0.005));
    }
}

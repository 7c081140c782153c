//! What a child costs: a closed set of costs ([`Cost`]) and the measured
//! values of some of them ([`Costs`], `{"parameters": 158022, "latency":
//! 0.0031, …}` on the wire; validated finite and non-negative).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A cost of a child; every one is better smaller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cost {
    /// Trainable parameters.
    Parameters,
    /// Multiply-adds of one forward pass of one example.
    MultiplyAdds,
    /// Inference latency at batch 1, seconds (median after a warm-up).
    Latency,
    /// Inference latency at the training batch size, seconds.
    BatchLatency,
    /// Peak memory while training, bytes.
    PeakMemory,
    /// Seconds spent training and evaluating.
    TrainSeconds,
}

impl Cost {
    /// Every cost, in order.
    pub const ALL: [Cost; 6] = [
        Cost::Parameters,
        Cost::MultiplyAdds,
        Cost::Latency,
        Cost::BatchLatency,
        Cost::PeakMemory,
        Cost::TrainSeconds,
    ];

    /// Its name on the wire and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Cost::Parameters => "parameters",
            Cost::MultiplyAdds => "multiply_adds",
            Cost::Latency => "latency",
            Cost::BatchLatency => "batch_latency",
            Cost::PeakMemory => "peak_memory",
            Cost::TrainSeconds => "train_seconds",
        }
    }

    /// `value` of this cost for people: `158.0 k`, `3.10 ms`, `412.0 MiB`.
    pub fn format(self, value: f64) -> String {
        match self {
            Cost::Parameters | Cost::MultiplyAdds => match value {
                v if v >= 1e9 => format!("{:.2} G", v / 1e9),
                v if v >= 1e6 => format!("{:.2} M", v / 1e6),
                v if v >= 1e3 => format!("{:.1} k", v / 1e3),
                v => format!("{v:.0}"),
            },
            Cost::Latency | Cost::BatchLatency if value < 1.0 => format!("{:.2} ms", value * 1e3),
            Cost::Latency | Cost::BatchLatency | Cost::TrainSeconds => format!("{value:.2} s"),
            Cost::PeakMemory => format!("{:.1} MiB", value / (1024.0 * 1024.0)),
        }
    }
}

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Cost {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Cost::ALL
            .into_iter()
            .find(|cost| cost.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Cost::ALL.iter().map(|cost| cost.name()).collect();
                Error::InvalidConfig(format!(
                    "unknown cost {text:?}; the costs are {}",
                    names.join(", ")
                ))
            })
    }
}

/// The measured costs of one child (some of [`Cost`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "BTreeMap<Cost, f64>", into = "BTreeMap<Cost, f64>")]
#[schemars(with = "BTreeMap<Cost, f64>")]
pub struct Costs(BTreeMap<Cost, f64>);

impl TryFrom<BTreeMap<Cost, f64>> for Costs {
    type Error = Error;

    fn try_from(values: BTreeMap<Cost, f64>) -> Result<Self> {
        for (cost, value) in &values {
            check(*cost, *value)?;
        }
        Ok(Costs(values))
    }
}

impl From<Costs> for BTreeMap<Cost, f64> {
    fn from(costs: Costs) -> Self {
        costs.0
    }
}

fn check(cost: Cost, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidMessage {
            what: "costs",
            reason: format!("{cost} is {value}; a cost must be finite and non-negative"),
        })
    }
}

impl Costs {
    /// No costs.
    pub fn new() -> Self {
        Costs::default()
    }

    /// These costs with `cost` set to `value` (checked).
    pub fn with(mut self, cost: Cost, value: f64) -> Result<Self> {
        self.set(cost, value)?;
        Ok(self)
    }

    /// Sets `cost` to `value` (checked; unchanged on an error).
    pub fn set(&mut self, cost: Cost, value: f64) -> Result<()> {
        check(cost, value)?;
        self.0.insert(cost, value);
        Ok(())
    }

    /// The value of `cost`, when measured.
    pub fn get(&self, cost: Cost) -> Option<f64> {
        self.0.get(&cost).copied()
    }

    /// Whether no cost was measured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The measured costs, in [`Cost`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Cost, f64)> + '_ {
        self.0.iter().map(|(cost, value)| (*cost, *value))
    }

    /// These costs, with those of `other` added where these have none.
    pub fn or(mut self, other: &Costs) -> Self {
        for (cost, value) in other.iter() {
            self.0.entry(cost).or_insert(value);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_format_for_people() {
        assert_eq!(Cost::Parameters.format(158_022.0), "158.0 k");
        assert_eq!(Cost::MultiplyAdds.format(2.5e9), "2.50 G");
        assert_eq!(Cost::Latency.format(0.0031), "3.10 ms");
        assert_eq!(Cost::TrainSeconds.format(12.0), "12.00 s");
        assert_eq!(Cost::PeakMemory.format(412.0 * 1024.0 * 1024.0), "412.0 MiB");
    }

    #[test]
    fn costs_read_by_name_and_reject_bad_values() {
        let costs: Costs = serde_json::from_str(r#"{"parameters": 1200, "latency": 0.004}"#).unwrap();
        assert_eq!(costs.get(Cost::Parameters), Some(1200.0));
        assert_eq!(costs.get(Cost::Latency), Some(0.004));
        assert_eq!(costs.get(Cost::PeakMemory), None);
        for (text, problem) in [
            (r#"{"latency": -1}"#, "latency is -1"),
            (r#"{"watts": 3}"#, "unknown variant"),
            (r#"{"parameters": "many"}"#, "invalid type"),
        ] {
            let error = serde_json::from_str::<Costs>(text).unwrap_err().to_string();
            assert!(error.contains(problem), "{text}: {error}");
        }
        assert!("latency".parse::<Cost>().is_ok());
        let error = "lag".parse::<Cost>().unwrap_err().to_string();
        assert!(
            error.contains("unknown cost \"lag\"") && error.contains("batch_latency"),
            "{error}"
        );
    }

    #[test]
    fn measured_costs_win_over_defaults() {
        let measured = Costs::new().with(Cost::Latency, 0.5).unwrap();
        let known = Costs::new()
            .with(Cost::Latency, 9.0)
            .unwrap()
            .with(Cost::Parameters, 10.0)
            .unwrap();
        let both = measured.or(&known);
        assert_eq!(both.get(Cost::Latency), Some(0.5));
        assert_eq!(both.get(Cost::Parameters), Some(10.0));
        assert!(Costs::new().with(Cost::Latency, f64::NAN).is_err());
    }
}

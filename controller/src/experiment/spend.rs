//! What a search spends: the training seconds the workers report, summed
//! by device kind ([`Spend`]), their price per hour ([`Prices`], for the
//! money in the summary), and what the search does when a budget is
//! reached ([`AtBudget`]). The reward log holds every child's result, so a
//! resumed search counts the same spend as the one before the crash.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::experiment::reward_log::{RecordStatus, RewardRecord};

/// The kind of a worker's device: its name up to the first `:` or space
/// (`cuda:0 NVIDIA H100` is `cuda`, `cpu` is `cpu`).
pub fn device_kind(device: &str) -> &str {
    let end = device.find([':', ' ']).unwrap_or(device.len());
    &device[..end]
}

/// Training seconds reported, by device kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spend {
    seconds: BTreeMap<String, f64>,
}

impl Spend {
    /// Adds what training `record`'s child cost: its result's training
    /// seconds (a child stopped early or failed after training counts what
    /// it trained; a reused reward, nothing).
    pub fn count(&mut self, record: &RewardRecord) {
        if record.status == RecordStatus::Reused {
            return;
        }
        if let Some(result) = &record.result {
            *self
                .seconds
                .entry(device_kind(&result.device).to_owned())
                .or_default() += result.train_seconds.max(0.0);
        }
    }

    /// Training hours on every device.
    pub fn hours(&self) -> f64 {
        self.seconds.values().sum::<f64>() / 3600.0
    }

    /// Training hours by device kind.
    pub fn hours_by_device(&self) -> BTreeMap<String, f64> {
        (self.seconds.iter())
            .map(|(kind, seconds)| (kind.clone(), seconds / 3600.0))
            .collect()
    }

    /// The money spent at `prices`, and the device kinds that trained but
    /// have no price (their hours are not in the sum).
    pub fn cost(&self, prices: &Prices) -> (f64, Vec<String>) {
        let mut unpriced = Vec::new();
        let mut cost = 0.0;
        for (kind, seconds) in &self.seconds {
            match prices.0.get(kind) {
                Some(price) => cost += price * seconds / 3600.0,
                None => unpriced.push(kind.clone()),
            }
        }
        (cost, unpriced)
    }
}

/// Prices per training hour by device kind (`cuda = 2.5`; on the command
/// line `--price cuda=2.5/h,cpu=0.1/h`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "BTreeMap<String, f64>", into = "BTreeMap<String, f64>")]
pub struct Prices(BTreeMap<String, f64>);

impl Prices {
    /// Whether no price is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<BTreeMap<String, f64>> for Prices {
    type Error = String;

    fn try_from(prices: BTreeMap<String, f64>) -> Result<Self, String> {
        for (kind, price) in &prices {
            if kind.is_empty() || kind != device_kind(kind) {
                return Err(format!(
                    "a price's device kind must be a name without ':' or spaces (cuda, cpu), not {kind:?}"
                ));
            }
            if !(price.is_finite() && *price >= 0.0) {
                return Err(format!(
                    "the price of {kind} must be a non-negative number per hour, not {price}"
                ));
            }
        }
        Ok(Prices(prices))
    }
}

impl From<Prices> for BTreeMap<String, f64> {
    fn from(prices: Prices) -> Self {
        prices.0
    }
}

impl FromStr for Prices {
    type Err = String;

    /// `cuda=2.5/h,cpu=0.1/h` (the `/h` may be left out).
    fn from_str(text: &str) -> Result<Self, String> {
        let mut prices = BTreeMap::new();
        for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let (kind, price) = item
                .split_once('=')
                .ok_or_else(|| format!("a price is KIND=AMOUNT/h (cuda=2.5/h), not {item:?}"))?;
            let amount = price.trim().trim_end_matches("/h").trim();
            let amount: f64 = amount
                .parse()
                .map_err(|_| format!("the price of {} is not a number: {price:?}", kind.trim()))?;
            if prices.insert(kind.trim().to_owned(), amount).is_some() {
                return Err(format!("{} is priced twice", kind.trim()));
            }
        }
        if prices.is_empty() {
            return Err("no price given (cuda=2.5/h,cpu=0.1/h)".into());
        }
        Prices::try_from(prices)
    }
}

/// What a search does when its GPU-hour budget is reached: it publishes
/// nothing more either way. (A time budget is a deadline: the search stops
/// at it and the children in flight wait for `--resume`.)
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum AtBudget {
    /// Waits for the children in flight and records their results (they
    /// are paid for), then stops.
    #[default]
    Wait,
    /// Stops at once; the children in flight finish on the workers and
    /// their results wait in the queue for `--resume`.
    Leave,
}

/// The budget that stopped a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Budget {
    /// `max_hours` of wall-clock time.
    MaxHours,
    /// `max_gpu_hours` of training reported by the workers.
    MaxGpuHours,
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Budget::MaxHours => "max_hours",
            Budget::MaxGpuHours => "max_gpu_hours",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_kinds_are_the_name_before_the_index_or_the_model() {
        assert_eq!(device_kind("cuda:0 NVIDIA H100"), "cuda");
        assert_eq!(device_kind("cpu"), "cpu");
        assert_eq!(device_kind("mps device"), "mps");
    }

    #[test]
    fn prices_parse_from_the_command_line_and_bad_ones_are_named() {
        let prices: Prices = "cuda=2.5/h, cpu=0.1".parse().unwrap();
        assert_eq!(prices.0["cuda"], 2.5);
        assert_eq!(prices.0["cpu"], 0.1);
        for (text, named) in [
            ("cuda", "KIND=AMOUNT/h"),
            ("cuda=cheap/h", "not a number"),
            ("cuda=-1/h", "non-negative"),
            ("cuda=1/h,cuda=2/h", "priced twice"),
            ("cuda:0=1/h", "without ':'"),
            ("", "no price"),
        ] {
            let error = text.parse::<Prices>().unwrap_err();
            assert!(error.contains(named), "{text:?}: {error}");
        }
        let from_toml: Result<Prices, _> = serde_json::from_str(r#"{"cpu": -0.5}"#);
        assert!(from_toml.unwrap_err().to_string().contains("non-negative"));
    }
}

//! Rewards recorded per architecture id (a reward log, or any JSON-lines
//! file with a `reward` and an `arch_id` or `spec` per line).

use std::collections::HashMap;
use std::path::Path;

use super::{Missing, Oracle, json_lines, read_text};
use crate::spec::{ArchId, ArchSpec};
use crate::{Error, Result};

/// Rewards recorded per architecture id, from a JSON-lines file.
///
/// Each line is an object with a `reward` (or a reward log record, whose
/// `outcome.reward` is used; failed records are skipped) and either an
/// `arch_id` or a `spec`. Repeated architectures get the mean of their
/// rewards.
#[derive(Clone, Debug)]
pub struct RewardTable {
    rewards: HashMap<ArchId, f64>,
    missing: Missing,
}

impl RewardTable {
    /// Reads a table file.
    pub fn load(path: &Path, missing: Missing) -> Result<Self> {
        let text = read_text(path)?;
        Self::parse(&text, missing)
            .map_err(|reason| Error::InvalidConfig(format!("reward table {}: {reason}", path.display())))
    }

    /// Parses the text of a table file.
    pub fn parse(text: &str, missing: Missing) -> std::result::Result<Self, String> {
        let mut sums: HashMap<ArchId, (f64, u32)> = HashMap::new();
        for (number, value) in json_lines(text) {
            let at = |reason: String| format!("line {number}: {reason}");
            let value = value.map_err(at)?;
            let Some(reward) = table_reward(&value) else {
                continue;
            };
            let id = table_id(&value).map_err(at)?;
            let entry = sums.entry(id).or_insert((0.0, 0));
            entry.0 += reward;
            entry.1 += 1;
        }
        if sums.is_empty() {
            return Err("no rewards found".into());
        }
        let rewards = sums
            .into_iter()
            .map(|(id, (sum, n))| (id, sum / f64::from(n)))
            .collect();
        Ok(RewardTable { rewards, missing })
    }

    /// Number of architectures with a reward.
    pub fn len(&self) -> usize {
        self.rewards.len()
    }

    /// Whether the table is empty (never true for a parsed table).
    pub fn is_empty(&self) -> bool {
        self.rewards.is_empty()
    }
}

fn table_reward(value: &serde_json::Value) -> Option<f64> {
    value
        .get("reward")
        .or_else(|| value.get("outcome").and_then(|outcome| outcome.get("reward")))
        .and_then(serde_json::Value::as_f64)
        .filter(|reward| reward.is_finite())
}

fn table_id(value: &serde_json::Value) -> std::result::Result<ArchId, String> {
    if let Some(id) = value.get("arch_id").and_then(serde_json::Value::as_str) {
        return id.parse().map_err(|e: Error| e.to_string());
    }
    let spec = value.get("spec").ok_or("neither arch_id nor spec is present")?;
    let spec: ArchSpec = serde_json::from_value(spec.clone()).map_err(|e| e.to_string())?;
    Ok(spec.id())
}

impl Oracle for RewardTable {
    fn reward(&self, spec: &ArchSpec) -> Result<f64> {
        let id = spec.id();
        match (self.rewards.get(&id), self.missing) {
            (Some(&reward), _) => Ok(reward),
            (None, Missing::Reward(reward)) => Ok(reward),
            (None, Missing::Fail) => Err(Error::UnknownArchitecture(id.to_string())),
        }
    }
}

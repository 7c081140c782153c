//! A categorical architecture: one chosen option per named decision of a
//! user-defined [`CategoricalSpace`] (any search a user can write down as a
//! list of choices, e.g. the five decisions of NAS-Bench-Graph).
//!
//! Its JSON is `{"version": 1, "kind": "categorical", "decisions": {"link":
//! "0012", "ops[0]": "gcn", …}}`; the decisions map is ordered by name, so
//! the canonical JSON (and the architecture id) does not depend on the order
//! the space lists them in. The space's order fixes the controller's plan:
//! one softmax step per decision that has more than one option.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::decision::{Actions, DecisionKind, Plan, TokenReader, TokenWriter, push_choice};
use crate::space::CategoricalSpace;
use crate::{Error, Result};

/// Longest decision name.
pub const MAX_NAME: usize = 64;
/// Most decisions in a space or spec.
pub const MAX_DECISIONS: usize = 256;
/// Most options of one decision.
pub const MAX_OPTIONS: usize = 1024;
/// Longest text option.
pub const MAX_TEXT: usize = 256;

/// One option of a categorical decision: a string or a number, written in
/// JSON and TOML as itself (`"gcn"`, `3`, `0.001`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Choice {
    /// A text option.
    Text(String),
    /// A numeric option (always finite).
    Number(serde_json::Number),
}

impl Choice {
    /// The option as a JSON value (how tables and trial commands see it).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Choice::Text(text) => serde_json::Value::String(text.clone()),
            Choice::Number(number) => serde_json::Value::Number(number.clone()),
        }
    }

    /// The option of a JSON value, when it is a string or a number.
    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        match value {
            serde_json::Value::String(text) => Some(Choice::Text(text.clone())),
            serde_json::Value::Number(number) => Some(Choice::Number(number.clone())),
            _ => None,
        }
    }

    /// Checks the option of `decision`: a text option has 1 to
    /// [`MAX_TEXT`] bytes.
    pub(crate) fn check(&self, decision: &str) -> std::result::Result<(), String> {
        match self {
            Choice::Text(text) if text.is_empty() || text.len() > MAX_TEXT => Err(format!(
                "decision {decision:?}: a text option must have 1 to {MAX_TEXT} bytes"
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Choice::Text(text) => f.write_str(text),
            Choice::Number(number) => write!(f, "{number}"),
        }
    }
}

/// A categorical architecture (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoricalArch {
    /// The chosen option of every decision, by decision name.
    pub decisions: BTreeMap<String, Choice>,
}

impl CategoricalArch {
    /// Checks the rules every categorical spec obeys, whatever its space.
    pub fn validate(&self) -> Result<()> {
        if self.decisions.is_empty() || self.decisions.len() > MAX_DECISIONS {
            return Err(Error::InvalidSpec(format!(
                "a categorical spec needs 1 to {MAX_DECISIONS} decisions, got {}",
                self.decisions.len()
            )));
        }
        for (name, choice) in &self.decisions {
            check_name(name).map_err(Error::InvalidSpec)?;
            choice.check(name).map_err(Error::InvalidSpec)?;
        }
        Ok(())
    }

    /// One softmax step per decision with more than one option, in the
    /// space's order.
    pub fn plan(space: &CategoricalSpace) -> Plan {
        let mut steps = Vec::new();
        for (index, decision) in space.decisions.iter().enumerate() {
            push_choice(
                &mut steps,
                DecisionKind::categorical(index),
                decision.options.len(),
            );
        }
        Plan::new(steps)
    }

    /// Decodes actions along [`CategoricalArch::plan`].
    pub fn decode(space: &CategoricalSpace, actions: &Actions) -> Result<Self> {
        Self::plan(space).check(actions)?;
        let mut reader = TokenReader::new(actions);
        let decisions = space
            .decisions
            .iter()
            .map(|decision| {
                (
                    decision.name.clone(),
                    reader.choose_ref(&decision.options).clone(),
                )
            })
            .collect();
        Ok(CategoricalArch { decisions })
    }

    /// The actions that produce this architecture; fails naming the first
    /// decision that is unknown, missing, or has an option outside the space.
    pub fn encode(&self, space: &CategoricalSpace) -> Result<Actions> {
        if let Some(unknown) = self
            .decisions
            .keys()
            .find(|name| !space.decisions.iter().any(|decision| &decision.name == *name))
        {
            return Err(Error::NotInSpace(format!(
                "the space has no decision {unknown:?}"
            )));
        }
        let mut writer = TokenWriter::default();
        for decision in &space.decisions {
            let choice = self.decisions.get(&decision.name).ok_or_else(|| {
                Error::NotInSpace(format!("decision {:?} has no option chosen", decision.name))
            })?;
            if !decision.options.contains(choice) {
                let options: Vec<String> = decision.options.iter().map(Choice::to_string).collect();
                return Err(Error::NotInSpace(format!(
                    "decision {:?} has no option {choice} (options: {})",
                    decision.name,
                    options.join(", ")
                )));
            }
            writer.choose("option", &decision.options, choice)?;
        }
        Ok(writer.finish())
    }
}

/// Checks a decision name: 1 to [`MAX_NAME`] printable characters.
pub(crate) fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
        Err(format!(
            "decision name {name:?} must have 1 to {MAX_NAME} bytes and no control characters"
        ))
    } else {
        Ok(())
    }
}

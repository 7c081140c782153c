//! What a policy-gradient step does with the rewards of children that an
//! older policy sampled.
//!
//! With many children in flight, a reward arrives several policy versions
//! after its child was sampled (the paper's 100 asynchronous replicas
//! computed gradients up to ~100 versions stale). [`Staleness::Keep`]
//! learns from it as if it were fresh; [`Staleness::Drop`] leaves rewards
//! more than K versions old out of the gradient (the reward log still
//! records them); [`Staleness::Importance`] weights each reward's term by
//! the truncated importance ratio `min(P_now(a) / P_sampled(a), c)`, with
//! `P_sampled` the probability the sampling policy gave the architecture
//! (stored with every job) — the correction of V-trace and ACER.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How stale rewards enter a step (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Staleness {
    /// Every reward counts in full, however old its sample.
    #[default]
    Keep,
    /// Rewards of samples more than `max_versions` policy versions old are
    /// left out of the gradient (and the baseline); they are still logged.
    Drop {
        /// The oldest a sample may be, in policy versions, and still count.
        max_versions: u64,
    },
    /// Each reward's term is weighted by `min(P_now / P_sampled, clip)`.
    Importance {
        /// The largest weight (default 1, as in V-trace).
        #[serde(default = "one")]
        clip: f64,
    },
}

fn one() -> f64 {
    1.0
}

impl std::str::FromStr for Staleness {
    type Err = Error;

    /// [`Staleness::from_name`], so a command line can take one directly.
    fn from_str(text: &str) -> Result<Self> {
        Self::from_name(text)
    }
}

impl Staleness {
    /// A setting as the command line gives it: `keep`, `drop:K` or
    /// `importance[:CLIP]`.
    pub fn from_name(text: &str) -> Result<Self> {
        let invalid = || {
            Error::Config(format!(
                "staleness {text:?} is not keep, drop:MAX_VERSIONS or importance[:CLIP]"
            ))
        };
        let staleness = match text.split_once(':') {
            None if text == "keep" => Staleness::Keep,
            None if text == "importance" => Staleness::Importance { clip: 1.0 },
            Some(("drop", versions)) => Staleness::Drop {
                max_versions: versions.parse().map_err(|_| invalid())?,
            },
            Some(("importance", clip)) => Staleness::Importance {
                clip: clip.parse().map_err(|_| invalid())?,
            },
            _ => return Err(invalid()),
        };
        staleness.validate()?;
        Ok(staleness)
    }

    /// The setting as [`Staleness::from_name`] reads it.
    pub fn label(&self) -> String {
        match *self {
            Staleness::Keep => "keep".into(),
            Staleness::Drop { max_versions } => format!("drop:{max_versions}"),
            Staleness::Importance { clip } => format!("importance:{clip}"),
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Staleness::Importance { clip } if !clip.is_finite() || clip <= 0.0 => Err(Error::Config(
                format!("staleness importance clip {clip} must be positive and finite"),
            )),
            _ => Ok(()),
        }
    }

    /// Whether a reward `age` versions old is left out of the gradient.
    pub fn drops(&self, age: u64) -> bool {
        matches!(*self, Staleness::Drop { max_versions } if age > max_versions)
    }

    /// The weight of a reward whose architecture has log-probability
    /// `now` under the current policy and had `sampled` when it was drawn
    /// (1 without importance weighting, or when the sampled probability is
    /// unknown, as in logs written before it was stored).
    pub fn weight(&self, now: f64, sampled: Option<f64>) -> f64 {
        match (*self, sampled) {
            (Staleness::Importance { clip }, Some(sampled)) => (now - sampled).exp().min(clip),
            _ => 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_ones_are_named() {
        for text in ["keep", "drop:8", "importance:2", "importance:0.5"] {
            assert_eq!(Staleness::from_name(text).unwrap().label(), text);
        }
        assert_eq!(
            Staleness::from_name("importance").unwrap(),
            Staleness::Importance { clip: 1.0 }
        );
        for bad in [
            "",
            "drop",
            "drop:-1",
            "drop:x",
            "importance:0",
            "importance:nan",
            "fresh",
        ] {
            let error = Staleness::from_name(bad).unwrap_err().to_string();
            assert!(error.contains("staleness"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn drop_counts_versions_and_importance_clips() {
        let drop = Staleness::Drop { max_versions: 2 };
        assert!(!drop.drops(2));
        assert!(drop.drops(3));
        assert!(!Staleness::Keep.drops(1000));
        let importance = Staleness::Importance { clip: 2.0 };
        assert!((importance.weight(-1.0, Some(-1.5)) - 0.5f64.exp()).abs() < 1e-12);
        assert_eq!(importance.weight(0.0, Some(-5.0)), 2.0);
        assert_eq!(importance.weight(-3.0, None), 1.0);
        assert_eq!(Staleness::Keep.weight(0.0, Some(-5.0)), 1.0);
    }

    #[test]
    fn toml_tables_parse() {
        #[derive(Deserialize)]
        struct Holder {
            staleness: Staleness,
        }
        let parsed: Holder = toml::from_str("[staleness]\nmode = \"drop\"\nmax_versions = 4\n").unwrap();
        assert_eq!(parsed.staleness, Staleness::Drop { max_versions: 4 });
        let parsed: Holder = toml::from_str("[staleness]\nmode = \"importance\"\n").unwrap();
        assert_eq!(parsed.staleness, Staleness::Importance { clip: 1.0 });
        assert!(toml::from_str::<Holder>("[staleness]\nmode = \"drop\"\n").is_err());
    }
}

//! Oracles answer a proposal with a reward without training anything, so
//! strategies can be compared quickly and without GPUs (`nas-controller
//! simulate`), and the whole pipeline can run without them (`nas-worker
//! --surrogate`).
//!
//! - [`synthetic`]: a known function of the spec, for tests and demos;
//! - [`reward_table`]: rewards recorded per architecture (a reward log);
//! - [`metric_table`]: a tabular benchmark such as NAS-Bench-Graph, whose
//!   rows give the decisions of an architecture and the metrics its authors
//!   measured;
//! - [`curve_table`]: a learning curve per architecture (a metric after
//!   every epoch), for early stopping.
//!
//! [`OracleSource`] is the one command-line grammar for all three, shared by
//! `nas-controller simulate` and `nas-worker --surrogate`.

pub mod curve_table;
pub mod metric_table;
pub mod reward_table;
pub mod synthetic;

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::objective::Objectives;
use crate::spec::ArchSpec;
use crate::{Error, Result};

pub use curve_table::{Curve, CurveTable};
pub use metric_table::MetricTable;
pub use reward_table::RewardTable;
pub use synthetic::SyntheticOracle;

/// Something that scores architectures.
pub trait Oracle: Send + Sync {
    /// The reward of `spec`.
    fn reward(&self, spec: &ArchSpec) -> Result<f64>;

    /// The objectives of `spec` when the oracle's reward is shaped by
    /// costs (its reward before shaping and the costs), as a search
    /// service learns them from a trained child's result; none otherwise.
    fn objectives(&self, _spec: &ArchSpec) -> Result<Option<Objectives>> {
        Ok(None)
    }
}

/// Where an oracle's rewards come from, as given on a command line:
/// `synthetic` (the [`SyntheticOracle`]), `table:FILE` (a [`RewardTable`])
/// `table:FILE#COLUMN` (a [`MetricTable`] scored by that column) or
/// `curves:FILE#COLUMN` (a [`CurveTable`] whose column holds each curve).
#[derive(Clone, Debug, PartialEq)]
pub enum OracleSource {
    /// The synthetic function of the spec.
    Synthetic,
    /// A JSON-lines reward table, such as a reward log.
    Table(PathBuf),
    /// A benchmark table (JSON lines, optionally gzipped) scored by one of
    /// its numeric columns, e.g. `valid_perf`.
    Metric {
        /// The table file.
        path: PathBuf,
        /// The column that is the metric.
        column: String,
    },
    /// A learning-curve table (JSON lines) whose column holds each
    /// architecture's metric after every epoch.
    Curves {
        /// The table file.
        path: PathBuf,
        /// The column that holds the curves.
        column: String,
    },
}

impl OracleSource {
    /// Opens the oracle; a table answers `missing` for architectures it
    /// does not hold.
    pub fn open(&self, missing: Missing) -> Result<Box<dyn Oracle>> {
        Ok(match self {
            OracleSource::Synthetic => Box::new(SyntheticOracle::default()),
            OracleSource::Table(path) => Box::new(RewardTable::load(path, missing)?),
            OracleSource::Metric { path, column } => Box::new(MetricTable::load(path, column, missing)?),
            OracleSource::Curves { path, column } => Box::new(CurveTable::load(path, column, missing)?),
        })
    }
}

impl std::fmt::Display for OracleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OracleSource::Synthetic => f.write_str("synthetic"),
            OracleSource::Table(path) => write!(f, "table:{}", path.display()),
            OracleSource::Metric { path, column } => write!(f, "table:{}#{column}", path.display()),
            OracleSource::Curves { path, column } => write!(f, "curves:{}#{column}", path.display()),
        }
    }
}

impl std::str::FromStr for OracleSource {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text.split_once(':') {
            None if text == "synthetic" => Ok(OracleSource::Synthetic),
            Some(("table", table)) => match table.rsplit_once('#') {
                Some((path, column)) if !path.is_empty() && !column.is_empty() => Ok(OracleSource::Metric {
                    path: PathBuf::from(path),
                    column: column.to_owned(),
                }),
                None if !table.is_empty() => Ok(OracleSource::Table(PathBuf::from(table))),
                _ => Err(Error::InvalidConfig(format!(
                    "an oracle table is `table:FILE` or `table:FILE#COLUMN`, not {text:?}"
                ))),
            },
            Some(("curves", table)) => match table.rsplit_once('#') {
                Some((path, column)) if !path.is_empty() && !column.is_empty() => Ok(OracleSource::Curves {
                    path: PathBuf::from(path),
                    column: column.to_owned(),
                }),
                _ => Err(Error::InvalidConfig(format!(
                    "a curve table is `curves:FILE#COLUMN`, not {text:?}"
                ))),
            },
            _ => Err(Error::InvalidConfig(format!(
                "an oracle is `synthetic`, `table:FILE`, `table:FILE#COLUMN` or `curves:FILE#COLUMN`, not {text:?}"
            ))),
        }
    }
}

/// What a [`RewardTable`] answers for an architecture it does not hold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Missing {
    /// Fail with [`Error::UnknownArchitecture`].
    Fail,
    /// Answer this reward.
    Reward(f64),
}

/// The JSON value of every non-blank line of a table's text, with its
/// 1-based line number; a malformed line gives its parser error.
pub(crate) fn json_lines(
    text: &str,
) -> impl Iterator<Item = (usize, std::result::Result<serde_json::Value, String>)> + '_ {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| (index + 1, serde_json::from_str(line).map_err(|e| e.to_string())))
}

/// The text of a table file (or any JSON-lines file the project writes),
/// gunzipped when it starts with the gzip magic bytes.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::io(path, source))?;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return String::from_utf8(bytes).map_err(|_| Error::Dataset {
            path: path.to_path_buf(),
            reason: "the table is not UTF-8 text".into(),
        });
    }
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(bytes.as_slice())
        .read_to_string(&mut text)
        .map_err(|source| Error::io(path, source))?;
    Ok(text)
}

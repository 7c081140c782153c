//! A tabular benchmark as an oracle: every row holds one architecture's
//! decisions and the metrics measured for it (NAS-Bench-Graph's rows are
//! `{"link": "0012", "ops": ["gcn", …], "valid_perf": 0.72, "test_perf": …}`).
//!
//! A row is flattened into named values: a string or number field keeps its
//! name, and element `i` of an array field `ops` is named `ops[i]` (so a
//! space's decisions are named `link`, `ops[0]` … `ops[3]`). A categorical
//! spec is looked up by the values of its decisions: the table is indexed
//! by the decision names of the first spec asked about, and every later
//! spec must have the same names. A spec that is not categorical (a CNN or
//! a cell) is looked up by its id in the rows' `arch_id` column, so a
//! learning-curve table recorded by `bench/record_curves.py` answers as a
//! metric table too (`#valid_accuracy[9]`: the accuracy after the tenth
//! epoch). The first row of a repeated architecture wins. The table answers the metric column it was opened with (through a
//! reward function, the metric itself by default) and any other numeric
//! column on request (a test accuracy, a latency).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::{Missing, Oracle, json_lines, read_text};
use crate::objective::{Cost, Costs};
use crate::reward::RewardFunction;
use crate::spec::{ArchSpec, CategoricalArch, Choice};
use crate::{Error, Result};

/// The column naming a row's architecture by its spec's id.
pub const ID_COLUMN: &str = "arch_id";

/// One flattened row: its named values, sorted by name.
type Row = Vec<(String, Choice)>;

/// Rows indexed by the values of some decisions.
struct Index {
    names: Vec<String>,
    rows: HashMap<Vec<Choice>, usize>,
}

/// A benchmark table (see the module docs).
pub struct MetricTable {
    path: PathBuf,
    column: String,
    rows: Vec<Row>,
    index: OnceLock<Index>,
    by_id: OnceLock<HashMap<String, usize>>,
    missing: Missing,
    /// How the metric becomes a reward ([`RewardFunction::METRIC`]).
    pub reward_function: RewardFunction,
}

impl std::fmt::Debug for MetricTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricTable")
            .field("path", &self.path)
            .field("column", &self.column)
            .field("rows", &self.rows.len())
            .finish_non_exhaustive()
    }
}

impl MetricTable {
    /// Reads a table (JSON lines, optionally gzipped) scored by `column`;
    /// every row must have that column as a finite number.
    pub fn load(path: &Path, column: &str, missing: Missing) -> Result<Self> {
        let text = read_text(path)?;
        Self::parse(&text, column, missing)
            .map_err(|reason| Error::Dataset {
                path: path.to_path_buf(),
                reason,
            })
            .map(|table| MetricTable {
                path: path.to_path_buf(),
                ..table
            })
    }

    /// Parses the text of a table.
    pub fn parse(text: &str, column: &str, missing: Missing) -> std::result::Result<Self, String> {
        let mut rows = Vec::new();
        for (number, value) in json_lines(text) {
            let at = |reason: String| format!("line {number}: {reason}");
            let value = value.map_err(at)?;
            let row = flatten(&value).map_err(at)?;
            if lookup(&row, column).and_then(number_of).is_none() {
                return Err(at(format!("no numeric column {column:?}")));
            }
            rows.push(row);
        }
        if rows.is_empty() {
            return Err("the table has no rows".into());
        }
        Ok(MetricTable {
            path: PathBuf::new(),
            column: column.to_owned(),
            rows,
            index: OnceLock::new(),
            by_id: OnceLock::new(),
            missing,
            reward_function: RewardFunction::METRIC,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows (never true for a parsed table).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The metric column.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// Every row's value of a numeric `column` (rows without it skipped).
    pub fn values(&self, column: &str) -> Vec<f64> {
        self.rows
            .iter()
            .filter_map(|row| lookup(row, column).and_then(number_of))
            .collect()
    }

    /// Every row with a number in the table's column: its values of
    /// `names` (`None` where it has none) and that number, in file order
    /// (what a search of the table could have seen: a warm start's source).
    pub fn rows_of(&self, names: &[String]) -> Vec<(Vec<Option<Choice>>, f64)> {
        self.rows
            .iter()
            .filter_map(|row| {
                let value = lookup(row, &self.column).and_then(number_of)?;
                let values = names.iter().map(|name| lookup(row, name).cloned()).collect();
                Some((values, value))
            })
            .collect()
    }

    /// The value of `column` for `spec`: `None` when the table has no row
    /// for it or the row has no such number; an error when `spec` is not
    /// categorical or its decisions are not the ones the table was indexed by.
    pub fn value(&self, spec: &ArchSpec, column: &str) -> Result<Option<f64>> {
        let row = match spec.as_categorical() {
            Some(arch) => self.categorical_row(arch)?,
            None => self.row_by_id(spec)?,
        };
        Ok(row
            .and_then(|row| lookup(&self.rows[row], column))
            .and_then(number_of))
    }

    /// The row of a categorical architecture, by its decisions' values.
    fn categorical_row(&self, arch: &CategoricalArch) -> Result<Option<usize>> {
        let index = self.index.get_or_init(|| self.index_by(arch));
        if !arch.decisions.keys().eq(index.names.iter()) {
            return Err(Error::InvalidConfig(format!(
                "table {} is indexed by decisions {:?}, but the spec has {:?}",
                self.path.display(),
                index.names,
                arch.decisions.keys().collect::<Vec<_>>()
            )));
        }
        let key: Vec<Choice> = arch.decisions.values().cloned().collect();
        Ok(index.rows.get(&key).copied())
    }

    /// The row of any other architecture, by its id in the `arch_id` column.
    fn row_by_id(&self, spec: &ArchSpec) -> Result<Option<usize>> {
        let by_id = self.by_id.get_or_init(|| {
            let mut by_id = HashMap::new();
            for (position, row) in self.rows.iter().enumerate() {
                if let Some(Choice::Text(id)) = lookup(row, ID_COLUMN) {
                    by_id.entry(id.clone()).or_insert(position);
                }
            }
            by_id
        });
        if by_id.is_empty() {
            return Err(Error::InvalidConfig(format!(
                "table {} has no {ID_COLUMN:?} column, so it can only answer categorical \
                 architectures, not a {:?} spec",
                self.path.display(),
                spec.kind()
            )));
        }
        Ok(by_id.get(spec.id().as_str()).copied())
    }

    /// The names of the numeric columns (those some row has a number in),
    /// sorted: what an error about a missing column lists.
    pub fn numeric_columns(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .rows
            .iter()
            .flat_map(|row| row.iter().filter(|(_, value)| number_of(value).is_some()))
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Every row's values of two numeric columns, for the rows with both.
    pub fn pairs(&self, first: &str, second: &str) -> Vec<(f64, f64)> {
        self.rows
            .iter()
            .filter_map(|row| {
                let value = |column| lookup(row, column).and_then(number_of);
                Some((value(first)?, value(second)?))
            })
            .collect()
    }

    /// The costs of `spec` from the table's columns (`columns` names the
    /// column of each cost); an error naming a cost the row lacks.
    pub fn costs(&self, spec: &ArchSpec, columns: &[(Cost, String)]) -> Result<Costs> {
        let mut costs = Costs::new();
        for (cost, column) in columns {
            let value = self.value(spec, column)?.ok_or_else(|| {
                Error::UnknownArchitecture(format!(
                    "{} has no {cost} (column {column:?}) in table {}",
                    spec.id(),
                    self.path.display()
                ))
            })?;
            costs = costs.with(*cost, value)?;
        }
        Ok(costs)
    }

    /// The metric of `spec` (its value in the table's column).
    pub fn metric(&self, spec: &ArchSpec) -> Result<Option<f64>> {
        self.value(spec, &self.column)
    }

    /// The error for a spec the table has no row for.
    pub fn not_in_table(&self, spec: &ArchSpec) -> Error {
        Error::UnknownArchitecture(format!("{} (not in table {})", spec.id(), self.path.display()))
    }

    fn index_by(&self, arch: &CategoricalArch) -> Index {
        let names: Vec<String> = arch.decisions.keys().cloned().collect();
        let mut rows = HashMap::with_capacity(self.rows.len());
        for (position, row) in self.rows.iter().enumerate() {
            let key: Option<Vec<Choice>> = names.iter().map(|name| lookup(row, name).cloned()).collect();
            if let Some(key) = key {
                rows.entry(key).or_insert(position);
            }
        }
        Index { names, rows }
    }
}

impl Oracle for MetricTable {
    fn reward(&self, spec: &ArchSpec) -> Result<f64> {
        match (self.metric(spec)?, self.missing) {
            (Some(metric), _) => Ok(self.reward_function.of_metric(metric)),
            (None, Missing::Reward(reward)) => Ok(reward),
            (None, Missing::Fail) => Err(self.not_in_table(spec)),
        }
    }
}

/// The named values of a row object (see the module docs).
fn flatten(value: &serde_json::Value) -> std::result::Result<Row, String> {
    let object = value.as_object().ok_or("a row must be a JSON object")?;
    let mut row = Vec::with_capacity(object.len() + 4);
    for (name, field) in object {
        match field {
            serde_json::Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    if let Some(choice) = Choice::from_json(item) {
                        row.push((format!("{name}[{index}]"), choice));
                    }
                }
            }
            other => {
                if let Some(choice) = Choice::from_json(other) {
                    row.push((name.clone(), choice));
                }
            }
        }
    }
    row.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(row)
}

fn lookup<'r>(row: &'r Row, name: &str) -> Option<&'r Choice> {
    row.binary_search_by(|(key, _)| key.as_str().cmp(name))
        .ok()
        .map(|position| &row[position].1)
}

fn number_of(choice: &Choice) -> Option<f64> {
    match choice {
        Choice::Number(number) => number.as_f64().filter(|value| value.is_finite()),
        Choice::Text(_) => None,
    }
}

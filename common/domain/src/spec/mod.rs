//! `ArchSpec`: the typed, versioned description of one child architecture.
//!
//! An [`ArchSpec`] exists only after validation, whether it was decoded from
//! controller actions ([`ArchSpec::from_actions`]) or parsed from JSON (serde
//! goes through [`TryFrom<ArchSpecFields>`]). Its JSON form is
//!
//! ```json
//! {"version": 1, "kind": "cnn", "layers": [...], "max_pool_after": []}
//! {"version": 1, "kind": "cell", "leaves": 8, "nodes": [...], ...}
//! {"version": 1, "kind": "categorical", "decisions": {"op1": "gcn", ...}}
//! ```
//!
//! The *canonical* JSON (sorted keys, no whitespace) is hashed with SHA-256
//! to give the [`ArchId`]: the same architecture always has the same id.

pub mod categorical;
pub mod cell;
pub mod cnn;

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use categorical::{CategoricalArch, Choice};
pub use cell::{Activation, CellArch, CellNode, Combination};
pub use cnn::{CnnArch, ConvLayer};

use crate::canonical_json;
use crate::decision::{Actions, Plan};
use crate::space::{SearchSpace, SpaceDefinition};
use crate::{Error, Result};

/// Structural limits every spec must respect, whatever space it came from.
pub mod limits {
    /// Most convolution layers a CNN spec may have.
    pub const MAX_LAYERS: usize = 128;
    /// Largest kernel height or width.
    pub const MAX_KERNEL: usize = 15;
    /// Most filters in one layer.
    pub const MAX_FILTERS: usize = 4096;
    /// Largest stride.
    pub const MAX_STRIDE: usize = 4;
    /// Most leaves of a recurrent cell.
    pub const MAX_LEAVES: usize = 64;
}

/// The spec format version this build writes and reads.
pub const SPEC_VERSION: u32 = 1;

/// What kind of child an architecture is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArchKind {
    /// A convolutional image classifier (CIFAR-10).
    Cnn,
    /// A recurrent cell inside a language model (Penn Treebank).
    Cell,
    /// One option per decision of a user-defined categorical space.
    Categorical,
}

/// The architecture itself, tagged by `kind`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Architecture {
    /// A CNN.
    Cnn(CnnArch),
    /// A recurrent cell.
    Cell(CellArch),
    /// A categorical architecture.
    Categorical(CategoricalArch),
}

/// The unvalidated fields of an [`ArchSpec`], as they appear in JSON.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct ArchSpecFields {
    /// Spec format version; this build reads [`SPEC_VERSION`].
    pub version: u32,
    /// The architecture.
    #[serde(flatten)]
    pub architecture: Architecture,
}

/// A validated architecture spec (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "ArchSpecFields", into = "ArchSpecFields")]
#[schemars(with = "ArchSpecFields")]
pub struct ArchSpec(ArchSpecFields);

impl TryFrom<ArchSpecFields> for ArchSpec {
    type Error = Error;

    fn try_from(fields: ArchSpecFields) -> Result<Self> {
        if fields.version != SPEC_VERSION {
            return Err(Error::UnsupportedVersion {
                what: "architecture spec",
                found: fields.version,
                supported: SPEC_VERSION,
            });
        }
        match &fields.architecture {
            Architecture::Cnn(cnn) => cnn.validate()?,
            Architecture::Cell(cell) => cell.validate()?,
            Architecture::Categorical(arch) => arch.validate()?,
        }
        Ok(ArchSpec(fields))
    }
}

impl From<ArchSpec> for ArchSpecFields {
    fn from(spec: ArchSpec) -> Self {
        spec.0
    }
}

impl ArchSpec {
    /// Validates a CNN and wraps it in a spec.
    pub fn cnn(arch: CnnArch) -> Result<Self> {
        Self::new(Architecture::Cnn(arch))
    }

    /// Validates a cell and wraps it in a spec.
    pub fn cell(arch: CellArch) -> Result<Self> {
        Self::new(Architecture::Cell(arch))
    }

    /// Validates a categorical architecture and wraps it in a spec.
    pub fn categorical(arch: CategoricalArch) -> Result<Self> {
        Self::new(Architecture::Categorical(arch))
    }

    fn new(architecture: Architecture) -> Result<Self> {
        Self::try_from(ArchSpecFields {
            version: SPEC_VERSION,
            architecture,
        })
    }

    /// Parses and validates a spec from JSON. An unknown `version` is
    /// reported as such before anything else is looked at.
    pub fn from_json(json: &str) -> Result<Self> {
        canonical_json::check_version(json, "architecture spec", SPEC_VERSION)?;
        serde_json::from_str(json).map_err(|source| Error::Json {
            what: "architecture spec",
            source,
        })
    }

    /// Decodes controller actions into a spec of `space`. `layers` is the
    /// CNN depth (ignored for cells).
    pub fn from_actions(space: &SearchSpace, layers: usize, actions: &Actions) -> Result<Self> {
        match &**space {
            SpaceDefinition::Cnn(cnn) => Self::cnn(CnnArch::decode(cnn, layers, actions)?),
            SpaceDefinition::Cell(cell) => Self::cell(CellArch::decode(cell, actions)?),
            SpaceDefinition::Categorical(space) => {
                Self::categorical(CategoricalArch::decode(space, actions)?)
            }
        }
    }

    /// The actions that produce this spec in `space`; fails when the spec
    /// is not in the space.
    pub fn to_actions(&self, space: &SearchSpace) -> Result<Actions> {
        match (&**space, &self.0.architecture) {
            (SpaceDefinition::Cnn(cnn), Architecture::Cnn(arch)) => arch.encode(cnn),
            (SpaceDefinition::Cell(cell), Architecture::Cell(arch)) => arch.encode(cell),
            (SpaceDefinition::Categorical(space), Architecture::Categorical(arch)) => arch.encode(space),
            _ => Err(Error::NotInSpace(format!(
                "a {:?} spec cannot be in a {:?} space",
                self.kind(),
                space.kind()
            ))),
        }
    }

    /// The decision plan that produced this spec's actions in `space`.
    pub fn plan(&self, space: &SearchSpace) -> Plan {
        let depth = match &**space {
            SpaceDefinition::Cnn(cnn) => self.depth() / usize::from(cnn.block_layers),
            _ => self.depth(),
        };
        space.plan(depth)
    }

    /// The spec format version.
    pub fn version(&self) -> u32 {
        self.0.version
    }

    /// The architecture.
    pub fn architecture(&self) -> &Architecture {
        &self.0.architecture
    }

    /// CNN, cell or categorical.
    pub fn kind(&self) -> ArchKind {
        match self.0.architecture {
            Architecture::Cnn(_) => ArchKind::Cnn,
            Architecture::Cell(_) => ArchKind::Cell,
            Architecture::Categorical(_) => ArchKind::Categorical,
        }
    }

    /// Number of CNN layers, cell leaves, or categorical decisions.
    pub fn depth(&self) -> usize {
        match &self.0.architecture {
            Architecture::Cnn(cnn) => cnn.layers.len(),
            Architecture::Cell(cell) => usize::from(cell.leaves),
            Architecture::Categorical(arch) => arch.decisions.len(),
        }
    }

    /// This CNN with `extra` more filters in every layer: the paper's
    /// "more filters" for the final training of its best net (+40). An
    /// error for cells and categorical specs, or past the filter limit.
    pub fn widened(&self, extra: u16) -> Result<Self> {
        let cnn = self.as_cnn().ok_or_else(|| {
            Error::InvalidSpec("only CNN children can be widened (more filters per layer)".into())
        })?;
        let mut wider = cnn.clone();
        for layer in &mut wider.layers {
            layer.filters = layer
                .filters
                .checked_add(extra)
                .ok_or_else(|| Error::InvalidSpec(format!("{} + {extra} filters overflow", layer.filters)))?;
        }
        Self::cnn(wider)
    }

    /// The CNN, if this is one.
    pub fn as_cnn(&self) -> Option<&CnnArch> {
        match &self.0.architecture {
            Architecture::Cnn(cnn) => Some(cnn),
            _ => None,
        }
    }

    /// The cell, if this is one.
    pub fn as_cell(&self) -> Option<&CellArch> {
        match &self.0.architecture {
            Architecture::Cell(cell) => Some(cell),
            _ => None,
        }
    }

    /// The categorical architecture, if this is one.
    pub fn as_categorical(&self) -> Option<&CategoricalArch> {
        match &self.0.architecture {
            Architecture::Categorical(arch) => Some(arch),
            _ => None,
        }
    }

    /// Canonical JSON: sorted keys, no insignificant whitespace.
    pub fn canonical_json(&self) -> String {
        canonical_json::to_string(self)
    }

    /// The content hash of the canonical JSON.
    pub fn id(&self) -> ArchId {
        let digest = Sha256::digest(self.canonical_json().as_bytes());
        ArchId(hex(&digest))
    }
}

/// The architecture id: lowercase hex SHA-256 of the canonical spec JSON.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct ArchId(String);

impl ArchId {
    /// The full 64-character hex id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 characters, for logs and tables.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl TryFrom<String> for ArchId {
    type Error = Error;

    fn try_from(value: String) -> Result<Self> {
        let valid = value.len() == 64
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if valid {
            Ok(ArchId(value))
        } else {
            Err(Error::InvalidSpec(format!(
                "architecture id {value:?} is not 64 lowercase hex characters"
            )))
        }
    }
}

impl std::str::FromStr for ArchId {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self> {
        Self::try_from(value.to_owned())
    }
}

impl From<ArchId> for String {
    fn from(id: ArchId) -> Self {
        id.0
    }
}

impl fmt::Display for ArchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

//! One file that holds everything a strategy needs to resume exactly: its
//! serialisable state (settings, counters, baseline, sampling position,
//! buffered rewards) as JSON, and its tensors (policy parameters, Adam
//! moments).
//!
//! The format is a tensor file (`nas_domain::tensor_file`, safetensors):
//! the JSON goes into the header's metadata under `state`, beside `format`
//! and `strategy`. Any safetensors reader can inspect a checkpoint.

use std::collections::HashMap;

use nas_domain::tensor_file::{self, NamedTensor};
use tch::Tensor;

use crate::strategy::StrategyKind;
use crate::{Error, Result};

const FORMAT: &str = "nas-controller-checkpoint/1";

/// A strategy's complete state.
pub struct Checkpoint {
    /// Which strategy wrote it.
    pub strategy: StrategyKind,
    /// The strategy's serialisable state.
    pub state: serde_json::Value,
    /// Named tensors, sorted by name.
    pub tensors: Vec<(String, Tensor)>,
}

impl Checkpoint {
    /// A checkpoint from its parts.
    pub fn new(strategy: StrategyKind, state: serde_json::Value, mut tensors: Vec<(String, Tensor)>) -> Self {
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        Checkpoint {
            strategy,
            state,
            tensors,
        }
    }

    /// The checkpoint of a strategy whose whole state is `state` (no tensors).
    pub fn of_state(strategy: StrategyKind, state: &impl serde::Serialize) -> Result<Self> {
        Ok(Checkpoint::new(
            strategy,
            serde_json::to_value(state)?,
            Vec::new(),
        ))
    }

    /// Encodes the checkpoint.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let tensors = self
            .tensors
            .iter()
            .map(|(name, tensor)| to_named(name, tensor))
            .collect::<Result<Vec<_>>>()?;
        let metadata = HashMap::from([
            ("format".to_owned(), FORMAT.to_owned()),
            ("strategy".to_owned(), self.strategy.name().to_owned()),
            ("state".to_owned(), self.state.to_string()),
        ]);
        tensor_file::encode(&tensors, metadata).map_err(|error| Error::Checkpoint(error.to_string()))
    }

    /// Decodes a checkpoint written by [`Checkpoint::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |what: String| Error::Checkpoint(what);
        let (tensors, metadata) = tensor_file::decode(bytes).map_err(|error| bad(error.to_string()))?;
        match metadata.get("format").map(String::as_str) {
            Some(FORMAT) => {}
            other => {
                return Err(bad(format!(
                    "unknown checkpoint format {other:?}, expected {FORMAT}"
                )));
            }
        }
        let strategy = metadata
            .get("strategy")
            .and_then(|name| StrategyKind::from_name(name))
            .ok_or_else(|| bad(format!("unknown strategy {:?}", metadata.get("strategy"))))?;
        let state = metadata
            .get("state")
            .map(|text| serde_json::from_str(text))
            .transpose()
            .map_err(|error| bad(format!("state is not JSON: {error}")))?
            .ok_or_else(|| bad("the checkpoint has no state".into()))?;
        let tensors = tensors.into_iter().map(from_named).collect();
        Ok(Checkpoint::new(strategy, state, tensors))
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        self.tensors
            .binary_search_by(|(candidate, _)| candidate.as_str().cmp(name))
            .map(|index| self.tensors[index].1.shallow_clone())
            .map_err(|_| Error::Checkpoint(format!("tensor {name} is missing")))
    }
}

/// A tch tensor as a named `f32` buffer.
pub fn to_named(name: &str, tensor: &Tensor) -> Result<NamedTensor> {
    let shape = tensor.size().iter().map(|&d| d as usize).collect();
    let values = Vec::<f32>::try_from(tensor.to_kind(tch::Kind::Float).contiguous().view(-1))
        .map_err(|error| Error::Checkpoint(format!("tensor {name}: {error}")))?;
    Ok(NamedTensor {
        name: name.to_owned(),
        shape,
        values,
    })
}

fn from_named(tensor: NamedTensor) -> (String, Tensor) {
    let shape: Vec<i64> = tensor.shape.iter().map(|&d| d as i64).collect();
    (tensor.name, Tensor::from_slice(&tensor.values).reshape(shape))
}

//! One file that holds everything a strategy needs to resume exactly: its
//! serialisable state (settings, counters, baseline, sampling position,
//! buffered rewards) as JSON, and its tensors (policy parameters, Adam
//! moments) as raw little-endian `f32`.
//!
//! The format is [safetensors](https://github.com/huggingface/safetensors):
//! the JSON goes into the header's `__metadata__` under `state`, beside
//! `format` and `strategy`. Any safetensors reader can inspect a checkpoint.

use std::collections::HashMap;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
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
    /// Named tensors.
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

    /// Encodes the checkpoint as safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let buffers: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(name, tensor)| {
                let shape = tensor.size().iter().map(|&d| d as usize).collect();
                let values = Vec::<f32>::try_from(tensor.to_kind(tch::Kind::Float).contiguous().view(-1))
                    .map_err(|error| Error::Checkpoint(format!("tensor {name}: {error}")))?;
                let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                Ok((name.clone(), shape, bytes))
            })
            .collect::<Result<_>>()?;
        let views = buffers
            .iter()
            .map(|(name, shape, bytes)| {
                TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .map(|view| (name.clone(), view))
                    .map_err(|error| Error::Checkpoint(format!("tensor {name}: {error}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let metadata = HashMap::from([
            ("format".to_owned(), FORMAT.to_owned()),
            ("strategy".to_owned(), self.strategy.name().to_owned()),
            ("state".to_owned(), self.state.to_string()),
        ]);
        safetensors::serialize(views, Some(metadata)).map_err(|error| Error::Checkpoint(error.to_string()))
    }

    /// Decodes a checkpoint written by [`Checkpoint::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |what: String| Error::Checkpoint(what);
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|error| bad(format!("not a checkpoint: {error}")))?;
        let metadata = header.metadata().clone().unwrap_or_default();
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
        let parsed = SafeTensors::deserialize(bytes).map_err(|error| bad(error.to_string()))?;
        let mut tensors = Vec::new();
        for (name, view) in parsed.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(bad(format!("tensor {name} is {:?}, expected F32", view.dtype())));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
                .collect();
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            tensors.push((name, Tensor::from_slice(&values).reshape(shape)));
        }
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

//! A file of named `f32` tensors plus string metadata, in the
//! [safetensors](https://github.com/huggingface/safetensors) format: the
//! codec behind controller checkpoints and child checkpoints. It works on
//! plain buffers, so this crate needs no libtorch; the callers convert to
//! and from their tensors.

use std::collections::HashMap;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::{Error, Result};

/// One named tensor: its shape and its values in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// The tensor's name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values.
    pub values: Vec<f32>,
}

/// Encodes tensors and metadata as safetensors bytes.
pub fn encode(tensors: &[NamedTensor], metadata: HashMap<String, String>) -> Result<Vec<u8>> {
    let buffers: Vec<Vec<u8>> = tensors
        .iter()
        .map(|tensor| {
            tensor
                .values
                .iter()
                .flat_map(|value| value.to_le_bytes())
                .collect()
        })
        .collect();
    let views = tensors
        .iter()
        .zip(&buffers)
        .map(|(tensor, bytes)| {
            TensorView::new(Dtype::F32, tensor.shape.clone(), bytes)
                .map(|view| (tensor.name.clone(), view))
                .map_err(|error| Error::TensorFile(format!("tensor {}: {error}", tensor.name)))
        })
        .collect::<Result<Vec<_>>>()?;
    // An empty metadata map is left out: safetensors writes a header it
    // cannot read back for no tensors and empty metadata (found by fuzzing).
    let metadata = (!metadata.is_empty()).then_some(metadata);
    safetensors::serialize(views, metadata).map_err(|error| Error::TensorFile(error.to_string()))
}

/// Decodes bytes written by [`encode`]: the tensors, sorted by name, and the
/// metadata.
pub fn decode(bytes: &[u8]) -> Result<(Vec<NamedTensor>, HashMap<String, String>)> {
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|error| Error::TensorFile(format!("not a safetensors file: {error}")))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let parsed = SafeTensors::deserialize(bytes).map_err(|error| Error::TensorFile(error.to_string()))?;
    let mut tensors = Vec::new();
    for (name, view) in parsed.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(Error::TensorFile(format!(
                "tensor {name} is {:?}, expected F32",
                view.dtype()
            )));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
            .collect();
        tensors.push(NamedTensor {
            name,
            shape: view.shape().to_vec(),
            values,
        });
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((tensors, metadata))
}

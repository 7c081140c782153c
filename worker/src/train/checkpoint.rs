//! The state of a child stopped mid-training (spot preemption, shutdown),
//! saved so another worker resumes it from the same batch: parameters,
//! momentum buffers and progress, in a tensor file (safetensors) with the
//! progress and the architecture id as metadata.

use std::collections::HashMap;

use nas_domain::EpochMetrics;
use nas_domain::tensor_file::{self, NamedTensor};
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::{Error, Result};

const FORMAT: &str = "nas-child-checkpoint/1";

/// Where training stood.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The epoch in progress (1-based).
    pub epoch: u32,
    /// Batches of that epoch already trained.
    pub batches_done: u64,
    /// Metrics of the completed epochs.
    pub completed: Vec<EpochMetrics>,
    /// Sum of the training losses of this epoch's batches so far.
    pub loss_sum: f64,
    /// Training examples seen so far, over all epochs.
    pub examples: f64,
    /// Seconds spent so far, training and evaluating.
    pub train_seconds: f64,
    /// Seconds spent in training steps only (for the throughput).
    pub fit_seconds: f64,
    /// The current learning rate.
    pub learning_rate: f64,
    /// The best validation perplexity so far (language models).
    pub best: Option<f64>,
}

/// A stopped child's full state.
pub struct ChildCheckpoint {
    /// The architecture it belongs to.
    pub arch_id: String,
    /// Where training stood.
    pub progress: Progress,
    /// Parameters (and batch-norm statistics) by variable name.
    pub variables: Vec<(String, Tensor)>,
    /// SGD momentum buffers by parameter name.
    pub momentum: Vec<(String, Tensor)>,
}

impl ChildCheckpoint {
    /// Encodes the checkpoint.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut tensors = Vec::with_capacity(self.variables.len() + self.momentum.len());
        for (prefix, list) in [("var/", &self.variables), ("momentum/", &self.momentum)] {
            for (name, tensor) in list {
                tensors.push(named(&format!("{prefix}{name}"), tensor)?);
            }
        }
        let progress =
            serde_json::to_string(&self.progress).map_err(|e| Error::Checkpoint(format!("progress: {e}")))?;
        let metadata = HashMap::from([
            ("format".to_owned(), FORMAT.to_owned()),
            ("arch_id".to_owned(), self.arch_id.clone()),
            ("progress".to_owned(), progress),
        ]);
        Ok(tensor_file::encode(&tensors, metadata)?)
    }

    /// Decodes a checkpoint written by [`ChildCheckpoint::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (tensors, metadata) = tensor_file::decode(bytes)?;
        let bad = Error::Checkpoint;
        if metadata.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(bad(format!("unknown format {:?}", metadata.get("format"))));
        }
        let progress = metadata
            .get("progress")
            .ok_or_else(|| bad("no progress".into()))
            .and_then(|text| serde_json::from_str(text).map_err(|e| bad(e.to_string())))?;
        let mut variables = Vec::new();
        let mut momentum = Vec::new();
        for tensor in tensors {
            let shape: Vec<i64> = tensor.shape.iter().map(|&d| d as i64).collect();
            let value = Tensor::from_slice(&tensor.values).reshape(shape);
            if let Some(name) = tensor.name.strip_prefix("var/") {
                variables.push((name.to_owned(), value));
            } else if let Some(name) = tensor.name.strip_prefix("momentum/") {
                momentum.push((name.to_owned(), value));
            }
        }
        Ok(ChildCheckpoint {
            arch_id: metadata.get("arch_id").cloned().unwrap_or_default(),
            progress,
            variables,
            momentum,
        })
    }

    /// Copies the saved variables into `vs` (which must have the same
    /// architecture).
    pub fn restore_variables(&self, vs: &tch::nn::VarStore) -> Result<()> {
        let mut targets = vs.variables();
        for (name, saved) in &self.variables {
            let target = targets
                .get_mut(name)
                .ok_or_else(|| Error::Checkpoint(format!("the network has no variable {name}")))?;
            if target.size() != saved.size() {
                return Err(Error::Checkpoint(format!(
                    "{name} has shape {:?}, the network {:?}",
                    saved.size(),
                    target.size()
                )));
            }
            tch::no_grad(|| target.copy_(saved));
        }
        Ok(())
    }
}

fn named(name: &str, tensor: &Tensor) -> Result<NamedTensor> {
    let values = Vec::<f32>::try_from(tensor.to_kind(tch::Kind::Float).contiguous().view(-1))?;
    Ok(NamedTensor {
        name: name.to_owned(),
        shape: tensor.size().iter().map(|&d| d as usize).collect(),
        values,
    })
}

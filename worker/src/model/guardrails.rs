//! Limits checked before a child allocates anything: its parameter count and
//! an estimate of the activation memory one training batch holds for the
//! backward pass. Either over its limit rejects the child with a clear error.

use nas_domain::spec::CnnArch;

use crate::model::cnn::{CnnShapes, ImageShape};
use crate::model::language_model::{self, LanguageModelOptions};
use crate::{Error, Result};

/// The limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most trainable parameters.
    pub max_parameters: i64,
    /// Most bytes of activations for one training batch (an estimate).
    pub max_activation_bytes: i64,
}

impl Default for Limits {
    /// 100 M parameters (the paper's largest child has 37.4 M) and 8 GiB.
    fn default() -> Self {
        Limits {
            max_parameters: 100_000_000,
            max_activation_bytes: 8 << 30,
        }
    }
}

/// What a child costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    /// Trainable parameters.
    pub parameters: i64,
    /// Estimated activation bytes for one training batch.
    pub activation_bytes: i64,
}

impl Limits {
    fn check(&self, what: &str, cost: Cost) -> Result<Cost> {
        if cost.parameters > self.max_parameters {
            return Err(Error::TooLarge(format!(
                "the {what} has {} parameters, above the limit of {}",
                cost.parameters, self.max_parameters
            )));
        }
        if cost.activation_bytes > self.max_activation_bytes {
            return Err(Error::TooLarge(format!(
                "the {what} needs about {:.2} GiB of activations per batch, above the limit of {:.2} GiB",
                cost.activation_bytes as f64 / f64::from(1 << 30),
                self.max_activation_bytes as f64 / f64::from(1 << 30)
            )));
        }
        Ok(cost)
    }

    /// Checks a CNN trained on `input` images in batches of `batch`.
    pub fn check_cnn(&self, arch: &CnnArch, input: ImageShape, classes: i64, batch: i64) -> Result<Cost> {
        let shapes = CnnShapes::of(arch, input);
        let cost = Cost {
            parameters: shapes.parameter_count(arch, classes),
            activation_bytes: 4 * batch.saturating_mul(shapes.activation_floats_per_image()),
        };
        self.check("CNN", cost)
    }

    /// Checks a language model with `leaves`-leaf cells trained on
    /// `batch × steps` token windows.
    pub fn check_language_model(
        &self,
        options: &LanguageModelOptions,
        leaves: i64,
        batch: i64,
        steps: i64,
    ) -> Result<Cost> {
        let nodes = 2 * leaves - 1;
        let per_token = options.layers * (2 * nodes + 2 * leaves) * options.hidden + 3 * options.vocabulary;
        let cost = Cost {
            parameters: language_model::parameter_count(options, leaves),
            activation_bytes: 4 * batch.saturating_mul(steps).saturating_mul(per_token),
        };
        self.check("language model", cost)
    }
}

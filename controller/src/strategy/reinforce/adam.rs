//! Adam (Kingma & Ba) written over plain tensors, so its state — moments and
//! step count — can be checkpointed and restored exactly, and global
//! gradient-norm clipping.

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::{Error, Result};

/// Adam's constants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamConfig {
    /// Learning rate (paper: 6e-4).
    pub learning_rate: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Added to the root of the second moment.
    pub epsilon: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            learning_rate: 6e-4,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
        }
    }
}

/// Adam's state for a fixed, ordered list of parameters.
pub struct Adam {
    config: AdamConfig,
    steps: u64,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
}

impl Adam {
    /// Fresh state (zero moments) for `parameters`.
    pub fn new(config: AdamConfig, parameters: &[(String, Tensor)]) -> Result<Self> {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        let unit = |x: f64| (0.0..1.0).contains(&x);
        if !positive(config.learning_rate)
            || !unit(config.beta1)
            || !unit(config.beta2)
            || !positive(config.epsilon)
        {
            return Err(Error::Config(format!("invalid Adam settings {config:?}")));
        }
        let zeros = || parameters.iter().map(|(_, p)| p.zeros_like()).collect();
        Ok(Adam {
            config,
            steps: 0,
            first: zeros(),
            second: zeros(),
        })
    }

    /// Updates every parameter from its gradient and clears the gradients.
    pub fn step(&mut self, parameters: &mut [(String, Tensor)]) {
        self.steps += 1;
        let AdamConfig {
            learning_rate,
            beta1,
            beta2,
            epsilon,
        } = self.config;
        let exponent = i32::try_from(self.steps).unwrap_or(i32::MAX);
        let correction1 = 1.0 - beta1.powi(exponent);
        let correction2 = 1.0 - beta2.powi(exponent);
        tch::no_grad(|| {
            for (((_, parameter), first), second) in
                parameters.iter_mut().zip(&mut self.first).zip(&mut self.second)
            {
                let grad = parameter.grad();
                if !grad.defined() {
                    continue;
                }
                *first *= beta1;
                *first += &grad * (1.0 - beta1);
                *second *= beta2;
                *second += grad.square() * (1.0 - beta2);
                let denominator = (&*second / correction2).sqrt() + epsilon;
                let update = (&*first / correction1) / denominator * learning_rate;
                *parameter -= update;
                parameter.zero_grad();
            }
        });
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The moments, named after their parameters, for a checkpoint.
    pub fn state_tensors(&self, parameters: &[(String, Tensor)]) -> Vec<(String, Tensor)> {
        let named = |prefix: &str, tensors: &[Tensor]| {
            parameters
                .iter()
                .zip(tensors)
                .map(|((name, _), tensor)| (format!("{prefix}{name}"), tensor.shallow_clone()))
                .collect::<Vec<_>>()
        };
        let mut out = named("adam.m.", &self.first);
        out.extend(named("adam.v.", &self.second));
        out
    }

    /// Restores moments and step count saved by [`Adam::state_tensors`].
    pub fn restore(
        &mut self,
        steps: u64,
        lookup: &mut dyn FnMut(&str) -> Result<Tensor>,
        parameters: &[(String, Tensor)],
    ) -> Result<()> {
        for (((name, _), first), second) in parameters.iter().zip(&mut self.first).zip(&mut self.second) {
            let saved_first = lookup(&format!("adam.m.{name}"))?;
            let saved_second = lookup(&format!("adam.v.{name}"))?;
            tch::no_grad(|| {
                first.copy_(&saved_first);
                second.copy_(&saved_second);
            });
        }
        self.steps = steps;
        Ok(())
    }
}

/// Scales all gradients so their joint L2 norm is at most `max_norm`;
/// returns the norm before clipping.
pub fn clip_grad_norm(parameters: &[(String, Tensor)], max_norm: Option<f64>) -> f64 {
    let grads: Vec<Tensor> = parameters
        .iter()
        .map(|(_, p)| p.grad())
        .filter(Tensor::defined)
        .collect();
    let squared: f64 = grads
        .iter()
        .map(|g| g.square().sum(tch::Kind::Double).double_value(&[]))
        .sum();
    let norm = squared.sqrt();
    if let Some(max_norm) = max_norm
        && norm > max_norm
    {
        let scale = max_norm / (norm + 1e-6);
        tch::no_grad(|| {
            for mut grad in grads {
                grad *= scale;
            }
        });
    }
    norm
}

//! Stochastic gradient descent with (Nesterov) momentum and weight decay,
//! written over plain tensors so its momentum buffers can be saved in a
//! child checkpoint and restored when a preempted child resumes elsewhere.
//! The update is PyTorch's `torch.optim.SGD` (dampening 0):
//!
//! ```text
//! d = grad + weight_decay · p
//! b = momentum · b + d            (b = d on the first step)
//! p = p − lr · (d + momentum · b)  (Nesterov)   or   p − lr · b
//! ```

use tch::{Kind, Tensor};

/// SGD settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate.
    pub learning_rate: f64,
    /// Momentum (0 for plain SGD).
    pub momentum: f64,
    /// L2 weight decay added to every gradient.
    pub weight_decay: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
}

/// The optimiser and its state for a fixed list of parameters.
pub struct Sgd {
    config: SgdConfig,
    parameters: Vec<(String, Tensor)>,
    buffers: Vec<Option<Tensor>>,
}

impl Sgd {
    /// An optimiser for `parameters` (name, tensor), in a stable order.
    pub fn new(config: SgdConfig, mut parameters: Vec<(String, Tensor)>) -> Self {
        parameters.sort_by(|a, b| a.0.cmp(&b.0));
        let buffers = parameters.iter().map(|_| None).collect();
        Sgd {
            config,
            parameters,
            buffers,
        }
    }

    /// Changes the learning rate.
    pub fn set_learning_rate(&mut self, learning_rate: f64) {
        self.config.learning_rate = learning_rate;
    }

    /// The current learning rate.
    pub fn learning_rate(&self) -> f64 {
        self.config.learning_rate
    }

    /// Clears every gradient.
    pub fn zero_grad(&mut self) {
        for (_, parameter) in &mut self.parameters {
            parameter.zero_grad();
        }
    }

    /// Scales all gradients so their joint L2 norm is at most `max_norm`.
    pub fn clip_grad_norm(&self, max_norm: f64) {
        let grads: Vec<Tensor> = self
            .parameters
            .iter()
            .map(|(_, p)| p.grad())
            .filter(Tensor::defined)
            .collect();
        if grads.is_empty() {
            return;
        }
        let squares: Vec<Tensor> = grads.iter().map(|g| g.square().sum(Kind::Float)).collect();
        let norm = Tensor::stack(&squares, 0).sum(Kind::Float).sqrt();
        // scale = min(1, max / norm), computed on the device without a sync.
        let scale = (norm + 1e-6)
            .reciprocal()
            .multiply_scalar(max_norm)
            .clamp_max(1.0);
        tch::no_grad(|| {
            for mut grad in grads {
                grad *= &scale;
            }
        });
    }

    /// One update from the current gradients.
    pub fn step(&mut self) {
        let SgdConfig {
            learning_rate,
            momentum,
            weight_decay,
            nesterov,
        } = self.config;
        tch::no_grad(|| {
            for ((_, parameter), buffer) in self.parameters.iter_mut().zip(&mut self.buffers) {
                let grad = parameter.grad();
                if !grad.defined() {
                    continue;
                }
                let direction = if weight_decay != 0.0 {
                    &grad + &*parameter * weight_decay
                } else {
                    grad
                };
                let update = if momentum == 0.0 {
                    direction
                } else {
                    let velocity = match buffer.take() {
                        Some(mut velocity) => {
                            velocity *= momentum;
                            velocity += &direction;
                            velocity
                        }
                        None => direction.copy(),
                    };
                    let update = if nesterov {
                        &direction + &velocity * momentum
                    } else {
                        velocity.shallow_clone()
                    };
                    *buffer = Some(velocity);
                    update
                };
                *parameter -= update * learning_rate;
            }
        });
    }

    /// The momentum buffers by parameter name (for a checkpoint).
    pub fn buffers(&self) -> Vec<(String, Tensor)> {
        self.parameters
            .iter()
            .zip(&self.buffers)
            .filter_map(|((name, _), buffer)| buffer.as_ref().map(|b| (name.clone(), b.shallow_clone())))
            .collect()
    }

    /// Restores momentum buffers saved by [`Sgd::buffers`].
    pub fn restore_buffers(&mut self, saved: &[(String, Tensor)]) {
        for ((name, parameter), buffer) in self.parameters.iter().zip(&mut self.buffers) {
            if let Some((_, tensor)) = saved.iter().find(|(saved_name, _)| saved_name == name) {
                *buffer = Some(tensor.to_device(parameter.device()).to_kind(parameter.kind()));
            }
        }
    }
}

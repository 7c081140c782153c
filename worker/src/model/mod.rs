//! The child networks of a spec, in tch style (builders over `nn::Path`,
//! `impl ModuleT`): [`cnn`] for CIFAR-10, [`language_model`] around the
//! searched [`recurrent_cell`] for Penn Treebank. [`guardrails`] checks a
//! child's parameter count and activation memory before anything is
//! allocated.

pub mod cnn;
pub mod guardrails;
pub mod language_model;
pub mod recurrent_cell;

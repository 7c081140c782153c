//! The data children train on: [`cifar10`] and [`ptb`] load the official
//! formats once into tensors on the training device, and [`cache`] keeps
//! each node's verified local copy of the data sets in the object store.

pub mod cache;
pub mod cifar10;
pub mod ptb;

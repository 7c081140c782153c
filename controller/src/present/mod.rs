//! Presenting a search: the HTML [`report`] with its plots and the
//! leaderboard, architecture diagrams ([`diagram`]), and [`export`] of a
//! found architecture as JSON, Graphviz DOT, SVG or a PyTorch module;
//! and the [`live`] report a running search serves on its metrics port.
//! The [`labels`] of layers and nodes are shared by the DOT export and the
//! diagram. Everything here reads the stored [`experiment`](crate::experiment).

pub mod diagram;
pub mod export;
mod labels;
pub mod live;
pub mod report;

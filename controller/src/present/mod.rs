//! Presenting a search: the HTML [`report`] with its plots and the
//! leaderboard, architecture diagrams ([`diagram`]), and [`export`] of a
//! found architecture as JSON, Graphviz DOT, SVG or a PyTorch module;
//! and the [`live`] report a running search serves on its metrics port.

pub mod diagram;
pub mod export;
pub mod live;
pub mod report;

//! Presenting a search: the HTML [`report`] with its plots and the
//! leaderboard, architecture diagrams ([`diagram`]), and [`export`] of a
//! found architecture as JSON, Graphviz DOT, SVG or a PyTorch module.

pub mod diagram;
pub mod export;
pub mod report;

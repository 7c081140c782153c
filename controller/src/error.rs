//! The controller library's error type.

/// Everything that can go wrong in the controller library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A spec, space or message was rejected.
    #[error(transparent)]
    Common(#[from] nas_common::Error),
    /// A setting is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A checkpoint could not be written or read.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// JSON (de)serialisation failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// File input or output failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

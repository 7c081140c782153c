//! The controller library's error type. Failures of the store or the
//! broker keep their source ([`Error::Infra`]) and say whether they are
//! transient ([`Error::is_transient`]); the rest are permanent.

/// Everything that can go wrong in the controller library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A spec, space, message or reward table was rejected.
    #[error(transparent)]
    Domain(#[from] nas_domain::Error),
    /// The object store or the broker failed.
    #[error(transparent)]
    Infra(#[from] nas_infra::Error),
    /// A setting is out of range or does not fit the others.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// There is no such experiment, architecture or run to work on.
    #[error("{0}")]
    NotFound(String),
    /// A checkpoint could not be written or read.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// JSON (de)serialisation failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Drawing a plot failed.
    #[error("plotting: {0}")]
    Plot(String),
    /// File input or output failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A blocking task (a policy step, a replay) panicked.
    #[error("a blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// An earlier failure inside a blocking task lost the strategy.
    #[error("the strategy was lost by an earlier failure")]
    StrategyLost,
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// Whether retrying later may succeed (the store or broker is down).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Infra(error) => error.is_transient(),
            _ => false,
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

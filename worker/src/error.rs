//! The worker library's error type.

/// Everything that can go wrong in the worker library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A spec, space or message was rejected.
    #[error(transparent)]
    Common(#[from] nas_common::Error),
    /// A data file is missing, truncated or not in the expected format.
    #[error("{path}: {reason}")]
    Data {
        /// The file or folder.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A child is too large for the configured limits.
    #[error("child rejected before allocation: {0}")]
    TooLarge(String),
    /// A setting is out of range or does not fit the task.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

impl Error {
    pub(crate) fn data(path: &std::path::Path, reason: impl Into<String>) -> Self {
        Error::Data {
            path: path.display().to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The worker library's error type. [`Error::is_transient`] tells the job
//! loop whether to wait for the store (a transient failure) or to fail the
//! job at once with the reason (anything else).

/// Everything that can go wrong in the worker library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A spec, space or message was rejected.
    #[error(transparent)]
    Domain(#[from] nas_domain::Error),
    /// The object store or the broker failed.
    #[error(transparent)]
    Infra(#[from] nas_infra::Error),
    /// A data file is missing, truncated or not in the expected format.
    #[error("{path}: {reason}")]
    Data {
        /// The file or folder.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a local file failed.
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
    /// A child checkpoint does not fit the network or is malformed.
    #[error("child checkpoint: {0}")]
    Checkpoint(String),
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A blocking task (training, hashing, a file lock) panicked or was
    /// cancelled.
    #[error("a blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The worker is shutting down.
    #[error("the worker is shutting down")]
    ShuttingDown,
    /// A trial command could not be started (no such program, not
    /// executable): the job fails, as it would on any worker like this one.
    #[error("cannot start the trial command {program:?}: {source}")]
    TrialSpawn {
        /// The program named by `trial.command`.
        program: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A trial command ran and failed: it exited with an error or a signal,
    /// without its final line, past its time limit, or broke the protocol.
    #[error("{failure}{}", crate::trial::show_tail(.stderr_tail))]
    Trial {
        /// What happened.
        failure: crate::trial::TrialFailure,
        /// The end of its standard error (about 20 lines, at most 2 KB).
        stderr_tail: String,
    },
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

    /// Whether the same work may succeed later: a store or broker that is
    /// down, or a local file-system hiccup. Bad data, refused credentials,
    /// a missing bucket, children that do not fit and trial commands that
    /// fail are permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Infra(error) => error.is_transient(),
            Error::Io { source, .. } => source.kind() != std::io::ErrorKind::PermissionDenied,
            Error::Join(_) | Error::ShuttingDown => true,
            Error::Domain(_)
            | Error::Data { .. }
            | Error::TooLarge(_)
            | Error::Config(_)
            | Error::Checkpoint(_)
            | Error::Torch(_)
            | Error::TrialSpawn { .. }
            | Error::Trial { .. } => false,
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

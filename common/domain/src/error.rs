//! The error type of `nas-domain`: every way a space, spec, message, data
//! set or reward table can be rejected, each with a message that names the
//! problem. None of these is transient: the same input fails the same way.

/// Why a space, an architecture spec, an action sequence or a message was
/// rejected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A search-space definition is unusable (empty value list, bad depth…).
    #[error("invalid search space: {0}")]
    InvalidSpace(String),
    /// An architecture spec breaks a structural rule.
    #[error("invalid architecture spec: {0}")]
    InvalidSpec(String),
    /// A spec is well formed but lies outside the search space at hand.
    #[error("architecture is not in this search space: {0}")]
    NotInSpace(String),
    /// An action sequence does not fit the decision plan of a space.
    #[error("invalid action sequence: {0}")]
    InvalidActions(String),
    /// A document carries a schema version this build does not read.
    #[error("unsupported {what} version {found}: this build reads version {supported}")]
    UnsupportedVersion {
        /// Which kind of document (`"architecture spec"`, `"train job"`…).
        what: &'static str,
        /// The version found in the document.
        found: u32,
        /// The version this build understands.
        supported: u32,
    },
    /// A message is well-formed JSON but breaks a rule of the wire contract.
    #[error("invalid {what}: {reason}")]
    InvalidMessage {
        /// Which message (`"train job"`, `"train result"`).
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A message whose bytes are not UTF-8 text.
    #[error("invalid {what}: not UTF-8: {source}")]
    NotUtf8 {
        /// Which message.
        what: &'static str,
        /// Where the bytes stop being UTF-8.
        #[source]
        source: std::str::Utf8Error,
    },
    /// A message larger than the wire contract allows; not even parsed.
    #[error("{what} of {bytes} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Which message.
        what: &'static str,
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A tensor file (checkpoint) is malformed or could not be encoded.
    #[error("tensor file: {0}")]
    TensorFile(String),
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A local data set is incomplete or not in the expected format.
    #[error("data set {}: {reason}", path.display())]
    Dataset {
        /// Its file or folder.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An oracle has no reward for an architecture.
    #[error("the oracle has no reward for architecture {0}")]
    UnknownArchitecture(String),
    /// JSON that could not be parsed into the expected type.
    #[error("malformed {what} JSON: {source}")]
    Json {
        /// Which document was being parsed.
        what: &'static str,
        /// The parser's own error, with line and column.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// `Result` with [`Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The error type of `nas-common`: every way a space, spec or message can be
//! rejected, each with a message that names the problem.

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
    /// A tensor file (checkpoint) could not be written or read.
    #[error("tensor file: {0}")]
    TensorFile(String),
    /// The object store failed or holds something unexpected.
    #[error("object store: {0}")]
    Store(String),
    /// The message broker failed.
    #[error("message broker: {0}")]
    Queue(String),
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

/// `Result` with [`Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The error type of `nas-infra`: a failure of the object store or the
//! broker keeps its source and says whether it is worth retrying
//! ([`Error::is_transient`]); a permanent store failure names the store,
//! the key and what to fix.

use std::fmt;

/// Any error a client library reports, kept as the source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong in the object store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreProblem {
    /// The store did not answer, timed out or failed on its side (5xx,
    /// throttling, a dropped connection): try again later.
    Unavailable,
    /// The credentials may not do this: wrong keys, or no rights on the
    /// bucket.
    AccessDenied,
    /// The bucket does not exist.
    NoSuchBucket,
    /// The store refused the request for another reason (4xx).
    Rejected,
    /// An object holds something other than what was expected.
    Corrupt(String),
    /// The key is not a valid object key.
    InvalidKey,
}

impl StoreProblem {
    /// Whether the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreProblem::Unavailable)
    }
}

/// Whether a broker failure may clear up by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// A lost connection, a closed channel, a broker that is restarting.
    Transient,
    /// Refused credentials or rights, a missing or mismatched queue.
    Permanent,
}

/// Why an operation of the store, the broker or a service adapter failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object store failed or holds something unexpected.
    #[error("object store {store}: {action} {key}: {}", describe(.problem, .store))]
    Store {
        /// Which store (`s3://bucket at endpoint`, or a directory).
        store: String,
        /// What was being done (`getting`, `putting`, `listing`…).
        action: &'static str,
        /// The object key (or prefix, or local path).
        key: String,
        /// What went wrong.
        problem: StoreProblem,
        /// The client library's error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// The message broker failed.
    #[error("message broker: {action}: {source}")]
    Queue {
        /// What was being done.
        action: String,
        /// Whether to retry.
        retry: Retry,
        /// lapin's (or the in-process queue's) error.
        #[source]
        source: BoxError,
    },
    /// A setting is unusable (a bad broker URI, a port in use, no store).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A document in the store or on the wire was rejected.
    #[error(transparent)]
    Domain(#[from] nas_domain::Error),
}

fn describe(problem: &StoreProblem, store: &str) -> String {
    match problem {
        StoreProblem::Unavailable => "the store is unavailable (retried later)".into(),
        StoreProblem::AccessDenied => format!(
            "access denied: the credentials may not use {store}; check AWS_ACCESS_KEY_ID / \
             AWS_SECRET_ACCESS_KEY and the bucket's permissions for this key"
        ),
        StoreProblem::NoSuchBucket => format!(
            "the bucket of {store} does not exist: create it, or fix --s3-bucket (NAS_S3_BUCKET) \
             and --s3-endpoint (NAS_S3_ENDPOINT)"
        ),
        StoreProblem::Rejected => "the store rejected the request".into(),
        StoreProblem::Corrupt(reason) => format!("unexpected content: {reason}"),
        StoreProblem::InvalidKey => {
            "not a valid object key (relative, `/`-separated, no empty, `.` or `..` segments)".into()
        }
    }
}

impl Error {
    /// Whether retrying the same operation later may succeed: a store or
    /// broker that is down, restarting or overloaded. Refused credentials,
    /// a missing bucket, corrupt objects and bad settings are permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Store { problem, .. } => problem.is_transient(),
            Error::Queue { retry, .. } => *retry == Retry::Transient,
            Error::Config(_) | Error::Domain(_) => false,
        }
    }

    /// The store problem, when this is a store error.
    pub fn store_problem(&self) -> Option<&StoreProblem> {
        match self {
            Error::Store { problem, .. } => Some(problem),
            _ => None,
        }
    }

    /// A broker error while `action`.
    pub fn queue(action: impl Into<String>, retry: Retry, source: impl Into<BoxError>) -> Self {
        Error::Queue {
            action: action.into(),
            retry,
            source: source.into(),
        }
    }
}

/// A message as an error source (for failures with no library error).
#[derive(Debug)]
pub struct Reason(pub String);

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Reason {}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

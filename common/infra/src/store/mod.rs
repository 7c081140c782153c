//! The object store port: get, put and list objects by key, with two
//! implementations that share one key layout:
//!
//! - [`S3Store`]: any S3-compatible endpoint (AWS S3, MinIO, Garage, Ceph).
//! - [`LocalStore`]: a local directory (the embedded mode and tests).
//!
//! The layout (see `keys`):
//!
//! ```text
//! datasets/<name>/<files…> + manifest.json        (sha256 of every file)
//! experiments/<name>/config.json
//! experiments/<name>/jobs/<batch>.jsonl            (every job published)
//! experiments/<name>/rewards/<sequence>.jsonl      (the append-only reward log)
//! experiments/<name>/policy/<step>.ckpt + latest.json
//! experiments/<name>/children/<job_id>/latest.ckpt (preempted children)
//! experiments/<name>/leaderboard.json
//! experiments/<name>/reevaluations/<run>/          (jobs/, results/, summary.json)
//! ```
//!
//! Keys are validated: relative, `/`-separated, no empty, `.` or `..`
//! segments, so a key can never escape a local store's root. Every failure
//! is an [`Error::Store`] that keeps its source and says whether it is
//! transient ([`crate::StoreProblem`]); [`datasets`] uploads a local data
//! set with its manifest.

pub mod datasets;
pub mod keys;
mod local_store;
mod s3;

use std::path::Path;

use bytes::Bytes;

pub use local_store::LocalStore;
pub use s3::{S3Config, S3Store};

use crate::error::{BoxError, StoreProblem};
use crate::{Error, Result};

/// An object store (see the module docs).
#[derive(Clone, Debug)]
pub enum ObjectStore {
    /// S3-compatible storage.
    S3(S3Store),
    /// A local directory.
    Local(LocalStore),
}

impl ObjectStore {
    /// The object at `key`, or `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.check_key(key)?;
        match self {
            ObjectStore::S3(store) => store.get(key).await,
            ObjectStore::Local(store) => store.get(key).await,
        }
    }

    /// Writes `bytes` at `key`, replacing any object there.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        self.check_key(key)?;
        match self {
            ObjectStore::S3(store) => store.put(key, bytes).await,
            ObjectStore::Local(store) => store.put(key, bytes).await,
        }
    }

    /// Every key under `prefix` (which should end with `/`), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        match self {
            ObjectStore::S3(store) => store.list(prefix).await,
            ObjectStore::Local(store) => store.list(prefix).await,
        }
    }

    /// Copies the object at `key` into the file `path` (streaming); `false`
    /// when there is no such object.
    pub async fn download(&self, key: &str, path: &Path) -> Result<bool> {
        self.check_key(key)?;
        match self {
            ObjectStore::S3(store) => store.download(key, path).await,
            ObjectStore::Local(store) => store.download(key, path).await,
        }
    }

    /// Uploads the file `path` to `key` (streaming).
    pub async fn upload(&self, key: &str, path: &Path) -> Result<()> {
        self.check_key(key)?;
        match self {
            ObjectStore::S3(store) => store.upload(key, path).await,
            ObjectStore::Local(store) => store.upload(key, path).await,
        }
    }

    /// Where the store is, for logs (`s3://bucket`, a directory).
    pub fn describe(&self) -> String {
        match self {
            ObjectStore::S3(store) => store.describe(),
            ObjectStore::Local(store) => store.root().display().to_string(),
        }
    }

    /// The object at `key` parsed as JSON, or `None`.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key).await? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|error| self.corrupt("reading", key, "not the expected JSON", error)),
            None => Ok(None),
        }
    }

    /// Writes `values` as JSON lines (one compact object per line) at `key`.
    pub async fn put_json_lines<T: serde::Serialize>(&self, key: &str, values: &[T]) -> Result<()> {
        let mut bytes = Vec::with_capacity(values.len() * 1024);
        for value in values {
            serde_json::to_writer(&mut bytes, value)
                .map_err(|error| self.corrupt("encoding", key, "not encodable as JSON", error))?;
            bytes.push(b'\n');
        }
        self.put(key, Bytes::from(bytes)).await
    }

    /// The values of a JSON-lines object, or `None` when there is none. An
    /// object whose key ends in `.json` holds one (possibly pretty) value.
    pub async fn get_json_lines<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<Vec<T>>> {
        let Some(bytes) = self.get(key).await? else {
            return Ok(None);
        };
        let parse_error = |line: usize, error: serde_json::Error| {
            self.corrupt(
                "reading",
                key,
                &format!("line {line} is not the expected JSON"),
                error,
            )
        };
        if key.ends_with(".json") {
            return serde_json::from_slice(&bytes)
                .map(|value| Some(vec![value]))
                .map_err(|error| parse_error(1, error));
        }
        bytes
            .split(|&byte| byte == b'\n')
            .enumerate()
            .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
            .map(|(index, line)| serde_json::from_slice(line).map_err(|error| parse_error(index + 1, error)))
            .collect::<Result<Vec<T>>>()
            .map(Some)
    }

    /// Writes `value` as pretty JSON at `key`.
    pub async fn put_json<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(value)
            .map_err(|error| self.corrupt("encoding", key, "not encodable as JSON", error))?;
        self.put(key, Bytes::from(bytes)).await
    }

    /// An error of this store while `action` on `key`.
    pub fn error(
        &self,
        action: &'static str,
        key: &str,
        problem: StoreProblem,
        source: Option<BoxError>,
    ) -> Error {
        Error::Store {
            store: self.describe(),
            action,
            key: key.to_owned(),
            problem,
            source,
        }
    }

    fn corrupt(&self, action: &'static str, key: &str, what: &str, error: serde_json::Error) -> Error {
        self.error(
            action,
            key,
            StoreProblem::Corrupt(what.to_owned()),
            Some(error.into()),
        )
    }

    fn check_key(&self, key: &str) -> Result<()> {
        if valid_key(key) {
            Ok(())
        } else {
            Err(self.error("using", key, StoreProblem::InvalidKey, None))
        }
    }
}

/// Whether `key` is relative, `/`-separated, without empty, `.` or `..`
/// segments.
pub fn valid_key(key: &str) -> bool {
    !(key.is_empty()
        || key.starts_with('/')
        || key.contains('\\')
        || key
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == ".."))
}

//! The object store as a local directory: key `a/b/c` is the file
//! `<root>/a/b/c`. Writes go to a temporary file in the same directory and
//! are renamed into place, so readers never see half an object.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::error::StoreProblem;
use crate::{Error, Result};

/// A directory used as an object store.
#[derive(Clone, Debug)]
pub struct LocalStore {
    root: PathBuf,
}

/// A local file-system failure on `path`: permission problems are
/// permanent, anything else (a full disk, a busy file) may clear up.
pub(super) fn io_error(path: &Path, error: std::io::Error) -> Error {
    let problem = match error.kind() {
        std::io::ErrorKind::PermissionDenied => StoreProblem::AccessDenied,
        _ => StoreProblem::Unavailable,
    };
    Error::Store {
        store: "local files".into(),
        action: "accessing",
        key: path.display().to_string(),
        problem,
        source: Some(Box::new(error)),
    }
}

impl LocalStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `key`.
    pub fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let path = self.path(key);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(io_error(&path, error)),
        }
    }

    pub(super) async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        let path = self.path(key);
        let temporary = self.temporary(&path).await?;
        tokio::fs::write(&temporary, &bytes)
            .await
            .map_err(|e| io_error(&temporary, e))?;
        tokio::fs::rename(&temporary, &path)
            .await
            .map_err(|e| io_error(&path, e))
    }

    pub(super) async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut keys = Vec::new();
            // Walk only the deepest directory the prefix names.
            let directory = match prefix.rfind('/') {
                Some(end) => root.join(&prefix[..end]),
                None => root.clone(),
            };
            walk(&root, &directory, &mut keys)?;
            keys.retain(|key| key.starts_with(&prefix));
            keys.sort();
            Ok(keys)
        })
        .await
        .map_err(|error| io_error(&self.root, std::io::Error::other(error)))?
    }

    pub(super) async fn download(&self, key: &str, path: &Path) -> Result<bool> {
        let source = self.path(key);
        match tokio::fs::copy(&source, path).await {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && !source.exists() => Ok(false),
            Err(error) => Err(io_error(path, error)),
        }
    }

    pub(super) async fn upload(&self, key: &str, path: &Path) -> Result<()> {
        let target = self.path(key);
        let temporary = self.temporary(&target).await?;
        tokio::fs::copy(path, &temporary)
            .await
            .map_err(|e| io_error(path, e))?;
        tokio::fs::rename(&temporary, &target)
            .await
            .map_err(|e| io_error(&target, e))
    }

    /// A fresh temporary path beside `path`, its directory created.
    async fn temporary(&self, path: &Path) -> Result<PathBuf> {
        let directory = path.parent().unwrap_or(&self.root);
        tokio::fs::create_dir_all(directory)
            .await
            .map_err(|e| io_error(directory, e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(directory.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple())))
    }
}

fn walk(root: &Path, directory: &Path, keys: &mut Vec<String>) -> Result<()> {
    let entries = match std::fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(io_error(directory, error)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_error(directory, e))?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue; // temporary files
        }
        if entry.file_type().map_err(|e| io_error(&path, e))?.is_dir() {
            walk(root, &path, keys)?;
        } else if let Ok(relative) = path.strip_prefix(root) {
            let key: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            keys.push(key.join("/"));
        }
    }
    Ok(())
}

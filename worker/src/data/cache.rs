//! The worker's local copy of the data sets in the object store.
//!
//! A data set is downloaded once per node into
//! `<cache>/<name>/<manifest digest>/`, every file checked against the
//! manifest's size and SHA-256, and reused by every later job. Several
//! worker processes on one node share the cache: the download happens under
//! an exclusive file lock (`<cache>/<name>.lock`) into a temporary folder
//! that is renamed into place, and a `.complete` marker is written last, so
//! a reader sees either nothing or a verified copy. A new upload (a new
//! manifest) gets a new folder. A failure says through
//! [`Error::is_transient`] whether waiting for the store can help (it is
//! unreachable) or not (the data set is missing or corrupt, the
//! credentials are refused).

use std::path::{Path, PathBuf};

use nas_domain::datasets::manifest::{self, Manifest};
use nas_infra::store::{ObjectStore, keys};

use crate::{Error, Result};

/// The marker of a complete, verified copy.
const COMPLETE: &str = ".complete";

/// A per-node cache of data sets.
#[derive(Clone, Debug)]
pub struct DatasetCache {
    root: PathBuf,
    store: ObjectStore,
}

impl DatasetCache {
    /// A cache in `root` over `store`.
    pub fn new(root: impl Into<PathBuf>, store: ObjectStore) -> Self {
        DatasetCache {
            root: root.into(),
            store,
        }
    }

    /// The local folder of data set `name`, downloading and verifying it
    /// first when needed.
    pub async fn ensure(&self, name: &str) -> Result<PathBuf> {
        let manifest_key = keys::dataset_manifest(name);
        let bytes = self.store.get(&manifest_key).await?.ok_or_else(|| {
            Error::data(
                Path::new(&manifest_key),
                format!(
                    "data set {name:?} is not in the store {} (upload it with `nas-controller data upload`)",
                    self.store.describe()
                ),
            )
        })?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::data(Path::new(&manifest_key), e.to_string()))?;
        let target = self.root.join(name).join(&manifest.digest()[..16]);
        if target.join(COMPLETE).is_file() {
            return Ok(target);
        }
        let lock = self.lock(name).await?;
        let result = self.fill(name, &manifest, &target).await;
        drop(lock);
        result.map(|()| target)
    }

    async fn lock(&self, name: &str) -> Result<std::fs::File> {
        let path = self.root.join(format!("{name}.lock"));
        tokio::task::spawn_blocking(move || {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            file.lock().map_err(|e| Error::io(&path, e))?;
            Ok(file)
        })
        .await?
    }

    async fn fill(&self, name: &str, manifest: &Manifest, target: &Path) -> Result<()> {
        if target.join(COMPLETE).is_file() {
            return Ok(()); // another process finished while we waited
        }
        let partial = target.with_extension("partial");
        let _ = tokio::fs::remove_dir_all(&partial).await;
        for file in &manifest.files {
            let path = partial.join(&file.path);
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| Error::io(parent, e))?;
            }
            let key = keys::dataset_file(name, &file.path);
            if !self.store.download(&key, &path).await? {
                return Err(Error::data(Path::new(&key), "listed in the manifest but missing"));
            }
            let hashed = path.clone();
            let (sha256, bytes) = tokio::task::spawn_blocking(move || manifest::hash_file(&hashed))
                .await?
                .map_err(|error| match error {
                    nas_domain::Error::Io { source, .. } => Error::io(&path, source),
                    other => Error::Domain(other),
                })?;
            if sha256 != file.sha256 || bytes != file.bytes {
                let _ = tokio::fs::remove_dir_all(&partial).await;
                return Err(Error::data(
                    Path::new(&key),
                    format!(
                        "checksum mismatch: {bytes} bytes with sha256 {sha256}, the manifest says {} bytes with {}",
                        file.bytes, file.sha256
                    ),
                ));
            }
        }
        let _ = tokio::fs::remove_dir_all(target).await;
        tokio::fs::rename(&partial, target)
            .await
            .map_err(|e| Error::io(target, e))?;
        tokio::fs::write(target.join(COMPLETE), manifest.digest())
            .await
            .map_err(|e| Error::io(target, e))?;
        tracing::info!(data_set = name, path = %target.display(), "data set cached and verified");
        Ok(())
    }
}

//! Uploading a local data set into the store as `datasets/<name>/`, with
//! its manifest (`nas_domain::datasets::manifest`) written last, so a
//! manifest in the store always describes complete files. Used by `data
//! upload` and the embedded mode; workers fetch and verify the copy
//! through their cache.

use std::path::Path;

use nas_domain::datasets::manifest::{self, DatasetKind, Manifest, ManifestFile};

use super::{ObjectStore, keys};
use crate::{Error, Result};

/// Uploads the data set at `source` as `datasets/<name>/`.
pub async fn upload(store: &ObjectStore, name: &str, kind: DatasetKind, source: &Path) -> Result<Manifest> {
    manifest::check_name(name)?;
    let files = manifest::local_files(kind, source)?;
    let mut uploaded = Manifest {
        version: 1,
        kind,
        files: Vec::new(),
    };
    for (relative, path) in files {
        let hashed_path = path.clone();
        let (sha256, bytes) = tokio::task::spawn_blocking(move || manifest::hash_file(&hashed_path))
            .await
            .map_err(|e| Error::Config(format!("hashing {}: {e}", path.display())))??;
        store.upload(&keys::dataset_file(name, &relative), &path).await?;
        tracing::info!(file = %relative, bytes, "uploaded");
        uploaded.files.push(ManifestFile {
            path: relative,
            bytes,
            sha256,
        });
    }
    store.put_json(&keys::dataset_manifest(name), &uploaded).await?;
    Ok(uploaded)
}

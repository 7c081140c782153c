//! The manifest of a data set: in the object store `datasets/<name>/`
//! holds the official files and a `manifest.json` listing each file's size
//! and SHA-256. [`local_files`] finds the files of a local copy and
//! [`hash_file`] checksums one; the upload itself (`nas-infra`) and the
//! workers' verifying cache build on these.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{cifar10, ptb};
use crate::{Error, Result};

/// Which data set a manifest describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    /// CIFAR-10, binary version (the archive, or the extracted files).
    Cifar10,
    /// Penn Treebank text files.
    Ptb,
}

/// One file of a data set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Path relative to the data set's folder (`/`-separated).
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the contents.
    pub sha256: String,
}

/// What a data set in the store holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format version (1).
    pub version: u32,
    /// The data set's kind.
    pub kind: DatasetKind,
    /// The files.
    pub files: Vec<ManifestFile>,
}

impl Manifest {
    /// SHA-256 of the manifest's canonical JSON: the data set's version.
    pub fn digest(&self) -> String {
        hex(&Sha256::digest(crate::canonical_json::to_string(self).as_bytes()))
    }
}

/// The local files of a data set, relative path first.
pub fn local_files(kind: DatasetKind, source: &Path) -> Result<Vec<(String, PathBuf)>> {
    let missing = |reason: String| Error::Dataset {
        path: source.to_path_buf(),
        reason,
    };
    match kind {
        DatasetKind::Cifar10 if source.is_file() => {
            Ok(vec![(cifar10::ARCHIVE.to_owned(), source.to_path_buf())])
        }
        DatasetKind::Cifar10 => {
            let folder = if source.join(cifar10::FOLDER).is_dir() {
                source.join(cifar10::FOLDER)
            } else if source.join(cifar10::ARCHIVE).is_file() {
                return Ok(vec![(cifar10::ARCHIVE.to_owned(), source.join(cifar10::ARCHIVE))]);
            } else {
                source.to_path_buf()
            };
            let mut names: Vec<&str> = cifar10::TRAIN_FILES.to_vec();
            names.push(cifar10::TEST_FILE);
            names.push(cifar10::META_FILE);
            names
                .into_iter()
                .map(|name| {
                    let path = folder.join(name);
                    if path.is_file() {
                        Ok((format!("{}/{name}", cifar10::FOLDER), path))
                    } else {
                        Err(missing(format!(
                            "{name} is missing (expected the archive or {})",
                            cifar10::FOLDER
                        )))
                    }
                })
                .collect()
        }
        DatasetKind::Ptb => {
            let mut files = Vec::new();
            for name in ptb::WORD_FILES {
                let path = source.join(name);
                if !path.is_file() {
                    return Err(missing(format!("{name} is missing")));
                }
                files.push((name.to_owned(), path));
            }
            files.extend(
                ptb::CHAR_FILES
                    .iter()
                    .map(|name| (name.to_string(), source.join(name)))
                    .filter(|(_, path)| path.is_file()),
            );
            Ok(files)
        }
    }
}

/// SHA-256 and size of a file, read in blocks.
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let read = file.read(&mut buffer).map_err(|e| Error::io(path, e))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        total += read as u64;
    }
    Ok((hex(&hasher.finalize()), total))
}

/// Checks that `name` can name a data set: a plain name, no `/`, not
/// starting with `.`.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(Error::InvalidConfig(format!(
            "data set name {name:?} must be a plain name"
        )));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

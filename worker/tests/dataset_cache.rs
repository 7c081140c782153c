//! The per-node data-set cache: downloaded once, verified, shared by
//! concurrent workers, and corrupt uploads rejected.

#![allow(clippy::unwrap_used)]

use nas_domain::datasets::manifest::DatasetKind;
use nas_domain::datasets::synth;
use nas_infra::store::datasets::upload;
use nas_infra::store::{LocalStore, ObjectStore};
use nas_worker::Error;
use nas_worker::data::cache::DatasetCache;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_workers_share_one_verified_copy() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ptb");
    synth::write_ptb(&data, 50, 20, 1).unwrap();
    let store = ObjectStore::Local(LocalStore::new(dir.path().join("store")));
    let manifest = upload(&store, "ptb", DatasetKind::Ptb, &data).await.unwrap();
    assert_eq!(manifest.files.len(), 6);
    let cache_root = dir.path().join("cache");
    let caches: Vec<DatasetCache> = (0..4)
        .map(|_| DatasetCache::new(&cache_root, store.clone()))
        .collect();
    let folders = futures::future::join_all(caches.iter().map(|cache| cache.ensure("ptb"))).await;
    let folders: Vec<_> = folders.into_iter().map(|folder| folder.unwrap()).collect();
    assert!(folders.windows(2).all(|pair| pair[0] == pair[1]));
    assert_eq!(
        std::fs::read(folders[0].join("ptb.train.txt")).unwrap(),
        std::fs::read(data.join("ptb.train.txt")).unwrap()
    );
    assert!(folders[0].join(".complete").is_file());
}

#[tokio::test]
async fn a_corrupt_or_missing_data_set_is_rejected_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ptb");
    synth::write_ptb(&data, 50, 20, 1).unwrap();
    let root = dir.path().join("store");
    let store = ObjectStore::Local(LocalStore::new(&root));
    upload(&store, "ptb", DatasetKind::Ptb, &data).await.unwrap();
    std::fs::write(root.join("datasets/ptb/ptb.valid.txt"), "tampered\n").unwrap();
    let cache = DatasetCache::new(dir.path().join("cache"), store.clone());
    match cache.ensure("ptb").await {
        Err(error @ Error::Data { .. }) => {
            assert!(!error.is_transient(), "a corrupt file does not heal: {error}");
            let Error::Data { path, .. } = error else {
                unreachable!()
            };
            assert_eq!(path, "datasets/ptb/ptb.valid.txt");
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    match cache.ensure("imagenet").await {
        Err(error @ Error::Data { .. }) => {
            assert!(!error.is_transient(), "{error}");
            let Error::Data { path, .. } = error else {
                unreachable!()
            };
            assert_eq!(path, "datasets/imagenet/manifest.json");
        }
        other => panic!("expected a missing data set, got {other:?}"),
    }
}

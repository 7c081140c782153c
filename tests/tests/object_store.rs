//! The object store port behaves the same on S3 (Garage) and on a local
//! directory.

#![allow(clippy::unwrap_used)]

use nas_infra::store::{LocalStore, ObjectStore};
use nas_tests::{s3_store, unique};

async fn exercise(store: &ObjectStore, prefix: &str) {
    let key = |name: &str| format!("{prefix}/{name}");
    assert_eq!(store.get(&key("missing")).await.unwrap(), None);
    store.put(&key("a/one.json"), "1".into()).await.unwrap();
    store.put(&key("a/two.json"), "2".into()).await.unwrap();
    store.put(&key("b/three.json"), "3".into()).await.unwrap();
    store.put(&key("a/one.json"), "one".into()).await.unwrap();
    assert_eq!(store.get(&key("a/one.json")).await.unwrap().unwrap(), "one");
    assert_eq!(
        store.list(&format!("{prefix}/a/")).await.unwrap(),
        vec![key("a/one.json"), key("a/two.json")]
    );
    assert_eq!(store.list(&format!("{prefix}/")).await.unwrap().len(), 3);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload.bin");
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &payload).unwrap();
    store.upload(&key("big.bin"), &file).await.unwrap();
    let copy = dir.path().join("copy.bin");
    assert!(store.download(&key("big.bin"), &copy).await.unwrap());
    assert_eq!(std::fs::read(&copy).unwrap(), payload);
    assert!(!store.download(&key("nothing.bin"), &copy).await.unwrap());
    for bad in ["", "/absolute", "a/../b", "a//b", "./a"] {
        assert!(store.put(bad, "x".into()).await.is_err(), "{bad:?} was accepted");
    }
}

#[tokio::test]
async fn s3_and_local_stores_agree() {
    exercise(&s3_store().await, &unique("store-test")).await;
    let dir = tempfile::tempdir().unwrap();
    exercise(&ObjectStore::Local(LocalStore::new(dir.path())), "store-test").await;
}

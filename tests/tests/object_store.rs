//! The object store port behaves the same on S3 (Garage) and on a local
//! directory.

#![allow(clippy::unwrap_used)]

use nas_infra::StoreProblem;
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

/// A bucket that exists but the test key may not use.
fn foreign_bucket() -> String {
    let name = "nas-foreign".to_owned();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/services/garage.sh");
    let status = std::process::Command::new(script)
        .args(["foreign-bucket", &name])
        .status()
        .unwrap();
    assert!(status.success(), "garage.sh foreign-bucket failed");
    name
}

async fn store_for(bucket: &str, endpoint: Option<String>) -> ObjectStore {
    let mut config = nas_tests::s3_config();
    config.bucket = bucket.to_owned();
    if let Some(endpoint) = endpoint {
        config.endpoint = Some(endpoint);
    }
    ObjectStore::S3(nas_infra::store::S3Store::new(&config).await)
}

#[tokio::test]
async fn store_failures_keep_their_kind_and_name_the_bucket() {
    let denied = store_for(&foreign_bucket(), None).await;
    let error = denied.get("datasets/x/manifest.json").await.unwrap_err();
    assert_eq!(
        error.store_problem(),
        Some(&StoreProblem::AccessDenied),
        "{error}"
    );
    assert!(!error.is_transient(), "{error}");
    assert!(error.to_string().contains("s3://nas-foreign"), "{error}");
    assert!(
        std::error::Error::source(&error).is_some(),
        "the SDK's error is kept"
    );
    let missing = store_for(&unique("nas-missing"), None).await;
    let error = missing.put("a/b.json", "{}".into()).await.unwrap_err();
    assert!(!error.is_transient(), "{error}");
    assert!(
        matches!(
            error.store_problem(),
            Some(StoreProblem::NoSuchBucket | StoreProblem::AccessDenied)
        ),
        "{error}"
    );
    // Nothing listens on port 9: the store is unavailable, which may heal.
    let down = store_for("nas-test", Some("http://127.0.0.1:9".into())).await;
    let error = down.list("a/").await.unwrap_err();
    assert_eq!(error.store_problem(), Some(&StoreProblem::Unavailable), "{error}");
    assert!(error.is_transient(), "{error}");
}

//! Tensor files round-trip, including the edge cases the fuzzer found.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use nas_domain::tensor_file::{self, NamedTensor};

#[test]
fn tensors_and_metadata_round_trip() {
    let tensors = vec![NamedTensor {
        name: "w".into(),
        shape: vec![2, 1],
        values: vec![1.0, -2.5],
    }];
    let metadata = HashMap::from([("step".to_owned(), "3".to_owned())]);
    let bytes = tensor_file::encode(&tensors, metadata.clone()).unwrap();
    assert_eq!(tensor_file::decode(&bytes).unwrap(), (tensors, metadata));
}

#[test]
fn an_empty_file_round_trips() {
    // Found by the tensor_file fuzzer: no tensors and empty metadata were
    // written as a header that could not be read back.
    let bytes = tensor_file::encode(&[], HashMap::new()).unwrap();
    let (tensors, metadata) = tensor_file::decode(&bytes).unwrap();
    assert!(tensors.is_empty() && metadata.is_empty());
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for bytes in [
        &b""[..],
        b"\x10\0\0\0\0\0\0\0{}",
        b"\xff\xff\xff\xff\xff\xff\xff\xff{}",
    ] {
        assert!(tensor_file::decode(bytes).is_err());
    }
}

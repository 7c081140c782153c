//! A tensor file (policy and child checkpoints read back from the store):
//! any bytes decode or give an error; what decodes encodes and decodes to
//! the same tensors, bit for bit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nas_domain::tensor_file;

fuzz_target!(|data: &[u8]| {
    if let Ok((tensors, metadata)) = tensor_file::decode(data) {
        let bytes = tensor_file::encode(&tensors, metadata.clone()).expect("decoded tensors encode");
        let (again, metadata_again) = tensor_file::decode(&bytes).expect("encoded tensors decode");
        assert_eq!(metadata, metadata_again);
        let bits = |tensors: &[tensor_file::NamedTensor]| -> Vec<(String, Vec<usize>, Vec<u32>)> {
            tensors
                .iter()
                .map(|t| (t.name.clone(), t.shape.clone(), t.values.iter().map(|v| v.to_bits()).collect()))
                .collect()
        };
        assert_eq!(bits(&tensors), bits(&again));
    }
});

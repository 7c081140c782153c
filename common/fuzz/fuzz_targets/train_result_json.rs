//! A result message from the queue: any bytes either parse into a valid
//! `TrainResult` that survives a round trip unchanged, or give an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nas_domain::TrainResult;

fuzz_target!(|data: &[u8]| {
    if let Ok(result) = TrainResult::from_json(data) {
        let _ = result.reward();
        let again = TrainResult::from_json(&result.to_json()).expect("a parsed result serializes to a valid result");
        assert_eq!(result.to_json(), again.to_json(), "a result changed in a round trip");
    }
});

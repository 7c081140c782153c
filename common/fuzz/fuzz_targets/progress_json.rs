//! The early-stopping messages: any bytes either parse into a valid
//! `EpochProgress` (or `StopJob`) that survives a round trip unchanged, or
//! give an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nas_domain::{EpochProgress, StopJob};

fuzz_target!(|data: &[u8]| {
    if let Ok(progress) = EpochProgress::from_json(data) {
        let _ = progress.epoch();
        let again = EpochProgress::from_json(&progress.to_json()).expect("a parsed progress message serializes validly");
        assert_eq!(progress.to_json(), again.to_json(), "a progress message changed in a round trip");
    }
    if let Ok(stop) = StopJob::from_json(data) {
        let again = StopJob::from_json(&stop.to_json()).expect("a parsed stop serializes validly");
        assert_eq!(stop.to_json(), again.to_json(), "a stop changed in a round trip");
    }
});

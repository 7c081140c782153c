//! A job message from the queue: any bytes either parse into a valid
//! `TrainJob` that survives a round trip unchanged, or give an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nas_domain::TrainJob;

fuzz_target!(|data: &[u8]| {
    if let Ok(job) = TrainJob::from_json(data) {
        let again = TrainJob::from_json(&job.to_json()).expect("a parsed job serializes to a valid job");
        assert_eq!(job, again, "a job changed in a round trip");
    }
});

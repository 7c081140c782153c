//! An architecture spec as JSON (in jobs, exports and re-evaluation
//! requests): it parses into a valid spec whose canonical form parses back
//! to the same spec with the same id, or gives an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nas_domain::ArchSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(spec) = ArchSpec::from_json(text) {
        let canonical = spec.canonical_json();
        let again = ArchSpec::from_json(&canonical).expect("a canonical spec parses");
        assert_eq!(spec, again, "a spec changed in a round trip");
        assert_eq!(spec.id(), again.id(), "the architecture id is not stable");
    }
});

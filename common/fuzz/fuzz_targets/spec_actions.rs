//! Controller actions decoded into a spec: arbitrary tokens for one of the
//! paper's spaces either decode into a valid spec that encodes back to the
//! same tokens, or give an error; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nas_domain::{Actions, ArchSpec, CellSpace, CnnSpace, SearchSpace};

fuzz_target!(|data: &[u8]| {
    let [space_byte, layers_byte, tokens @ ..] = data else {
        return;
    };
    let space = match space_byte % 4 {
        0 => SearchSpace::cnn(CnnSpace::paper()),
        1 => SearchSpace::cnn(CnnSpace::paper_with_strides()),
        2 => SearchSpace::cnn(CnnSpace::paper_with_pooling()),
        _ => SearchSpace::cell(CellSpace::paper()),
    }
    .expect("the paper's spaces are valid");
    let layers = usize::from(*layers_byte % 40);
    let actions = Actions::new(
        tokens
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
            .collect(),
    );
    if let Ok(spec) = ArchSpec::from_actions(&space, layers, &actions) {
        let back = spec.to_actions(&space).expect("a decoded spec encodes");
        assert_eq!(back, actions, "actions changed in a round trip");
        let again = ArchSpec::from_json(&spec.canonical_json()).expect("a decoded spec parses");
        assert_eq!(spec, again);
    }
});

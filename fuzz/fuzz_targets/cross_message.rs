//! Arbitrary bytes as a cross-personality message: decoding refuses or
//! accepts, never panics, and whatever it accepts re-encodes to a message
//! that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = exo_cross::wire::decode(data) {
        let again = exo_cross::wire::encode(&m);
        assert_eq!(exo_cross::wire::decode(&again), Ok(m));
    }
});

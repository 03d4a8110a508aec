#![no_main]
//! Any bytes given to the manifest decoder: an error or a manifest whose encoding is the input.

use busker_core::model::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::decode(data) {
        assert_eq!(m.encoded(), data);
    }
});

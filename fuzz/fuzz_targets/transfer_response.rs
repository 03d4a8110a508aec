#![no_main]
//! Any bytes given to the transfer response decoder: an error or a value that re-encodes to them.

use busker_core::transfer::protocol::Response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = Response::decode(data) {
        assert_eq!(response.encode(), data);
    }
});

#![no_main]
//! Any bytes given to the transfer request decoder: an error or a value that re-encodes to them.

use busker_core::transfer::protocol::Request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Request::decode(data) {
        assert_eq!(request.encode(), data);
    }
});

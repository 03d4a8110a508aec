#![no_main]
//! Any bytes given to the gossip announcement validator: never a panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = busker_core::catalog::decode_announcement(data);
});

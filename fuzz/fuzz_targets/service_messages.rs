#![no_main]
//! Any bytes given to the request and response decoders of the catalog, taste exchange, radio
//! and cover protocols: an error or a value that re-encodes to them, never a panic.

use busker_core::{catalog, cover, radio, taste};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = catalog::protocol::Request::decode(data) {
        assert_eq!(m.encode(), data);
    }
    if let Ok(m) = catalog::protocol::Response::decode(data) {
        assert_eq!(m.encode(), data);
    }
    if let Ok(m) = taste::protocol::Request::decode(data) {
        assert_eq!(m.encode(), data);
    }
    if let Ok(m) = taste::protocol::Response::decode(data) {
        assert_eq!(m.encode(), data);
    }
    if let Ok(m) = radio::protocol::Request::decode(data) {
        assert_eq!(m.encode(), data);
    }
    if let Ok(m) = radio::protocol::Response::decode(data) {
        assert_eq!(m.encode(), data);
    }
    if let Ok(m) = cover::protocol::Request::decode(data) {
        assert_eq!(m.encode(), data);
    }
    if let Ok(m) = cover::protocol::Response::decode(data) {
        assert_eq!(m.encode(), data);
    }
});

#![no_main]
//! Any bytes given to the taste exchange decoders (a message with its signed profiles and
//! digests, and a stored profile): an error or a value that re-encodes to them, never a panic.

use busker_core::taste::{SignedProfile, TasteMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = TasteMessage::decode(data, None) {
        assert_eq!(message.encode(), data);
    }
    if let Ok(profile) = SignedProfile::from_stored(data) {
        assert_eq!(profile.to_stored(), data);
    }
});

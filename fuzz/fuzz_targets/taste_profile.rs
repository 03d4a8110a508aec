#![no_main]
//! Any bytes given to the taste-profile decoder: an error or a profile that re-encodes to them.

use busker_recommender::TasteProfile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(profile) = TasteProfile::decode(data) {
        assert_eq!(profile.encode(), data);
    }
});

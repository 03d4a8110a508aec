//! Pictures and numbers in the tags: the embedded cover a probe hands to publish, and the
//! track and disc numbers ("3", "3/12", "03 of 12").

use symphonia::core::meta::{MetadataRevision, StandardVisualKey};

/// The embedded picture of a file's tag revisions: the first front cover, else the first
/// picture of any kind (many taggers write the cover as "other").
pub(super) fn embedded<'a>(
    revisions: impl Iterator<Item = &'a MetadataRevision>,
) -> Option<Vec<u8>> {
    let visuals: Vec<_> = revisions.flat_map(|r| r.visuals()).collect();
    visuals
        .iter()
        .find(|v| v.usage == Some(StandardVisualKey::FrontCover))
        .or_else(|| visuals.first())
        .map(|v| v.data.to_vec())
}

/// The number a track or disc tag starts with; 0 when it starts with none (or one over
/// `u16::MAX`).
pub(super) fn leading_number(value: &str) -> u16 {
    let digits: String = value
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_from_the_start_of_the_tag() {
        assert_eq!(leading_number("3"), 3);
        assert_eq!(leading_number(" 03/12"), 3);
        assert_eq!(leading_number("7 of 9"), 7);
        assert_eq!(leading_number("A1"), 0);
        assert_eq!(leading_number("99999"), 0);
    }
}

//! An artist key's backup: a short text an artist keeps on paper, a USB stick or a password
//! manager, and imports on a new machine, so that a lost disk is not a lost identity.
//!
//! ```text
//! busker artist key backup v1
//! public 7abc8173e5b18c66cddad683dbcb569790f2f8faae8e85726afabc644c5f1689
//! secret 1a2b3c4d 5e6f7a8b 9c0d1e2f 3a4b5c6d 7e8f9a0b 1c2d3e4f 5a6b7c8d 9e0f1a2b
//! check 9f3e21aa
//! ```
//!
//! The secret is the key's 32-byte seed in eight groups of hex digits, easy to copy by hand.
//! `check` is the start of a BLAKE3 hash of the seed, and `public` must be the seed's public
//! key: a mistyped digit is caught before a wrong key replaces the right one.
//!
//! ```
//! use busker_core::artist::backup;
//! use busker_core::model::ArtistKeypair;
//! let key = ArtistKeypair::generate();
//! let text = backup::to_text(&key);
//! assert_eq!(backup::parse(&text).unwrap().public(), key.public());
//! ```

use crate::model::{ArtistKey, ArtistKeypair};

const HEADER: &str = "busker artist key backup v1";
const CHECK_CONTEXT: &[u8] = b"busker artist key backup check v1\0";

/// Why a text is not a usable backup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    /// The first line is not the backup header.
    #[error("not a Busker artist key backup (its first line is not {HEADER:?})")]
    NotABackup,
    /// A line is missing or malformed.
    #[error("the {0} line is missing or malformed")]
    Line(&'static str),
    /// The check does not match the secret: a digit was mistyped or lost.
    #[error("the secret does not match its check: a digit was mistyped")]
    Check,
    /// The public key is not the secret's.
    #[error("the public key does not belong to the secret")]
    WrongPublic,
}

fn check(seed: &[u8; 32]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(CHECK_CONTEXT);
    h.update(seed);
    h.finalize().to_hex()[..8].to_owned()
}

/// The backup text of `key`.
pub fn to_text(key: &ArtistKeypair) -> String {
    let seed = key.seed();
    let hex = crate::model::TrackId(seed).to_hex();
    let groups: Vec<&str> = (0..8).map(|i| &hex[i * 8..i * 8 + 8]).collect();
    format!(
        "{HEADER}\npublic {}\nsecret {}\ncheck {}\n",
        key.public(),
        groups.join(" "),
        check(&seed)
    )
}

/// The key in a backup text. Blank lines, surrounding spaces and the case of hex digits do not
/// matter; everything else must be as [`to_text`] wrote it.
pub fn parse(text: &str) -> Result<ArtistKeypair, BackupError> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some(HEADER) {
        return Err(BackupError::NotABackup);
    }
    let mut field = |name: &'static str| {
        lines
            .next()
            .and_then(|l| l.strip_prefix(name))
            .filter(|rest| rest.starts_with(' '))
            .map(|rest| {
                rest.split_whitespace()
                    .collect::<String>()
                    .to_ascii_lowercase()
            })
            .ok_or(BackupError::Line(name))
    };
    let public: ArtistKey = field("public")?
        .parse()
        .map_err(|_| BackupError::Line("public"))?;
    let secret = field("secret")?;
    let sum = field("check")?;
    let seed = secret
        .parse::<crate::model::TrackId>()
        .map_err(|_| BackupError::Line("secret"))?
        .0;
    if check(&seed) != sum {
        return Err(BackupError::Check);
    }
    let key = ArtistKeypair::from_seed(seed);
    if key.public() != public {
        return Err(BackupError::WrongPublic);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_reads_back_and_tolerates_layout() {
        let key = ArtistKeypair::from_seed([42; 32]);
        let text = to_text(&key);
        assert_eq!(parse(&text).unwrap().seed(), key.seed());
        // Copied by hand: blank lines, indentation, upper-case digits, groups run together.
        let secret_line = text.lines().nth(2).unwrap();
        let retyped = format!(
            "secret  {}",
            secret_line[7..].replace(' ', "").to_uppercase()
        );
        let loose = format!(
            "\n  {}\n",
            text.replace(secret_line, &retyped).replace('\n', "\n\n  ")
        );
        assert_eq!(parse(&loose).unwrap().seed(), key.seed());
    }

    #[test]
    fn a_mistyped_or_foreign_backup_is_refused() {
        let key = ArtistKeypair::from_seed([42; 32]);
        let text = to_text(&key);
        let secret_line = text.lines().nth(2).unwrap();
        // One digit of the secret changed.
        let mut typo = secret_line.to_owned().into_bytes();
        let last = typo.len() - 1;
        typo[last] = if typo[last] == b'0' { b'1' } else { b'0' };
        let typo = text.replace(secret_line, std::str::from_utf8(&typo).unwrap());
        assert_eq!(parse(&typo).unwrap_err(), BackupError::Check);
        // Another key's public line.
        let other = ArtistKeypair::from_seed([7; 32]).public().to_hex();
        let wrong = text.replace(&key.public().to_hex(), &other);
        assert_eq!(parse(&wrong).unwrap_err(), BackupError::WrongPublic);
        assert_eq!(parse("hello").unwrap_err(), BackupError::NotABackup);
        let cut: String = text.lines().take(2).collect::<Vec<_>>().join("\n");
        assert_eq!(parse(&cut).unwrap_err(), BackupError::Line("secret"));
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_parsed_or_refused_without_panic(text in "\\PC{0,400}") {
            let _ = parse(&text);
        }

        #[test]
        fn one_changed_character_never_yields_another_key(pos in proptest::prelude::any::<usize>(), c in proptest::prelude::any::<char>()) {
            let key = ArtistKeypair::from_seed([42; 32]);
            let text = to_text(&key);
            let mut chars: Vec<char> = text.chars().collect();
            let i = pos % chars.len();
            chars[i] = c;
            let changed: String = chars.into_iter().collect();
            if let Ok(parsed) = parse(&changed) {
                proptest::prop_assert_eq!(parsed.seed(), key.seed());
            }
        }
    }
}

//! Artists by key, without a central registry: an [`ArtistProfile`] is an artist's signed
//! display name and list of releases, kept in the DHT as a record under the artist key
//! ([`record_key`]), so that a peer that missed the gossip can still find an artist's catalog.
//!
//! The record is self-certifying: anyone may store or serve it, nobody but the key's owner can
//! write one that verifies. A newer profile (a higher `version`, the time it was signed) replaces
//! an older one; a reader takes the newest valid copy among those the DHT returns.
//!
//! An artist who retires a key (moving to a new one, see [`backup`]) signs a last profile under
//! the old key naming its `successor`. That profile is final: a peer that holds it refuses any
//! later profile of the old key, so whoever finds the old key later cannot take the notice back.
//!
//! ```
//! use busker_core::artist::ArtistProfile;
//! use busker_core::model::{ArtistKeypair, TrackId};
//! let key = ArtistKeypair::generate();
//! let profile = ArtistProfile::sign(&key, "Ada", 7, vec![TrackId([1; 32])]);
//! let back = ArtistProfile::decode(&profile.encode()).unwrap();
//! assert_eq!(back, profile);
//! ```

use crate::model::{ArtistKey, ArtistKeypair, TrackId};
use crate::wire::{DecodeError, Writer, open_signed, truncate_utf8};

pub mod backup;

const MAGIC: &[u8; 3] = b"BAP";
/// Version byte of the profile record (2: release ids cover the artist key, and a successor).
pub const PROFILE_VERSION: u8 = 2;
/// Domain separation for profile signatures.
const SIGNING_CONTEXT: &[u8] = b"busker artist profile v1\0";
/// Longest display name, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Most releases one profile lists (the newest ones when an artist has more).
pub const MAX_RELEASES: usize = 1024;
/// Largest encoded profile.
pub const MAX_PROFILE_BYTES: usize =
    3 + 1 + 32 + 8 + 4 + MAX_NAME_BYTES + 2 + 32 * MAX_RELEASES + 1 + 32 + 64;

const RECORD_PREFIX: &[u8] = b"/busker/artist/2/";

/// The DHT key of an artist's profile record.
pub fn record_key(artist: &ArtistKey) -> Vec<u8> {
    let mut key = RECORD_PREFIX.to_vec();
    key.extend_from_slice(&artist.0);
    key
}

/// The artist a DHT key names, if it is an artist profile key.
pub fn artist_of_record_key(key: &[u8]) -> Option<ArtistKey> {
    let rest = key.strip_prefix(RECORD_PREFIX)?;
    Some(ArtistKey(rest.try_into().ok()?))
}

/// Whether a DHT record another peer wants stored here may be kept (the network's
/// [`RecordFilter`](crate::net::RecordFilter)): an artist profile must verify, name the key it
/// is stored under, and be at least as new as the copy `held`, so that a forger cannot
/// overwrite an artist's profile. Other records (radio channel descriptors, checked by whoever
/// reads them) are kept as they come.
pub fn accepts_record(key: &[u8], value: &[u8], held: Option<&[u8]>) -> bool {
    let Some(artist) = artist_of_record_key(key) else {
        return true;
    };
    let Ok(profile) = ArtistProfile::decode(value) else {
        tracing::info!("refused a DHT record: invalid artist profile");
        return false;
    };
    let held = held.and_then(|v| ArtistProfile::decode(v).ok());
    if profile.key != artist || held.as_ref().is_some_and(|h| profile.version < h.version) {
        tracing::info!("refused a DHT record: foreign or older artist profile");
        return false;
    }
    if held.is_some_and(|h| h.successor.is_some() && h != profile) {
        tracing::info!("refused a DHT record: the key was retired");
        return false;
    }
    true
}

/// An artist's signed profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtistProfile {
    /// The artist's public key (also the record key).
    pub key: ArtistKey,
    /// Grows with every new profile (milliseconds since the Unix epoch at signing).
    pub version: u64,
    /// Display name.
    pub name: String,
    /// Track ids of the artist's releases.
    pub releases: Vec<TrackId>,
    /// The key the artist moved to, when this key is retired (the profile is then final).
    pub successor: Option<ArtistKey>,
    signature: [u8; 64],
}

impl ArtistProfile {
    /// Signs a profile (the name is cut to [`MAX_NAME_BYTES`], the list to [`MAX_RELEASES`]).
    pub fn sign(key: &ArtistKeypair, name: &str, version: u64, mut releases: Vec<TrackId>) -> Self {
        releases.truncate(MAX_RELEASES);
        let mut profile = Self {
            key: key.public(),
            version,
            name: truncate_utf8(name, MAX_NAME_BYTES).to_owned(),
            releases,
            successor: None,
            signature: [0; 64],
        };
        profile.signature = key.sign(SIGNING_CONTEXT, &profile.body());
        profile
    }

    /// The last profile of a retired key: as [`ArtistProfile::sign`], naming `successor`.
    pub fn retire(
        key: &ArtistKeypair,
        name: &str,
        version: u64,
        releases: Vec<TrackId>,
        successor: ArtistKey,
    ) -> Self {
        let mut profile = Self::sign(key, name, version, releases);
        profile.successor = Some(successor);
        profile.signature = key.sign(SIGNING_CONTEXT, &profile.body());
        profile
    }

    fn body(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64 + 32 * self.releases.len());
        w.raw(MAGIC);
        w.u8(PROFILE_VERSION);
        w.raw(&self.key.0);
        w.u64(self.version);
        w.str(&self.name);
        w.u16(self.releases.len() as u16);
        for id in &self.releases {
            w.raw(id.as_bytes());
        }
        match &self.successor {
            Some(next) => {
                w.u8(1);
                w.raw(&next.0);
            }
            None => w.u8(0),
        }
        w.into_bytes()
    }

    /// The canonical record: the signed body, then the signature.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.body();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes a record and verifies its signature against the key it names.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (mut r, body, signature) = open_signed(
            bytes,
            MAX_PROFILE_BYTES,
            MAGIC,
            PROFILE_VERSION,
            "artist profile",
        )?;
        let key = ArtistKey(r.array("artist key")?);
        let profile_version = r.u64("profile version")?;
        let name = r.str("name", MAX_NAME_BYTES)?;
        let n = r.u16("release count")? as usize;
        if n > MAX_RELEASES {
            return Err(DecodeError::TooLarge {
                what: "releases",
                len: n,
                max: MAX_RELEASES,
            });
        }
        let mut releases = Vec::with_capacity(n);
        for _ in 0..n {
            releases.push(TrackId(r.array("release")?));
        }
        let successor = match r.u8("successor flag")? {
            0 => None,
            1 => Some(ArtistKey(r.array("successor")?)),
            _ => return Err(DecodeError::Invalid("successor flag")),
        };
        r.finish()?;
        key.verify(SIGNING_CONTEXT, body, &signature)?;
        Ok(Self {
            key,
            version: profile_version,
            name,
            releases,
            successor,
            signature,
        })
    }

    /// The newest valid profile of `artist` among `records` (as a DHT lookup returns them);
    /// records that do not verify, or that belong to another key, are ignored.
    pub fn newest(artist: &ArtistKey, records: &[Vec<u8>]) -> Option<Self> {
        records
            .iter()
            .filter_map(|r| Self::decode(r).ok())
            .filter(|p| p.key == *artist)
            .max_by_key(|p| p.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> (ArtistKeypair, ArtistProfile) {
        let key = ArtistKeypair::from_seed([3; 32]);
        let p = ArtistProfile::sign(
            &key,
            "Ada Lovelace",
            5,
            vec![TrackId([1; 32]), TrackId([2; 32])],
        );
        (key, p)
    }

    #[test]
    fn profiles_round_trip_and_verify() {
        let (_, p) = profile();
        let back = ArtistProfile::decode(&p.encode()).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.releases.len(), 2);
        assert!(record_key(&p.key).ends_with(&p.key.0));
        assert_eq!(artist_of_record_key(&record_key(&p.key)), Some(p.key));
        assert_eq!(artist_of_record_key(b"/busker/artist/2/short"), None);
        assert_eq!(artist_of_record_key(&p.key.0), None);
    }

    #[test]
    fn forged_truncated_and_oversized_records_are_rejected() {
        let (_, p) = profile();
        let bytes = p.encode();
        let mut forged = bytes.clone();
        // Rename the artist: the signature no longer holds.
        let at = 3 + 1 + 32 + 8 + 4;
        forged[at] ^= 0x20;
        assert_eq!(
            ArtistProfile::decode(&forged),
            Err(DecodeError::BadSignature)
        );
        // Someone else's key signing a profile that claims to be Ada's.
        let mallory = ArtistKeypair::from_seed([9; 32]);
        let mut claim = ArtistProfile::sign(&mallory, "Ada Lovelace", 99, vec![]);
        claim.key = p.key;
        assert!(ArtistProfile::decode(&claim.encode()).is_err());
        for cut in [0, 10, bytes.len() - 1] {
            assert!(ArtistProfile::decode(&bytes[..cut]).is_err());
        }
        assert!(ArtistProfile::decode(&vec![0; MAX_PROFILE_BYTES + 1]).is_err());
    }

    #[test]
    fn the_newest_valid_profile_of_the_right_key_wins() {
        let (key, old) = profile();
        let new = ArtistProfile::sign(&key, "Ada", 9, vec![TrackId([7; 32])]);
        let other = ArtistProfile::sign(&ArtistKeypair::from_seed([8; 32]), "Eve", 50, vec![]);
        let mut broken = new.encode();
        broken[50] ^= 1;
        let records = vec![old.encode(), broken, other.encode(), new.encode()];
        assert_eq!(ArtistProfile::newest(&key.public(), &records), Some(new));
        assert_eq!(ArtistProfile::newest(&key.public(), &[]), None);
    }

    #[test]
    fn a_retired_key_names_its_successor_and_its_last_profile_is_final() {
        let (key, old) = profile();
        let next = ArtistKeypair::from_seed([4; 32]).public();
        let last = ArtistProfile::retire(&key, "Ada", 10, old.releases.clone(), next);
        let back = ArtistProfile::decode(&last.encode()).unwrap();
        assert_eq!(back.successor, Some(next));
        let at = record_key(&key.public());
        assert!(accepts_record(&at, &last.encode(), Some(&old.encode())));
        // Whoever holds the old key later cannot take the notice back with a newer profile.
        let undo = ArtistProfile::sign(&key, "Ada", 11, vec![]);
        assert!(!accepts_record(&at, &undo.encode(), Some(&last.encode())));
        assert!(accepts_record(&at, &last.encode(), Some(&last.encode())));
    }

    #[test]
    fn only_newer_valid_profiles_under_their_own_key_are_stored() {
        let (key, old) = profile();
        let new = ArtistProfile::sign(&key, "Ada", 9, vec![]);
        let at = record_key(&key.public());
        assert!(accepts_record(&at, &old.encode(), None));
        assert!(accepts_record(&at, &new.encode(), Some(&old.encode())));
        assert!(!accepts_record(&at, &old.encode(), Some(&new.encode())));
        assert!(!accepts_record(&at, b"garbage", None));
        let other = ArtistProfile::sign(&ArtistKeypair::from_seed([8; 32]), "Eve", 50, vec![]);
        assert!(!accepts_record(&at, &other.encode(), None));
        assert!(accepts_record(b"some channel", b"anything", None));
    }

    #[test]
    fn random_mutations_never_panic() {
        use rand::{Rng, SeedableRng};
        let (_, p) = profile();
        let bytes = p.encode();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..2000 {
            let mut m = bytes.clone();
            let i = rng.gen_range(0..m.len());
            m[i] = rng.r#gen();
            m.truncate(rng.gen_range(0..=m.len()));
            assert!(m == bytes || ArtistProfile::decode(&m).is_err());
        }
    }

    proptest::proptest! {
        #[test]
        fn random_records_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)) {
            let _ = ArtistProfile::decode(&bytes);
        }

        #[test]
        fn only_an_unchanged_record_decodes(
            pos in proptest::prelude::any::<usize>(),
            byte in proptest::prelude::any::<u8>(),
            cut in proptest::prelude::any::<usize>(),
            retired in proptest::prelude::any::<bool>(),
        ) {
            let key = ArtistKeypair::from_seed([3; 32]);
            let releases = vec![TrackId([1; 32]), TrackId([2; 32])];
            let profile = if retired {
                ArtistProfile::retire(&key, "Ada", 5, releases, ArtistKeypair::from_seed([4; 32]).public())
            } else {
                ArtistProfile::sign(&key, "Ada", 5, releases)
            };
            let original = profile.encode();
            let mut bytes = original.clone();
            let i = pos % bytes.len();
            bytes[i] = byte;
            bytes.truncate(cut % (bytes.len() + 1));
            if let Ok(decoded) = ArtistProfile::decode(&bytes) {
                proptest::prop_assert_eq!(decoded.encode(), original);
            }
        }
    }
}

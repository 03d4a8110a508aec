//! Playlists: a named, ordered list of releases, signed by the key of the peer that made it.
//!
//! Every playlist, even one never shared, is a signed record, so that sharing it is only a
//! matter of putting the record where others can read it: a DHT record under [`record_key`] and
//! a `busker://playlist/...` link (see [`crate::link`]). The id is fixed when the playlist is
//! made (the hash of the owner's key and a random nonce, [`PlaylistId::derive`]); every edit
//! signs the whole record again with a higher `version`, so a reader keeps the newest valid copy
//! and nobody but the owner can write one that verifies. What it lists are release ids: what
//! plays is whatever the signed manifests of those ids say, checked as ever.
//!
//! [`m3u`] reads and writes the playlists other players use.
//!
//! ```
//! use busker_core::model::{ArtistKeypair, TrackId};
//! use busker_core::playlist::Playlist;
//! let key = ArtistKeypair::generate();
//! let list = Playlist::create(&key, "Evening", vec![TrackId([1; 32])], 7).unwrap();
//! let back = Playlist::decode(&list.encode()).unwrap();
//! assert_eq!(back, list);
//! ```

use crate::model::{ArtistKey, ArtistKeypair, PlaylistId, TrackId};
use crate::wire::{DecodeError, Writer, open_signed, truncate_utf8};

pub mod m3u;

const MAGIC: &[u8; 3] = b"BPL";
/// Version byte of the playlist record.
pub const RECORD_VERSION: u8 = 1;
const SIGNING_CONTEXT: &[u8] = b"busker playlist v1\0";
const ID_CONTEXT: &[u8] = b"busker playlist id v1\0";
/// Longest name, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Most tracks in one playlist (the record stays under the DHT's value limit).
pub const MAX_TRACKS: usize = 1000;
const NONCE_LEN: usize = 16;
/// Largest encoded record.
pub const MAX_RECORD_BYTES: usize =
    3 + 1 + 32 + NONCE_LEN + 8 + 4 + MAX_NAME_BYTES + 2 + 32 * MAX_TRACKS + 64;

const RECORD_PREFIX: &[u8] = b"/busker/playlist/1/";

/// Why a playlist cannot be made or changed as asked. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaylistError {
    /// More than [`MAX_TRACKS`].
    #[error("a playlist holds at most {MAX_TRACKS} tracks ({0} asked)")]
    TooManyTracks(usize),
    /// An empty name.
    #[error("a playlist needs a name")]
    NoName,
    /// A position past the end.
    #[error("position {0} is past the end of the playlist ({1} tracks; positions count from 1)")]
    NoSuchPosition(usize, usize),
}

impl PlaylistId {
    /// The id of the playlist `owner` made with `nonce`.
    pub fn derive(owner: &ArtistKey, nonce: &[u8; NONCE_LEN]) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(ID_CONTEXT);
        hasher.update(owner.as_bytes());
        hasher.update(nonce);
        Self(*hasher.finalize().as_bytes())
    }
}

/// The DHT key of a playlist's record.
pub fn record_key(id: &PlaylistId) -> Vec<u8> {
    let mut key = RECORD_PREFIX.to_vec();
    key.extend_from_slice(id.as_bytes());
    key
}

/// Whether a DHT record another peer wants stored here may be kept, when `key` is a playlist
/// key (`None` for other keys): it must verify, have the id it is stored under, and be at least
/// as new as the copy `held`.
pub fn accepts_record(key: &[u8], value: &[u8], held: Option<&[u8]>) -> Option<bool> {
    let id = key.strip_prefix(RECORD_PREFIX)?;
    let Ok(list) = Playlist::decode(value) else {
        tracing::info!("refused a DHT record: invalid playlist");
        return Some(false);
    };
    let held = held.and_then(|v| Playlist::decode(v).ok());
    Some(
        list.id.as_bytes().as_slice() == id
            && held.is_none_or(|h| h.owner == list.owner && h.version <= list.version),
    )
}

/// A signed playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playlist {
    /// Fixed at creation: see [`PlaylistId::derive`].
    pub id: PlaylistId,
    /// The key that signs it; only its holder can change it.
    pub owner: ArtistKey,
    /// Grows with every edit (milliseconds since the Unix epoch at signing).
    pub version: u64,
    /// Its name.
    pub name: String,
    /// Releases, in play order (the same one may come more than once).
    pub tracks: Vec<TrackId>,
    nonce: [u8; NONCE_LEN],
    signature: [u8; 64],
}

impl Playlist {
    /// A new playlist of `owner`, signed at `now_ms`.
    pub fn create(
        owner: &ArtistKeypair,
        name: &str,
        tracks: Vec<TrackId>,
        now_ms: u64,
    ) -> Result<Self, PlaylistError> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let key = owner.public();
        let mut list = Self {
            id: PlaylistId::derive(&key, &nonce),
            owner: key,
            version: 0,
            name: String::new(),
            tracks: Vec::new(),
            nonce,
            signature: [0; 64],
        };
        list.edit(owner, now_ms, |name_, tracks_| {
            *name_ = name.to_owned();
            *tracks_ = tracks;
            Ok(())
        })?;
        Ok(list)
    }

    /// Changes name and tracks with `change` and signs again, with a version above the last
    /// one (`now_ms`, or one more than before when the clock went back). The playlist is left
    /// as it was when `change` or a limit refuses.
    pub fn edit(
        &mut self,
        owner: &ArtistKeypair,
        now_ms: u64,
        change: impl FnOnce(&mut String, &mut Vec<TrackId>) -> Result<(), PlaylistError>,
    ) -> Result<(), PlaylistError> {
        let (mut name, mut tracks) = (self.name.clone(), self.tracks.clone());
        change(&mut name, &mut tracks)?;
        let name = truncate_utf8(name.trim(), MAX_NAME_BYTES).to_owned();
        if name.is_empty() {
            return Err(PlaylistError::NoName);
        }
        if tracks.len() > MAX_TRACKS {
            return Err(PlaylistError::TooManyTracks(tracks.len()));
        }
        self.name = name;
        self.tracks = tracks;
        self.version = now_ms.max(self.version + 1);
        self.signature = owner.sign(SIGNING_CONTEXT, &self.body());
        Ok(())
    }

    fn body(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64 + 32 * self.tracks.len());
        w.raw(MAGIC);
        w.u8(RECORD_VERSION);
        w.raw(self.owner.as_bytes());
        w.raw(&self.nonce);
        w.u64(self.version);
        w.str(&self.name);
        w.u16(self.tracks.len() as u16);
        for id in &self.tracks {
            w.raw(id.as_bytes());
        }
        w.into_bytes()
    }

    /// The canonical record: the signed body, then the signature.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.body();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes a record and verifies its signature against the owner it names.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (mut r, body, signature) =
            open_signed(bytes, MAX_RECORD_BYTES, MAGIC, RECORD_VERSION, "playlist")?;
        let owner = ArtistKey(r.array("owner")?);
        let nonce = r.array("nonce")?;
        let list_version = r.u64("playlist version")?;
        let name = r.str("name", MAX_NAME_BYTES)?;
        let n = usize::from(r.u16("track count")?);
        if n > MAX_TRACKS {
            return Err(DecodeError::TooLarge {
                what: "playlist tracks",
                len: n,
                max: MAX_TRACKS,
            });
        }
        let tracks = (0..n)
            .map(|_| Ok(TrackId(r.array("track")?)))
            .collect::<Result<Vec<_>, DecodeError>>()?;
        r.finish()?;
        owner.verify(SIGNING_CONTEXT, body, &signature)?;
        Ok(Self {
            id: PlaylistId::derive(&owner, &nonce),
            owner,
            version: list_version,
            name,
            tracks,
            nonce,
            signature,
        })
    }

    /// The newest valid record of playlist `id` among `records` (forged, foreign and broken
    /// ones ignored).
    pub fn newest(id: &PlaylistId, records: &[Vec<u8>]) -> Option<Self> {
        records
            .iter()
            .filter_map(|r| Self::decode(r).ok())
            .filter(|list| list.id == *id)
            .max_by_key(|list| list.version)
    }
}

/// Checks 1-based `positions` against a list of `len`, and gives them 0-based.
pub fn positions(positions: &[usize], len: usize) -> Result<Vec<usize>, PlaylistError> {
    positions
        .iter()
        .map(|&p| match p {
            1.. if p <= len => Ok(p - 1),
            _ => Err(PlaylistError::NoSuchPosition(p, len)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u8) -> Vec<TrackId> {
        (0..n).map(|i| TrackId([i; 32])).collect()
    }

    #[test]
    fn an_edit_keeps_the_id_and_raises_the_version_even_when_the_clock_goes_back() {
        let key = ArtistKeypair::generate();
        let mut list = Playlist::create(&key, "  Morning  ", ids(3), 1_000).unwrap();
        assert_eq!(list.name, "Morning");
        let id = list.id;
        list.edit(&key, 500, |name, tracks| {
            *name = "Dawn".into();
            tracks.swap(0, 2);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            (list.id, list.version, list.name.as_str()),
            (id, 1_001, "Dawn")
        );
        let back = Playlist::decode(&list.encode()).unwrap();
        assert_eq!(
            back.tracks,
            vec![TrackId([2; 32]), TrackId([1; 32]), TrackId([0; 32])]
        );
    }

    #[test]
    fn a_refused_edit_changes_nothing() {
        let key = ArtistKeypair::generate();
        let mut list = Playlist::create(&key, "A", ids(2), 1).unwrap();
        let before = list.clone();
        let too_many = list.edit(&key, 2, |_, tracks| {
            tracks.extend(std::iter::repeat_n(TrackId([9; 32]), MAX_TRACKS));
            Ok(())
        });
        assert_eq!(too_many, Err(PlaylistError::TooManyTracks(MAX_TRACKS + 2)));
        let unnamed = list.edit(&key, 2, |name, _| {
            name.clear();
            Ok(())
        });
        assert_eq!(unnamed, Err(PlaylistError::NoName));
        assert_eq!(list, before);
    }

    #[test]
    fn a_changed_record_or_a_record_signed_by_another_key_is_refused() {
        let key = ArtistKeypair::generate();
        let list = Playlist::create(&key, "Mine", ids(2), 1).unwrap();
        let mut bytes = list.encode();
        let name_at = 3 + 1 + 32 + NONCE_LEN + 8 + 4;
        bytes[name_at] ^= 1;
        assert!(Playlist::decode(&bytes).is_err(), "a changed name verifies");

        // Another key signing a record that claims the owner's key does not verify; one that
        // names its own key gets another id, so it cannot take the playlist over.
        let thief = ArtistKeypair::generate();
        let mut stolen = list.clone();
        stolen.signature = thief.sign(SIGNING_CONTEXT, &stolen.body());
        assert!(Playlist::decode(&stolen.encode()).is_err());
        let mut own = list.clone();
        own.owner = thief.public();
        own.signature = thief.sign(SIGNING_CONTEXT, &own.body());
        let decoded = Playlist::decode(&own.encode()).unwrap();
        assert_ne!(decoded.id, list.id);
        let at = record_key(&list.id);
        assert_eq!(accepts_record(&at, &own.encode(), None), Some(false));
        assert_eq!(accepts_record(&at, &list.encode(), None), Some(true));
    }

    #[test]
    fn the_dht_keeps_the_newest_copy_and_ignores_other_keys() {
        let key = ArtistKeypair::generate();
        let old = Playlist::create(&key, "A", ids(1), 1).unwrap();
        let mut new = old.clone();
        new.edit(&key, 2, |_, tracks| {
            tracks.push(TrackId([7; 32]));
            Ok(())
        })
        .unwrap();
        let at = record_key(&old.id);
        assert_eq!(
            accepts_record(&at, &new.encode(), Some(&old.encode())),
            Some(true)
        );
        assert_eq!(
            accepts_record(&at, &old.encode(), Some(&new.encode())),
            Some(false)
        );
        assert_eq!(accepts_record(&at, b"garbage", None), Some(false));
        assert_eq!(accepts_record(b"/busker/artist/2/x", b"", None), None);
        let records = vec![old.encode(), b"junk".to_vec(), new.encode()];
        assert_eq!(Playlist::newest(&old.id, &records), Some(new));
    }

    #[test]
    fn positions_count_from_one_and_stop_at_the_end() {
        assert_eq!(positions(&[1, 3], 3), Ok(vec![0, 2]));
        assert_eq!(positions(&[0], 3), Err(PlaylistError::NoSuchPosition(0, 3)));
        assert_eq!(positions(&[4], 3), Err(PlaylistError::NoSuchPosition(4, 3)));
    }
}

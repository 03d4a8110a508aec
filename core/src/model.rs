//! The records Busker peers agree on: ids, keys and the signed track [`Manifest`].
//!
//! A track's bytes are cut into fixed-size chunks; the manifest lists every chunk's BLAKE3 hash
//! and is signed with the artist's ed25519 key. Two ids follow from it:
//!
//! - the [`AudioId`], the BLAKE3 hash of the chunk list (with the sizes): equal files have one
//!   audio id whoever publishes them, and their bytes are stored once;
//! - the [`TrackId`], the hash of the artist key and the audio id: a release is one artist's
//!   release of that audio. Equal audio signed by two keys is two releases, and only the key that
//!   signed a release can publish a newer version of its metadata: a manifest whose key or chunks
//!   do not hash to its id does not decode.
//!
//! A peer checks that a manifest describes the id it is stored under before it fetches a single
//! chunk.
//!
//! ```
//! use busker_core::model::{ArtistKeypair, Format, ManifestDraft, TrackInfo, split_chunks};
//!
//! let bytes = vec![7u8; 200_000];
//! let (chunk_size, chunks) = split_chunks(&bytes).unwrap();
//! let artist = ArtistKeypair::generate();
//! let info = TrackInfo { title: "Demo".into(), ..TrackInfo::default() };
//! let manifest = ManifestDraft { info, file_size: bytes.len() as u64, chunk_size, chunks, published_at: 0 }
//!     .sign(&artist);
//! let decoded = busker_core::model::Manifest::decode(manifest.encoded()).unwrap();
//! assert_eq!(decoded, manifest);
//! ```

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer, Verifier};

use crate::wire::{DecodeError, Reader, truncate_utf8};

mod cover;
mod manifest;

pub use cover::{CoverError, CoverRef, ImageFormat, MAX_COVER_BYTES, MAX_COVER_SIDE};
pub use manifest::{LegacyManifest, Manifest, ManifestDraft, manifest_version};

/// Version of the manifest encoding this build writes. Version 3 added the cover reference and
/// the track and disc numbers; version 2 manifests still decode and verify as they were signed
/// (see [`Manifest::version`]). Version 1 derived the track id from the content alone (see
/// [`LegacyManifest`]).
pub const MANIFEST_VERSION: u8 = 3;
/// The manifest version before covers and track numbers, still read and served as it is.
pub const PLAIN_MANIFEST_VERSION: u8 = 2;
/// The manifest version before the track id covered the artist key.
pub const LEGACY_MANIFEST_VERSION: u8 = 1;
/// The largest encoded manifest a peer accepts.
pub const MAX_MANIFEST_BYTES: usize = 160 * 1024;
/// Smallest chunk size.
pub const MIN_CHUNK_SIZE: u32 = 16 * 1024;
/// Chunk size for files small enough to stay under [`MAX_CHUNKS`] with it.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
/// Largest chunk size.
pub const MAX_CHUNK_SIZE: u32 = 1024 * 1024;
/// Most chunks a manifest may list (so the largest file is `MAX_CHUNKS * MAX_CHUNK_SIZE`, 4 GiB).
pub const MAX_CHUNKS: usize = 4096;
/// Longest title, artist or album in bytes.
pub const MAX_TEXT: usize = 256;
/// Most tags (genres) on a track.
pub const MAX_TAGS: usize = 16;
/// Longest tag in bytes.
pub const MAX_TAG: usize = 64;
/// Longest codec name in bytes.
pub const MAX_CODEC: usize = 32;

const MANIFEST_MAGIC: &[u8; 4] = b"BKM\0";
const SIGNING_CONTEXT: &[u8] = b"busker manifest signature v1\0";
const TRACK_ID_CONTEXT: &[u8] = b"busker track id v2\0";
// The context of version 1's content-only track id, kept so that a version 1 id equals the audio
// id of the same file (which is what lets an old data dir be upgraded by lookup).
const AUDIO_ID_CONTEXT: &[u8] = b"busker track id v1\0";

macro_rules! hash_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The raw 32 bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// Lower-case hex, 64 characters.
            pub fn to_hex(&self) -> String {
                hex(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), &self.to_hex()[..12])
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex32(s).map(Self)
            }
        }
    };
}

hash_id!(
    /// A release: one artist key's signed release of one audio file.
    TrackId
);
hash_id!(
    /// The audio a track carries, named by the hash of its chunk list: equal files have one audio
    /// id whoever signed them. (It is what a track id was before manifest version 2.)
    AudioId
);
hash_id!(
    /// The BLAKE3 hash of one chunk's bytes.
    ChunkHash
);
hash_id!(
    /// An artist's public ed25519 key; releases signed by it prove their artist.
    ArtistKey
);
hash_id!(
    /// The BLAKE3 hash of an image's bytes (a cover): what a manifest names it by.
    ImageHash
);
hash_id!(
    /// A playlist: the hash of its owner's key and a nonce (see [`crate::playlist`]).
    PlaylistId
);

/// A string that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected 64 hex digits, got {0:?}")]
pub struct ParseIdError(String);

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn parse_hex32(s: &str) -> Result<[u8; 32], ParseIdError> {
    let err = || ParseIdError(s.chars().take(80).collect());
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return Err(err());
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.as_bytes().chunks_exact(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16).ok_or_else(err);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Ok(out)
}

impl ChunkHash {
    /// Hashes one chunk.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }
}

impl ImageHash {
    /// Hashes an image's bytes.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }
}

impl TrackId {
    /// Reads an id written as its 32 raw bytes.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self(r.array("track id")?))
    }

    /// The id of `artist`'s release of `audio`.
    pub fn derive(artist: &ArtistKey, audio: &AudioId) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(TRACK_ID_CONTEXT);
        h.update(&artist.0);
        h.update(&audio.0);
        Self(*h.finalize().as_bytes())
    }
}

impl AudioId {
    /// The audio id of a file with these sizes and chunk hashes.
    pub fn derive(file_size: u64, chunk_size: u32, chunks: &[ChunkHash]) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(AUDIO_ID_CONTEXT);
        h.update(&file_size.to_be_bytes());
        h.update(&chunk_size.to_be_bytes());
        for c in chunks {
            h.update(&c.0);
        }
        Self(*h.finalize().as_bytes())
    }

    /// The id version 1 manifests gave the track with this audio.
    pub fn legacy_track_id(&self) -> TrackId {
        TrackId(self.0)
    }
}

/// An artist's signing key. Kept in the data dir with owner-only permissions.
#[derive(Clone)]
pub struct ArtistKeypair(ed25519_dalek::SigningKey);

impl fmt::Debug for ArtistKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ArtistKeypair")
            .field(&self.public())
            .finish()
    }
}

impl ArtistKeypair {
    /// A new random key.
    pub fn generate() -> Self {
        Self(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// The key with this 32-byte secret seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// The 32-byte secret seed (for saving and exporting the key).
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key.
    pub fn public(&self) -> ArtistKey {
        ArtistKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `msg` under a domain-separation `context`.
    pub fn sign(&self, context: &[u8], msg: &[u8]) -> [u8; 64] {
        let mut buf = Vec::with_capacity(context.len() + msg.len());
        buf.extend_from_slice(context);
        buf.extend_from_slice(msg);
        self.0.sign(&buf).to_bytes()
    }
}

impl ArtistKey {
    /// Checks a signature made by [`ArtistKeypair::sign`] with the same context.
    pub fn verify(&self, context: &[u8], msg: &[u8], sig: &[u8; 64]) -> Result<(), DecodeError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(&self.0)
            .map_err(|_| DecodeError::Invalid("artist key"))?;
        let mut buf = Vec::with_capacity(context.len() + msg.len());
        buf.extend_from_slice(context);
        buf.extend_from_slice(msg);
        key.verify(&buf, &ed25519_dalek::Signature::from_bytes(sig))
            .map_err(|_| DecodeError::BadSignature)
    }
}

/// The container format of a track's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// MPEG audio (layer 3).
    Mp3,
    /// Free Lossless Audio Codec.
    Flac,
    /// Ogg (Vorbis).
    Ogg,
    /// RIFF WAVE.
    Wav,
    /// Anything else symphonia could read.
    #[default]
    Other,
}

impl Format {
    const ALL: [Format; 5] = [Self::Mp3, Self::Flac, Self::Ogg, Self::Wav, Self::Other];

    /// The short lower-case name used in the CLI and JSON (`"mp3"`, `"flac"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mp3 => "mp3",
            Self::Flac => "flac",
            Self::Ogg => "ogg",
            Self::Wav => "wav",
            Self::Other => "other",
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Other => "bin",
            f => f.as_str(),
        }
    }

    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(code: u8) -> Result<Self, DecodeError> {
        Self::ALL
            .get(code as usize)
            .copied()
            .ok_or(DecodeError::Invalid("format"))
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a listener sees of a track: tags and stream parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrackInfo {
    /// Title (never empty in a published manifest: the file name is the fallback).
    pub title: String,
    /// Artist display name.
    pub artist: String,
    /// Album, empty when unknown.
    pub album: String,
    /// Genres and other free tags.
    pub tags: Vec<String>,
    /// Container format.
    pub format: Format,
    /// Codec short name as symphonia reports it (`"mp3"`, `"flac"`, `"vorbis"`, `"pcm_s16le"`).
    pub codec: String,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u8,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// Track number on its disc (from the tags), 0 when unknown. Manifest version 3 on.
    pub track: u16,
    /// Disc number (from the tags), 0 when unknown. Manifest version 3 on.
    pub disc: u16,
    /// The cover image, when the file or its folder had one that passed the checks. Manifest
    /// version 3 on.
    pub cover: Option<CoverRef>,
}

impl TrackInfo {
    /// Cuts every text field to its limit and drops empty or surplus tags, so that any
    /// `TrackInfo` can be signed and decoded again.
    pub fn normalized(mut self) -> Self {
        let clean = |s: &str, max: usize| truncate_utf8(s.trim(), max).trim().to_owned();
        self.title = clean(&self.title, MAX_TEXT);
        self.artist = clean(&self.artist, MAX_TEXT);
        self.album = clean(&self.album, MAX_TEXT);
        self.codec = clean(&self.codec, MAX_CODEC);
        let mut tags = Vec::new();
        for t in &self.tags {
            let t = clean(t, MAX_TAG);
            if !t.is_empty() && !tags.contains(&t) && tags.len() < MAX_TAGS {
                tags.push(t);
            }
        }
        self.tags = tags;
        self
    }
}

/// The chunk size for a file of `len` bytes: the smallest power of two from
/// [`DEFAULT_CHUNK_SIZE`] up that keeps the chunk count within [`MAX_CHUNKS`].
pub fn chunk_size_for(len: u64) -> Option<u32> {
    let mut size = DEFAULT_CHUNK_SIZE;
    while len.div_ceil(size as u64) > MAX_CHUNKS as u64 {
        if size >= MAX_CHUNK_SIZE {
            return None;
        }
        size *= 2;
    }
    Some(size)
}

/// Cuts `bytes` into chunks and hashes each one. `None` when the file is empty or larger than a
/// manifest can describe.
pub fn split_chunks(bytes: &[u8]) -> Option<(u32, Vec<ChunkHash>)> {
    if bytes.is_empty() {
        return None;
    }
    let size = chunk_size_for(bytes.len() as u64)?;
    let hashes = bytes.chunks(size as usize).map(ChunkHash::of).collect();
    Some((size, hashes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(bytes: &[u8], info: TrackInfo) -> Manifest {
        let (chunk_size, chunks) = split_chunks(bytes).unwrap();
        ManifestDraft {
            info,
            file_size: bytes.len() as u64,
            chunk_size,
            chunks,
            published_at: 1_700_000_000,
        }
        .sign(&ArtistKeypair::from_seed([9; 32]))
    }

    fn info(title: &str) -> TrackInfo {
        TrackInfo {
            title: title.into(),
            artist: "Manolo Camp".into(),
            album: "Opsound".into(),
            tags: vec!["jazz".into(), "lounge".into()],
            format: Format::Flac,
            codec: "flac".into(),
            sample_rate: 8000,
            channels: 1,
            duration_ms: 73_096,
            track: 0,
            disc: 0,
            cover: None,
        }
    }

    #[test]
    fn a_release_is_one_keys_release_of_one_audio() {
        let a = sample(&[1u8; 100_000], info("A"));
        let b = sample(&[1u8; 100_000], info("B"));
        let c = sample(&[2u8; 100_000], info("A"));
        // The same key's new metadata for the same audio is the same release.
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), c.id());
        // Another key signing the same file makes another release of the same audio: it can
        // never take the first one's id.
        let (chunk_size, chunks) = split_chunks(&[1u8; 100_000]).unwrap();
        let stolen = ManifestDraft {
            info: info("Stolen"),
            file_size: 100_000,
            chunk_size,
            chunks,
            published_at: 1_900_000_000,
        }
        .sign(&ArtistKeypair::from_seed([66; 32]));
        assert_ne!(stolen.id(), a.id());
        assert_eq!(stolen.audio_id(), a.audio_id());
        assert!(
            a.updated(&ArtistKeypair::from_seed([66; 32]), info("Stolen"), 2)
                .is_none()
        );
        let newer = a
            .updated(&ArtistKeypair::from_seed([9; 32]), info("A2"), 2)
            .unwrap();
        assert_eq!(newer.id(), a.id());
        assert_eq!(a.chunks().len(), 2);
        assert_eq!(a.chunk_len(0), 65_536);
        assert_eq!(a.chunk_len(1), 100_000 - 65_536);
    }

    #[test]
    fn decode_checks_signature_and_id() {
        let m = sample(&[3u8; 70_000], info("Morning Coffee"));
        let bytes = m.encoded().to_vec();
        assert_eq!(Manifest::decode(&bytes).unwrap(), m);

        // Flip a byte in the title: the signature no longer verifies.
        let mut forged = bytes.clone();
        let pos = forged.windows(7).position(|w| w == b"Morning").unwrap();
        forged[pos] = b'X';
        assert_eq!(Manifest::decode(&forged), Err(DecodeError::BadSignature));

        // Swap in another chunk hash: the id no longer matches.
        let mut wrong_chunk = bytes.clone();
        let len = wrong_chunk.len();
        wrong_chunk[len - 64 - 1] ^= 1;
        assert_eq!(
            Manifest::decode(&wrong_chunk),
            Err(DecodeError::Invalid("track id"))
        );

        // Put another key in: the id no longer matches (another key's release has another id).
        let mut other_key = bytes.clone();
        other_key[37..69].copy_from_slice(ArtistKeypair::from_seed([66; 32]).public().as_bytes());
        assert_eq!(
            Manifest::decode(&other_key),
            Err(DecodeError::Invalid("track id"))
        );

        // Anything after the signature is rejected rather than ignored.
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            Manifest::decode(&trailing),
            Err(DecodeError::TrailingBytes(1))
        );
    }

    #[test]
    fn decode_rejects_oversized_and_foreign_input() {
        assert!(matches!(
            Manifest::decode(&vec![0; MAX_MANIFEST_BYTES + 1]),
            Err(DecodeError::TooLarge { .. })
        ));
        assert_eq!(
            Manifest::decode(b"RIFF...."),
            Err(DecodeError::BadMagic("manifest"))
        );
        let mut v4 = sample(&[1; 10], info("x")).encoded().to_vec();
        v4[4] = 4;
        assert!(matches!(
            Manifest::decode(&v4),
            Err(DecodeError::UnsupportedVersion { found: 4, .. })
        ));
        // A version 1 manifest (content-only id) is not a current one, whatever it says.
        let mut v1 = sample(&[1; 10], info("x")).encoded().to_vec();
        v1[4] = 1;
        assert!(matches!(
            Manifest::decode(&v1),
            Err(DecodeError::UnsupportedVersion { found: 1, .. })
        ));
        assert!(LegacyManifest::decode(&v1).is_err());
    }

    fn with_cover(mut info: TrackInfo) -> TrackInfo {
        info.track = 7;
        info.disc = 2;
        info.cover = Some(CoverRef {
            hash: ImageHash([0xC0; 32]),
            bytes: 123_456,
            width: 1000,
            height: 800,
            format: ImageFormat::Jpeg,
        });
        info
    }

    #[test]
    fn version_3_signs_the_cover_and_numbers_and_a_forged_cover_fails() {
        let m = sample(&[5; 70_000], with_cover(info("Covered")));
        assert_eq!(m.version(), MANIFEST_VERSION);
        let back = Manifest::decode(m.encoded()).unwrap();
        assert_eq!(back, m);
        assert_eq!((back.info().track, back.info().disc), (7, 2));
        assert_eq!(back.cover().map(|c| c.width), Some(1000));
        // Someone swaps the cover for an image of their own: the hash is signed.
        let mut forged = m.encoded().to_vec();
        let at = forged.windows(32).position(|w| w == [0xC0; 32]).unwrap();
        forged[at..at + 32].copy_from_slice(&[0xEE; 32]);
        assert!(matches!(
            Manifest::decode(&forged),
            Err(DecodeError::BadSignature)
        ));
        // A cover reference out of its limits does not decode at all.
        let mut huge = m.encoded().to_vec();
        huge[at + 32..at + 36].copy_from_slice(&(MAX_COVER_BYTES + 1).to_be_bytes());
        assert!(matches!(
            Manifest::decode(&huge),
            Err(DecodeError::Invalid("cover size"))
        ));
    }

    #[test]
    fn version_2_manifests_still_decode_and_verify_as_signed() {
        let key = ArtistKeypair::from_seed([9; 32]);
        let bytes = [6u8; 70_000];
        let (chunk_size, chunks) = split_chunks(&bytes).unwrap();
        let draft = ManifestDraft {
            info: with_cover(info("Old")),
            file_size: bytes.len() as u64,
            chunk_size,
            chunks,
            published_at: 1_700_000_000,
        };
        let v2 = draft.clone().sign_plain(&key);
        let v3 = draft.sign(&key);
        assert_eq!(v2.encoded()[4], PLAIN_MANIFEST_VERSION);
        let back = Manifest::decode(v2.encoded()).unwrap();
        assert_eq!(back.version(), PLAIN_MANIFEST_VERSION);
        assert_eq!(
            back.encoded(),
            v2.encoded(),
            "kept as signed, byte for byte"
        );
        assert_eq!(back.cover(), None);
        assert_eq!((back.info().track, back.info().disc), (0, 0));
        // Same release, same id; version 3 adds the numbers and the cover after the tags.
        assert_eq!(back.id(), v3.id());
        let cover_len = 32 + 4 + 2 + 2 + 1;
        assert_eq!(
            v3.encoded().len(),
            v2.encoded().len() + 2 + 2 + 1 + cover_len
        );
        // A version this build does not know is refused, naming the newest it reads.
        let mut v9 = v2.encoded().to_vec();
        v9[4] = 9;
        assert!(matches!(
            Manifest::decode(&v9),
            Err(DecodeError::UnsupportedVersion {
                found: 9,
                supported: 3,
                ..
            })
        ));
    }

    #[test]
    fn chunk_size_grows_for_large_files() {
        assert_eq!(chunk_size_for(1), Some(DEFAULT_CHUNK_SIZE));
        assert_eq!(chunk_size_for(256 << 20), Some(DEFAULT_CHUNK_SIZE));
        assert_eq!(
            chunk_size_for((256 << 20) + 1),
            Some(2 * DEFAULT_CHUNK_SIZE)
        );
        assert_eq!(chunk_size_for(4 << 30), Some(MAX_CHUNK_SIZE));
        assert_eq!(chunk_size_for((4 << 30) + 1), None);
    }

    #[test]
    fn ids_parse_from_their_hex() {
        let id = TrackId([0xab; 32]);
        assert_eq!(id.to_hex().parse::<TrackId>().unwrap(), id);
        assert!("abc".parse::<TrackId>().is_err());
        assert!("zz".repeat(32).parse::<TrackId>().is_err());
    }

    fn any_info() -> impl Strategy<Value = TrackInfo> {
        (
            "\\PC{0,300}",
            "\\PC{0,40}",
            "\\PC{0,40}",
            proptest::collection::vec("\\PC{0,80}", 0..20),
            0u8..5,
            any::<u32>(),
            any::<u8>(),
            any::<u64>(),
            (
                any::<u16>(),
                any::<u16>(),
                proptest::option::of((
                    any::<[u8; 32]>(),
                    1..=MAX_COVER_BYTES,
                    1..=MAX_COVER_SIDE,
                    1..=MAX_COVER_SIDE,
                    any::<bool>(),
                )),
            ),
        )
            .prop_map(
                |(title, artist, album, tags, f, rate, ch, dur, (track, disc, cover))| {
                    let mut info = TrackInfo {
                        title,
                        artist,
                        album,
                        tags,
                        format: Format::from_code(f).unwrap(),
                        codec: "pcm".into(),
                        sample_rate: rate,
                        channels: ch,
                        duration_ms: dur,
                        track,
                        disc,
                        cover: cover.map(|(hash, bytes, width, height, png)| CoverRef {
                            hash: ImageHash(hash),
                            bytes,
                            width,
                            height,
                            format: if png {
                                ImageFormat::Png
                            } else {
                                ImageFormat::Jpeg
                            },
                        }),
                    }
                    .normalized();
                    if info.title.is_empty() {
                        info.title = "untitled".into();
                    }
                    info
                },
            )
    }

    proptest! {
        #[test]
        fn encoding_round_trips(info in any_info(), len in 1usize..300_000, fill in any::<u8>()) {
            let m = sample(&vec![fill; len], info);
            let back = Manifest::decode(m.encoded()).unwrap();
            prop_assert_eq!(back.encoded(), m.encoded());
            prop_assert_eq!(back, m);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = Manifest::decode(&bytes);
        }

        #[test]
        fn mutated_manifests_never_panic(pos in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
            let m = sample(&[5u8; 150_000], info("Spring of love"));
            let mut bytes = m.encoded().to_vec();
            let i = pos % bytes.len();
            bytes[i] = byte;
            bytes.truncate(cut % (bytes.len() + 1));
            if let Ok(decoded) = Manifest::decode(&bytes) {
                // Only an unchanged record may decode.
                prop_assert_eq!(decoded.encoded(), m.encoded());
            }
        }
    }
}

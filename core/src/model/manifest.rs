//! The signed [`Manifest`], and the version 1 form old data dirs hold ([`LegacyManifest`]).
//!
//! Versions 2 and 3 are both current: a manifest is kept, served and verified in the version it
//! was signed in (its bytes never change), and [`ManifestDraft::sign`] writes version 3, which
//! adds the track and disc numbers and the optional [`CoverRef`] after the tags. A version 2
//! manifest reads with no numbers and no cover.

use std::fmt;

use super::{
    ArtistKey, ArtistKeypair, AudioId, ChunkHash, CoverRef, Format, LEGACY_MANIFEST_VERSION,
    MANIFEST_MAGIC, MANIFEST_VERSION, MAX_CHUNK_SIZE, MAX_CHUNKS, MAX_CODEC, MAX_MANIFEST_BYTES,
    MAX_TAG, MAX_TAGS, MAX_TEXT, MIN_CHUNK_SIZE, PLAIN_MANIFEST_VERSION, SIGNING_CONTEXT, TrackId,
    TrackInfo,
};
use crate::wire::{DecodeError, Reader, Writer};

/// A manifest before it is signed.
#[derive(Debug, Clone)]
pub struct ManifestDraft {
    /// Tags and stream parameters.
    pub info: TrackInfo,
    /// Size of the file in bytes.
    pub file_size: u64,
    /// Chunk size in bytes (a power of two).
    pub chunk_size: u32,
    /// Hash of every chunk, in order.
    pub chunks: Vec<ChunkHash>,
    /// Publication time, seconds since the Unix epoch.
    pub published_at: u64,
}

impl ManifestDraft {
    /// Signs the draft with the artist's key, as a version 3 manifest.
    pub fn sign(self, artist: &ArtistKeypair) -> Manifest {
        self.sign_as(artist, MANIFEST_VERSION)
    }

    /// Signs a version 2 manifest, as builds before covers did (the numbers and the cover are
    /// left out): for tests of what older peers send.
    #[cfg(test)]
    pub(crate) fn sign_plain(mut self, artist: &ArtistKeypair) -> Manifest {
        (self.info.track, self.info.disc, self.info.cover) = (0, 0, None);
        self.sign_as(artist, PLAIN_MANIFEST_VERSION)
    }

    fn sign_as(self, artist: &ArtistKeypair, version: u8) -> Manifest {
        let audio_id = AudioId::derive(self.file_size, self.chunk_size, &self.chunks);
        let artist_key = artist.public();
        let mut m = Manifest {
            version,
            track_id: TrackId::derive(&artist_key, &audio_id),
            audio_id,
            artist_key,
            info: self.info.normalized(),
            file_size: self.file_size,
            chunk_size: self.chunk_size,
            chunks: self.chunks,
            published_at: self.published_at,
            signature: [0; 64],
            encoded: Vec::new(),
        };
        let body = m.encode_body();
        m.signature = artist.sign(SIGNING_CONTEXT, &body);
        let mut w = Writer::with_capacity(body.len() + 64);
        w.raw(&body);
        w.raw(&m.signature);
        m.encoded = w.into_bytes();
        m
    }
}

/// A signed track record: what a peer stores, indexes, gossips and fetches by.
///
/// A `Manifest` value is always valid: it is made by [`ManifestDraft::sign`] or
/// [`Manifest::decode`], which checks the signature, the sizes and the id.
#[derive(Clone, PartialEq, Eq)]
pub struct Manifest {
    version: u8,
    track_id: TrackId,
    audio_id: AudioId,
    artist_key: ArtistKey,
    info: TrackInfo,
    file_size: u64,
    chunk_size: u32,
    chunks: Vec<ChunkHash>,
    published_at: u64,
    signature: [u8; 64],
    encoded: Vec<u8>,
}

impl fmt::Debug for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manifest")
            .field("track_id", &self.track_id)
            .field("artist_key", &self.artist_key)
            .field("title", &self.info.title)
            .field("file_size", &self.file_size)
            .field("chunks", &self.chunks.len())
            .finish_non_exhaustive()
    }
}

impl Manifest {
    /// The encoding version it was signed in: [`MANIFEST_VERSION`] (3), or 2 for a manifest
    /// signed before covers and track numbers (kept as it was: its bytes are what was signed).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The cover image the manifest names, if any (version 3 only).
    pub fn cover(&self) -> Option<&CoverRef> {
        self.info.cover.as_ref()
    }

    /// The release's id (artist key and audio).
    pub fn id(&self) -> TrackId {
        self.track_id
    }

    /// The id of the audio alone, equal for equal files whoever signed them.
    pub fn audio_id(&self) -> AudioId {
        self.audio_id
    }

    /// The key that signed this manifest.
    pub fn artist_key(&self) -> ArtistKey {
        self.artist_key
    }

    /// Tags and stream parameters.
    pub fn info(&self) -> &TrackInfo {
        &self.info
    }

    /// File size in bytes.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Chunk size in bytes.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Every chunk's hash, in order.
    pub fn chunks(&self) -> &[ChunkHash] {
        &self.chunks
    }

    /// Length of chunk `index` (the last one may be short).
    pub fn chunk_len(&self, index: usize) -> usize {
        let start = index as u64 * self.chunk_size as u64;
        (self.file_size.saturating_sub(start)).min(self.chunk_size as u64) as usize
    }

    /// Publication time, seconds since the Unix epoch.
    pub fn published_at(&self) -> u64 {
        self.published_at
    }

    /// The canonical encoding: exactly the bytes that were signed, followed by the signature.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// A new version of this release's metadata, signed by the same key (`None` when `artist`
    /// is another key: only the signer can update a release).
    pub fn updated(
        &self,
        artist: &ArtistKeypair,
        info: TrackInfo,
        published_at: u64,
    ) -> Option<Self> {
        (artist.public() == self.artist_key).then(|| {
            ManifestDraft {
                info,
                file_size: self.file_size,
                chunk_size: self.chunk_size,
                chunks: self.chunks.clone(),
                published_at,
            }
            .sign(artist)
        })
    }

    fn encode_body(&self) -> Vec<u8> {
        let i = &self.info;
        let mut w = Writer::with_capacity(256 + self.chunks.len() * 32);
        w.raw(MANIFEST_MAGIC);
        w.u8(self.version);
        w.raw(&self.track_id.0);
        w.raw(&self.artist_key.0);
        w.u64(self.published_at);
        w.u64(self.file_size);
        w.u32(self.chunk_size);
        w.u8(i.format.code());
        w.str(&i.codec);
        w.u32(i.sample_rate);
        w.u8(i.channels);
        w.u64(i.duration_ms);
        w.str(&i.title);
        w.str(&i.artist);
        w.str(&i.album);
        w.u8(i.tags.len() as u8);
        for t in &i.tags {
            w.str(t);
        }
        if self.version >= MANIFEST_VERSION {
            w.u16(i.track);
            w.u16(i.disc);
            match &i.cover {
                None => w.u8(0),
                Some(cover) => {
                    w.u8(1);
                    cover.write(&mut w);
                }
            }
        }
        w.u32(self.chunks.len() as u32);
        for c in &self.chunks {
            w.raw(&c.0);
        }
        w.into_bytes()
    }

    /// Decodes and fully checks a manifest: version, limits, sizes, id and signature.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_checked(bytes, true)
    }

    /// Decodes a manifest this peer verified when it stored it: everything is checked again
    /// but the signature. For rebuilding the store's indexes over every manifest, where a
    /// million signature checks would make one upgrade take minutes.
    pub(crate) fn decode_stored(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_checked(bytes, false)
    }

    fn decode_checked(bytes: &[u8], verify: bool) -> Result<Self, DecodeError> {
        let parsed = Parsed::read(bytes, &[PLAIN_MANIFEST_VERSION, MANIFEST_VERSION])?;
        let audio_id = parsed.audio_id();
        if TrackId::derive(&parsed.artist_key, &audio_id) != parsed.track_id {
            return Err(DecodeError::Invalid("track id"));
        }
        if verify {
            parsed.verify(bytes)?;
        }
        Ok(Self {
            version: parsed.version,
            track_id: parsed.track_id,
            audio_id,
            artist_key: parsed.artist_key,
            info: parsed.draft.info,
            file_size: parsed.draft.file_size,
            chunk_size: parsed.draft.chunk_size,
            chunks: parsed.draft.chunks,
            published_at: parsed.draft.published_at,
            signature: parsed.signature,
            encoded: bytes.to_vec(),
        })
    }
}

/// A version 1 manifest, as data dirs from before the track id covered the artist key hold them:
/// checked like a current one (limits, content id, signature), for upgrading a data dir only.
#[derive(Debug, Clone)]
pub struct LegacyManifest {
    /// The id it was stored under (its content's [`AudioId`]).
    pub id: TrackId,
    /// The key that signed it.
    pub artist_key: ArtistKey,
    /// What it said, ready to be signed again as a current manifest by the same key.
    pub draft: ManifestDraft,
}

impl LegacyManifest {
    /// Decodes and checks a version 1 manifest.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let parsed = Parsed::read(bytes, &[LEGACY_MANIFEST_VERSION])?;
        if parsed.audio_id().legacy_track_id() != parsed.track_id {
            return Err(DecodeError::Invalid("track id"));
        }
        parsed.verify(bytes)?;
        Ok(Self {
            id: parsed.track_id,
            artist_key: parsed.artist_key,
            draft: parsed.draft,
        })
    }

    /// The audio this manifest describes.
    pub fn audio_id(&self) -> AudioId {
        AudioId(self.id.0)
    }
}

/// The version of an encoded manifest, when it has the manifest magic.
pub fn manifest_version(bytes: &[u8]) -> Option<u8> {
    (bytes.get(..4)? == MANIFEST_MAGIC).then(|| bytes.get(4).copied())?
}

/// The fields of an encoded manifest, limits and sizes checked, id and signature not yet.
struct Parsed {
    version: u8,
    track_id: TrackId,
    artist_key: ArtistKey,
    draft: ManifestDraft,
    body_len: usize,
    signature: [u8; 64],
}

impl Parsed {
    fn read(bytes: &[u8], versions: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(DecodeError::TooLarge {
                what: "manifest",
                len: bytes.len(),
                max: MAX_MANIFEST_BYTES,
            });
        }
        let mut r = Reader::new(bytes);
        if r.take(4, "magic")? != MANIFEST_MAGIC {
            return Err(DecodeError::BadMagic("manifest"));
        }
        let version = r.u8("version")?;
        if !versions.contains(&version) {
            return Err(DecodeError::UnsupportedVersion {
                what: "manifest",
                found: version,
                supported: versions.iter().copied().max().unwrap_or(MANIFEST_VERSION),
            });
        }
        let track_id = TrackId::read(&mut r)?;
        let artist_key = ArtistKey(r.array("artist key")?);
        let published_at = r.u64("published_at")?;
        let file_size = r.u64("file_size")?;
        let chunk_size = r.u32("chunk_size")?;
        let format = Format::from_code(r.u8("format")?)?;
        let codec = r.str("codec", MAX_CODEC)?;
        let sample_rate = r.u32("sample_rate")?;
        let channels = r.u8("channels")?;
        let duration_ms = r.u64("duration_ms")?;
        let title = r.str("title", MAX_TEXT)?;
        let artist = r.str("artist", MAX_TEXT)?;
        let album = r.str("album", MAX_TEXT)?;
        let tag_count = r.u8("tag count")? as usize;
        if tag_count > MAX_TAGS {
            return Err(DecodeError::TooLarge {
                what: "tags",
                len: tag_count,
                max: MAX_TAGS,
            });
        }
        let mut tags = Vec::with_capacity(tag_count);
        for _ in 0..tag_count {
            tags.push(r.str("tag", MAX_TAG)?);
        }
        let (mut track, mut disc, mut cover) = (0, 0, None);
        if version >= MANIFEST_VERSION {
            track = r.u16("track number")?;
            disc = r.u16("disc number")?;
            cover = match r.u8("cover flag")? {
                0 => None,
                1 => Some(CoverRef::read(&mut r)?),
                _ => return Err(DecodeError::Invalid("cover flag")),
            };
        }
        let chunk_count = r.u32("chunk count")? as usize;
        if chunk_count > MAX_CHUNKS {
            return Err(DecodeError::TooLarge {
                what: "chunk list",
                len: chunk_count,
                max: MAX_CHUNKS,
            });
        }
        let mut chunks = Vec::with_capacity(chunk_count);
        for _ in 0..chunk_count {
            chunks.push(ChunkHash(r.array("chunk hash")?));
        }
        let body_len = r.position();
        let signature: [u8; 64] = r.array("signature")?;
        r.finish()?;

        if !chunk_size.is_power_of_two() || !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size)
        {
            return Err(DecodeError::Invalid("chunk size"));
        }
        if file_size == 0 || file_size.div_ceil(chunk_size as u64) != chunk_count as u64 {
            return Err(DecodeError::Invalid("chunk count for the file size"));
        }
        let info = TrackInfo {
            title,
            artist,
            album,
            tags,
            format,
            codec,
            sample_rate,
            channels,
            duration_ms,
            track,
            disc,
            cover,
        };
        // Canonical form: text is stored trimmed and tags deduplicated, so a second encoding of
        // the same track cannot exist.
        if info.clone().normalized() != info || info.title.is_empty() {
            return Err(DecodeError::Invalid("text fields"));
        }
        Ok(Self {
            version,
            track_id,
            artist_key,
            draft: ManifestDraft {
                info,
                file_size,
                chunk_size,
                chunks,
                published_at,
            },
            body_len,
            signature,
        })
    }

    fn audio_id(&self) -> AudioId {
        let d = &self.draft;
        AudioId::derive(d.file_size, d.chunk_size, &d.chunks)
    }

    fn verify(&self, bytes: &[u8]) -> Result<(), DecodeError> {
        self.artist_key
            .verify(SIGNING_CONTEXT, &bytes[..self.body_len], &self.signature)
    }
}

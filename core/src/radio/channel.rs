//! Channels: the signed [`ChannelDescriptor`], its [`ChannelId`], and the [`ChannelStatus`] a
//! broadcaster announces on the channels topic.

use std::fmt;
use std::str::FromStr;

use crate::model::{ArtistKey, ArtistKeypair, ParseIdError};
use crate::wire::{DecodeError, Reader, Writer};

/// Longest channel name in bytes.
pub const MAX_NAME: usize = 128;
/// Longest channel description in bytes.
pub const MAX_DESCRIPTION: usize = 1024;
/// Largest encoded descriptor.
pub const MAX_DESCRIPTOR_BYTES: usize = 4 + 1 + 32 + 2 + MAX_NAME + 2 + MAX_DESCRIPTION + 8 + 64;
/// Largest channel status message (channels topic).
pub const MAX_STATUS_BYTES: usize = 1 + 4 + MAX_DESCRIPTOR_BYTES + 4 + 8 + 64;
/// Version of the descriptor and status encodings.
pub const CHANNEL_VERSION: u8 = 1;
/// Version byte of a channel status (2: with its flags, live or not).
pub const STATUS_VERSION: u8 = 2;
const STATUS_LIVE: u8 = 1;

const DESCRIPTOR_MAGIC: &[u8; 4] = b"BKC\0";
const DESCRIPTOR_CONTEXT: &[u8] = b"busker channel descriptor v1\0";
const STATUS_CONTEXT: &[u8] = b"busker channel status v1\0";
const CHANNEL_ID_CONTEXT: &[u8] = b"busker channel id v1\0";

/// A channel: the BLAKE3 hash of its owner key and its name, so that a station keeps its id
/// across restarts and nobody else can sign for it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelId(pub [u8; 32]);

impl ChannelId {
    /// The id of the channel `name` owned by `owner`.
    pub fn of(owner: &ArtistKey, name: &str) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(CHANNEL_ID_CONTEXT);
        h.update(owner.as_bytes());
        h.update(name.as_bytes());
        Self(*h.finalize().as_bytes())
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The gossipsub topic its segments travel on.
    pub fn topic(&self) -> String {
        format!("busker/radio/{}/1", self.to_hex())
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelId({})", &self.to_hex()[..12])
    }
}

impl FromStr for ChannelId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // A track id has the same shape: reuse its parser.
        s.parse::<crate::model::TrackId>().map(|t| Self(t.0))
    }
}

/// A signed channel descriptor: owner key, name, description, creation time. Always valid: it
/// comes from [`ChannelDescriptor::sign`] or [`ChannelDescriptor::decode`].
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelDescriptor {
    owner: ArtistKey,
    name: String,
    description: String,
    created_at: u64,
    encoded: Vec<u8>,
}

impl fmt::Debug for ChannelDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelDescriptor")
            .field("id", &self.id())
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn clean(s: &str, max: usize) -> String {
    crate::wire::truncate_utf8(s.trim(), max).trim().to_owned()
}

impl ChannelDescriptor {
    /// Signs a new descriptor with the owner's key. The name and description are trimmed and
    /// cut to their limits; an empty name becomes "Radio".
    pub fn sign(owner: &ArtistKeypair, name: &str, description: &str, created_at: u64) -> Self {
        let mut name = clean(name, MAX_NAME);
        if name.is_empty() {
            name = "Radio".to_owned();
        }
        let description = clean(description, MAX_DESCRIPTION);
        let mut w = Writer::with_capacity(256);
        w.raw(DESCRIPTOR_MAGIC);
        w.u8(CHANNEL_VERSION);
        w.raw(owner.public().as_bytes());
        w.str(&name);
        w.str(&description);
        w.u64(created_at);
        let sig = owner.sign(DESCRIPTOR_CONTEXT, w.as_slice());
        w.raw(&sig);
        Self {
            owner: owner.public(),
            name,
            description,
            created_at,
            encoded: w.into_bytes(),
        }
    }

    /// Decodes and verifies a descriptor (limits, signature, no trailing bytes).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_DESCRIPTOR_BYTES {
            return Err(DecodeError::TooLarge {
                what: "channel descriptor",
                len: bytes.len(),
                max: MAX_DESCRIPTOR_BYTES,
            });
        }
        let mut r = Reader::new(bytes);
        if &r.array::<4>("magic")? != DESCRIPTOR_MAGIC {
            return Err(DecodeError::BadMagic("channel descriptor"));
        }
        let version = r.u8("version")?;
        if version != CHANNEL_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "channel descriptor",
                found: version,
                supported: CHANNEL_VERSION,
            });
        }
        let owner = ArtistKey(r.array("owner key")?);
        let name = r.str("channel name", MAX_NAME)?;
        let description = r.str("channel description", MAX_DESCRIPTION)?;
        let created_at = r.u64("created at")?;
        let signed = r.position();
        let sig: [u8; 64] = r.array("signature")?;
        r.finish()?;
        if name.is_empty() {
            return Err(DecodeError::Invalid("empty channel name"));
        }
        owner.verify(DESCRIPTOR_CONTEXT, &bytes[..signed], &sig)?;
        Ok(Self {
            owner,
            name,
            description,
            created_at,
            encoded: bytes.to_vec(),
        })
    }

    /// The channel's id.
    pub fn id(&self) -> ChannelId {
        ChannelId::of(&self.owner, &self.name)
    }

    /// The key that signs the channel's segments.
    pub fn owner(&self) -> ArtistKey {
        self.owner
    }

    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the channel plays, in the owner's words.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// When the descriptor was signed, seconds since the Unix epoch.
    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    /// The signed bytes.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }
}

/// What a broadcaster says about its channel every few seconds on the channels topic: the
/// descriptor, how many listeners it hears, and when; signed by the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelStatus {
    /// The channel.
    pub descriptor: ChannelDescriptor,
    /// Listeners the broadcaster heard from recently.
    pub listeners: u32,
    /// When the status was made, Unix milliseconds.
    pub at_ms: u64,
    /// The channel plays a live source (see [`crate::radio::LiveInput`]), not published tracks.
    pub live: bool,
}

impl ChannelStatus {
    /// Encodes and signs the status with the owner's key (which must own the descriptor).
    pub fn encode(&self, owner: &ArtistKeypair) -> Vec<u8> {
        let mut w = Writer::with_capacity(self.descriptor.encoded.len() + 96);
        w.u8(STATUS_VERSION);
        w.bytes(&self.descriptor.encoded);
        w.u32(self.listeners);
        w.u64(self.at_ms);
        w.u8(if self.live { STATUS_LIVE } else { 0 });
        let sig = owner.sign(STATUS_CONTEXT, w.as_slice());
        w.raw(&sig);
        w.into_bytes()
    }

    /// Decodes and verifies a status (descriptor signature, then the status signature by the
    /// same owner).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_STATUS_BYTES {
            return Err(DecodeError::TooLarge {
                what: "channel status",
                len: bytes.len(),
                max: MAX_STATUS_BYTES,
            });
        }
        let mut r = Reader::new(bytes);
        let version = r.u8("version")?;
        if version != STATUS_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "channel status",
                found: version,
                supported: STATUS_VERSION,
            });
        }
        let descriptor = ChannelDescriptor::decode(r.bytes("descriptor", MAX_DESCRIPTOR_BYTES)?)?;
        let listeners = r.u32("listeners")?;
        let at_ms = r.u64("status time")?;
        let flags = r.u8("status flags")?;
        if flags & !STATUS_LIVE != 0 {
            return Err(DecodeError::Invalid("status flags"));
        }
        let signed = r.position();
        let sig: [u8; 64] = r.array("signature")?;
        r.finish()?;
        descriptor
            .owner
            .verify(STATUS_CONTEXT, &bytes[..signed], &sig)?;
        Ok(Self {
            descriptor,
            listeners,
            at_ms,
            live: flags & STATUS_LIVE != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn descriptor_and_status_round_trip_and_reject_tampering() {
        let owner = ArtistKeypair::from_seed([3; 32]);
        let d = ChannelDescriptor::sign(&owner, "  Night Owl  ", "jazz after dark", 7);
        assert_eq!(d.name(), "Night Owl");
        let back = ChannelDescriptor::decode(d.encoded()).unwrap();
        assert_eq!(back, d);
        assert_eq!(back.id(), ChannelId::of(&owner.public(), "Night Owl"));
        let mut bad = d.encoded().to_vec();
        let n = bad.len();
        bad[n - 70] ^= 1;
        assert!(ChannelDescriptor::decode(&bad).is_err());
        let mut trailing = d.encoded().to_vec();
        trailing.push(0);
        assert!(ChannelDescriptor::decode(&trailing).is_err());

        let status = ChannelStatus {
            descriptor: d.clone(),
            listeners: 12,
            at_ms: 99,
            live: true,
        };
        let bytes = status.encode(&owner);
        assert_eq!(ChannelStatus::decode(&bytes).unwrap(), status);
        // Signed by someone else: rejected.
        let other = ArtistKeypair::from_seed([4; 32]);
        assert!(ChannelStatus::decode(&status.encode(&other)).is_err());
        let id: ChannelId = d.id().to_hex().parse().unwrap();
        assert_eq!(id, d.id());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = ChannelDescriptor::decode(&bytes);
            let _ = ChannelStatus::decode(&bytes);
        }
    }
}

//! The signed records of the taste exchange and the message that carries them: a
//! [`SignedProfile`] (a taste profile with its owner's signatures over it and over its digest),
//! a [`SignedDigest`], and the [`TasteMessage`] of one exchange, each verified whole on decode.

use busker_recommender::{
    Key, MAX_DIGEST_BYTES, MAX_PROFILE_BYTES, ProfileDigest, SIGNATURE_BYTES, TasteProfile,
};
use libp2p::PeerId;

use super::MAX_TASTE_BYTES;
use crate::error::{Error, Result};
use crate::model::{ArtistKey, ArtistKeypair};
use crate::wire::{DecodeError, Reader, Writer};

/// Domain separation for profile signatures.
pub(super) const SIGNING_CONTEXT: &[u8] = b"busker taste profile v1\0";
/// Domain separation for digest signatures.
pub(super) const DIGEST_SIGNING_CONTEXT: &[u8] = b"busker taste digest v1\0";
pub(super) const MAGIC: &[u8; 3] = b"BTM";
/// Version byte of a taste message (2: with signed digests).
pub const MESSAGE_VERSION: u8 = 2;
/// Most profiles in one message.
pub const MAX_MESSAGE_PROFILES: usize = 64;
/// Most digests in one message.
pub const MAX_MESSAGE_DIGESTS: usize = 64;
/// Most peer keys in one message's hint.
pub const MAX_HINT: usize = 32;
/// A profile digest with its owner's signature over its canonical bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedDigest {
    pub(super) digest: ProfileDigest,
    pub(super) bytes: Vec<u8>,
    pub(super) signature: [u8; SIGNATURE_BYTES],
}

impl SignedDigest {
    /// Signs the digest of `profile` with `key`; `profile.peer` must be `key`'s public key.
    pub(super) fn sign(profile: &TasteProfile, key: &ArtistKeypair) -> Self {
        let digest = ProfileDigest::of(profile);
        let bytes = digest.encode();
        let signature = key.sign(DIGEST_SIGNING_CONTEXT, &bytes);
        Self {
            digest,
            bytes,
            signature,
        }
    }

    /// Decodes a digest and checks its signature against the key it names.
    pub fn verify(bytes: &[u8], signature: [u8; SIGNATURE_BYTES]) -> Result<Self> {
        let digest = ProfileDigest::decode(bytes).map_err(Error::TasteProfile)?;
        Self::checked(digest, bytes.to_vec(), signature)
            .map_err(|_| Error::Taste("a digest's signature does not match its key".into()))
    }

    /// `digest` with `signature`, if that is its owner's signature over `bytes`, its encoding.
    pub(super) fn checked(
        digest: ProfileDigest,
        bytes: Vec<u8>,
        signature: [u8; SIGNATURE_BYTES],
    ) -> Result<Self> {
        ArtistKey(digest.peer.0).verify(DIGEST_SIGNING_CONTEXT, &bytes, &signature)?;
        Ok(Self {
            digest,
            bytes,
            signature,
        })
    }

    /// The digest.
    pub fn digest(&self) -> &ProfileDigest {
        &self.digest
    }
}

/// A taste profile with its owner's signatures over its canonical bytes and over the canonical
/// bytes of its digest.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedProfile {
    pub(super) profile: TasteProfile,
    pub(super) bytes: Vec<u8>,
    pub(super) signature: [u8; SIGNATURE_BYTES],
    pub(super) digest: SignedDigest,
}

impl SignedProfile {
    /// Signs `profile` and its digest with `key`; `profile.peer` must be `key`'s public key.
    pub fn sign(profile: TasteProfile, key: &ArtistKeypair) -> Self {
        let bytes = profile.encode();
        let signature = key.sign(SIGNING_CONTEXT, &bytes);
        let digest = SignedDigest::sign(&profile, key);
        Self {
            profile,
            bytes,
            signature,
            digest,
        }
    }

    /// Decodes a profile and checks its signature, and the signature of its digest (made from
    /// the profile), against the key it names.
    pub fn verify(
        bytes: &[u8],
        signature: [u8; SIGNATURE_BYTES],
        digest_signature: [u8; SIGNATURE_BYTES],
    ) -> Result<Self> {
        let profile = TasteProfile::decode(bytes).map_err(Error::TasteProfile)?;
        ArtistKey(profile.peer.0)
            .verify(SIGNING_CONTEXT, bytes, &signature)
            .map_err(|_| Error::Taste("a profile's signature does not match its key".into()))?;
        let digest = ProfileDigest::of(&profile);
        let digest_bytes = digest.encode();
        let digest =
            SignedDigest::checked(digest, digest_bytes, digest_signature).map_err(|_| {
                Error::Taste("a profile's digest signature does not match its key".into())
            })?;
        Ok(Self {
            profile,
            bytes: bytes.to_vec(),
            signature,
            digest,
        })
    }

    /// The profile.
    pub fn profile(&self) -> &TasteProfile {
        &self.profile
    }

    /// The owner-signed digest of the profile, to forward in its place.
    pub fn digest(&self) -> &SignedDigest {
        &self.digest
    }

    /// The stored form: the canonical profile bytes followed by the profile's and the digest's
    /// 64-byte signatures.
    pub fn to_stored(&self) -> Vec<u8> {
        let mut out = self.bytes.clone();
        out.extend_from_slice(&self.signature);
        out.extend_from_slice(&self.digest.signature);
        out
    }

    /// Reads the stored form back, checking both signatures again.
    pub fn from_stored(stored: &[u8]) -> Result<Self> {
        let truncated = || Error::Taste("stored profile is truncated".into());
        let split = stored
            .len()
            .checked_sub(2 * SIGNATURE_BYTES)
            .ok_or_else(truncated)?;
        let (bytes, sigs) = stored.split_at(split);
        let (sig, digest_sig) = sigs.split_at(SIGNATURE_BYTES);
        let signature = sig.try_into().map_err(|_| truncated())?;
        let digest_signature = digest_sig.try_into().map_err(|_| truncated())?;
        Self::verify(bytes, signature, digest_signature)
    }
}

/// One taste exchange message: profiles (the sender's first), digests and a hint of peer keys.
#[derive(Debug, Clone, PartialEq)]
pub struct TasteMessage {
    /// Signed profiles; the first is the sender's own.
    pub profiles: Vec<SignedProfile>,
    /// Signed digests of other peers' profiles.
    pub digests: Vec<SignedDigest>,
    /// Peers the sender suggests as future partners.
    pub hint: Vec<Key>,
}

impl TasteMessage {
    /// The canonical encoding: `"BTM"`, version, profile count (u16), each profile as a
    /// length-prefixed (u32) byte string plus its 64-byte signature and its digest's 64-byte
    /// signature, digest count (u16), each digest as a length-prefixed byte string plus its
    /// 64-byte signature, hint count (u16), 32-byte keys. Its length is what
    /// [`busker_recommender::message_len`] counts.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(4096);
        w.raw(MAGIC);
        w.u8(MESSAGE_VERSION);
        w.u16(self.profiles.len() as u16);
        for p in &self.profiles {
            w.bytes(&p.bytes);
            w.raw(&p.signature);
            w.raw(&p.digest.signature);
        }
        w.u16(self.digests.len() as u16);
        for d in &self.digests {
            w.bytes(&d.bytes);
            w.raw(&d.signature);
        }
        w.u16(self.hint.len() as u16);
        for k in &self.hint {
            w.raw(&k.0);
        }
        w.into_bytes()
    }

    /// Decodes a message and verifies every profile in it. `sender`, when given, must be the
    /// owner of the first profile. Rejects the whole message on the first fault.
    pub fn decode(bytes: &[u8], sender: Option<&Key>) -> Result<Self> {
        if bytes.len() > MAX_TASTE_BYTES {
            return Err(Error::Taste(format!(
                "message of {} bytes is over the {MAX_TASTE_BYTES}-byte limit",
                bytes.len()
            )));
        }
        let mut r = Reader::new(bytes);
        if &r.array::<3>("magic")? != MAGIC {
            return Err(DecodeError::Invalid("taste message magic").into());
        }
        let version = r.u8("version")?;
        if version != MESSAGE_VERSION {
            return Err(Error::Taste(format!(
                "taste message version {version} is not supported (this peer speaks \
                 version {MESSAGE_VERSION})"
            )));
        }
        let n = r.u16("profile count")? as usize;
        if n == 0 || n > MAX_MESSAGE_PROFILES {
            return Err(Error::Taste(format!(
                "{n} profiles in one message (1 to {MAX_MESSAGE_PROFILES})"
            )));
        }
        let mut profiles = Vec::with_capacity(n);
        for _ in 0..n {
            let body = r.bytes("profile", MAX_PROFILE_BYTES)?;
            let signature = r.array("signature")?;
            let digest_signature = r.array("digest signature")?;
            profiles.push(SignedProfile::verify(body, signature, digest_signature)?);
        }
        let d = r.u16("digest count")? as usize;
        if d > MAX_MESSAGE_DIGESTS {
            return Err(Error::Taste(format!(
                "{d} digests in one message (at most {MAX_MESSAGE_DIGESTS})"
            )));
        }
        let mut digests = Vec::with_capacity(d);
        for _ in 0..d {
            let body = r
                .bytes("digest", MAX_DIGEST_BYTES)
                .map_err(|e| Error::Taste(format!("malformed digest: {e}")))?;
            let signature = r.array("digest signature")?;
            digests.push(SignedDigest::verify(body, signature)?);
        }
        let h = r.u16("hint count")? as usize;
        if h > MAX_HINT {
            return Err(Error::Taste(format!(
                "{h} hinted peers (at most {MAX_HINT})"
            )));
        }
        let mut hint = Vec::with_capacity(h);
        for _ in 0..h {
            hint.push(Key(r.array("peer key")?));
        }
        r.finish()?;
        if let Some(sender) = sender
            && profiles[0].profile.peer != *sender
        {
            return Err(Error::Taste(
                "the first profile is not the sender's own".into(),
            ));
        }
        let mut peers: Vec<Key> = profiles
            .iter()
            .map(|p| p.profile.peer)
            .chain(digests.iter().map(|d| d.digest.peer))
            .collect();
        peers.sort_unstable();
        if peers.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::Taste(
                "a peer's profile or digest is in the message twice".into(),
            ));
        }
        Ok(Self {
            profiles,
            digests,
            hint,
        })
    }
}

/// The taste key of a libp2p peer (its ed25519 public key), if it has one.
pub fn peer_key(peer: &PeerId) -> Option<Key> {
    let public = libp2p::identity::PublicKey::try_decode_protobuf(peer.as_ref().digest()).ok()?;
    Some(Key(public.try_into_ed25519().ok()?.to_bytes()))
}

/// The libp2p peer id of a taste key.
pub fn key_peer(key: &Key) -> Option<PeerId> {
    let public = libp2p::identity::ed25519::PublicKey::try_from_bytes(&key.0).ok()?;
    Some(libp2p::identity::PublicKey::from(public).to_peer_id())
}

//! Links people pass around: an invite to a peer, a release, an artist, a playlist.
//!
//! - `busker://join/<payload>`: an [`Invite`], a peer's key, the addresses it can be reached at
//!   and an expiry, signed by the peer's own network key. Whoever holds the link can check that
//!   the peer itself made it, and until when; a changed address or expiry breaks the signature.
//! - `busker://track/<payload>`: a [`TrackLink`], a release id and a few [`PeerHint`]s (peers
//!   that hold it, with their addresses). A checksum catches a link cut short or mistyped. The
//!   hints only say where to ask: what comes back is taken only if its signed manifest hashes to
//!   the id, so the link's text never decides what plays.
//! - `busker://artist/<64 hex digits>`: an artist key; its releases and profile are signed by
//!   it.
//! - `busker://playlist/<payload>`: a [`PlaylistLink`], a playlist id and hints, as a track
//!   link; the playlist's record is signed by its owner and hashes to the id.
//!
//! Payloads are the canonical [`wire`](crate::wire) encoding in unpadded base64url, so a link
//! survives chat apps and URL bars. [`Link::parse`] checks everything a link can be checked for
//! without the network: length, encoding, limits, signature, checksum, expiry.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use data_encoding::BASE64URL_NOPAD;
use libp2p::identity::{Keypair, PublicKey, ed25519};
use libp2p::{Multiaddr, PeerId};

use crate::model::{ArtistKey, PlaylistId, TrackId};
use crate::wire::{DecodeError, Reader, Writer};

/// What every link starts with.
pub const SCHEME: &str = "busker://";
/// The longest link read, in characters.
pub const MAX_LINK: usize = 2048;
/// Addresses carried per peer.
pub const MAX_ADDRS: usize = 8;
/// Peers carried by a track link.
pub const MAX_HINTS: usize = 3;
/// The longest address carried, in bytes.
const MAX_ADDR_BYTES: usize = 160;
/// How long an invite stays good unless its maker says otherwise.
pub const INVITE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

const VERSION: u8 = 1;
const INVITE_CONTEXT: &[u8] = b"busker invite v1\0";
const TRACK_CHECK_CONTEXT: &[u8] = b"busker track link v1\0";
const PLAYLIST_CHECK_CONTEXT: &[u8] = b"busker playlist link v1\0";
const CHECK_LEN: usize = 4;

/// Why a text is not a link that can be opened. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The text is not a `busker://` link.
    #[error("not a Busker link: it should start with busker://")]
    NotALink,
    /// A `busker://` link of a kind this version does not know.
    #[error(
        "this version cannot open busker://{0} links (it opens join, track, artist and playlist links)"
    )]
    UnknownKind(String),
    /// Longer than [`MAX_LINK`].
    #[error("this link is longer than {MAX_LINK} characters")]
    TooLong,
    /// Cut short, mistyped or otherwise broken.
    #[error("this link is damaged or cut short ({0}); copy it again")]
    Malformed(String),
    /// An invite whose signature does not match its content.
    #[error("this invite link was changed after it was made: its signature does not match")]
    Forged,
    /// An invite past its expiry.
    #[error("this invite link expired {0} ago; ask for a new one")]
    Expired(String),
}

impl From<DecodeError> for LinkError {
    fn from(e: DecodeError) -> Self {
        Self::Malformed(e.to_string())
    }
}

/// A peer and where to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerHint {
    /// The peer.
    pub peer: PeerId,
    /// Its addresses, without the trailing `/p2p/<peer>`.
    pub addrs: Vec<Multiaddr>,
    key: [u8; 32],
}

impl PeerHint {
    /// `key`'s peer at `addrs` (a trailing `/p2p/...` is dropped; at most [`MAX_ADDRS`] of
    /// them, longer ones skipped). `None` for a key that is not ed25519 (every Busker peer's is).
    pub fn new(key: &PublicKey, addrs: impl IntoIterator<Item = Multiaddr>) -> Option<Self> {
        let ed = key.clone().try_into_ed25519().ok()?;
        let addrs = addrs
            .into_iter()
            .map(without_peer)
            .filter(|a| a.to_vec().len() <= MAX_ADDR_BYTES)
            .take(MAX_ADDRS)
            .collect();
        Some(Self {
            peer: key.to_peer_id(),
            addrs,
            key: ed.to_bytes(),
        })
    }

    /// `peer` at `addrs`, when its id holds its ed25519 key (every Busker peer's does).
    pub fn from_peer_id(peer: PeerId, addrs: impl IntoIterator<Item = Multiaddr>) -> Option<Self> {
        let digest = peer.as_ref();
        if digest.code() != 0 {
            return None;
        }
        let key = PublicKey::try_decode_protobuf(digest.digest()).ok()?;
        Self::new(&key, addrs)
    }

    /// The addresses with `/p2p/<peer>` at the end, ready to dial.
    pub fn dial_addrs(&self) -> Vec<Multiaddr> {
        self.addrs
            .iter()
            .map(|a| a.clone().with(libp2p::multiaddr::Protocol::P2p(self.peer)))
            .collect()
    }

    fn encode(&self, w: &mut Writer) {
        w.raw(&self.key);
        let addrs: Vec<Vec<u8>> = self.addrs.iter().map(Multiaddr::to_vec).collect();
        w.byte_list(&addrs);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, LinkError> {
        let key: [u8; 32] = r.array("peer key")?;
        let public = ed25519::PublicKey::try_from_bytes(&key)
            .map_err(|_| LinkError::Malformed("a peer key is not an ed25519 key".into()))?;
        let mut addrs = Vec::new();
        for bytes in r.byte_list("addresses", MAX_ADDRS, MAX_ADDR_BYTES)? {
            let addr = Multiaddr::try_from(bytes)
                .map_err(|e| LinkError::Malformed(format!("an address does not read: {e}")))?;
            addrs.push(addr);
        }
        Ok(Self {
            peer: PublicKey::from(public).to_peer_id(),
            addrs,
            key,
        })
    }

    fn public_key(&self) -> Option<PublicKey> {
        ed25519::PublicKey::try_from_bytes(&self.key)
            .ok()
            .map(PublicKey::from)
    }
}

fn without_peer(mut addr: Multiaddr) -> Multiaddr {
    if matches!(
        addr.iter().last(),
        Some(libp2p::multiaddr::Protocol::P2p(_))
    ) {
        addr.pop();
    }
    addr
}

/// An invite to connect to a peer, signed by that peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// The peer that made it and where it said it can be reached.
    pub peer: PeerHint,
    /// Seconds since the Unix epoch after which it is refused.
    pub expires: u64,
    signature: Vec<u8>,
}

impl Invite {
    /// An invite to the peer of `key` at `addrs`, good until `expires`.
    pub fn sign(
        key: &Keypair,
        addrs: impl IntoIterator<Item = Multiaddr>,
        expires: SystemTime,
    ) -> crate::Result<Self> {
        let peer = PeerHint::new(&key.public(), addrs)
            .ok_or_else(|| crate::Error::Network("the peer key is not an ed25519 key".into()))?;
        let expires = expires
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let signature = key
            .sign(&Self::signed_bytes(&peer, expires))
            .map_err(|e| crate::Error::Network(format!("signing an invite: {e}")))?;
        Ok(Self {
            peer,
            expires,
            signature,
        })
    }

    fn signed_bytes(peer: &PeerHint, expires: u64) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(INVITE_CONTEXT);
        w.u8(VERSION);
        peer.encode(&mut w);
        w.u64(expires);
        w.into_bytes()
    }

    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(VERSION);
        self.peer.encode(&mut w);
        w.u64(self.expires);
        w.bytes(&self.signature);
        w.into_bytes()
    }

    fn decode(bytes: &[u8], now: SystemTime) -> Result<Self, LinkError> {
        let mut r = Reader::new(bytes);
        version(&mut r)?;
        let peer = PeerHint::decode(&mut r)?;
        let expires = r.u64("expiry")?;
        let signature = r.bytes("signature", 64)?.to_vec();
        r.finish()?;
        let key = peer.public_key().ok_or(LinkError::Forged)?;
        if !key.verify(&Self::signed_bytes(&peer, expires), &signature) {
            return Err(LinkError::Forged);
        }
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if now > expires {
            return Err(LinkError::Expired(ago(now - expires)));
        }
        Ok(Self {
            peer,
            expires,
            signature,
        })
    }
}

fn ago(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} seconds"),
        s if s < 2 * 3600 => format!("{} minutes", s / 60),
        s if s < 2 * 86400 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86400),
    }
}

fn version(r: &mut Reader<'_>) -> Result<(), LinkError> {
    match r.u8("version")? {
        VERSION => Ok(()),
        found => Err(DecodeError::UnsupportedVersion {
            what: "link",
            found,
            supported: VERSION,
        }
        .into()),
    }
}

/// A release and a few peers to ask for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackLink {
    /// The release.
    pub id: TrackId,
    /// Peers that hold it (or its manifest), at most [`MAX_HINTS`].
    pub hints: Vec<PeerHint>,
}

impl TrackLink {
    fn encode(&self) -> Vec<u8> {
        encode_hinted(self.id.as_bytes(), &self.hints, TRACK_CHECK_CONTEXT)
    }

    fn decode(bytes: &[u8]) -> Result<Self, LinkError> {
        let (id, hints) = decode_hinted(bytes, TRACK_CHECK_CONTEXT, "track id")?;
        Ok(Self {
            id: TrackId(id),
            hints,
        })
    }
}

/// A playlist and a few peers to ask for its signed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaylistLink {
    /// The playlist.
    pub id: PlaylistId,
    /// Peers that hold its record, at most [`MAX_HINTS`].
    pub hints: Vec<PeerHint>,
}

impl PlaylistLink {
    fn encode(&self) -> Vec<u8> {
        encode_hinted(self.id.as_bytes(), &self.hints, PLAYLIST_CHECK_CONTEXT)
    }

    fn decode(bytes: &[u8]) -> Result<Self, LinkError> {
        let (id, hints) = decode_hinted(bytes, PLAYLIST_CHECK_CONTEXT, "playlist id")?;
        Ok(Self {
            id: PlaylistId(id),
            hints,
        })
    }
}

/// The payload of a track or playlist link: version, id, hints, then a checksum under
/// `context` (which also keeps one kind's payload from reading as the other's).
fn encode_hinted(id: &[u8; 32], hints: &[PeerHint], context: &[u8]) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(VERSION);
    w.raw(id);
    w.u8(hints.len().min(MAX_HINTS) as u8);
    for hint in hints.iter().take(MAX_HINTS) {
        hint.encode(&mut w);
    }
    let check = link_check(w.as_slice(), context);
    w.raw(&check);
    w.into_bytes()
}

fn decode_hinted(
    bytes: &[u8],
    context: &[u8],
    what: &'static str,
) -> Result<([u8; 32], Vec<PeerHint>), LinkError> {
    let body_len = bytes
        .len()
        .checked_sub(CHECK_LEN)
        .ok_or_else(|| LinkError::Malformed("too short".into()))?;
    let (body, check) = bytes.split_at(body_len);
    if link_check(body, context) != check {
        return Err(LinkError::Malformed("its checksum does not match".into()));
    }
    let mut r = Reader::new(body);
    version(&mut r)?;
    let id = r.array(what)?;
    let n = usize::from(r.u8("hint count")?);
    if n > MAX_HINTS {
        return Err(DecodeError::TooLarge {
            what: "hints",
            len: n,
            max: MAX_HINTS,
        }
        .into());
    }
    let hints = (0..n)
        .map(|_| PeerHint::decode(&mut r))
        .collect::<Result<_, _>>()?;
    r.finish()?;
    Ok((id, hints))
}

fn link_check(body: &[u8], context: &[u8]) -> [u8; CHECK_LEN] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(context);
    hasher.update(body);
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..CHECK_LEN]);
    out
}

/// A link, checked as far as it can be without the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// `busker://join/...`
    Join(Invite),
    /// `busker://track/...`
    Track(TrackLink),
    /// `busker://artist/KEY`
    Artist(ArtistKey),
    /// `busker://playlist/...`
    Playlist(PlaylistLink),
}

impl Link {
    /// Reads `text` (surrounding white space ignored), refusing an expired invite.
    pub fn parse(text: &str) -> Result<Self, LinkError> {
        Self::parse_at(text, SystemTime::now())
    }

    /// [`Link::parse`] with `now` as the time an invite's expiry is compared with.
    pub fn parse_at(text: &str, now: SystemTime) -> Result<Self, LinkError> {
        let text = text.trim();
        if text.len() > MAX_LINK {
            return Err(LinkError::TooLong);
        }
        let rest = text
            .get(..SCHEME.len())
            .filter(|s| s.eq_ignore_ascii_case(SCHEME))
            .map(|_| &text[SCHEME.len()..])
            .ok_or(LinkError::NotALink)?;
        let (kind, payload) = rest.split_once('/').unwrap_or((rest, ""));
        let payload = payload.trim_end_matches('/');
        let bytes = || {
            BASE64URL_NOPAD
                .decode(payload.as_bytes())
                .map_err(|e| LinkError::Malformed(format!("not base64url: {e}")))
        };
        match kind.to_ascii_lowercase().as_str() {
            "join" => Ok(Self::Join(Invite::decode(&bytes()?, now)?)),
            "track" => Ok(Self::Track(TrackLink::decode(&bytes()?)?)),
            "playlist" => Ok(Self::Playlist(PlaylistLink::decode(&bytes()?)?)),
            "artist" => ArtistKey::from_str(payload)
                .map(Self::Artist)
                .map_err(|_| LinkError::Malformed("an artist key is 64 hex digits".into())),
            other => Err(LinkError::UnknownKind(other.chars().take(32).collect())),
        }
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Join(invite) => {
                let payload = BASE64URL_NOPAD.encode(&invite.encode());
                write!(f, "{SCHEME}join/{payload}")
            }
            Self::Track(link) => {
                let payload = BASE64URL_NOPAD.encode(&link.encode());
                write!(f, "{SCHEME}track/{payload}")
            }
            Self::Artist(key) => write!(f, "{SCHEME}artist/{}", key.to_hex()),
            Self::Playlist(link) => {
                let payload = BASE64URL_NOPAD.encode(&link.encode());
                write!(f, "{SCHEME}playlist/{payload}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> Vec<Multiaddr> {
        vec![
            "/ip4/127.0.0.1/tcp/4001".parse().unwrap(),
            "/ip4/127.0.0.1/udp/4001/quic-v1".parse().unwrap(),
        ]
    }

    fn invite_text(key: &Keypair, expires: SystemTime) -> String {
        Link::Join(Invite::sign(key, addrs(), expires).unwrap()).to_string()
    }

    #[test]
    fn an_invite_reads_back_with_its_peer_addresses_and_expiry() {
        let key = Keypair::generate_ed25519();
        let expires = SystemTime::now() + INVITE_LIFETIME;
        let text = invite_text(&key, expires);
        assert!(text.starts_with("busker://join/"), "{text}");
        assert!(
            text.len() < 300,
            "an invite fits a QR code: {} chars",
            text.len()
        );
        let Link::Join(invite) = Link::parse(&format!("  {text}\n")).unwrap() else {
            panic!("not an invite");
        };
        assert_eq!(invite.peer.peer, key.public().to_peer_id());
        assert_eq!(invite.peer.addrs, addrs());
        assert!(
            invite.peer.dial_addrs()[0]
                .to_string()
                .ends_with(&key.public().to_peer_id().to_string())
        );
    }

    #[test]
    fn an_expired_invite_is_refused_with_how_long_ago() {
        let key = Keypair::generate_ed25519();
        let made = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let text = invite_text(&key, made + Duration::from_secs(3600));
        assert!(Link::parse_at(&text, made).is_ok());
        let later = made + Duration::from_secs(3 * 3600);
        assert_eq!(
            Link::parse_at(&text, later),
            Err(LinkError::Expired("2 hours".into()))
        );
    }

    #[test]
    fn an_invite_changed_anywhere_is_refused_and_never_panics() {
        let key = Keypair::generate_ed25519();
        let text = invite_text(&key, SystemTime::now() + INVITE_LIFETIME);
        let payload = BASE64URL_NOPAD
            .decode(text.trim_start_matches("busker://join/").as_bytes())
            .unwrap();
        let mut forged = 0;
        for i in 0..payload.len() {
            let mut bytes = payload.clone();
            bytes[i] ^= 0x01;
            let changed = format!("busker://join/{}", BASE64URL_NOPAD.encode(&bytes));
            match Link::parse(&changed) {
                Err(LinkError::Forged) => forged += 1,
                Err(LinkError::Malformed(_)) => {}
                other => panic!("byte {i} changed was accepted: {other:?}"),
            }
        }
        // Most single-bit changes land in the key, the addresses, the expiry or the signature
        // and read fine: only the signature catches them.
        assert!(forged > payload.len() / 2, "{forged} of {}", payload.len());
        for cut in 1..text.len() - "busker://join/".len() {
            assert!(Link::parse(&text[..text.len() - cut]).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn an_invite_signed_by_another_key_is_forged() {
        let real = Keypair::generate_ed25519();
        let other = Keypair::generate_ed25519();
        let expires = SystemTime::now() + INVITE_LIFETIME;
        let mut invite = Invite::sign(&other, addrs(), expires).unwrap();
        // The other key's signature over a claim to be the real peer.
        invite.peer = PeerHint::new(&real.public(), addrs()).unwrap();
        assert_eq!(
            Link::parse(&Link::Join(invite).to_string()),
            Err(LinkError::Forged)
        );
    }

    #[test]
    fn a_track_link_reads_back_and_a_typo_is_caught() {
        let key = Keypair::generate_ed25519();
        let link = TrackLink {
            id: TrackId([7; 32]),
            hints: vec![PeerHint::new(&key.public(), addrs()).unwrap()],
        };
        let text = Link::Track(link.clone()).to_string();
        assert_eq!(Link::parse(&text), Ok(Link::Track(link)));
        let mut typo = text.clone().into_bytes();
        let at = typo.len() - 10;
        typo[at] = if typo[at] == b'A' { b'B' } else { b'A' };
        let typo = String::from_utf8(typo).unwrap();
        assert!(matches!(Link::parse(&typo), Err(LinkError::Malformed(_))));
        assert!(matches!(
            Link::parse(&text[..text.len() - 3]),
            Err(LinkError::Malformed(_))
        ));
    }

    #[test]
    fn a_playlist_link_reads_back_and_is_never_taken_for_a_track_link() {
        let key = Keypair::generate_ed25519();
        let link = PlaylistLink {
            id: PlaylistId([5; 32]),
            hints: vec![PeerHint::new(&key.public(), addrs()).unwrap()],
        };
        let text = Link::Playlist(link.clone()).to_string();
        assert!(text.starts_with("busker://playlist/"), "{text}");
        assert_eq!(Link::parse(&text), Ok(Link::Playlist(link)));
        let as_track = text.replacen("playlist", "track", 1);
        assert!(matches!(
            Link::parse(&as_track),
            Err(LinkError::Malformed(_))
        ));
    }

    #[test]
    fn other_texts_get_a_clear_error() {
        let key = ArtistKey([9; 32]);
        assert_eq!(
            Link::parse(&format!("busker://artist/{key}")),
            Ok(Link::Artist(key))
        );
        assert_eq!(Link::parse("https://example.org"), Err(LinkError::NotALink));
        assert_eq!(Link::parse(""), Err(LinkError::NotALink));
        assert_eq!(
            Link::parse("busker://album/abc"),
            Err(LinkError::UnknownKind("album".into()))
        );
        assert!(matches!(
            Link::parse("busker://playlist/abc"),
            Err(LinkError::Malformed(_))
        ));
        assert!(matches!(
            Link::parse("busker://artist/12ab"),
            Err(LinkError::Malformed(_))
        ));
        assert!(matches!(
            Link::parse("busker://track/!!!"),
            Err(LinkError::Malformed(_))
        ));
        assert_eq!(
            Link::parse(&format!("busker://track/{}", "A".repeat(MAX_LINK))),
            Err(LinkError::TooLong)
        );
    }
}

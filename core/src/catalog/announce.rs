//! Release announcements on the gossip topic [`RELEASES_TOPIC`]: a version byte, then the
//! signed manifest. The topic is strict (see [`net::Topic::strict`]): every peer verifies an
//! announcement (size, version, `Manifest::decode`: signature, id, limits) before it is
//! delivered or forwarded, and a peer that forwards forged ones is scored down, struck and
//! banned.

use std::sync::Arc;
use std::time::Instant;

use libp2p::PeerId;

use crate::error::Result;
use crate::model::{ArtistKey, MAX_MANIFEST_BYTES, Manifest};
use crate::net::{self, Client, Validation};
use crate::release::{self, AnnounceRate, Refusal};
use crate::wire::DecodeError;

/// The gossipsub topic release announcements travel on.
pub const RELEASES_TOPIC: &str = "busker/releases/2";
/// Version byte of a release announcement on the gossip topic.
pub const ANNOUNCE_VERSION: u8 = 1;
/// Largest announcement: a version byte and the largest manifest.
pub const MAX_ANNOUNCE_BYTES: usize = MAX_MANIFEST_BYTES + 1;

/// Encodes a release announcement: the version byte, then the signed manifest.
pub fn encode_announcement(manifest: &Manifest) -> Vec<u8> {
    let mut out = Vec::with_capacity(manifest.encoded().len() + 1);
    out.push(ANNOUNCE_VERSION);
    out.extend_from_slice(manifest.encoded());
    out
}

/// Decodes and verifies a release announcement (size, version, manifest signature and limits).
pub fn decode_announcement(bytes: &[u8]) -> Result<Manifest, DecodeError> {
    if bytes.len() > MAX_ANNOUNCE_BYTES {
        return Err(DecodeError::TooLarge {
            what: "announcement",
            len: bytes.len(),
            max: MAX_ANNOUNCE_BYTES,
        });
    }
    match bytes.split_first() {
        None => Err(DecodeError::Truncated("announcement")),
        Some((&ANNOUNCE_VERSION, rest)) => Manifest::decode(rest),
        Some((&found, _)) => Err(DecodeError::UnsupportedVersion {
            what: "announcement",
            found,
            supported: ANNOUNCE_VERSION,
        }),
    }
}

/// The release topic with its validator, to register with [`net::Services::topic`]: an
/// announcement that does not decode and verify is rejected. See [`releases_topic_with`].
pub fn releases_topic() -> net::Topic {
    releases_topic_with(Arc::new(|_: &ArtistKey| false))
}

/// Whether an artist key is blocked on this peer.
pub type IsBlocked = Arc<dyn Fn(&ArtistKey) -> bool + Send + Sync>;

/// [`releases_topic`] on a peer that blocks some artist keys: their releases are neither
/// delivered here nor relayed (ignored, without a penalty for the peer that forwarded them).
/// Every key's announcements, and every originating peer's, are relayed at most at
/// [`AnnounceRate`]'s rate.
pub fn releases_topic_with(is_blocked: IsBlocked) -> net::Topic {
    let rate = AnnounceRate::default();
    let per_peer = AnnounceRate::<PeerId>::default();
    net::Topic {
        name: RELEASES_TOPIC.to_owned(),
        validator: Arc::new(move |data: &[u8], source: Option<&PeerId>| {
            let manifest = match decode_announcement(data) {
                Ok(m) => m,
                Err(e) => {
                    tracing::info!(error = %e, "rejected announcement");
                    return Validation::Reject;
                }
            };
            match release::admit(&manifest, release::unix_now()) {
                Ok(()) if is_blocked(&manifest.artist_key()) => Validation::Ignore,
                // Over the key's relay rate: not forwarded, no penalty (the forwarder may be
                // honest); the release can still come by catalog sync.
                Ok(()) if !rate.allow(&manifest.artist_key(), Instant::now()) => Validation::Ignore,
                // One peer with many keys gets no more than one key would.
                Ok(()) if source.is_some_and(|peer| !per_peer.allow(peer, Instant::now())) => {
                    Validation::Ignore
                }
                Ok(()) => Validation::Accept,
                // Clocks differ: an honest forwarder may be ahead of this one; no penalty.
                Err(why @ Refusal::Future { .. }) => {
                    tracing::info!(%why, "ignored announcement");
                    Validation::Ignore
                }
                // Nobody announces the demo library but somebody publishing as it.
                Err(why @ Refusal::DemoKey) => {
                    tracing::info!(%why, "rejected announcement");
                    Validation::Reject
                }
            }
        }),
        strict: true,
    }
}

/// Announces a release on the gossip topic. Returns `false` when no peer could take it yet
/// (anti-entropy will carry it when peers connect).
pub async fn announce(client: &Client, manifest: &Manifest) -> Result<bool> {
    let data = encode_announcement(manifest);
    client.publish(RELEASES_TOPIC.to_owned(), data).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ArtistKeypair;
    use crate::test_utils::signed_release;
    use proptest::prelude::*;

    fn manifest() -> Manifest {
        signed_release(&ArtistKeypair::generate(), &[7; 100_000], "Released", 0)
    }

    #[test]
    fn announcements_round_trip_and_forgeries_are_rejected() {
        let m = manifest();
        let data = encode_announcement(&m);
        assert_eq!(decode_announcement(&data).unwrap(), m);
        let validator = releases_topic().validator;
        assert_eq!(validator(&data, None), Validation::Accept);
        let mut forged = data.clone();
        let n = forged.len();
        forged[n - 70] ^= 0x55;
        assert_eq!(validator(&forged, None), Validation::Reject);
        assert!(decode_announcement(&[]).is_err());
        assert!(decode_announcement(&[2, 0, 0]).is_err());
        assert!(decode_announcement(&vec![1; MAX_ANNOUNCE_BYTES + 1]).is_err());
        assert!(releases_topic().strict);
    }

    #[test]
    fn future_releases_are_ignored_and_demo_key_releases_rejected() {
        let validator = releases_topic().validator;
        let dated = |key: &ArtistKeypair, published_at| {
            signed_release(key, &[9; 100_000], "Dated", published_at)
        };
        let now = release::unix_now();
        let honest = dated(&ArtistKeypair::generate(), now);
        assert_eq!(
            validator(&encode_announcement(&honest), None),
            Validation::Accept
        );
        let future = dated(&ArtistKeypair::generate(), now + 24 * 3600);
        assert_eq!(
            validator(&encode_announcement(&future), None),
            Validation::Ignore
        );
        let as_demo = dated(&crate::demo::artist_key(), now);
        assert_eq!(
            validator(&encode_announcement(&as_demo), None),
            Validation::Reject
        );
        // A blocked key's release is valid but not relayed.
        let blocked_key = ArtistKeypair::generate();
        let blocked = blocked_key.public();
        let validator = releases_topic_with(Arc::new(move |k: &ArtistKey| *k == blocked)).validator;
        let theirs = dated(&blocked_key, now);
        assert_eq!(
            validator(&encode_announcement(&theirs), None),
            Validation::Ignore
        );
        assert_eq!(
            validator(&encode_announcement(&honest), None),
            Validation::Accept
        );
    }

    #[test]
    fn one_keys_announcements_are_relayed_up_to_its_rate() {
        let validator = releases_topic().validator;
        let key = ArtistKeypair::generate();
        let now = release::unix_now();
        let answers: Vec<Validation> = (0..25u32)
            .map(|i| {
                let content = i.to_be_bytes().repeat(25_000);
                let m = signed_release(&key, &content, &format!("Flood {i}"), now);
                validator(&encode_announcement(&m), None)
            })
            .collect();
        let accepted = answers.iter().filter(|v| **v == Validation::Accept).count();
        assert_eq!(accepted, release::ANNOUNCE_BURST as usize, "{answers:?}");
        assert!(answers[accepted..].iter().all(|v| *v == Validation::Ignore));
        // Another key is not held up by the flood.
        assert_eq!(
            validator(&encode_announcement(&manifest()), None),
            Validation::Accept
        );
    }

    #[test]
    fn one_peers_announcements_are_relayed_up_to_its_rate_whatever_keys_it_signs_with() {
        let validator = releases_topic().validator;
        let (sybil, honest) = (PeerId::random(), PeerId::random());
        let now = release::unix_now();
        // One new key per release: the per-key rate alone would relay them all.
        let answers: Vec<Validation> = (0..25u32)
            .map(|i| {
                let key = ArtistKeypair::from_seed(*blake3::hash(&i.to_be_bytes()).as_bytes());
                let content = i.to_be_bytes().repeat(25_000);
                let m = signed_release(&key, &content, &format!("Sybil {i}"), now);
                validator(&encode_announcement(&m), Some(&sybil))
            })
            .collect();
        let accepted = answers.iter().filter(|v| **v == Validation::Accept).count();
        assert_eq!(accepted, release::ANNOUNCE_BURST as usize, "{answers:?}");
        assert_eq!(
            validator(&encode_announcement(&manifest()), Some(&honest)),
            Validation::Accept,
            "another peer is not held up"
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = decode_announcement(&bytes);
        }
    }
}

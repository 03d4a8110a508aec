use super::*;
use busker_recommender::{MAX_DIGEST_BYTES, ProfileDigest};

use crate::model::TrackId;
use crate::store::Listen;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    (dir, store)
}

fn track(n: u8) -> TrackId {
    TrackId([n; 32])
}

fn listen(store: &Store, id: TrackId, times: usize) {
    for i in 0..times {
        store
            .record_listen(&Listen {
                id,
                at_ms: 1_000 + i as u64,
                kind: ListenKind::Play,
            })
            .unwrap();
    }
}

/// A peer with a store, its taste and its libp2p identity.
struct P {
    _dir: tempfile::TempDir,
    store: Store,
    taste: Taste,
    peer: PeerId,
}

fn peer(seed: u8, liked: &[u8]) -> P {
    let (dir, store) = store();
    for &t in liked {
        listen(&store, track(t), 3);
    }
    let taste = Taste::open(store.clone(), [seed; 32]).unwrap();
    let peer = peer_id(seed);
    P {
        _dir: dir,
        store,
        taste,
        peer,
    }
}

#[test]
fn peer_keys_and_peer_ids_map_both_ways() {
    let p = peer(7, &[1]);
    assert_eq!(peer_key(&p.peer), Some(p.taste.me()));
    assert_eq!(key_peer(&p.taste.me()), Some(p.peer));
}

#[test]
fn own_profile_follows_history_and_ratings() {
    let p = peer(1, &[1, 2]);
    let own = p.taste.own();
    assert_eq!(own.items.len(), 2);
    let v = own.version;
    p.store.set_rating(&track(3), 5).unwrap();
    p.taste.refresh().unwrap();
    let own = p.taste.own();
    assert_eq!(own.items.len(), 3);
    assert!(own.version > v);
    // A one-star rating of an unplayed track is a dislike: not in the profile.
    p.store.set_rating(&track(4), 1).unwrap();
    p.taste.refresh().unwrap();
    assert_eq!(p.taste.own().items.len(), 3);
}

#[test]
fn an_exchange_recommends_what_close_neighbours_like() {
    let a = peer(1, &[1, 2, 3]);
    let b = peer(2, &[1, 2, 3, 4]);
    let c = peer(3, &[1, 2, 4, 5]);
    // A asks B and C; each answers with its own message.
    for other in [&b, &c] {
        let answer = other.taste.answer(&a.peer, &a.taste.message()).unwrap();
        let got = a.taste.receive(&other.peer, &answer).unwrap();
        assert!(got.kept >= 1);
    }
    assert_eq!(a.taste.neighbour_count(), 2);
    assert_eq!(b.taste.neighbour_count(), 1, "B learnt A's profile too");
    let recs = a.taste.recommend(10, &[], |_| false);
    let ids: Vec<TrackId> = recs.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![track(4)], "{recs:?}");
    assert_eq!(
        recs[0].reason,
        "liked by 2 peers whose taste is close to yours"
    );
    // Track 5 has one stranger's support only: the shilling defence holds it back.
    assert!(!ids.contains(&track(5)));
    assert!(
        !ids.contains(&track(1)),
        "known tracks are never recommended"
    );
}

#[test]
fn kept_profiles_survive_a_restart() {
    let (dir, store) = store();
    listen(&store, track(1), 2);
    let a = Taste::open(store.clone(), [1; 32]).unwrap();
    for seed in [2, 3] {
        let b = peer(seed, &[1, 9]);
        let answer = b.taste.answer(&peer_id(1), &a.message()).unwrap();
        a.receive(&b.peer, &answer).unwrap();
    }
    drop(a);
    let again = Taste::open(store, [1; 32]).unwrap();
    assert_eq!(again.neighbour_count(), 2);
    let recs = again.recommend(5, &[], |_| false);
    assert_eq!(recs[0].id, track(9));
    drop(dir);
}

fn peer_id(seed: u8) -> PeerId {
    crate::net::keypair_from_seed([seed; 32])
        .unwrap()
        .public()
        .to_peer_id()
}

#[test]
fn newcomers_get_new_releases() {
    let a = peer(1, &[]);
    let recs = a
        .taste
        .recommend(3, &[track(7), track(8)], |id| *id == track(8));
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].id, track(7));
    assert_eq!(recs[0].reason, "new release");
}

#[test]
fn hostile_messages_are_rejected_whole() {
    let a = peer(1, &[1, 2]);
    let b = peer(2, &[1, 2, 3]);
    let honest = b.taste.message();

    // Sent by someone else than the first profile's owner.
    let err = a.taste.receive(&peer_id(42), &honest).unwrap_err();
    assert!(err.to_string().contains("not the sender's own"), "{err}");

    // A flipped byte in the profile breaks its signature.
    let mut forged = honest.clone();
    let i = 3 + 1 + 2 + 4 + 40; // inside the first profile's items
    forged[i] ^= 0x01;
    assert!(matches!(
        a.taste.receive(&b.peer, &forged),
        Err(Error::Taste(_) | Error::TasteProfile(_) | Error::Decode(_))
    ));

    // A profile signed by another key than the one it names.
    let mut profile = b.taste.own();
    profile.version += 1;
    let wrong = SignedProfile::sign(profile, &ArtistKeypair::from_seed([9; 32]));
    let msg = TasteMessage {
        profiles: vec![wrong],
        digests: vec![],
        hint: vec![],
    }
    .encode();
    let err = a.taste.receive(&b.peer, &msg).unwrap_err();
    assert!(err.to_string().contains("signature"), "{err}");

    // Oversized, truncated, trailing bytes, too many hints.
    assert!(
        a.taste
            .receive(&b.peer, &vec![0; MAX_TASTE_BYTES + 1])
            .is_err()
    );
    assert!(
        a.taste
            .receive(&b.peer, &honest[..honest.len() - 1])
            .is_err()
    );
    let mut trailing = honest.clone();
    trailing.push(0);
    assert!(a.taste.receive(&b.peer, &trailing).is_err());
    let mut hints = TasteMessage::decode(&honest, None).unwrap();
    hints.hint = vec![Key([5; 32]); MAX_HINT + 1];
    assert!(a.taste.receive(&b.peer, &hints.encode()).is_err());

    // Nothing of any of it was kept.
    assert_eq!(a.taste.neighbour_count(), 0);
    assert!(a.store.profiles().unwrap().is_empty());
    // The honest message still works.
    assert_eq!(a.taste.receive(&b.peer, &honest).unwrap().kept, 1);
}

#[test]
fn answers_are_rate_limited() {
    let a = peer(1, &[1]);
    let b = peer(2, &[1, 2]);
    let msg = b.taste.message();
    let answered = (0..MAX_ANSWERS_PER_WINDOW + 5)
        .filter(|_| a.taste.answer(&b.peer, &msg).is_some())
        .count();
    assert_eq!(answered, MAX_ANSWERS_PER_WINDOW);
}

#[test]
fn random_bytes_never_panic() {
    use rand::Rng;
    let mut rng = StdRng::seed_from_u64(5);
    let b = peer(2, &[1, 2, 3]);
    let honest = b.taste.message();
    for _ in 0..2000 {
        let mut m = honest.clone();
        let i = rng.gen_range(0..m.len());
        m[i] = rng.r#gen();
        m.truncate(rng.gen_range(0..=m.len()));
        let _ = TasteMessage::decode(&m, None);
    }
}

/// `b`'s taste after it kept the profiles of `others` more peers who share its tracks, so that
/// its messages carry the closest in full and digests of the rest.
fn peer_with_neighbours(seed: u8, others: u8) -> P {
    let b = peer(seed, &[1, 2, 3]);
    for s in 0..others {
        let o = peer(100 + s, &[1, 2, 3, 10 + s, 40 + s]);
        b.taste.receive(&o.peer, &o.taste.message()).unwrap();
    }
    assert_eq!(b.taste.neighbour_count(), usize::from(others));
    b
}

#[test]
fn signed_digests_round_trip_and_survive_a_restart() {
    let b = peer_with_neighbours(2, 6);
    let bytes = b.taste.message();
    let msg = TasteMessage::decode(&bytes, Some(&b.taste.me())).unwrap();
    // The own profile and the 3 closest in full, digests of the other 3 kept profiles.
    assert_eq!((msg.profiles.len(), msg.digests.len()), (4, 3));
    assert_eq!(msg.encode(), bytes);
    assert!(bytes.len() <= busker_recommender::MAX_GOSSIP_BYTES);
    // The framing the rules count is the framing on the wire.
    let profiles: Vec<&TasteProfile> = msg.profiles.iter().map(|p| p.profile()).collect();
    let digest_len: usize = msg.digests.iter().map(|d| d.digest().encoded_len()).sum();
    let profiles_len: usize = profiles.iter().map(|p| p.encoded_len()).sum();
    assert_eq!(
        bytes.len(),
        busker_recommender::message_len(
            profiles.len(),
            profiles_len,
            msg.digests.len(),
            digest_len,
            msg.hint.len()
        )
    );
    {
        let state = b.taste.state();
        for d in &msg.digests {
            let kept = &state.signed[&d.digest().peer];
            assert_eq!(d.digest(), &ProfileDigest::of(kept.profile()));
            assert_eq!(d, kept.digest());
        }
    }

    // A receiver counts the digests in its stream but keeps only the full profiles.
    let a = peer(1, &[1, 2]);
    let got = a.taste.receive(&b.peer, &bytes).unwrap();
    assert_eq!((got.offered, got.digests, got.digests_counted), (4, 3, 3));
    assert_eq!(a.taste.neighbour_count(), 4);
    assert_eq!(a.taste.streamed_peers(), 7);
    assert_eq!(a.taste.digests_counted(), 3);
    // The same digests again are not counted twice.
    assert_eq!(a.taste.receive(&b.peer, &bytes).unwrap().digests_counted, 0);

    // The digest signatures were stored with the profiles: after a restart, B still forwards
    // the same signed digests.
    let P {
        _dir,
        store,
        taste,
        peer,
    } = b;
    drop(taste);
    let again = Taste::open(store, [2; 32]).unwrap();
    let msg2 = TasteMessage::decode(&again.message(), Some(&peer_key(&peer).unwrap())).unwrap();
    assert_eq!(msg2.digests.len(), 3);
    // The six neighbours tie on similarity, so which three go in full may differ after the
    // restart; all six still travel, each in full or as its owner-signed digest.
    let forwarded = |m: &TasteMessage| {
        let mut peers: Vec<Key> = m.profiles[1..]
            .iter()
            .map(|p| p.profile().peer)
            .chain(m.digests.iter().map(|d| d.digest().peer))
            .collect();
        peers.sort_unstable();
        peers
    };
    assert_eq!(forwarded(&msg), forwarded(&msg2));
}

#[test]
fn forged_malformed_or_oversized_digests_reject_the_whole_message() {
    let b = peer_with_neighbours(2, 5);
    let honest = TasteMessage::decode(&b.taste.message(), None).unwrap();
    assert_eq!(honest.digests.len(), 2);
    let a = peer(1, &[1, 2]);
    let with = |f: &dyn Fn(&mut TasteMessage)| {
        let mut m = honest.clone();
        f(&mut m);
        m.encode()
    };
    let owner = |d: &SignedDigest| {
        // The test peers' seeds are 100 + s; find the one that names this digest's key.
        (100..110u8)
            .map(|s| ArtistKeypair::from_seed([s; 32]))
            .find(|k| k.public().0 == d.digest().peer.0)
            .unwrap()
    };
    let reject = |bytes: &[u8], why: &str| {
        let err = a.taste.receive(&b.peer, bytes).unwrap_err();
        assert!(
            matches!(err, Error::Taste(_) | Error::TasteProfile(_)),
            "{why}: {err:?}"
        );
        assert!(err.to_string().contains(why), "{why}: {err}");
    };

    // A digest whose items were changed after signing.
    reject(
        &with(&|m| {
            let d = &mut m.digests[0];
            d.bytes[DIGEST_ITEMS + 8] ^= 0x01;
        }),
        "digest's signature",
    );
    // A digest signed by another key than the one it names (the forwarder's own).
    reject(
        &with(&|m| {
            let d = &mut m.digests[0];
            d.signature = ArtistKeypair::from_seed([2; 32]).sign(DIGEST_SIGNING_CONTEXT, &d.bytes);
        }),
        "digest's signature",
    );
    // A digest signature of a profile's digest signed under the profile context (no domain
    // crossing).
    reject(
        &with(&|m| {
            let d = &mut m.digests[0];
            d.signature = owner(d).sign(SIGNING_CONTEXT, &d.bytes);
        }),
        "digest's signature",
    );
    // A profile whose digest signature is wrong.
    reject(
        &with(&|m| m.profiles[1].digest.signature = m.profiles[2].digest.signature),
        "digest signature",
    );
    // Malformed though signed by its owner: items out of order, a zero weight, a wrong count.
    for break_it in [
        (|b: &mut Vec<u8>| {
            let (x, y) = (DIGEST_ITEMS, DIGEST_ITEMS + 9);
            for i in 0..9 {
                b.swap(x + i, y + i);
            }
        }) as fn(&mut Vec<u8>),
        |b| b[DIGEST_ITEMS + 8] = 0,
        |b| b[DIGEST_ITEMS - 1] ^= 0x01,
    ] {
        reject(
            &with(&|m| {
                let d = &mut m.digests[0];
                break_it(&mut d.bytes);
                d.signature = owner(d).sign(DIGEST_SIGNING_CONTEXT, &d.bytes);
            }),
            "digest",
        );
    }
    // Oversized: a digest body over MAX_DIGEST_BYTES.
    reject(
        &with(&|m| m.digests[0].bytes = vec![0; MAX_DIGEST_BYTES + 1]),
        "malformed digest",
    );
    // The same digest twice, or a digest of a peer whose profile is in the message.
    reject(&with(&|m| m.digests.push(m.digests[0].clone())), "twice");
    reject(
        &with(&|m| m.digests.push(m.profiles[1].digest.clone())),
        "twice",
    );
    // Too many digests.
    reject(
        &with(&|m| m.digests = vec![m.digests[0].clone(); MAX_MESSAGE_DIGESTS + 1]),
        "digests in one message",
    );
    // Truncated inside the digests, at every length.
    let bytes = honest.encode();
    let hint_len = 2 + 32 * honest.hint.len();
    let digests_start = bytes.len()
        - hint_len
        - honest
            .digests
            .iter()
            .map(|d| 4 + d.bytes.len() + 64)
            .sum::<usize>()
        - 2;
    for cut in digests_start..bytes.len() - hint_len {
        assert!(a.taste.receive(&b.peer, &bytes[..cut]).is_err(), "{cut}");
    }

    // A message of the previous version is refused, clearly.
    let mut old = bytes.clone();
    old[3] = 1;
    reject(&old, "version 1 is not supported");

    // Nothing of any of it was kept or counted.
    assert_eq!(a.taste.neighbour_count(), 0);
    assert_eq!(a.taste.streamed_peers(), 0);
    assert_eq!(a.taste.digests_counted(), 0);
    assert!(a.store.profiles().unwrap().is_empty());
    // The honest message still works.
    let got = a.taste.receive(&b.peer, &bytes).unwrap();
    assert_eq!((got.kept, got.digests_counted), (4, 2));
}

/// Where a digest's items start in its canonical bytes (after `"BTD"`, format, peer, version and
/// count).
const DIGEST_ITEMS: usize = 3 + 1 + 32 + 8 + 2;

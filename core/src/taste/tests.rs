use super::*;
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
        Err(Error::Taste(_) | Error::Decode(_))
    ));

    // A profile signed by another key than the one it names.
    let mut profile = b.taste.own();
    profile.version += 1;
    let wrong = SignedProfile::sign(profile, &ArtistKeypair::from_seed([9; 32]));
    let msg = TasteMessage {
        profiles: vec![wrong],
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

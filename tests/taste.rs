//! The live taste exchange: in-process peers on 127.0.0.1 swap signed taste profiles and
//! digests over libp2p and recommend from them.

use busker_core::ListenKind;
use busker_core::model::TrackId;
use busker_core::test_utils::wait_for;
use busker_core::{Listen, NodeEvent};

use crate::util::{NetPeer as Peer, STEP};

fn listen(peer: &Peer, id: TrackId, times: u64) {
    for at_ms in 0..times {
        peer.node
            .library()
            .store()
            .record_listen(&Listen {
                id,
                at_ms,
                kind: ListenKind::Play,
            })
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn neighbours_found_through_the_network_drive_recommendations() {
    let b = Peer::start().await;
    let c = Peer::start().await;
    let (t1, _) = b.publish_wav("First Light", 200_000, 1).await;
    let (t2, _) = b.publish_wav("Second Wind", 200_000, 2).await;
    let (t3, _) = c.publish_wav("Third Rail", 200_000, 3).await;
    // B and C share a taste: both play all three tracks (C learns B's tracks first).
    c.connect_to(&b).await;
    c.wait_to_know(t1).await;
    c.wait_to_know(t2).await;
    b.wait_to_know(t3).await;
    for p in [&b, &c] {
        for t in [t1, t2, t3] {
            listen(p, t, 3);
        }
    }

    // A newcomer who liked the first track meets both.
    let a = Peer::start().await;
    a.connect_to(&b).await;
    for t in [t1, t2, t3] {
        a.wait_to_know(t).await;
    }
    a.connect_to(&c).await;
    listen(&a, t1, 2);
    let mut events = a.node.subscribe();
    let recs = wait_for(STEP, "A to recommend from its neighbours", || {
        let node = a.node.clone();
        let (b_id, c_id) = (b.node.peer_id(), c.node.peer_id());
        async move {
            // Drive exchanges explicitly; the node also runs them on its own.
            let _ = node.exchange_taste(b_id).await;
            let _ = node.exchange_taste(c_id).await;
            let recs = node.recommend(10).await.ok()?;
            recs.iter()
                .any(|r| r.reason.contains("2 peers whose taste"))
                .then_some(recs)
        }
    })
    .await;
    let ids: Vec<TrackId> = recs.iter().map(|r| r.track.id).collect();
    assert!(ids.contains(&t2) && ids.contains(&t3), "{recs:?}");
    assert!(
        !ids.contains(&t1),
        "a track A already played is not recommended"
    );
    let r2 = recs.iter().find(|r| r.track.id == t2).unwrap();
    assert_eq!(r2.track.info.title, "Second Wind");
    assert_eq!(r2.reason, "liked by 2 peers whose taste is close to yours");
    assert!(r2.score > 0.0);
    assert_eq!(a.node.library().taste().neighbour_count(), 2);
    // The UI hears that the taste changed.
    let mut saw = false;
    while let Ok(e) = events.try_recv() {
        saw |= e == NodeEvent::TasteChanged;
    }
    assert!(saw, "a TasteChanged event was sent");

    // The neighbours' profiles were stored: a restart (no network needed) recommends the same.
    let own = a.node.library().taste().own();
    assert_eq!(own.items.len(), 1);
    for p in [&a, &b, &c] {
        p.node.shutdown().await;
    }
    let Peer { dir, node } = a;
    drop(node);
    let again = Peer::restart(dir, busker_core::NodeOptions::loopback()).await;
    let offline = again.node.library().recommend(10).unwrap();
    assert!(
        offline
            .iter()
            .any(|r| r.track.id == t2 && r.reason.contains("2 peers"))
    );
    again.node.shutdown().await;
}

/// A peer that is not on the network: its own store and taste, with its libp2p identity.
struct Offline {
    _dir: tempfile::TempDir,
    taste: busker_core::taste::Taste,
    peer: busker_core::net::PeerId,
}

fn offline(seed: u8, played: &[TrackId]) -> Offline {
    let dir = tempfile::tempdir().unwrap();
    let store = busker_core::Store::open(&dir.path().join("db")).unwrap();
    for &id in played {
        let kind = ListenKind::Play;
        store.record_listen(&Listen { id, at_ms: 1, kind }).unwrap();
    }
    let taste = busker_core::taste::Taste::open(store, [seed; 32]).unwrap();
    let peer = busker_core::net::keypair_from_seed([seed; 32])
        .unwrap()
        .public()
        .to_peer_id();
    Offline {
        _dir: dir,
        taste,
        peer,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_digests_travel_over_the_network() {
    let b = Peer::start().await;
    let a = Peer::start().await;
    // B played four tracks and keeps the profiles of six peers who played them too (fed to it
    // directly): its messages carry the three closest in full and digests of the other three.
    let tracks: Vec<TrackId> = (0..10u8).map(|i| TrackId([i + 1; 32])).collect();
    for &t in &tracks[..4] {
        listen(&b, t, 2);
    }
    b.node.library().taste().refresh().unwrap();
    for s in 0..6u8 {
        let o = offline(
            60 + s,
            &[tracks[0], tracks[1], tracks[2], tracks[4 + usize::from(s)]],
        );
        b.node
            .library()
            .taste()
            .receive(&o.peer, &o.taste.message())
            .unwrap();
    }
    assert_eq!(b.node.library().taste().neighbour_count(), 6);

    // A, who played one of them, exchanges with B over libp2p.
    listen(&a, tracks[0], 2);
    a.connect_to(&b).await;
    let b_id = b.node.peer_id();
    let taste = a.node.library().taste();
    wait_for(STEP, "A to count digests from B", || {
        let node = a.node.clone();
        async move {
            let _ = node.exchange_taste(b_id).await;
            (node.library().taste().digests_counted() >= 3).then_some(())
        }
    })
    .await;
    // B's own profile and its three closest are kept; the other three peers are only counted
    // in A's streamed statistics, through their owners' signed digests.
    assert_eq!(taste.neighbour_count(), 4);
    assert_eq!(taste.digests_counted(), 3);
    assert_eq!(taste.streamed_peers(), 7);
    // And B kept A's profile from the same exchanges.
    assert_eq!(b.node.library().taste().neighbour_count(), 7);
    for p in [&a, &b] {
        p.node.shutdown().await;
    }
}

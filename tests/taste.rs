//! The live taste exchange: in-process peers on 127.0.0.1 swap signed taste profiles over
//! libp2p and recommend from them.

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

use std::sync::Arc;

use super::*;
use crate::test_utils::{temp_library, write_wav};

#[tokio::test]
async fn an_offline_node_runs_the_library_flows_and_refuses_the_network() {
    let (dir, library) = temp_library();
    let node = Node::offline(Arc::new(library)).expect("an offline node");
    assert!(!node.is_online());

    // Publish, list, rate and read back: the library's flows, through the node.
    let file = write_wav(dir.path(), "offline.wav", 300_000, 7);
    let published = node
        .publish(vec![file.clone()], PublishOptions::default())
        .await
        .expect("publish offline");
    let id = match published.as_slice() {
        [Ok(m)] => m.id(),
        other => panic!("one published track expected, got {other:?}"),
    };
    let listed = node.list().await.expect("list offline");
    assert!(listed.iter().any(|t| t.id == id && t.local));
    node.library().rate(&id, 4).expect("rate offline");
    assert_eq!(node.library().store().rating(&id).expect("read"), Some(4));
    let bytes = node
        .read_track(id)
        .await
        .expect("a local track reads offline");
    assert_eq!(bytes, std::fs::read(&file).expect("the file"));

    // What needs a peer says the network is not running, and sends nothing anywhere.
    let addr: Multiaddr = "/ip4/127.0.0.1/tcp/9".parse().expect("an address");
    assert!(matches!(node.connect(addr).await, Err(Error::Offline)));
    assert!(matches!(node.peers().await, Err(Error::Offline)));
    node.shutdown().await;
}

mod live_sim;

/// A raw peer whose catalog protocol answers every search with `answer()`, and counts them.
async fn lying_peer(
    answer: impl Fn() -> Vec<u8> + Send + Sync + 'static,
    asked: Arc<std::sync::atomic::AtomicUsize>,
) -> (Client, mpsc::Receiver<NetEvent>) {
    use crate::catalog::protocol::{
        MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, PROTOCOL, Request as CatalogRequest,
        Response as CatalogResponse,
    };
    let protocol = net::Protocol::decoding(
        PROTOCOL,
        MAX_REQUEST_BYTES,
        MAX_RESPONSE_BYTES,
        CatalogResponse::Refused.encode(),
        CatalogRequest::decode,
        move |_, request| match request {
            CatalogRequest::Search { .. } => {
                asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                net::Reply::Answer(answer())
            }
            _ => net::Reply::Answer(CatalogResponse::Refused.encode()),
        },
    );
    let key = net::keypair_from_seed([0x5A; 32]).expect("a key");
    let services = net::Services::default().protocol(protocol);
    net::spawn(key, NetworkConfig::loopback(), services)
        .await
        .expect("a raw peer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peers_search_answers_are_verified_and_matched_here_and_malformed_ones_add_nothing() {
    use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

    use crate::catalog::protocol::{MAX_QUERY_BYTES, PROTOCOL, Request as CatalogRequest};
    use crate::model::ArtistKeypair;
    use crate::test_utils::{signed_release, start_node};

    let key = ArtistKeypair::from_seed([3; 32]);
    let matching = signed_release(&key, &[1; 3000], "Moonlight Sonata", 1_000);
    let unrelated = signed_release(&key, &[2; 3000], "Thunder Road", 1_000);
    let forged = {
        let real = signed_release(&key, &[3; 3000], "Moonlight Serenade", 1_000);
        let mut bytes = real.encoded().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        bytes
    };
    // 0: bytes that decode as nothing; 1: a forged, an unrelated and a matching manifest.
    let mode = Arc::new(AtomicU8::new(0));
    let asked = Arc::new(AtomicUsize::new(0));
    let answer = {
        let (mode, forged) = (mode.clone(), forged.clone());
        let list = vec![
            forged,
            unrelated.encoded().to_vec(),
            matching.encoded().to_vec(),
        ];
        move || match mode.load(Ordering::SeqCst) {
            0 => vec![0xFF; 40],
            _ => crate::catalog::protocol::Response::Manifests(list.clone()).encode(),
        }
    };
    let (raw, _events) = lying_peer(answer, asked.clone()).await;
    let (_dir, node) = start_node(NodeOptions::loopback()).await;
    let addr = raw.listen_addrs().await.expect("addresses")[0].clone();
    node.connect(addr).await.expect("connect");

    // Undecodable answers: asked (once the node saw the connection), nothing found.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while asked.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the peer was never asked"
        );
        let found = node.search_peers("moonlight", 5).await.expect("a search");
        assert!(found.is_empty(), "{found:?}");
        tokio::task::yield_now().await;
    }

    // A list: the forged one fails its signature, the unrelated one does not match the query
    // here; only the matching one comes back, marked remote, and only it is kept.
    mode.store(1, Ordering::SeqCst);
    let found = node
        .search_everywhere("moonlight", 5)
        .await
        .expect("a search");
    let ids: Vec<TrackId> = found.iter().map(|t| t.id).collect();
    assert_eq!(ids, vec![matching.id()]);
    assert!(found[0].remote && !found[0].local);
    let store = node.library().store();
    assert!(store.has_manifest(&matching.id()).unwrap());
    assert!(!store.has_manifest(&unrelated.id()).unwrap());
    // Asked again, it is found here: no longer remote.
    let again = node.search("moonlight", 5).await.expect("a search");
    assert_eq!(again.len(), 1);
    assert!(!again[0].remote);

    // A search request over the query limit gets no answer from the node.
    let oversized = CatalogRequest::Search {
        query: "a".repeat(MAX_QUERY_BYTES + 1),
        limit: 4,
    };
    let refused = raw
        .request(node.peer_id(), PROTOCOL, oversized.encode())
        .await;
    assert!(refused.is_err(), "{refused:?}");
    node.shutdown().await;
}

/// No thrash: a release evicted here is not fetched back by the next catalog sync with a peer
/// that holds it, while a new one is; asked for by id, it comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_sync_leaves_out_what_was_evicted_here_and_a_fetch_by_id_brings_it_back() {
    use crate::model::ArtistKeypair;
    use crate::test_utils::{signed_release, start_node};

    let (_dir_a, a) = start_node(NodeOptions::loopback()).await;
    let (_dir_b, b) = start_node(NodeOptions::loopback()).await;
    let key = ArtistKeypair::from_seed([4; 32]);
    let old = signed_release(&key, &[7; 2000], "Old Song", 1_000);
    let new = signed_release(&key, &[8; 2000], "New Song", 2_000);
    a.library().accept(vec![old.clone()]).expect("accept");
    b.library().accept(vec![old.clone()]).expect("accept");
    let evicted = b
        .library()
        .store()
        .evict(0, 10, |_| crate::store::Verdict::Evict)
        .expect("evict");
    assert_eq!(evicted.ids, vec![old.id()]);
    a.library().accept(vec![new.clone()]).expect("accept");

    b.connect(a.listen_addrs().await.expect("addrs")[0].clone())
        .await
        .expect("connect");
    // A sync of its own (the one on connection may run beside it): only the new release.
    b.sync_catalog(a.peer_id()).await.expect("sync");
    let store = b.library().store();
    assert!(store.has_manifest(&new.id()).expect("read"));
    assert!(!store.has_manifest(&old.id()).expect("read"));
    assert!(store.was_evicted(&old.id()).expect("read"));

    let found = b.find_manifest(old.id()).await.expect("asked for by id");
    assert_eq!(found.id(), old.id());
    assert!(store.has_manifest(&old.id()).expect("read"));
    assert!(!store.was_evicted(&old.id()).expect("read"));
    a.shutdown().await;
    b.shutdown().await;
}

//! Several in-process peers on 127.0.0.1 with real libp2p swarms: discovery, transfer,
//! misbehaving peers, churn and resume.

use std::sync::Arc;
use std::time::Duration;

use busker_core::NodeOptions;
use busker_core::catalog::{self, CatalogEntry};
use busker_core::model::{Manifest, TrackId};
use busker_core::net::{self, ConnectionTargets, NetworkConfig};
use busker_core::test_utils::wait_for;

use crate::util::{NetPeer as Peer, STEP, rate_limited};

async fn fetch_bytes(peer: &Peer, id: TrackId) -> (busker_core::transfer::FetchReport, Vec<u8>) {
    let report = tokio::time::timeout(STEP, peer.node.fetch_to(id, None))
        .await
        .expect("fetch in time")
        .expect("fetch succeeds");
    let bytes = peer.node.read_track(id).await.unwrap();
    (report, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn announced_track_reaches_peers_through_a_hub_and_outlives_its_publisher() {
    let a = Peer::start().await;
    let b = Peer::start().await;
    let c = Peer::start().await;
    b.connect_to(&a).await;
    c.connect_to(&a).await;
    // Let gossip subscriptions travel before publishing (announcements are not replayed; catalog
    // sync would still deliver them, but this test is about gossip).
    wait_for(STEP, "A to see both peers", || async {
        (a.node.peers().await.ok()?.len() == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (id, original) = a.publish_wav("Harbour Lights", 1_500_000, 1).await;
    b.wait_to_find("harbor lights", id).await;
    c.wait_to_find("harbour lights", id).await;
    let hit = &b.node.search("harbour", 10).await.unwrap()[0];
    assert!(!hit.local);
    assert_eq!(hit.providers, 1, "A is known to provide it");

    let (report_b, bytes_b) = fetch_bytes(&b, id).await;
    let (_, bytes_c) = fetch_bytes(&c, id).await;
    assert_eq!(bytes_b, original);
    assert_eq!(bytes_c, original);
    assert_eq!(report_b.bytes, original.len() as u64);
    assert!(b.node.library().store().is_local(&id).unwrap());

    // The publisher leaves; a newcomer meets only B and C and still gets the track.
    a.node.shutdown().await;
    let d = Peer::start().await;
    d.connect_to(&b).await;
    d.connect_to(&c).await;
    d.wait_to_know(id).await;
    wait_for(STEP, "D to learn that B and C hold the track", || async {
        let list = d.node.list().await.ok()?;
        (list.len() == 1 && list[0].providers == 2).then_some(())
    })
    .await;
    let (report_d, bytes_d) = fetch_bytes(&d, id).await;
    assert_eq!(bytes_d, original);
    assert!(report_d.peers_used >= 1);
    assert!(report_d.banned.is_empty());
    for p in [&b, &c, &d] {
        p.node.shutdown().await;
    }
}

/// A peer that claims to hold every track it knows, but flips a byte in every chunk it serves
/// and a byte in every manifest it hands out.
struct Liar {
    manifest: Manifest,
    bytes: Vec<u8>,
}

fn forge(manifest: &Manifest) -> Vec<u8> {
    let mut forged = manifest.encoded().to_vec();
    let n = forged.len();
    // Inside the signed body: the signature no longer verifies.
    forged[n - 70] ^= 0x55;
    forged
}

impl busker_core::transfer::protocol::Source for Liar {
    fn manifest(&self, _: &TrackId) -> Option<Vec<u8>> {
        Some(forge(&self.manifest))
    }

    fn chunks(&self, _: &TrackId, start: u32, count: u16, _: usize) -> Vec<Vec<u8>> {
        let size = self.manifest.chunk_size() as usize;
        (start as usize..start as usize + count as usize)
            .filter(|i| i * size < self.bytes.len())
            .map(|i| {
                let end = ((i + 1) * size).min(self.bytes.len());
                let mut chunk = self.bytes[i * size..end].to_vec();
                chunk[0] ^= 1;
                chunk
            })
            .collect()
    }
}

impl catalog::protocol::Source for Liar {
    fn catalog(&self, _: Option<TrackId>, _: usize) -> (Vec<CatalogEntry>, bool) {
        let entries = vec![CatalogEntry {
            id: self.manifest.id(),
            local: true,
        }];
        (entries, false)
    }

    fn manifest(&self, _: &TrackId) -> Option<Vec<u8>> {
        Some(forge(&self.manifest))
    }
}

fn releases() -> String {
    catalog::RELEASES_TOPIC.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tampered_chunks_and_forged_manifests_are_rejected_and_the_liar_banned() {
    let honest = Peer::start().await;
    let (id, original) = honest.publish_wav("Honest Song", 1_200_000, 2).await;
    let manifest = honest
        .node
        .library()
        .store()
        .manifest(&id)
        .unwrap()
        .unwrap();

    let liar_source = Arc::new(Liar {
        manifest: manifest.clone(),
        bytes: original.clone(),
    });
    let liar_services = net::Services::default()
        .protocol(busker_core::transfer::offer(liar_source.clone()))
        .protocol(catalog::offer(liar_source))
        .protocol(busker_core::taste::offer(|_, _| None))
        .topic(catalog::releases_topic())
        .max_message(catalog::MAX_ANNOUNCE_BYTES);
    let (liar, _liar_events) = net::spawn(
        net::Keypair::generate_ed25519(),
        NetworkConfig::loopback(),
        liar_services,
    )
    .await
    .unwrap();
    let liar_addr = liar.listen_addrs().await.unwrap().remove(0);

    let d = Peer::start().await;
    // The liar first, so that its catalog (and forged manifest) is seen before the honest one.
    d.node.connect(liar_addr).await.unwrap();
    d.connect_to(&honest).await;
    d.wait_to_know(id).await;
    // Forged announcements on gossip: a broken manifest and garbage.
    wait_for(STEP, "the liar to see D subscribed", || async {
        liar.publish(releases(), catalog::encode_announcement(&manifest))
            .await
            .ok()?
            .then_some(())
    })
    .await;
    let mut forged = vec![catalog::ANNOUNCE_VERSION];
    forged.extend(forge(&manifest));
    liar.publish(releases(), forged).await.unwrap();
    liar.publish(releases(), vec![1; 300_000]).await.unwrap();

    let (report, bytes) = fetch_bytes(&d, id).await;
    assert_eq!(
        bytes, original,
        "the download completed from the honest peer"
    );
    assert_eq!(
        report.banned,
        vec![liar.peer_id()],
        "the liar was penalised"
    );
    assert!(
        d.node
            .client()
            .banned()
            .await
            .unwrap()
            .contains(&liar.peer_id())
    );
    let peers = d.node.peers().await.unwrap();
    assert!(
        peers.iter().all(|(p, _)| *p != liar.peer_id()),
        "the liar was disconnected"
    );
    // Only the genuine manifest is stored; nothing forged was accepted.
    assert_eq!(
        d.node.library().store().manifest(&id).unwrap().unwrap(),
        manifest
    );
    assert_eq!(d.node.library().store().manifest_count(), 1);
    // A banned peer cannot come back.
    let again = liar.listen_addrs().await.unwrap().remove(0);
    assert!(d.node.connect(again).await.is_err());

    liar.shutdown().await;
    d.node.shutdown().await;
    honest.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seed_killed_mid_transfer_leaves_the_others_to_finish_it() {
    const RATE: u64 = 1_500_000;
    let a = Peer::start_with(rate_limited(RATE)).await;
    let b = Peer::start_with(rate_limited(RATE)).await;
    let c = Peer::start_with(rate_limited(RATE)).await;
    let (id, original) = a.publish_wav("Churn", 4_000_000, 3).await;
    b.connect_to(&a).await;
    c.connect_to(&a).await;
    b.wait_to_know(id).await;
    c.wait_to_know(id).await;
    fetch_bytes(&b, id).await;
    fetch_bytes(&c, id).await;

    let d = Peer::start().await;
    for seed in [&a, &b, &c] {
        d.connect_to(seed).await;
    }
    d.wait_to_know(id).await;
    wait_for(STEP, "D to know all three providers", || async {
        let list = d.node.list().await.ok()?;
        (list.first()?.providers == 3).then_some(())
    })
    .await;
    let transfer = d.node.fetch(id).await.unwrap();
    let total = transfer.progress().total;
    wait_for(STEP, "a fifth of the track", || async {
        (transfer.progress().have * 5 >= total).then_some(())
    })
    .await;
    assert!(
        transfer.progress().have < total,
        "the transfer is still running"
    );
    b.node.shutdown().await;

    let report = tokio::time::timeout(STEP, transfer.finished())
        .await
        .expect("finishes in time")
        .expect("finishes from A and C");
    assert_eq!(d.node.read_track(id).await.unwrap(), original);
    assert!(
        report.peers_used >= 2,
        "several seeds were used: {report:?}"
    );
    for p in [&a, &c, &d] {
        p.node.shutdown().await;
    }
}

/// The churn case in small: the only holder the downloader heard of is dead, and the live copy
/// is known only from its DHT provider record. A dead peer costs one failed dial, not three, and
/// the DHT is asked at once, so the download finishes well inside a short stall timeout (8 s,
/// against 5 s for one dial of a dead QUIC address).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_copy_known_only_from_the_dht_serves_a_download_whose_known_holder_is_dead() {
    let hub = Peer::start().await;
    let a = Peer::start().await;
    let b = Peer::start().await;
    let mut options = NodeOptions::loopback();
    options.transfer.stall_timeout = Duration::from_secs(8);
    let d = Peer::start_with(options).await;
    for p in [&a, &b, &d] {
        p.connect_to(&hub).await;
    }
    let (id, original) = a.publish_wav("Only In The DHT", 300_000, 57).await;
    b.connect_to(&a).await;
    b.wait_to_know(id).await;
    fetch_bytes(&b, id).await;
    hub.wait_to_store_provider(id, b.node.peer_id()).await;
    d.connect_to(&a).await;
    d.wait_to_know(id).await;
    a.node.shutdown().await;

    let report = tokio::time::timeout(STEP, d.node.fetch_to(id, None))
        .await
        .expect("the download ends in time")
        .expect("the download finishes from B");
    assert_eq!(report.peers_used, 1, "{report:?}");
    assert_eq!(d.node.read_track(id).await.unwrap(), original);
    for p in [&hub, &b, &d] {
        p.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_downloader_resumes_without_refetching_verified_chunks() {
    let a = Peer::start_with(rate_limited(1_000_000)).await;
    let (id, original) = a.publish_wav("Resume", 3_000_000, 4).await;

    let d = Peer::start().await;
    d.connect_to(&a).await;
    d.wait_to_know(id).await;
    let transfer = d.node.fetch(id).await.unwrap();
    let total = transfer.progress().total;
    wait_for(STEP, "a quarter of the track", || async {
        (transfer.progress().have * 4 >= total).then_some(())
    })
    .await;
    // "Kill" the downloader: stop its node and drop everything it had in memory.
    d.node.shutdown().await;
    let _ = transfer.finished().await;
    let Peer { dir, node } = d;
    drop(transfer);
    drop(node);

    let d = Peer::restart(dir, NodeOptions::loopback()).await;
    let store = d.node.library().store().clone();
    let manifest = store.manifest(&id).unwrap().expect("the manifest survived");
    let kept = (0..total)
        .filter(|&i| store.has_chunk(&manifest, i).unwrap())
        .count();
    assert!(
        kept > 0 && kept < total,
        "a partial download was kept: {kept}/{total}"
    );
    d.connect_to(&a).await;
    let (report, bytes) = fetch_bytes(&d, id).await;
    assert_eq!(bytes, original);
    assert_eq!(
        report.chunks_fetched,
        total - kept,
        "only the missing chunks were fetched"
    );
    d.node.shutdown().await;
    a.node.shutdown().await;
}

/// Prints the figures of `benches/benches/network.rs` (ignored: slow, and it measures rather than
/// checks). Run with `cargo test -p busker --test e2e figures -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore]
async fn figures() {
    // BUSKER_FIGURES=one|many|gossip runs one scenario only.
    crate::util::init_logs();
    let only = std::env::var("BUSKER_FIGURES").ok();
    let run = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if run("one") {
        crate::bench_network::one_to_one().await;
    }
    if run("many") {
        crate::bench_network::many_to_one().await;
    }
    if run("gossip") {
        crate::bench_network::gossip_reach().await;
    }
}

/// The scale harness (`benches/benches/scale.rs`) at 20 peers: over the memory transport,
/// every peer gets and verifies each release announced by another, and provider records put
/// before 30 % of the peers are killed are still found from the survivors, while each peer's
/// connection manager keeps it connected to far fewer than the 19 others. Its figures are the
/// bench's business; here only that the harness measures a working network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_harness_at_20_peers_reaches_everyone_and_finds_records_after_churn() {
    let settings = crate::bench_scale::Settings {
        peers: 20,
        seed: 7,
        dials: 3,
        settle_floor: Duration::ZERO,
        records: 10,
        lookups: 20,
        releases: 2,
        // Longer than the ping interval (15 s): the connections each peer keeps opened within
        // a second or two of each other, so their pings come in step and a shorter window can
        // fall between two rounds.
        window: Duration::from_secs(16),
        churn: 0.3,
        max_connections: NetworkConfig::loopback().max_connections,
        join_budget: Duration::from_secs(120),
        // Watermarks well under the 19 others, so that the connection manager prunes while
        // releases spread and lookups run.
        connections: ConnectionTargets {
            low: 6,
            high: 9,
            grace: Duration::from_secs(1),
        },
    };
    let report = crate::bench_scale::run(&settings).await;
    assert_eq!(report.peers, 20);
    assert!(report.reached_all, "{report:?}");
    assert!(report.reach99_ms.is_finite(), "{report:?}");
    assert_eq!(report.lookup_success_before, 1.0, "{report:?}");
    assert_eq!(report.lookup_success, 1.0, "{report:?}");
    assert!(report.bytes_per_peer_min > 0.0, "{report:?}");
    assert!(report.mean_degree < 15.0, "not pruned: {report:?}");
}

/// Sends raw bytes on a request-response protocol: the request is written verbatim, the answer read as
/// raw bytes (up to 8 MiB), so tests can speak the protocol wrongly on purpose.
#[derive(Clone, Default)]
struct RawCodec;

impl libp2p::request_response::Codec for RawCodec {
    type Protocol = libp2p::StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &Self::Protocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        use futures::AsyncReadExt;
        let mut buf = Vec::new();
        io.take(1 << 20).read_to_end(&mut buf).await?;
        Ok(buf)
    }

    async fn read_response<T>(&mut self, _: &Self::Protocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        use futures::AsyncReadExt;
        let mut buf = Vec::new();
        io.take(8 << 20).read_to_end(&mut buf).await?;
        Ok(buf)
    }

    async fn write_request<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        use futures::AsyncWriteExt;
        io.write_all(&req).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        use futures::AsyncWriteExt;
        io.write_all(&res).await?;
        io.close().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_and_oversized_transfer_requests_are_refused_and_the_node_keeps_serving() {
    use futures::StreamExt;
    use libp2p::request_response::{self, ProtocolSupport};
    use libp2p::swarm::SwarmEvent;

    let a = Peer::start().await;
    let (id, _) = a.publish_wav("Sturdy", 300_000, 5).await;
    let addr = a.addr().await;
    let a_id = a.node.peer_id();

    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::<RawCodec>::new(
                [(catalog::protocol::PROTOCOL, ProtocolSupport::Outbound)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
            )
        })
        .unwrap()
        .build();
    swarm.dial(addr).unwrap();

    let frame = |body: &[u8]| {
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    };
    let valid = frame(&catalog::protocol::Request::Catalog { after: None }.encode());
    let mut bad_version = catalog::protocol::Request::Catalog { after: None }.encode();
    bad_version[0] = 9;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "an oversized length prefix",
            u32::MAX.to_be_bytes().to_vec(),
        ),
        (
            "a frame just over the request limit",
            frame(&vec![1; catalog::protocol::MAX_REQUEST_BYTES + 1]),
        ),
        ("garbage", frame(&[0xde, 0xad, 0xbe, 0xef])),
        ("an unknown version", frame(&bad_version)),
        ("a truncated frame", valid[..valid.len() - 3].to_vec()),
        ("nothing", Vec::new()),
        ("a valid catalog request", valid.clone()),
    ];
    let mut pending = std::collections::HashMap::new();
    for (name, bytes) in &cases {
        let rid = swarm.behaviour_mut().send_request(&a_id, bytes.clone());
        pending.insert(rid, *name);
    }
    let mut answers = std::collections::HashMap::new();
    tokio::time::timeout(STEP, async {
        while answers.len() < cases.len() {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message:
                        request_response::Message::Response {
                            request_id,
                            response,
                        },
                    ..
                }) => {
                    // An empty answer is a stream the node closed without replying.
                    answers.insert(
                        pending[&request_id],
                        Some(response).filter(|r| !r.is_empty()),
                    );
                }
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    request_id,
                    ..
                }) => {
                    answers.insert(pending[&request_id], None);
                }
                _ => {}
            }
        }
    })
    .await
    .expect("every request is answered or fails in time");

    for (name, _) in &cases[..cases.len() - 1] {
        assert_eq!(answers[name], None, "{name} must not be answered");
    }
    // The node is still up and serving after all of it.
    let answer = answers["a valid catalog request"]
        .clone()
        .expect("answered");
    let body = &answer[4..];
    match catalog::protocol::Response::decode(body).unwrap() {
        catalog::protocol::Response::Catalog { entries, more } => {
            assert!(!more);
            assert_eq!(entries.len(), 1);
            assert_eq!(entries[0].id, id);
        }
        other => panic!("unexpected answer {other:?}"),
    }
    assert!(!a.node.client().is_stopped());
    a.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_gossip_missed_arrives_through_periodic_catalog_sync() {
    let a = Peer::start().await;
    let mut options = NodeOptions::loopback();
    options.resync_interval = Duration::from_millis(300);
    let b = Peer::start_with(options).await;
    b.connect_to(&a).await;
    // Published on A without any announcement: as if gossip had lost it, over a connection that
    // stays up (so no new-connection sync happens either).
    let wav = busker_core::test_utils::write_wav(a.dir.path(), "quiet.wav", 200_000, 6);
    let manifest = a
        .node
        .library()
        .publish_file(&wav, &busker_core::PublishOptions::default())
        .unwrap();
    b.wait_to_know(manifest.id()).await;
    assert_eq!(b.node.peers().await.unwrap().len(), 1);
    a.node.shutdown().await;
    b.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_chunk_under_the_playhead_comes_first() {
    let a = Peer::start_with(rate_limited(600_000)).await;
    let (id, original) = a.publish_wav("Seek", 3_000_000, 7).await;
    let d = Peer::start().await;
    d.connect_to(&a).await;
    d.wait_to_know(id).await;
    let transfer = d.node.fetch(id).await.unwrap();
    let total = transfer.progress().total;
    let target = total - 6;
    // What a player does when the user seeks near the end.
    tokio::time::timeout(STEP, transfer.wait_chunk(target))
        .await
        .expect("the playhead chunk arrives in time")
        .unwrap();
    let have = transfer.progress().have;
    assert!(
        have < total * 3 / 4,
        "chunk {target} arrived long before the end ({have}/{total} chunks here)"
    );
    transfer.finished().await.unwrap();
    assert_eq!(d.node.read_track(id).await.unwrap(), original);
    d.node.shutdown().await;
    a.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_player_chunk_provider_starts_the_download_at_the_playhead() {
    let a = Peer::start_with(rate_limited(600_000)).await;
    let (id, _) = a.publish_wav("Player", 2_000_000, 8).await;
    let d = Peer::start().await;
    d.connect_to(&a).await;
    d.wait_to_know(id).await;
    let manifest = d.node.library().store().manifest(&id).unwrap().unwrap();
    let last = manifest.chunks().len() - 1;
    let provider = d.node.chunk_provider();
    // The player calls this from its own (non-async) thread.
    let m = manifest.clone();
    std::thread::spawn(move || provider.need(&m, last))
        .join()
        .unwrap();
    let store = d.node.library().store().clone();
    wait_for(STEP, "the needed chunk", || {
        let store = store.clone();
        let manifest = manifest.clone();
        async move { store.has_chunk(&manifest, last).unwrap().then_some(()) }
    })
    .await;
    let transfer = d.node.running_transfer(&id);
    assert!(
        transfer.is_none_or(|t| t.progress().have < t.progress().total),
        "the needed chunk came before the rest"
    );
    d.node.shutdown().await;
    a.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_artists_signed_profile_is_found_in_the_dht_by_a_peer_that_missed_the_releases() {
    let a = Peer::start().await;
    let b = Peer::start().await;
    b.connect_to(&a).await;
    let (first, _) = a.publish_wav("Dawn", 200_000, 31).await;
    let (second, _) = a.publish_wav("Dusk", 200_000, 32).await;
    let artist = a.node.library().artist_key();

    // C meets only B, after the releases went out, and asks the DHT for A's profile.
    let c = Peer::start().await;
    c.connect_to(&b).await;
    let profile = wait_for(STEP, "A's profile in the DHT", || {
        let node = c.node.clone();
        async move {
            let p = node.artist(artist).await.ok()?;
            (p.releases.len() == 2).then_some(p)
        }
    })
    .await;
    assert_eq!(profile.key, artist);
    assert_eq!(profile.name, "Test Artist");
    assert!(profile.releases.contains(&first) && profile.releases.contains(&second));

    // A forged record under A's key (signed by someone else) is ignored.
    let mallory = busker_core::model::ArtistKeypair::from_seed([66; 32]);
    let mut forged =
        busker_core::artist::ArtistProfile::sign(&mallory, "Not Ada", u64::MAX, vec![]);
    forged.key = artist;
    c.node
        .client()
        .put_record(busker_core::artist::record_key(&artist), forged.encode())
        .await
        .unwrap();
    let again = c.node.artist(artist).await.unwrap();
    assert_eq!(again.name, "Test Artist");
    for p in [&a, &b, &c] {
        p.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_record_is_kept_by_the_peers_it_was_put_on() {
    let a = Peer::start().await;
    let b = Peer::start().await;
    b.connect_to(&a).await;
    let (id, _) = a.publish_wav("Left Behind", 100_000, 41).await;
    let provider = a.node.peer_id();
    b.wait_to_store_provider(id, provider).await;
    a.node.shutdown().await;

    // With A gone, only a stored copy can answer: C meets B alone and still finds A.
    let c = Peer::start().await;
    c.connect_to(&b).await;
    wait_for(STEP, "C to find A's record on B", || {
        let client = c.node.client();
        async move {
            client
                .providers(id.as_bytes())
                .await
                .ok()?
                .contains(&provider)
                .then_some(())
        }
    })
    .await;
    for p in [&b, &c] {
        p.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_connected_over_quic_alone_find_and_fetch_a_track() {
    // B listens on QUIC only and dials A's QUIC address: TCP plays no part.
    let a = Peer::start().await;
    let mut options = NodeOptions::loopback();
    options.network.listen = vec![net::loopback_quic_any_port()];
    let b = Peer::start_with(options).await;
    let addrs = a.node.listen_addrs().await.unwrap();
    let quic = addrs
        .into_iter()
        .find(net::is_quic)
        .expect("A listens on QUIC");
    b.node.connect(quic).await.unwrap();
    let (id, original) = a.publish_wav("Over UDP", 300_000, 51).await;
    b.wait_to_know(id).await;
    let (report, bytes) = fetch_bytes(&b, id).await;
    assert_eq!(bytes, original);
    assert_eq!(report.peers_used, 1);
    let peers = b.node.peers().await.unwrap();
    assert!(
        peers.iter().all(|(_, addr)| net::is_quic(addr)),
        "every connection is QUIC: {peers:?}"
    );
    for p in [&a, &b] {
        p.node.shutdown().await;
    }
}

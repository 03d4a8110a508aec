//! Faults on purpose (issue 8): churn among 50 in-process peers, a 10/10 partition that heals,
//! flooding peers, and a disk that fills up. Every scenario prints one `figures:` line with what
//! it injected and what it verified; `RELIABILITY.md` records the latest ones.
//!
//! Random choices come from a seeded RNG; the seed is printed, and `BUSKER_CHAOS_SEED=N` replays
//! a run.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use busker_core::model::TrackId;
use busker_core::net::{self, NetworkConfig, PeerId, PeerLimits};
use busker_core::test_utils::{self, wait_for};
use busker_core::{Error, Library, LibraryOptions, Node, NodeOptions, catalog, transfer};
use libp2p::futures::future::join_all;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::util::{NetPeer as Peer, rate_limited};

/// The seed of this run's random choices: `BUSKER_CHAOS_SEED`, or a fresh one. Printed so that a
/// failing run can be replayed.
pub fn chaos_seed(scenario: &str) -> u64 {
    let seed = std::env::var("BUSKER_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().r#gen());
    println!("{scenario}: seed {seed} (replay with BUSKER_CHAOS_SEED={seed})");
    seed
}

/// Generous: these scenarios run many peers on a shared machine.
const LONG: Duration = Duration::from_secs(90);

async fn start_peers(n: usize, options: &NodeOptions) -> Vec<Peer> {
    join_all((0..n).map(|_| Peer::start_with(options.clone()))).await
}

/// Whether `peer` knows every track of `ids`.
fn knows_all(peer: &Node, ids: &[TrackId]) -> bool {
    let store = peer.library().store();
    ids.iter().all(|id| store.has_manifest(id).unwrap_or(false))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn churn_kills_a_third_of_fifty_peers_and_every_reachable_download_finishes() {
    const PEERS: usize = 50;
    const TRACKS: usize = 20;
    const HOLDERS: usize = 3;
    const DOWNLOADERS: usize = 2;
    const KILLS: usize = PEERS * 3 / 10;
    const TRACK_BYTES: usize = 260_000;
    let seed = chaos_seed("churn");
    let mut rng = StdRng::seed_from_u64(seed);

    // Seeds serve slowly, so that downloads are still running when peers die. On a loaded
    // machine (this suite runs beside the others on two cores) a live seed's paced answers can
    // leave a download without a new chunk for longer than the default 30 s stall timeout; give
    // it 60 s, still short of `LONG`, so that a download with no live holder fails in time.
    let mut options = rate_limited(250_000);
    options.transfer.stall_timeout = Duration::from_secs(60);
    let started = Instant::now();
    let peers = start_peers(PEERS, &options).await;
    let mut addrs = Vec::new();
    for p in &peers {
        addrs.push(p.addr().await);
    }
    // A random mesh: every peer dials up to three earlier ones.
    for (i, peer) in peers.iter().enumerate().skip(1) {
        let mut earlier: Vec<usize> = (0..i).collect();
        earlier.shuffle(&mut rng);
        for &j in earlier.iter().take(3) {
            peer.node.connect(addrs[j].clone()).await.unwrap();
        }
    }

    // Twenty tracks, each published by one peer and copied by two more (three providers).
    let mut tracks = Vec::new();
    for t in 0..TRACKS {
        let holders: Vec<usize> = rand::seq::index::sample(&mut rng, PEERS, HOLDERS).into_vec();
        let (id, bytes) = peers[holders[0]]
            .publish_wav(&format!("Churn {t}"), TRACK_BYTES, 9000 + t as u32)
            .await;
        tracks.push((id, bytes, holders));
    }
    let peers_ref = &peers;
    let copies = tracks.iter().flat_map(|(id, _, holders)| {
        let peers = peers_ref;
        let publisher = &peers[holders[0]];
        holders[1..].iter().map(move |&h| async move {
            peers[h].connect_to(publisher).await;
            let report = tokio::time::timeout(LONG, peers[h].node.fetch_to(*id, None))
                .await
                .expect("a seed copy in time");
            report.expect("a seed copy");
        })
    });
    join_all(copies).await;
    let seeded_after = started.elapsed();

    // Two downloads per track, by peers that do not hold it; each knows where the providers are.
    let mut downloads = Vec::new();
    for (t, (id, _, holders)) in tracks.iter().enumerate() {
        let others: Vec<usize> = (0..PEERS).filter(|p| !holders.contains(p)).collect();
        for &d in others.choose_multiple(&mut rng, DOWNLOADERS) {
            for &h in holders {
                peers[d].node.connect(addrs[h].clone()).await.unwrap();
            }
            downloads.push((t, d, *id));
        }
    }
    let mut transfers = Vec::new();
    for &(_, d, id) in &downloads {
        let node = &peers[d].node;
        wait_for(LONG, "the downloader to know the track", || async move {
            node.library().store().has_manifest(&id).ok()?.then_some(())
        })
        .await;
        transfers.push(node.fetch(id).await.unwrap());
    }

    // Kill 30 % of the peers at random moments while the downloads run, the way a process
    // dies: connections dropped, nothing in flight answered or flushed. A kill lands mid-download
    // when the victim holds or downloads a track whose download is still running.
    let victims: Vec<usize> = rand::seq::index::sample(&mut rng, PEERS, KILLS).into_vec();
    let delays: Vec<u64> = victims.iter().map(|_| rng.gen_range(0..1500)).collect();
    let running_downloads_hit = |v: usize| {
        downloads
            .iter()
            .zip(&transfers)
            .filter(|((t, d, _), transfer)| {
                (*d == v || tracks[*t].2.contains(&v)) && transfer.progress().done.is_none()
            })
            .count()
    };
    let kills = victims.iter().zip(&delays).map(|(&v, &ms)| {
        let node = peers[v].node.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let hit = running_downloads_hit(v);
            node.crash().await;
            hit
        }
    });
    let hits = join_all(kills).await;
    let kills_mid_download = hits.iter().filter(|&&h| h > 0).count();
    assert!(
        kills_mid_download * 2 > KILLS,
        "only {kills_mid_download} of {KILLS} kills hit a running download"
    );
    let dead: HashSet<usize> = victims.iter().copied().collect();

    let mut finished = 0;
    let mut slowest_ms = 0;
    let mut bytes_verified = 0u64;
    let mut expected = 0;
    let mut orphaned = 0;
    for ((t, d, id), transfer) in downloads.iter().zip(&transfers) {
        if dead.contains(d) {
            continue;
        }
        let (_, original, holders) = &tracks[*t];
        let reachable = holders.iter().any(|h| !dead.contains(h));
        let result = tokio::time::timeout(LONG, transfer.finished())
            .await
            .expect("every transfer ends in time");
        if reachable {
            expected += 1;
            let report =
                result.unwrap_or_else(|e| panic!("download of track {t} on peer {d}: {e}"));
            assert_eq!(report.bytes, original.len() as u64);
            slowest_ms = slowest_ms.max(report.millis);
        } else if result.is_err() {
            orphaned += 1;
            continue;
        }
        let bytes = peers[*d].node.read_track(*id).await.unwrap();
        assert_eq!(&bytes, original, "track {t} on peer {d} is byte-identical");
        finished += 1;
        bytes_verified += bytes.len() as u64;
    }
    assert!(expected > 0, "some downloads had live providers");

    let downloads_done = started.elapsed();
    // The DHT still answers: a live peer finds a live provider of every track that has one. A
    // provider is any live peer holding the whole track: a seed, or a downloader that finished
    // (it provides too, and a lookup may well answer with it).
    let alive: Vec<usize> = (0..PEERS).filter(|p| !dead.contains(p)).collect();
    let mut lookups = 0;
    for (id, _, holders) in &tracks {
        let live_holders: HashSet<PeerId> = alive
            .iter()
            .filter(|&&p| {
                peers[p]
                    .node
                    .library()
                    .store()
                    .is_local(id)
                    .unwrap_or(false)
            })
            .map(|&p| peers[p].node.peer_id())
            .collect();
        if live_holders.is_empty() {
            continue;
        }
        let asker = &peers[*alive.choose(&mut rng).unwrap()].node;
        let deadline = Instant::now() + LONG;
        let mut attempts = Vec::new();
        loop {
            let found = asker
                .client()
                .providers(id.as_bytes())
                .await
                .unwrap_or_default();
            let live = found.iter().filter(|p| live_holders.contains(p)).count();
            if attempts.len() == 5 {
                attempts.remove(0);
            }
            attempts.push((found.len(), live));
            if live > 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no DHT lookup found a live provider of {id} (publisher alive: {}, live holders: \
                 {}); (providers found, of them live) in the last attempts: {attempts:?}",
                !dead.contains(&holders[0]),
                live_holders.len(),
            );
        }
        lookups += 1;
    }
    println!(
        "figures: churn peers={PEERS} tracks={TRACKS} killed={KILLS} \
         kills_mid_download={kills_mid_download} downloads={} \
         downloads_on_live_peers={} with_live_provider={expected} finished={finished} \
         orphaned_failed={orphaned} bytes_verified={bytes_verified} dht_lookups_ok={lookups} \
         slowest_download_ms={slowest_ms} seeded_at_s={:.1} downloads_ended_at_s={:.1} \
         lookups_ended_at_s={:.1}",
        downloads.len(),
        downloads
            .iter()
            .filter(|(_, d, _)| !dead.contains(d))
            .count(),
        seeded_after.as_secs_f64(),
        downloads_done.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    join_all(alive.iter().map(|&p| peers[p].node.shutdown())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ten_ten_partition_heals_and_both_catalogs_converge() {
    const HALF: usize = 10;
    const TRACKS_PER_HALF: usize = 3;
    let seed = chaos_seed("partition");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut options = NodeOptions::loopback();
    options.resync_interval = Duration::from_secs(1);
    let peers = start_peers(2 * HALF, &options).await;
    let mut addrs = Vec::new();
    for p in &peers {
        addrs.push(p.addr().await);
    }
    let halves = [0..HALF, HALF..2 * HALF];
    // Each half is a connected mesh of its own; a few links cross.
    for half in &halves {
        let members = peers.iter().enumerate().take(half.end).skip(half.start + 1);
        for (i, peer) in members {
            peer.node.connect(addrs[i - 1].clone()).await.unwrap();
            let other = rng.gen_range(half.start..i);
            peer.node.connect(addrs[other].clone()).await.unwrap();
        }
    }
    let mut cross = Vec::new();
    for _ in 0..4 {
        let (a, b) = (rng.gen_range(0..HALF), rng.gen_range(HALF..2 * HALF));
        peers[a].node.connect(addrs[b].clone()).await.unwrap();
        cross.push((a, b));
    }

    // The split: each side refuses the other.
    let ids: Vec<PeerId> = peers.iter().map(|p| p.node.peer_id()).collect();
    for (side, half) in halves.iter().enumerate() {
        let other: HashSet<PeerId> = ids[halves[1 - side].clone()].iter().copied().collect();
        for p in half.clone() {
            peers[p]
                .node
                .client()
                .partition(other.clone())
                .await
                .unwrap();
        }
    }
    for (i, p) in peers.iter().enumerate() {
        let other_half = if i < HALF { &halves[1] } else { &halves[0] };
        let other: HashSet<PeerId> = ids[other_half.clone()].iter().copied().collect();
        let other = &other;
        wait_for(LONG, "the cross links to close", || async {
            let connected = p.node.peers().await.ok()?;
            connected
                .iter()
                .all(|(q, _)| !other.contains(q))
                .then_some(())
        })
        .await;
    }

    // Both halves publish.
    let mut published: [Vec<TrackId>; 2] = [Vec::new(), Vec::new()];
    for (side, half) in halves.iter().enumerate() {
        for k in 0..TRACKS_PER_HALF {
            let publisher = rng.gen_range(half.clone());
            let (id, _) = peers[publisher]
                .publish_wav(
                    &format!("Side {side} song {k}"),
                    100_000,
                    (side * 100 + k) as u32,
                )
                .await;
            published[side].push(id);
        }
    }
    for (side, half) in halves.iter().enumerate() {
        for p in half.clone() {
            let node = &peers[p].node;
            let own = &published[side];
            wait_for(LONG, "each half to learn its own releases", || async move {
                knows_all(node, own).then_some(())
            })
            .await;
        }
    }
    for (side, half) in halves.iter().enumerate() {
        for p in half.clone() {
            let store = peers[p].node.library().store();
            for id in &published[1 - side] {
                assert!(
                    !store.has_manifest(id).unwrap(),
                    "a release crossed the partition"
                );
            }
        }
    }

    // Heal: the gates open and the cut links are dialled again.
    let healed = Instant::now();
    for p in &peers {
        p.node.client().partition(HashSet::new()).await.unwrap();
    }
    for &(a, b) in &cross {
        // Peers may already be redialling each other on their own once the gate opens; a dial
        // refused for that reason is fine (convergence below is what counts).
        if let Err(e) = peers[a].node.connect(addrs[b].clone()).await {
            let text = e.to_string();
            assert!(
                text.contains("already connected or dial is in progress"),
                "dial after the heal: {text}"
            );
        }
    }
    let all: Vec<TrackId> = published.concat();
    for p in &peers {
        let node = &p.node;
        let all = &all;
        wait_for(LONG, "every peer to know every release", || async move {
            knows_all(node, all).then_some(())
        })
        .await;
    }
    let converged = healed.elapsed();
    // Same catalog everywhere.
    let catalog = |n: &Node| {
        let (page, _) = n.library().store().catalog_page(None, 1024).unwrap();
        page.into_iter().map(|(id, _)| id).collect::<Vec<_>>()
    };
    let first = catalog(&peers[0].node);
    assert_eq!(first.len(), 2 * TRACKS_PER_HALF);
    for p in &peers {
        assert_eq!(catalog(&p.node), first);
    }
    println!(
        "figures: partition peers={} split=10/10 cross_links_cut={} releases={} \
         convergence_ms={}",
        2 * HALF,
        cross.len(),
        all.len(),
        converged.as_millis()
    );
    join_all(peers.iter().map(|p| p.node.shutdown())).await;
}

/// What a flood did.
#[derive(Default)]
pub struct FloodCount {
    pub requests: AtomicU64,
    pub refused: AtomicU64,
    pub gossip: AtomicU64,
}

/// Floods `victim` from `flooder` until `stop`: `request_tasks` loops of transfer requests
/// (catalog pages and chunk ranges of unknown tracks) and, with `gossip`, a loop of garbage
/// announcements, every one distinct (malformed: not a manifest) so no duplicate cache stops
/// it. Returns when `stop` is raised or the flooder lost its connection for good.
pub async fn flood(
    flooder: &net::Client,
    victim: PeerId,
    request_tasks: usize,
    gossip: bool,
    stop: &AtomicBool,
    count: &FloodCount,
) {
    let requests = (0..request_tasks).map(|k| async move {
        let mut i = 0u32;
        while !stop.load(Ordering::Relaxed) {
            i = i.wrapping_add(1);
            count.requests.fetch_add(1, Ordering::Relaxed);
            // Whether the victim answered, and refused.
            let answer = if (i + k as u32).is_multiple_of(2) {
                let request = catalog::protocol::Request::Catalog { after: None };
                catalog::protocol::request(flooder, victim, request)
                    .await
                    .map(|r| r == catalog::protocol::Response::Refused)
            } else {
                let request = transfer::protocol::Request::Chunks {
                    track: TrackId([i as u8; 32]),
                    start: 0,
                    count: 64,
                };
                transfer::protocol::request(flooder, victim, request)
                    .await
                    .map(|r| r == transfer::protocol::Response::Refused)
            };
            match answer {
                Ok(true) => {
                    count.refused.fetch_add(1, Ordering::Relaxed);
                }
                Ok(false) => {}
                // Disconnected or banned: keep trying, a real flooder would.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    });
    let gossip_loop = async move {
        let mut i = 0u64;
        while gossip && !stop.load(Ordering::Relaxed) {
            i += 1;
            let mut garbage = vec![catalog::ANNOUNCE_VERSION];
            garbage.extend_from_slice(&i.to_be_bytes());
            garbage.resize(2_000 + (i % 1_000) as usize, 0xAB);
            let topic = catalog::RELEASES_TOPIC.to_owned();
            if flooder.publish(topic, garbage).await.unwrap_or(false) {
                count.gossip.fetch_add(1, Ordering::Relaxed);
            } else {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::join!(join_all(requests), gossip_loop);
}

/// `honest` asks `victim` for its catalog and gets it.
async fn assert_served(honest: &Peer, victim: PeerId) {
    let request = catalog::protocol::Request::Catalog { after: None };
    let answer = catalog::protocol::request(honest.node.client(), victim, request)
        .await
        .unwrap();
    assert!(
        matches!(answer, catalog::protocol::Response::Catalog { .. }),
        "{answer:?}"
    );
}

async fn spawn_flooder(victim: &Peer) -> net::Client {
    let (client, _events) = net::spawn(
        net::Keypair::generate_ed25519(),
        NetworkConfig::loopback(),
        test_utils::empty_services(),
    )
    .await
    .unwrap();
    client.dial(victim.addr().await).await.unwrap();
    client
}

/// `banned` dials `victim` again and asks for its catalog: the connection is dropped or the
/// request goes unanswered. A refusal would mean it was taken for a peer over its rate.
async fn assert_shut_out(banned: &net::Client, victim: &Peer) {
    let _ = banned.dial(victim.addr().await).await;
    let request = catalog::protocol::Request::Catalog { after: None };
    let answer = catalog::protocol::request(banned, victim.node.peer_id(), request).await;
    assert!(answer.is_err(), "a banned peer was answered: {answer:?}");
}

fn flood_limits() -> NodeOptions {
    let mut options = NodeOptions::loopback();
    options.network.limits = PeerLimits {
        requests_per_sec: 50.0,
        request_burst: 100.0,
        ..PeerLimits::default()
    };
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flooding_peers_are_refused_scored_down_and_banned_even_after_a_restart() {
    let victim = Peer::start_with(flood_limits()).await;
    let (id, original) = victim.publish_wav("Under Siege", 1_500_000, 77).await;
    let victim_id = victim.node.peer_id();

    // One flooder hammers the transfer protocol, the other the gossip topic.
    let by_requests = spawn_flooder(&victim).await;
    let by_gossip = spawn_flooder(&victim).await;
    let stop = AtomicBool::new(false);
    let (requests, gossip) = (FloodCount::default(), FloodCount::default());
    let started = Instant::now();
    let floods = async {
        tokio::join!(
            flood(&by_requests, victim_id, 16, false, &stop, &requests),
            flood(&by_gossip, victim_id, 0, true, &stop, &gossip),
        )
    };
    let checks = async {
        // Meanwhile an honest peer downloads from the victim.
        let honest = Peer::start().await;
        honest.connect_to(&victim).await;
        honest.wait_to_know(id).await;
        let report = tokio::time::timeout(LONG, honest.node.fetch_to(id, None))
            .await
            .expect("the honest download ends in time")
            .expect("the honest download succeeds");
        assert_eq!(honest.node.read_track(id).await.unwrap(), original);
        assert!(report.banned.is_empty());

        let mut banned_after = Vec::new();
        for flooder in [&by_requests, &by_gossip] {
            let who = flooder.peer_id();
            let client = victim.node.client();
            wait_for(LONG, "the flooder to be banned", || async {
                client.banned().await.ok()?.contains(&who).then_some(())
            })
            .await;
            banned_after.push(started.elapsed());
            wait_for(LONG, "the flooder to be disconnected", || async {
                let peers = victim.node.peers().await.ok()?;
                peers.iter().all(|(p, _)| *p != who).then_some(())
            })
            .await;
        }
        // The honest peer is neither banned nor refused afterwards.
        let banned = victim.node.client().banned().await.unwrap();
        assert!(!banned.contains(&honest.node.peer_id()));
        assert_served(&honest, victim_id).await;
        stop.store(true, Ordering::Relaxed);
        honest.node.shutdown().await;
        banned_after
    };
    let (_, banned_after) = tokio::join!(floods, checks);
    assert!(requests.refused.load(Ordering::Relaxed) > 0);
    // A banned flooder cannot come back: its new connection is dropped and nothing is served,
    // not even a refusal (which is what a peer over its rate gets).
    assert_shut_out(&by_requests, &victim).await;

    // Nor after the victim restarts: the ban was kept in its store. A peer that never
    // flooded is served by the restarted victim, so what the flooder gets is the ban.
    let Peer { dir, node } = victim;
    node.shutdown().await;
    drop(node);
    let victim = Peer::restart(dir, flood_limits()).await;
    let banned = victim.node.client().banned().await.unwrap();
    assert!(banned.contains(&by_requests.peer_id()) && banned.contains(&by_gossip.peer_id()));
    assert_shut_out(&by_requests, &victim).await;
    let newcomer = Peer::start().await;
    newcomer.connect_to(&victim).await;
    assert_served(&newcomer, victim_id).await;
    newcomer.node.shutdown().await;
    println!(
        "figures: flood requests_sent={} refused={} banned_after_ms={} | gossip_sent={} \
         banned_after_ms={}",
        requests.requests.load(Ordering::Relaxed),
        requests.refused.load(Ordering::Relaxed),
        banned_after[0].as_millis(),
        gossip.gossip.load(Ordering::Relaxed),
        banned_after[1].as_millis(),
    );
    by_requests.shutdown().await;
    by_gossip.shutdown().await;
    victim.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_that_do_not_decode_get_a_peer_banned_and_connections_over_the_cap_are_denied() {
    let mut options = NodeOptions::loopback();
    options.network.max_connections = 3;
    let victim = Peer::start_with(options).await;
    let victim_id = victim.node.peer_id();

    // Garbage on the catalog protocol: no answer, and 20 strikes a time (100 ban).
    let liar = spawn_flooder(&victim).await;
    let mut sent = 0;
    let client = victim.node.client();
    while !client.banned().await.unwrap().contains(&liar.peer_id()) {
        assert!(
            sent < 20,
            "{sent} undecodable requests and still not banned"
        );
        let answer = liar
            .request(
                victim_id,
                catalog::protocol::PROTOCOL,
                vec![0xde, 0xad, sent],
            )
            .await;
        assert!(answer.is_err(), "garbage was answered: {answer:?}");
        sent += 1;
    }
    assert!(
        sent >= 5,
        "banned after {sent}: a few bad requests are forgiven"
    );
    assert_shut_out(&liar, &victim).await;

    // At most 3 connections: of five peers dialling, at most three stay, and the victim
    // still serves one of them.
    let dialers = join_all((0..5).map(|_| spawn_flooder(&victim))).await;
    let connected = || async {
        let peers = victim.node.peers().await.unwrap();
        dialers
            .iter()
            .filter(|d| peers.iter().any(|(p, _)| *p == d.peer_id()))
            .count()
    };
    wait_for(LONG, "connections over the cap to be closed", || async {
        (connected().await <= 3).then_some(())
    })
    .await;
    assert!(victim.node.peers().await.unwrap().len() <= 3);
    let mut served = 0;
    for d in &dialers {
        let request = catalog::protocol::Request::Catalog { after: None };
        if catalog::protocol::request(d, victim_id, request)
            .await
            .is_ok()
        {
            served += 1;
        }
    }
    assert!(
        (1..=3).contains(&served),
        "{served} of 5 dialers served under a cap of 3"
    );
    println!("figures: undecodable_requests_before_ban={sent} dialers_served={served}/5 cap=3");
    for d in dialers {
        d.shutdown().await;
    }
    liar.shutdown().await;
    victim.node.shutdown().await;
}

/// A small tmpfs for a data dir, unmounted on drop; `None` where mounting is not permitted.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(bytes: usize) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={bytes}"))
            .arg("tmpfs")
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => Some(Self { dir }),
            _ => {
                crate::util::cannot_run(
                    "cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN); the disk-full \
                     scenario did not run",
                );
                None
            }
        }
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// Fills the disk with a file until `free` bytes are left.
    fn leave_free(&self, free: u64) {
        let stat = df(self.dir.path());
        let fill = stat.saturating_sub(free);
        std::fs::write(self.dir.path().join("ballast"), vec![0u8; fill as usize]).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// Free bytes on the file system of `path`.
fn df(path: &std::path::Path) -> u64 {
    let out = std::process::Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_fails_publish_and_download_clearly_and_nothing_is_corrupt() {
    let Some(disk) = SmallDisk::mount(48 << 20) else {
        return;
    };
    let library = Library::open(LibraryOptions::new(disk.path()).seed_demo(false)).unwrap();
    let node = Node::start(Arc::new(library), NodeOptions::loopback())
        .await
        .unwrap();
    let small = test_utils::write_wav(disk.dir.path(), "small.wav", 200_000, 1);
    let kept = node
        .publish(vec![small.clone()], Default::default())
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    let kept_bytes = std::fs::read(&small).unwrap();
    std::fs::remove_file(&small).unwrap();

    // Publish: a file larger than the space left.
    let big = test_utils::wav_bytes(6_000_000, 2);
    let big_path = std::env::temp_dir().join(format!("busker-big-{}.wav", std::process::id()));
    std::fs::write(&big_path, &big).unwrap();
    disk.leave_free(3 << 20);
    let result = node
        .publish(vec![big_path.clone()], Default::default())
        .await
        .unwrap()
        .remove(0);
    std::fs::remove_file(&big_path).unwrap();
    let err = result.expect_err("publishing onto a full disk fails");
    let message = err.to_string();
    assert!(
        matches!(*err.source, Error::DiskFull(_)),
        "a disk-full error, not {message}"
    );
    assert!(message.contains("disk is full"), "{message}");
    println!("publish on a full disk: {message}");

    // Download: a seed elsewhere has a big track; the download fails clearly.
    let seed = Peer::start().await;
    let (id, _) = seed.publish_wav("Too Big", 6_000_000, 3).await;
    node.connect(seed.addr().await).await.unwrap();
    wait_for(LONG, "the big track to be known", || async {
        node.library().store().has_manifest(&id).ok()?.then_some(())
    })
    .await;
    let err = tokio::time::timeout(LONG, node.fetch_to(id, None))
        .await
        .expect("the download ends in time")
        .expect_err("downloading onto a full disk fails");
    assert!(err.to_string().contains("disk is full"), "{err}");
    println!("download on a full disk: {err}");

    // The node keeps running and what it had is intact.
    let list = node.list().await.unwrap();
    let local: Vec<_> = list.iter().filter(|t| t.local).map(|t| t.id).collect();
    assert_eq!(local, vec![kept.id()], "only the first track is local");
    assert_eq!(node.read_track(kept.id()).await.unwrap(), kept_bytes);
    assert!(!node.library().store().is_local(&id).unwrap());
    assert_eq!(node.peers().await.unwrap().len(), 1);
    node.shutdown().await;
    seed.node.shutdown().await;
    drop(node);

    // Space freed: the data dir opens, nothing partial is listed, every local chunk verifies.
    std::fs::remove_file(disk.dir.path().join("ballast")).unwrap();
    let library = wait_for(LONG, "the data dir to be released", || {
        let path = disk.path();
        async move { Library::open(LibraryOptions::new(path).seed_demo(false)).ok() }
    })
    .await;
    for t in library.list().unwrap() {
        let m = library.manifest(&t.id).unwrap();
        if t.local {
            for index in 0..m.chunks().len() {
                // Read back checked against its hash.
                library
                    .store()
                    .chunk(&m, index)
                    .unwrap()
                    .expect("every chunk here");
            }
        }
    }
    assert_eq!(library.store().local_ids().unwrap(), vec![kept.id()]);
}

/// `VmRSS` and `VmHWM` (peak) of a process, in KiB.
fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flooded_node_process_keeps_its_memory_bounded_and_bans_the_flooder() {
    // The victim is a real `busker node` with default limits, so its memory is its own.
    let victim = crate::util::Peer::new();
    let wav = test_utils::write_wav(victim.dir.path(), "siege.wav", 2_000_000, 88);
    let original = std::fs::read(&wav).unwrap();
    let (ok, out, err) = victim.json(&["--no-demo", "publish", wav.to_str().unwrap()]);
    assert!(ok, "{err}");
    let id: TrackId = out[0]["id"].as_str().unwrap().parse().unwrap();
    let node = crate::node_cli::NodeProcess::start(&victim, &[]);
    let pid = node.child.id();
    let victim_addr: net::Multiaddr = node.listen().parse().unwrap();
    let victim_id: PeerId = node.peer_id().parse().unwrap();

    // Idle: a few samples while nothing happens (a measurement, not a wait for anything).
    let mut idle = 0;
    for _ in 0..20 {
        idle = idle.max(rss_kib(pid).unwrap().0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sampling = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(AtomicU64::new(idle));
    let sampler = {
        let (sampling, peak) = (sampling.clone(), peak.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                if let Some((rss, hwm)) = rss_kib(pid) {
                    peak.fetch_max(rss.max(hwm), Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    // One flooder sends requests and garbage gossip as fast as it can.
    let (flooder, _events) = net::spawn(
        net::Keypair::generate_ed25519(),
        NetworkConfig::loopback(),
        test_utils::empty_services(),
    )
    .await
    .unwrap();
    flooder.dial(victim_addr.clone()).await.unwrap();
    let stop = AtomicBool::new(false);
    let count = FloodCount::default();
    let started = Instant::now();
    let checks = async {
        let honest = Peer::start().await;
        honest.node.connect(victim_addr.clone()).await.unwrap();
        honest.wait_to_know(id).await;
        let report = tokio::time::timeout(LONG, honest.node.fetch_to(id, None))
            .await
            .expect("the honest download ends in time")
            .expect("the honest download succeeds");
        assert_eq!(honest.node.read_track(id).await.unwrap(), original);
        // Banned: the victim closed the connection, and a new one (the transport handshake
        // completes, then the victim drops it) gets no request answered.
        wait_for(LONG, "the victim to disconnect the flooder", || async {
            let peers = flooder.peers().await.ok()?;
            if peers.iter().any(|(p, _)| *p == victim_id) {
                return None;
            }
            let _ = flooder.dial(victim_addr.clone()).await;
            let request = catalog::protocol::Request::Catalog { after: None };
            let answer = catalog::protocol::request(&flooder, victim_id, request).await;
            // A refusal is what a peer over its rate gets; a banned one gets nothing.
            answer.is_err().then_some(())
        })
        .await;
        let banned_after = started.elapsed();
        // The honest peer is still served.
        assert_served(&honest, victim_id).await;
        stop.store(true, Ordering::Relaxed);
        honest.node.shutdown().await;
        (report, banned_after)
    };
    let ((), (report, banned_after)) =
        tokio::join!(flood(&flooder, victim_id, 16, true, &stop, &count), checks);
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed);
    println!(
        "figures: flood_process idle_rss_kib={idle} peak_rss_kib={peak} \
         requests_sent={} refused={} gossip_sent={} banned_after_ms={} honest_fetch_ms={}",
        count.requests.load(Ordering::Relaxed),
        count.refused.load(Ordering::Relaxed),
        count.gossip.load(Ordering::Relaxed),
        banned_after.as_millis(),
        report.millis,
    );
    assert!(
        peak < idle + 256 * 1024,
        "memory grew from {idle} KiB to {peak} KiB under the flood"
    );

    // The node process restarts (SIGTERM, then the same data dir): the flooder is still
    // banned, while a peer that never flooded is served.
    assert!(node.terminate().success());
    let node = crate::node_cli::NodeProcess::start(&victim, &[]);
    let victim_addr: net::Multiaddr = node.listen().parse().unwrap();
    let _ = flooder.dial(victim_addr.clone()).await;
    let request = catalog::protocol::Request::Catalog { after: None };
    let answer = catalog::protocol::request(&flooder, victim_id, request).await;
    assert!(
        answer.is_err(),
        "banned before the restart, answered after: {answer:?}"
    );
    let newcomer = Peer::start().await;
    newcomer.node.connect(victim_addr).await.unwrap();
    assert_served(&newcomer, victim_id).await;
    newcomer.node.shutdown().await;
    flooder.shutdown().await;
    drop(node);
}

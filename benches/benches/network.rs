//! Network figures for BENCHMARKS.md: a bench binary that prints one line per measurement.
//!
//! `cargo bench -p busker-benches --bench network` runs:
//! - one-to-one: fetching a 32 MiB track over loopback vs a raw tokio TCP copy of the same bytes
//!   (`BUSKER_BENCH_ONE_MIB` sets the size; `BUSKER_BENCH_REQUEST_KIB` and
//!   `BUSKER_BENCH_REQUESTS_PER_PEER` the downloader's transfer tuning, for sweeps);
//! - many-to-one: fetching an 8 MiB track from 4 seeds capped at 2 MB/s each vs from 1 such seed;
//! - gossip reach: time for an announcement to reach 99 % of 50 in-process peers.
//!
//! Every figure is the median of a few runs (the count is printed with it). The same scenarios run
//! from the end-to-end test binary as the ignored test `network::figures` (a debug build of our
//! code with optimised dependencies): `cargo test -p busker --test e2e figures -- --ignored
//! --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use busker_core::model::{ArtistKeypair, ManifestDraft, TrackId, TrackInfo};
use busker_core::net::{self, NetEvent, NetworkConfig};
use busker_core::test_utils::{self, wait_for};
use busker_core::{Node, NodeOptions, PublishOptions, catalog};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RUNS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn peer(options: NodeOptions) -> (tempfile::TempDir, Node) {
    test_utils::start_node(options).await
}

/// Shuts a peer down and drops its node before its data dir: a sled database whose directory
/// is gone can hang forever in the flush it runs when dropped.
async fn stop((dir, node): (tempfile::TempDir, Node)) {
    node.shutdown().await;
    drop(node);
    drop(dir);
}

async fn publish(node: &(tempfile::TempDir, Node), bytes: usize, seed: u32) -> TrackId {
    let path = test_utils::write_wav(node.0.path(), "t.wav", bytes, seed);
    let mut r = node
        .1
        .publish(vec![path], PublishOptions::default())
        .await
        .unwrap();
    r.remove(0).unwrap().id()
}

async fn raw_tcp_copy(bytes: usize) -> Duration {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let data = vec![7u8; bytes];
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        s.write_all(&data).await.unwrap();
    });
    let start = Instant::now();
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::with_capacity(bytes);
    c.read_to_end(&mut buf).await.unwrap();
    let t = start.elapsed();
    server.await.unwrap();
    assert_eq!(buf.len(), bytes);
    t
}

/// The downloader's options: loopback, with the transfer tuning from the environment when set
/// (`BUSKER_BENCH_REQUEST_KIB`, `BUSKER_BENCH_REQUESTS_PER_PEER`), for tuning sweeps.
fn downloader_options() -> NodeOptions {
    let mut options = NodeOptions::loopback();
    let env = |name: &str| std::env::var(name).ok()?.parse::<usize>().ok();
    if let Some(kib) = env("BUSKER_BENCH_REQUEST_KIB") {
        options.transfer.request_bytes = kib << 10;
    }
    if let Some(n) = env("BUSKER_BENCH_REQUESTS_PER_PEER") {
        options.transfer.requests_per_peer = n;
    }
    options
}

async fn fetch_time(seeds: &[&(tempfile::TempDir, Node)], id: TrackId) -> (Duration, usize) {
    let d = peer(downloader_options()).await;
    for s in seeds {
        d.1.connect(s.1.listen_addrs().await.unwrap()[0].clone())
            .await
            .unwrap();
    }
    wait_for(Duration::from_secs(20), "catalog sync", || async {
        let list = d.1.list().await.ok()?;
        (list.first()?.providers == seeds.len()).then_some(())
    })
    .await;
    let start = Instant::now();
    let report = d.1.fetch_to(id, None).await.unwrap();
    let t = start.elapsed();
    stop(d).await;
    (t, report.peers_used)
}

/// What a fetch must do besides the network, alone: BLAKE3 every chunk of `bytes` and write it
/// into a fresh store's partial file, as the transfer scheduler does with what arrives.
fn verify_and_store(bytes: &[u8]) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let store = busker_core::Store::open(&dir.path().join("db")).unwrap();
    let (chunk_size, chunks) = busker_core::model::split_chunks(bytes).unwrap();
    let manifest = ManifestDraft {
        info: TrackInfo::default(),
        file_size: bytes.len() as u64,
        chunk_size,
        chunks,
        published_at: 0,
    }
    .sign(&ArtistKeypair::from_seed([5; 32]));
    let start = Instant::now();
    for (index, chunk) in bytes.chunks(chunk_size as usize).enumerate() {
        store.put_chunk(&manifest, index, chunk).unwrap();
    }
    let t = start.elapsed();
    drop(store);
    t
}

pub async fn one_to_one() {
    let size_mib = std::env::var("BUSKER_BENCH_ONE_MIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(32);
    let size = size_mib << 20;
    let seed = peer(NodeOptions::loopback()).await;
    let id = publish(&seed, size, 1).await;
    let mut busker = Vec::new();
    let mut raw = Vec::new();
    let mut local = Vec::new();
    let bytes = test_utils::wav_bytes(size, 1);
    for _ in 0..RUNS {
        busker.push(fetch_time(&[&seed], id).await.0.as_secs_f64());
        raw.push(raw_tcp_copy(size).await.as_secs_f64());
        local.push(verify_and_store(&bytes).as_secs_f64());
    }
    let mib = size as f64 / (1 << 20) as f64;
    let (b, r) = (median(busker), median(raw));
    println!(
        "one-to-one {size_mib} MiB over loopback: busker fetch {:.3} s ({:.0} MiB/s), raw tokio TCP {:.3} s ({:.0} MiB/s), ratio {:.1}x [median of {RUNS}]",
        b,
        mib / b,
        r,
        mib / r,
        b / r
    );
    println!(
        "one-to-one: BLAKE3 + write into a partial file of the same {size_mib} MiB alone, no network: {:.3} s ({:.0} MiB/s) [median of {RUNS}]",
        median(local.clone()),
        mib / median(local)
    );
    stop(seed).await;
}

pub async fn many_to_one() {
    const SIZE: usize = 8 << 20;
    const RATE: u64 = 2_000_000;
    let mut options = NodeOptions::loopback();
    options.network.serve_rate = Some(RATE);
    let origin = peer(NodeOptions::loopback()).await;
    let id = publish(&origin, SIZE, 2).await;
    let mut seeds = Vec::new();
    for _ in 0..4 {
        let s = peer(options.clone()).await;
        s.1.connect(origin.1.listen_addrs().await.unwrap()[0].clone())
            .await
            .unwrap();
        wait_for(Duration::from_secs(20), "sync", || async {
            s.1.library().store().has_manifest(&id).ok()?.then_some(())
        })
        .await;
        s.1.fetch_to(id, None).await.unwrap();
        seeds.push(s);
    }
    stop(origin).await;
    let mut four = Vec::new();
    let mut used = 0;
    for _ in 0..RUNS {
        let (t, u) = fetch_time(&seeds.iter().collect::<Vec<_>>(), id).await;
        four.push(t.as_secs_f64());
        used = u;
    }
    // The seeds know each other through the DHT, so a downloader that dials one finds the rest:
    // for the one-seed figure the other three leave.
    for s in seeds.drain(1..) {
        stop(s).await;
    }
    let mut one = Vec::new();
    for _ in 0..RUNS {
        one.push(fetch_time(&[&seeds[0]], id).await.0.as_secs_f64());
    }
    let (o, f) = (median(one), median(four));
    println!(
        "many-to-one 8 MiB, seeds capped at 2 MB/s: 1 seed {o:.2} s, 4 seeds {f:.2} s (peers used {used}), speed-up {:.2}x [median of {RUNS}]",
        o / f
    );
    for s in seeds {
        stop(s).await;
    }
}

/// Waits until the network has settled (see [`test_utils::settle`]). Returns the mean number of
/// peers each is connected to.
async fn settle(clients: &[net::Client]) -> f64 {
    let total = test_utils::settle(|| async {
        let mut total = 0;
        for c in clients {
            total += c.peers().await.map(|p| p.len()).unwrap_or(0);
        }
        total
    })
    .await;
    total as f64 / clients.len() as f64
}

/// A signed announcement of a small made-up track, different for every `title`.
fn announcement(title: &str) -> busker_core::model::Manifest {
    let bytes = title.as_bytes().repeat(1000);
    let (chunk_size, chunks) = busker_core::model::split_chunks(&bytes).unwrap();
    ManifestDraft {
        info: TrackInfo {
            title: title.into(),
            ..TrackInfo::default()
        },
        file_size: bytes.len() as u64,
        chunk_size,
        chunks,
        published_at: 0,
    }
    .sign(&ArtistKeypair::generate())
}

/// Announces `manifest` from `clients[0]` and prints when 99 % of the others had it.
async fn reach(
    label: &str,
    clients: &[net::Client],
    arrivals: &mut tokio::sync::mpsc::Receiver<(TrackId, Instant)>,
    manifest: &busker_core::model::Manifest,
) {
    let others = clients.len() - 1;
    // 99 % of the others, rounded up.
    let need = (others * 99).div_ceil(100);
    let start = Instant::now();
    catalog::announce(&clients[0], manifest).await.unwrap();
    let mut times = Vec::new();
    while times.len() < need {
        match tokio::time::timeout(Duration::from_secs(30), arrivals.recv()).await {
            Ok(Some((id, at))) if id == manifest.id() => {
                times.push(at.saturating_duration_since(start).as_secs_f64() * 1000.0);
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    let got = times.len();
    let last = times.last().copied().unwrap_or(f64::NAN);
    let half = times.get(got / 2).copied().unwrap_or(f64::NAN);
    println!(
        "gossip reach, {} peers, {label}: announcement reached {got}/{others} (99 % = {need}) in {last:.0} ms, half of them in {half:.0} ms [one run]",
        clients.len(),
    );
}

pub async fn gossip_reach() {
    const PEERS: usize = 50;
    let mut clients = Vec::new();
    let mut addrs = Vec::new();
    let (tx, mut arrivals) = tokio::sync::mpsc::channel(4 * PEERS);
    for i in 0..PEERS {
        let (client, mut events) = net::spawn(
            net::Keypair::generate_ed25519(),
            NetworkConfig::loopback(),
            test_utils::empty_services(),
        )
        .await
        .unwrap();
        addrs.push(client.listen_addrs().await.unwrap()[0].clone());
        // A sparse random graph: each newcomer dials 3 earlier peers.
        for k in 0..3.min(i) {
            let j = (i * 7 + k * 13) % i;
            client.dial(addrs[j].clone()).await.unwrap();
        }
        if i > 0 {
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(e) = events.recv().await {
                    if let NetEvent::TopicMessage { topic, data, .. } = e
                        && topic == catalog::RELEASES_TOPIC
                        && let Ok(manifest) = catalog::decode_announcement(&data)
                    {
                        let _ = tx.send((manifest.id(), Instant::now())).await;
                    }
                }
            });
        }
        clients.push(client);
    }
    // A forming network: 3 s after the last peer joined, Kademlia's bootstrap queries are still
    // dialling and every new connection reshapes the gossip meshes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    reach(
        "3 s after the last joined",
        &clients,
        &mut arrivals,
        &announcement("Forming"),
    )
    .await;
    // A settled network: no connection added or dropped for 1.5 s.
    let settling = Instant::now();
    let degree = settle(&clients).await;
    let label = format!(
        "settled ({:.0} s later, mean degree {degree:.1})",
        settling.elapsed().as_secs_f64()
    );
    reach(&label, &clients, &mut arrivals, &announcement("Settled")).await;
    for c in clients {
        c.shutdown().await;
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    rt.block_on(async {
        if only.as_deref().is_none_or(|o| o == "one") {
            one_to_one().await;
        }
        if only.as_deref().is_none_or(|o| o == "many") {
            many_to_one().await;
        }
        if only.as_deref().is_none_or(|o| o == "gossip") {
            gossip_reach().await;
        }
    });
}

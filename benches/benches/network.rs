//! Network figures for BENCHMARKS.md: a bench binary that prints one line per measurement.
//!
//! `cargo bench -p busker-benches --bench network` runs:
//! - one-to-one: fetching a 32 MiB track over loopback vs a raw tokio TCP copy of the same bytes;
//! - many-to-one: fetching an 8 MiB track from 4 seeds capped at 2 MB/s each vs from 1 such seed;
//! - gossip reach: time for an announcement to reach 99 % of 50 in-process peers.
//!
//! Every figure is the median of a few runs (the count is printed with it). The same scenarios run
//! from the end-to-end test binary as the ignored test `network::figures` (a debug build of our
//! code with optimised dependencies): `cargo test -p busker --test e2e figures -- --ignored
//! --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use busker_core::model::{ArtistKeypair, ManifestDraft, TrackId, TrackInfo};
use busker_core::net::{self, NetEvent, NetworkConfig};
use busker_core::test_utils::{self, wait_for};
use busker_core::{Node, NodeOptions, PublishOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RUNS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn peer(options: NodeOptions) -> (tempfile::TempDir, Node) {
    test_utils::start_node(options).await
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

async fn fetch_time(seeds: &[&(tempfile::TempDir, Node)], id: TrackId) -> (Duration, usize) {
    let d = peer(NodeOptions::loopback()).await;
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
    d.1.shutdown().await;
    (t, report.peers_used)
}

pub async fn one_to_one() {
    const SIZE: usize = 32 << 20;
    let seed = peer(NodeOptions::loopback()).await;
    let id = publish(&seed, SIZE, 1).await;
    let mut busker = Vec::new();
    let mut raw = Vec::new();
    for _ in 0..RUNS {
        busker.push(fetch_time(&[&seed], id).await.0.as_secs_f64());
        raw.push(raw_tcp_copy(SIZE).await.as_secs_f64());
    }
    let mib = SIZE as f64 / (1 << 20) as f64;
    let (b, r) = (median(busker), median(raw));
    println!(
        "one-to-one 32 MiB over loopback: busker fetch {:.3} s ({:.0} MiB/s), raw tokio TCP {:.3} s ({:.0} MiB/s), ratio {:.1}x [median of {RUNS}]",
        b,
        mib / b,
        r,
        mib / r,
        b / r
    );
    seed.1.shutdown().await;
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
    origin.1.shutdown().await;
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
        s.1.shutdown().await;
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
        s.1.shutdown().await;
    }
}

pub async fn gossip_reach() {
    const PEERS: usize = 50;
    let mut clients = Vec::new();
    let mut events = Vec::new();
    let mut addrs = Vec::new();
    for i in 0..PEERS {
        let (client, ev) = net::spawn(
            net::Keypair::generate_ed25519(),
            NetworkConfig::loopback(),
            Arc::new(test_utils::EmptySource),
        )
        .await
        .unwrap();
        addrs.push(client.listen_addrs().await.unwrap()[0].clone());
        // A sparse random graph: each newcomer dials 3 earlier peers.
        for k in 0..3.min(i) {
            let j = (i * 7 + k * 13) % i;
            client.dial(addrs[j].clone()).await.unwrap();
        }
        clients.push(client);
        events.push(ev);
    }
    // Let the meshes form.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let bytes = vec![1u8; 100_000];
    let (chunk_size, chunks) = busker_core::model::split_chunks(&bytes).unwrap();
    let manifest = ManifestDraft {
        info: TrackInfo {
            title: "Reach".into(),
            ..TrackInfo::default()
        },
        file_size: bytes.len() as u64,
        chunk_size,
        chunks,
        published_at: 0,
    }
    .sign(&ArtistKeypair::generate());
    let start = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel(PEERS);
    for mut ev in events.drain(1..) {
        let tx = tx.clone();
        let id = manifest.id();
        tokio::spawn(async move {
            while let Some(e) = ev.recv().await {
                if let NetEvent::Announcement { manifest, .. } = e
                    && manifest.id() == id
                {
                    let _ = tx.send(start.elapsed()).await;
                    break;
                }
            }
        });
    }
    clients[0].announce(&manifest).await.unwrap();
    // 99 % of the 49 other peers, rounded up.
    let need = ((PEERS - 1) * 99).div_ceil(100);
    let mut arrivals = Vec::new();
    while arrivals.len() < need {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some(t)) => arrivals.push(t.as_secs_f64() * 1000.0),
            _ => break,
        }
    }
    let got = arrivals.len();
    let last = arrivals.last().copied().unwrap_or(f64::NAN);
    let half = arrivals.get(got / 2).copied().unwrap_or(f64::NAN);
    println!(
        "gossip reach, {PEERS} peers (each dialled 3 others): announcement reached {got}/{} (99 % = {need}) in {last:.0} ms, half of them in {half:.0} ms [one run]",
        PEERS - 1,
    );
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

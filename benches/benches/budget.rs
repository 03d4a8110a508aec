//! The bounded catalog (issue 21): what accepting costs with the budget kept, what an eviction
//! costs, the one-time count of an older data dir, and the latency of a search that asks a
//! peer.
//!
//! `cargo bench -p busker-benches --bench budget` accepts `BUSKER_BENCH_MANIFESTS` (default
//! 50,000) signed manifests of 16 chunks (about 760 bytes each, a 1 MB file's) from 2,000 keys,
//! dated over a year, through [`Library::accept`] in batches of 1,000 (the same-run baseline of
//! the eviction rate). It then protects some (20 followed keys, 1,000 rated, 1,000 played),
//! sets the budget to half of what the catalog costs and times [`Library::evict_over_budget`];
//! times the open of the data dir rewritten as before the budget (the one-time count) against
//! a plain open; and, with that library's node on loopback, asks it 50 searches from a raw
//! peer (`catalog::search::ask_peers`: the round trip, its index, every manifest verified) and
//! ranks the answers in a second library (`Library::rank_remote`), against the same queries
//! run locally. It ends with one line `budget manifests=N ...`.

// A bench stops at the first failed setup step, as a test does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use busker_core::model::{ArtistKeypair, ChunkHash, DEFAULT_CHUNK_SIZE, Manifest, ManifestDraft};
use busker_core::net::{self, NetworkConfig};
use busker_core::test_utils;
use busker_core::{Library, LibraryOptions, Listen, ListenKind, Node, NodeOptions, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ARTISTS: u64 = 2_000;
const CHUNKS: u64 = 16;
const QUERIES: usize = 50;

fn manifest(key: &ArtistKeypair, i: u64, published_at: u64) -> Manifest {
    ManifestDraft {
        info: test_utils::mp3_info(
            format!("Track {i} of the bench"),
            format!("Artist {}", i % ARTISTS),
            format!("Album {}", i / 10),
            vec!["bench".into()],
        ),
        file_size: CHUNKS * u64::from(DEFAULT_CHUNK_SIZE) - 100,
        chunk_size: DEFAULT_CHUNK_SIZE,
        chunks: (0..CHUNKS)
            .map(|c| ChunkHash::of(&(i * CHUNKS + c).to_le_bytes()))
            .collect(),
        published_at,
    }
    .sign(key)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: u64 = std::env::var("BUSKER_BENCH_MANIFESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    let library = Library::open(LibraryOptions::new(&dir).seed_demo(false)).expect("library");
    let keys: Vec<ArtistKeypair> = (0..ARTISTS)
        .map(|a| {
            let mut seed = [9u8; 32];
            seed[..8].copy_from_slice(&a.to_le_bytes());
            ArtistKeypair::from_seed(seed)
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(21);
    let now = busker_core::release::unix_now();
    let all: Vec<Manifest> = (0..n)
        .map(|i| {
            let key = &keys[rng.gen_range(0..ARTISTS) as usize];
            manifest(key, i, now - rng.gen_range(0..365 * 86_400))
        })
        .collect();
    let start = Instant::now();
    for batch in all.chunks(1000) {
        library.accept(batch.to_vec()).expect("accept");
    }
    let accept = start.elapsed();
    let bytes = library.store().catalog_bytes();
    println!(
        "accepted {n} in {:.1} s ({:.0} us each), catalog {} KiB ({} bytes each)",
        accept.as_secs_f64(),
        accept.as_secs_f64() * 1e6 / n as f64,
        bytes / 1024,
        bytes / n
    );

    for key in keys.iter().take(20) {
        library.follow(&key.public(), true).expect("follow");
    }
    for m in all.iter().step_by(n as usize / 1000) {
        library.rate(&m.id(), 4).expect("rate");
    }
    for (k, m) in all.iter().skip(7).step_by(n as usize / 1000).enumerate() {
        let listen = Listen {
            id: m.id(),
            at_ms: k as u64,
            kind: ListenKind::Play,
        };
        library.store().record_listen(&listen).expect("listen");
    }
    library
        .update_config(|c| c.catalog_budget_kib = bytes / 2 / 1024)
        .expect("budget");
    let start = Instant::now();
    let report = library.evict_over_budget().expect("evict");
    let evict = start.elapsed();
    println!(
        "evicted {} in {:.0} ms ({:.1} us each), catalog now {} KiB of a {} KiB budget",
        report.evicted,
        ms(evict),
        evict.as_secs_f64() * 1e6 / report.evicted.max(1) as f64,
        report.catalog_bytes / 1024,
        bytes / 2 / 1024
    );
    let kept: Vec<&Manifest> = all
        .iter()
        .filter(|m| library.store().has_manifest(&m.id()).unwrap())
        .collect();
    drop(library);

    // The one-time count of a data dir from before the budget, against a plain open.
    let open = || {
        let start = Instant::now();
        let library = Library::open(LibraryOptions::new(&dir)).expect("open");
        (start.elapsed(), library)
    };
    let (plain, library) = open();
    drop(library);
    Store::open(&dir.join("db"))
        .expect("store")
        .write_as_before_budget()
        .expect("rewrite");
    let (upgrade, library) = open();
    println!(
        "open {:.0} ms; first open before the budget (count + queue) {:.0} ms",
        ms(plain),
        ms(upgrade)
    );
    let library = std::sync::Arc::new(library);

    // Search across peers: a raw peer asks this library's node.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (local, remote, rank) = runtime.block_on(async {
        let node = Node::start(library.clone(), NodeOptions::loopback())
            .await
            .expect("node");
        let addr = node.listen_addrs().await.expect("addrs")[0].clone();
        let key = net::keypair_from_seed([0x42; 32]).expect("key");
        let services = test_utils::empty_services();
        let (client, _events) = net::spawn(key, NetworkConfig::loopback(), services)
            .await
            .expect("raw peer");
        let peer = client.dial(addr).await.expect("dial");
        let (_asker_dir, asker) = test_utils::temp_library();
        let (mut local, mut remote, mut rank) = (Vec::new(), Vec::new(), Vec::new());
        let mut rng = StdRng::seed_from_u64(5);
        let mut found = 0;
        for q in 0..QUERIES {
            let m = kept[rng.gen_range(0..kept.len())];
            let query = m.info().title.clone();
            let start = Instant::now();
            let _ = node.search(&query, 10).await.expect("local search");
            local.push(ms(start.elapsed()));
            let start = Instant::now();
            let answers =
                busker_core::catalog::search::ask_peers(&client, &[peer], &query, 10).await;
            remote.push(ms(start.elapsed()));
            let start = Instant::now();
            let manifests = answers.into_iter().map(|(_, m)| m).collect();
            let ranked = asker.rank_remote(&query, manifests, 10).expect("rank");
            rank.push(ms(start.elapsed()));
            found += usize::from(ranked.iter().any(|t| t.id == m.id()));
            // The peer's search rate: 2 a second, bursts of 8.
            if q % 2 == 1 {
                tokio::time::sleep(Duration::from_millis(1000)).await;
            }
        }
        println!("remote searches that found their track: {found} / {QUERIES}");
        node.shutdown().await;
        (local, remote, rank)
    });
    let stats = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (percentile(&v, 0.5), percentile(&v, 0.99))
    };
    let ((l50, l99), (r50, r99), (k50, k99)) = (stats(local), stats(remote), stats(rank));
    println!("local search p50 {l50:.2} ms p99 {l99:.2} ms (the peer's own, same queries)");
    println!(
        "ask one peer p50 {r50:.2} ms p99 {r99:.2} ms; rank here p50 {k50:.2} ms p99 {k99:.2} ms"
    );
    println!(
        "budget manifests={n} accept_us={:.0} evicted={} evict_ms={:.0} evict_us={:.1} \
         open_ms={:.0} count_open_ms={:.0} local_p50_ms={l50:.2} ask_p50_ms={r50:.2} \
         ask_p99_ms={r99:.2} rank_p50_ms={k50:.2}",
        accept.as_secs_f64() * 1e6 / n as f64,
        report.evicted,
        ms(evict),
        evict.as_secs_f64() * 1e6 / report.evicted.max(1) as f64,
        ms(plain),
        ms(upgrade),
    );
}

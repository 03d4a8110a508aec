//! The catalog at scale (issue 21): opening a data dir that knows a million manifests, and the
//! user paths that used to read every one of them.
//!
//! `cargo bench -p busker-benches --bench catalog` writes `BUSKER_BENCH_MANIFESTS` (default
//! 1,000,000) signed manifests from 20,000 artist keys (plus re-signed copies, a few followed
//! and blocked keys, and 20 local releases of this peer's own) into a real data dir as
//! [`Library::accept`] does (stored, then search-indexed with one commit), in a temporary
//! directory (`TMPDIR`). Then, each in a
//! fresh process of this bench so that its peak RSS is its own:
//! - the first open after the data dir is rewritten as the build before the indexes left it
//!   (schema 3): the one-time build of the indexes (`migrate_ms`, `migrate_rss_mb`);
//! - the next open, as `busker` opens a data dir (`open_ms`, `open_rss_mb`: VmHWM right after);
//! - in that process, medians of 50: `new_releases(256)`, `recommend(20)` (which includes
//!   it), this peer's artist profile (`own_releases`), one artist's releases
//!   (`known_releases`) and `resolve` of an 8-digit prefix; and, as the same-run baseline, the
//!   same answers the old way, by reading every manifest (`scan_*`, fewer runs: each reads the
//!   whole store), checked equal to the indexed ones.
//!
//! It ends with one summary line, `catalog manifests=N open_ms=...`.

// A bench stops at the first failed setup step, as a test does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use busker_core::model::{
    ArtistKeypair, ChunkHash, DEFAULT_CHUNK_SIZE, Manifest, ManifestDraft, TrackId,
};
use busker_core::release::{Candidate, followed_first};
use busker_core::test_utils;
use busker_core::{Library, LibraryOptions, PublishOptions, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ARTISTS: usize = 20_000;
const RUNS: usize = 50;
const CHILD: &str = "BUSKER_CATALOG_CHILD";

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if let Ok(mode) = std::env::var(CHILD) {
        let dir = std::env::var("BUSKER_CATALOG_DIR").expect("data dir");
        return child(&mode, Path::new(&dir));
    }
    let n: usize = std::env::var("BUSKER_BENCH_MANIFESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    let write_secs = write(&dir, n);
    println!("wrote {n} manifests in {write_secs:.1} s (signing included)");
    {
        let store = Store::open(&dir.join("db")).expect("store");
        store.write_as_schema_3().expect("schema 3");
    }
    let migrate = run_child("migrate", &dir);
    let measured = run_child("measure", &dir);
    println!(
        "catalog manifests={n} {measured} migrate_ms={} migrate_rss_mb={}",
        field(&migrate, "open_ms"),
        field(&migrate, "open_rss_mb")
    );
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or("?")
}

/// Runs this bench again as `mode` on `dir`; its last line of output.
fn run_child(mode: &str, dir: &Path) -> String {
    let out = Command::new(std::env::current_exe().expect("this bench"))
        .arg("--bench")
        .env(CHILD, mode)
        .env("BUSKER_CATALOG_DIR", dir)
        .output()
        .expect("run the bench's child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{mode}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().last().unwrap_or_default().to_owned()
}

fn manifest(key: &ArtistKeypair, i: u64, content: u64, published_at: u64) -> Manifest {
    ManifestDraft {
        info: test_utils::mp3_info(
            format!("Track {i}"),
            format!("Artist {}", i % ARTISTS as u64),
            format!("Album {}", i / 10),
            vec!["bench".into()],
        ),
        file_size: 4096,
        chunk_size: DEFAULT_CHUNK_SIZE,
        chunks: vec![ChunkHash::of(&content.to_le_bytes())],
        published_at,
    }
    .sign(key)
}

/// Writes the catalog; how long it took.
fn write(dir: &Path, n: usize) -> f64 {
    let start = Instant::now();
    let library = Library::open(LibraryOptions::new(dir).seed_demo(false)).expect("library");
    let keys: Vec<ArtistKeypair> = (0..ARTISTS as u64)
        .map(|a| {
            let mut seed = [7u8; 32];
            seed[..8].copy_from_slice(&a.to_le_bytes());
            ArtistKeypair::from_seed(seed)
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(21);
    // A year of releases before "now"; many share a second.
    let now = busker_core::release::unix_now();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..n as u64 {
        let artist = rng.gen_range(0..ARTISTS);
        let at = now - rng.gen_range(0..365 * 86_400);
        // One in a thousand is a re-signed copy of an earlier release's audio.
        let content = if i % 1000 == 999 { i - 500 } else { i };
        batch.push(manifest(&keys[artist], i, content, at));
        if batch.len() == batch.capacity() || i + 1 == n as u64 {
            // What `Library::accept` does, with one search index commit at the end instead of
            // one per batch (the index is not what this bench measures).
            for m in &batch {
                library.store().put_manifest(m).expect("put");
            }
            library.index().add_uncommitted(&batch).expect("index");
            batch.clear();
            if (i + 1) % 100_000 == 0 {
                println!("{} written, {:.0} s", i + 1, start.elapsed().as_secs_f64());
            }
        }
    }
    library.index().commit().expect("index commit");
    println!(
        "accepted {n} manifests in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    for key in keys.iter().take(20) {
        library.follow(&key.public(), true).expect("follow");
    }
    for key in keys.iter().skip(20).take(20) {
        library.block(&key.public(), true).expect("block");
    }
    println!(
        "followed and blocked at {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let wavs = tempfile::tempdir().expect("temp dir");
    for seed in 0..20 {
        let file = test_utils::write_wav(wavs.path(), "own.wav", 8_000, seed);
        library
            .publish_file(&file, &PublishOptions::default())
            .expect("publish");
    }
    library.store().flush().expect("flush");
    start.elapsed().as_secs_f64()
}

/// Peak RSS of this process so far, in MiB.
fn peak_rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .expect("VmHWM");
    kib / 1024
}

/// Median milliseconds of `runs` calls of `f`, and its last answer.
fn median_ms<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        last = Some(std::hint::black_box(f()));
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], last.expect("at least one run"))
}

fn child(mode: &str, dir: &Path) {
    let start = Instant::now();
    let library = Library::open(LibraryOptions::new(dir)).expect("open the data dir");
    let open_ms = start.elapsed().as_secs_f64() * 1000.0;
    let open_rss_mb = peak_rss_mb();
    if mode != "measure" {
        println!("open_ms={open_ms:.0} open_rss_mb={open_rss_mb}");
        return;
    }
    let store = library.store();
    let (new_ms, fresh) = median_ms(RUNS, || library.new_releases(256).unwrap());
    let (recommend_ms, _) = median_ms(RUNS, || library.recommend(20).unwrap());
    let (own_ms, own) = median_ms(RUNS, || library.artist_profile().unwrap());
    let artist = store.artists_newest_first().next().unwrap().unwrap().0;
    let (known_ms, known) = median_ms(RUNS, || library.releases_by(&artist).unwrap());
    let some_id = fresh[fresh.len() / 2];
    let prefix = &some_id.to_hex()[..8];
    let (resolve_ms, resolved) = median_ms(RUNS, || library.resolve(prefix).unwrap());
    assert_eq!(resolved, some_id);

    // The old way: every manifest read (and its signature checked), as before the indexes.
    let scans = if store.manifest_count() > 100_000 {
        1
    } else {
        5
    };
    let (scan_ms, by_scan) = median_ms(scans, || new_releases_by_scan(&library));
    assert_eq!(
        by_scan, fresh,
        "the indexed new releases are the scanned ones"
    );
    let (scan_own_ms, own_by_scan) = median_ms(scans, || {
        let me = library.artist_key();
        store
            .manifests()
            .map(Result::unwrap)
            .filter(|m| m.artist_key() == me && store.is_local(&m.id()).unwrap())
            .count()
    });
    assert_eq!(own_by_scan, own.map_or(0, |p| p.releases.len()));
    let (scan_known_ms, known_by_scan) = median_ms(scans, || {
        let mut list = library.list().unwrap();
        list.retain(|t| t.artist_key == artist);
        list
    });
    assert_eq!(known_by_scan, known);
    let (scan_resolve_ms, _) = median_ms(scans, || {
        store
            .manifests()
            .map(|m| m.unwrap().id())
            .filter(|id| id.to_hex().starts_with(prefix))
            .collect::<Vec<TrackId>>()
    });
    println!(
        "open_ms={open_ms:.0} open_rss_mb={open_rss_mb} new_releases_ms={new_ms:.2} \
         recommend_ms={recommend_ms:.2} own_releases_ms={own_ms:.2} \
         known_releases_ms={known_ms:.2} resolve_ms={resolve_ms:.2} scan_ms={scan_ms:.0} \
         scan_own_ms={scan_own_ms:.0} scan_known_ms={scan_known_ms:.0} \
         scan_resolve_ms={scan_resolve_ms:.0} scan_runs={scans}"
    );
}

/// `Library::new_releases` as it was before the indexes.
fn new_releases_by_scan(library: &Library) -> Vec<TrackId> {
    let store = library.store();
    let mine = library.artist_key();
    let blocked = store.blocked_keys().unwrap();
    let mut fresh = Vec::new();
    for m in store.manifests() {
        let m = m.unwrap();
        if m.artist_key() != mine
            && !blocked.contains(&m.artist_key())
            && store.same_audio_as(&m).unwrap().is_none()
        {
            fresh.push(Candidate::of(&m));
        }
    }
    followed_first(fresh, &store.followed_keys().unwrap(), 256)
}

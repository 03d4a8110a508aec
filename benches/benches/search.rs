//! Search latency (p50/p99) over a large catalog, and indexing rate.
//!
//! `cargo bench -p busker-benches --bench search` builds an on-disk index of
//! `BUSKER_BENCH_MANIFESTS` (default 1,000,000) signed manifests whose artists are the Last.fm
//! artist names in `data/lastfm-hetrec2011/artists.dat` and whose titles and albums are drawn from
//! its tag vocabulary, then times 1,000 queries a user would type: exact artist names, artist
//! names with a typo, unfinished titles (prefix) and titles with a typo.

// A bench stops at the first failed setup step, as a test does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Instant;

use busker_core::SearchIndex;
use busker_core::model::{
    ArtistKeypair, ChunkHash, DEFAULT_CHUNK_SIZE, Format, ManifestDraft, TrackInfo,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn data_file(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/lastfm-hetrec2011")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Second column of a tab-separated file with a header line; Latin-1 safe.
fn column(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&b| b == b'\n')
        .skip(1)
        .filter_map(|line| {
            let line: String = line.iter().map(|&b| b as char).collect();
            line.trim_end_matches('\r')
                .split('\t')
                .nth(1)
                .map(str::to_owned)
        })
        .filter(|s| !s.trim().is_empty())
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn typo(rng: &mut StdRng, word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < 4 {
        return word.to_owned();
    }
    let i = rng.gen_range(1..chars.len() - 1);
    chars
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, c)| c)
        .collect()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: usize = std::env::var("BUSKER_BENCH_MANIFESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // artists.dat is UTF-8; decode lossily so odd bytes cannot stop the bench.
    let artists: Vec<String> = String::from_utf8_lossy(&data_file("artists.dat"))
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').nth(1).map(str::to_owned))
        .filter(|s| !s.trim().is_empty())
        .collect();
    let vocabulary: Vec<String> = column(&data_file("tags.dat"))
        .into_iter()
        .flat_map(|t| {
            t.split_whitespace()
                .map(|w| w.to_lowercase())
                .collect::<Vec<_>>()
        })
        .filter(|w| w.len() >= 3 && w.chars().all(char::is_alphabetic))
        .collect();
    let mut rng = StdRng::seed_from_u64(7);
    let key = ArtistKeypair::from_seed([3; 32]);
    let title = |rng: &mut StdRng| {
        let words = rng.gen_range(1..=4);
        (0..words)
            .map(|_| vocabulary[rng.gen_range(0..vocabulary.len())].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };

    let dir = tempfile::tempdir().expect("temp dir");
    let index = SearchIndex::open(&dir.path().join("index")).expect("index");
    let mut titles = Vec::with_capacity(n);
    let start = Instant::now();
    let mut sign_secs = 0.0;
    let mut batch = Vec::with_capacity(50_000);
    for i in 0..n {
        let t = title(&mut rng);
        let info = TrackInfo {
            title: t.clone(),
            artist: artists[i % artists.len()].clone(),
            album: title(&mut rng),
            tags: vec![vocabulary[rng.gen_range(0..vocabulary.len())].clone()],
            format: Format::Mp3,
            codec: "mp3".into(),
            sample_rate: 44_100,
            channels: 2,
            duration_ms: 180_000,
        };
        let signing = Instant::now();
        let manifest = ManifestDraft {
            info,
            file_size: 4096,
            chunk_size: DEFAULT_CHUNK_SIZE,
            chunks: vec![ChunkHash::of(&(i as u64).to_le_bytes())],
            published_at: 1_700_000_000,
        }
        .sign(&key);
        sign_secs += signing.elapsed().as_secs_f64();
        titles.push(t);
        batch.push(manifest);
        if batch.len() == batch.capacity() || i + 1 == n {
            index.add(&batch).expect("index batch");
            batch.clear();
        }
    }
    let index_secs = start.elapsed().as_secs_f64() - sign_secs;
    println!(
        "indexed {n} manifests in {index_secs:.1} s: {:.0} manifests/s (signing, {sign_secs:.1} s, not counted)",
        n as f64 / index_secs
    );

    let mut queries = Vec::new();
    for q in 0..1000 {
        let artist = &artists[rng.gen_range(0..artists.len().min(n))];
        let t = &titles[rng.gen_range(0..n)];
        let query = match q % 4 {
            0 => artist.clone(),
            1 => artist
                .split_whitespace()
                .map(|w| typo(&mut rng, w))
                .collect::<Vec<_>>()
                .join(" "),
            2 => {
                let cut = (t.len() * 2 / 3).max(3).min(t.len());
                t.chars().take(cut).collect()
            }
            _ => t
                .split_whitespace()
                .map(|w| typo(&mut rng, w))
                .collect::<Vec<_>>()
                .join(" "),
        };
        queries.push(query);
    }
    let mut times = Vec::with_capacity(queries.len());
    let mut answered = 0;
    for q in &queries {
        let start = Instant::now();
        let hits = index.search(q, 20).expect("search");
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        answered += usize::from(!hits.is_empty());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "search over {n}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {answered}/{} queries found something",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[times.len() - 1],
        queries.len()
    );
}

//! Search latency (p50/p99) over a large catalog, and indexing rate.
//!
//! `cargo bench -p busker-benches --bench search` builds an on-disk index of
//! `BUSKER_BENCH_MANIFESTS` (default 1,000,000) signed manifests whose artists are the Last.fm
//! artist names in `data/lastfm-hetrec2011/artists.dat` and whose titles and albums are drawn from
//! its tag vocabulary, then times 1,000 queries a user would type: exact artist names, artist
//! names with a typo, unfinished titles (prefix) and titles with a typo. Each query runs with the
//! current search and with the one before issue 21 (`SearchIndex::search_legacy`), in turn. The
//! judged query set (`core/tests/data/search-judged.tsv`) is added to the index and both report
//! how many of its queries rank their track first. The last line is for scripts:
//! `search manifests=N p50_ms=X p99_ms=Y hit_rate=Z` (Z the share of queries that found
//! something). For profiling: `BUSKER_BENCH_INDEX=DIR` keeps the index in DIR and reuses it on
//! the next run; `BUSKER_BENCH_SLOWEST=K` lists the K slowest queries of the new search.

// A bench stops at the first failed setup step, as a test does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Instant;

use busker_core::model::{ArtistKeypair, ChunkHash, DEFAULT_CHUNK_SIZE, ManifestDraft};
use busker_core::test_utils;
use busker_core::{SearchHit, SearchIndex, search_judged};
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

    // BUSKER_BENCH_INDEX=DIR keeps the index in DIR and, when DIR already holds one, reuses it
    // instead of indexing again (the same seed gives the same titles): for profiling runs.
    let kept = std::env::var_os("BUSKER_BENCH_INDEX").map(std::path::PathBuf::from);
    let dir = tempfile::tempdir().expect("temp dir");
    let index_dir = kept.clone().unwrap_or_else(|| dir.path().join("index"));
    let reuse = kept.is_some() && index_dir.join("meta.json").exists();
    let index = SearchIndex::open(&index_dir).expect("index");
    let mut titles = Vec::with_capacity(n);
    let start = Instant::now();
    let mut sign_secs = 0.0;
    let mut batch = Vec::with_capacity(50_000);
    for i in 0..n {
        let t = title(&mut rng);
        let info = test_utils::mp3_info(
            t.clone(),
            artists[i % artists.len()].clone(),
            title(&mut rng),
            vec![vocabulary[rng.gen_range(0..vocabulary.len())].clone()],
        );
        if reuse {
            titles.push(t);
            continue;
        }
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
    if reuse {
        println!("reused the index in {}", index_dir.display());
    } else {
        println!(
            "indexed {n} manifests in {index_secs:.1} s: {:.0} manifests/s (signing, {sign_secs:.1} s, not counted)",
            n as f64 / index_secs
        );
    }

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
    let segments = std::fs::read_dir(&index_dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "term"))
                .count()
        })
        .unwrap_or(0);
    println!("index: {segments} segments");

    // The judged set's catalog joins the index, so that its queries can be judged at scale.
    let judged_manifests = search_judged::manifests();
    index
        .add(&judged_manifests)
        .expect("index the judged catalog");
    let judged = search_judged::queries();
    // BUSKER_BENCH_MERGE=1 merges the index into one segment first (what fewer segments buy).
    if std::env::var_os("BUSKER_BENCH_MERGE").is_some() {
        let start = Instant::now();
        match index.merge_segments() {
            Ok(n) => println!(
                "merged into {n} segment(s) in {:.1} s",
                start.elapsed().as_secs_f64()
            ),
            Err(e) => println!("merge failed: {e}"),
        }
    }

    // Both strategies run each query in turn, so that neither profits from a cache the other
    // warmed.
    let mut new = Timing::default();
    let mut old = Timing::default();
    let mut one_pass = Timing::default();
    for q in &queries {
        old.time(|| index.search_legacy(q, 20).expect("search"));
        one_pass.time(|| index.search_one_pass(q, 20).expect("search"));
        new.time(|| index.search(q, 20).expect("search"));
    }
    // BUSKER_BENCH_SLOWEST=K lists the K slowest queries of the new search (what p99 is made of).
    let slowest: usize = std::env::var("BUSKER_BENCH_SLOWEST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut by_time: Vec<(f64, &String)> = new.millis.iter().copied().zip(&queries).collect();
    by_time.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (ms, q) in by_time.iter().take(slowest) {
        println!("slow: {ms:.2} ms {q:?}");
    }
    let judged_first = |search: &dyn Fn(&str) -> Vec<SearchHit>| {
        let misses = search_judged::misses(&judged, &judged_manifests, |q| {
            Ok(search(q).into_iter().map(|h| h.id).collect())
        })
        .expect("judged queries");
        let missed: Vec<&str> = misses.iter().map(|q| q.query.as_str()).collect();
        println!("judged queries not ranking their track first: {missed:?}");
        judged.len() - misses.len()
    };
    let old_judged = judged_first(&|q| index.search_legacy(q, 10).expect("search"));
    let new_judged = judged_first(&|q| index.search(q, 10).expect("search"));
    let one_pass_judged = judged_first(&|q| index.search_one_pass(q, 10).expect("search"));
    let total = judged.len();
    one_pass.report(
        &format!("one pass, every word fuzzed, over {n}"),
        &format!("{one_pass_judged}/{total}"),
    );
    old.report(
        &format!("before issue 21 over {n}"),
        &format!("{old_judged}/{total}"),
    );
    new.report(
        &format!("search over {n}"),
        &format!("{new_judged}/{total}"),
    );
    let (p50, p99, hit_rate) = new.summary();
    println!("search manifests={n} p50_ms={p50:.2} p99_ms={p99:.2} hit_rate={hit_rate:.3}");
}

/// Latencies and hits of one query strategy.
#[derive(Default)]
struct Timing {
    millis: Vec<f64>,
    answered: usize,
}

impl Timing {
    fn time(&mut self, search: impl FnOnce() -> Vec<SearchHit>) {
        let start = Instant::now();
        let hits = search();
        self.millis.push(start.elapsed().as_secs_f64() * 1000.0);
        self.answered += usize::from(!hits.is_empty());
    }

    fn summary(&mut self) -> (f64, f64, f64) {
        self.millis.sort_by(f64::total_cmp);
        (
            percentile(&self.millis, 0.5),
            percentile(&self.millis, 0.99),
            self.answered as f64 / self.millis.len() as f64,
        )
    }

    fn report(&mut self, what: &str, judged: &str) {
        let (p50, p99, _) = self.summary();
        println!(
            "{what}: p50 {p50:.2} ms, p99 {p99:.2} ms, max {:.2} ms; {}/{} queries found something; judged queries ranking their track first: {judged}",
            self.millis[self.millis.len() - 1],
            self.answered,
            self.millis.len()
        );
    }
}

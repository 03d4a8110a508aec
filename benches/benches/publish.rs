//! Publish throughput against BLAKE3 hashing alone on the same bytes.
//!
//! `cargo bench -p busker-benches --bench publish` prints, for two inputs (twenty 1.6 MB MP3s that
//! differ in one tag byte, and three 32 MB WAVs of noise), the MB/s of reading + hashing each file
//! with BLAKE3 (the floor any publish must pay) and of a full `Library::publish_paths`, as `busker publish`
//! runs it (read, probe, chunk + hash, sign, sled writes, one index commit and flush per batch),
//! and their ratio.

// A bench stops at the first failed setup step, as a test does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use busker_core::PublishOptions;
use busker_core::test_utils::{audio_fixture, temp_library, wav_bytes};

fn mp3_variants(dir: &Path, n: usize) -> Vec<PathBuf> {
    let original = std::fs::read(audio_fixture("pg10284_spring_of_love_1903.id3v2_3.mp3"))
        .expect("bundled mp3");
    (0..n)
        .map(|i| {
            let mut bytes = original.clone();
            // The ID3v1 comment field: a different byte gives a different, still valid, file.
            let at = bytes.len() - 128 + 97;
            bytes[at] = b'a' + (i % 26) as u8;
            bytes[at + 1] = b'a' + (i / 26) as u8;
            let path = dir.join(format!("spring-{i}.mp3"));
            std::fs::write(&path, bytes).expect("write variant");
            path
        })
        .collect()
}

fn noise_wavs(dir: &Path, n: usize, bytes_each: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let path = dir.join(format!("noise-{i}.wav"));
            std::fs::write(&path, wav_bytes(bytes_each + 44, i as u32)).expect("write wav");
            path
        })
        .collect()
}

fn total_bytes(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum()
}

fn measure(name: &str, files: &[PathBuf]) {
    let bytes = total_bytes(files) as f64;
    // Warm the page cache so both sides read from memory.
    for f in files {
        let _ = std::fs::read(f);
    }
    let start = Instant::now();
    for f in files {
        let data = std::fs::read(f).expect("read");
        std::hint::black_box(blake3::hash(&data));
    }
    let hash_secs = start.elapsed().as_secs_f64();

    let (_dir, library) = temp_library();
    let start = Instant::now();
    let results = library.publish_paths(files, &PublishOptions::default(), |_| {});
    assert!(results.iter().all(Result::is_ok), "every file publishes");
    let publish_secs = start.elapsed().as_secs_f64();
    let mb = bytes / 1e6;
    println!(
        "{name:<22} {:>4} files {:>7.1} MB | read+BLAKE3 {:>8.1} MB/s | publish {:>8.1} MB/s | ratio {:.2}x",
        files.len(),
        mb,
        mb / hash_secs,
        mb / publish_secs,
        hash_secs / publish_secs
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: only run when benched.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mp3s = mp3_variants(dir.path(), 20);
    let wavs = noise_wavs(dir.path(), 3, 32 << 20);
    measure("MP3 1.6 MB x20", &mp3s);
    measure("WAV 32 MB x3", &wavs);
}

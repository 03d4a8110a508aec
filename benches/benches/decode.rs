//! Decode speed of the player's decoder (symphonia behind `TrackDecoder`) on the bundled MP3,
//! FLAC and Vorbis files, from bytes in memory to interleaved PCM at the file's bit depth, and
//! the local time to first audio of the player (load command to first samples in the sink).
//! `benches/decode_vs_ffmpeg.sh` times ffmpeg on the same files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use busker_core::media::{NullSink, TrackDecoder};
use busker_core::stream::NoNetwork;
use busker_core::test_utils::{audio_fixture, temp_library};
use busker_core::{Player, PlayerEvent, PlayerOptions};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const FILES: &[(&str, &str)] = &[
    ("mp3", "pg10284_spring_of_love_1903.id3v2_3.mp3"),
    ("flac", "opsound_manolo_camp-morning_coffee.tagged.flac"),
    ("vorbis", "opsound_manolo_camp-morning_coffee.tagged.ogg"),
];

fn decode_all(bytes: &[u8], ext: &str) -> u64 {
    let mut decoder = TrackDecoder::from_bytes(bytes.to_vec(), Some(ext)).unwrap();
    let mut samples = 0u64;
    while let Some(block) = decoder.next_block().unwrap() {
        samples += black_box(block.pcm.len()) as u64;
    }
    samples
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    for (label, name) in FILES {
        let path = audio_fixture(name);
        let bytes = std::fs::read(&path).unwrap();
        let ext = Path::new(name).extension().unwrap().to_str().unwrap();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(*label, |b| b.iter(|| decode_all(&bytes, ext)));
    }
    group.finish();
}

fn first_audio(c: &mut Criterion) {
    let (_dir, library) = temp_library();
    let mut group = c.benchmark_group("first_audio_local");
    group.sample_size(20);
    for (label, name) in FILES {
        let manifest = library
            .publish_file(&audio_fixture(name), &Default::default())
            .unwrap();
        group.bench_function(*label, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let player = Player::spawn(
                        library.store().clone(),
                        Arc::new(NoNetwork),
                        Box::new(NullSink::unpaced()),
                        PlayerOptions {
                            stop_after: Some(Duration::from_millis(10)),
                            record_history: false,
                            ..PlayerOptions::default()
                        },
                    );
                    let start = Instant::now();
                    player.load(vec![manifest.id()], 0).unwrap();
                    loop {
                        match player.next_event() {
                            Some(PlayerEvent::FirstAudio { .. }) => {
                                total += start.elapsed();
                                break;
                            }
                            Some(_) => {}
                            None => panic!("the player stopped before any audio"),
                        }
                    }
                    player.shutdown();
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decode, first_audio);
criterion_main!(benches);

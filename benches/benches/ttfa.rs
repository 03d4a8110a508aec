//! Time to first audio for tracks that only remote peers hold, in a 20-peer loopback swarm.
//!
//! `cargo bench -p busker-benches --bench ttfa` starts 20 in-process peers on 127.0.0.1 (each
//! dials the publisher and the peer before it), publishes the bundled audio files on the first
//! peer, lets four more peers fetch them (five providers per track), and then, on each of the 15
//! peers that hold nothing, plays tracks it has only heard of through the real player (null sink,
//! chunks through [`busker_core::Node::chunk_provider`]). Time to first audio is from `load` to
//! the first decoded samples reaching the sink.
//!
//! The floor, measured in the same run for the same (listener, track) pairs: one raw transfer
//! request for the first chunk to a provider plus opening a decoder on those bytes and decoding
//! its first packet. It prints p50 and p95 of both.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use busker_core::media::{NullSink, TrackDecoder};
use busker_core::model::TrackId;
use busker_core::net::PeerId;
use busker_core::test_utils::{self, wait_for};
use busker_core::transfer::protocol::{self, Request, Response};
use busker_core::{Node, NodeOptions, Player, PlayerEvent, PlayerOptions, PublishOptions};

const PEERS: usize = 20;
const SEEDERS: usize = 4;
const FILES: &[&str] = &[
    "sonicpi_guit_em9.flac",
    "sonicpi_loop_tabla.flac",
    "sonicpi_ambi_piano.flac",
    "pg10284_spring_of_love_1903.id3v2_3.mp3",
    "opsound_manolo_camp-morning_coffee.tagged.ogg",
    "opsound_manolo_camp-morning_coffee.wav",
];
const STEP: Duration = Duration::from_secs(30);

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// Waits until `node` has heard of `id` (gossip or catalog sync).
async fn knows(node: &Node, id: TrackId) {
    wait_for(STEP, "the peer to hear of the track", || async {
        node.library().store().has_manifest(&id).ok()?.then_some(())
    })
    .await;
}

async fn first_audio(node: &Node, id: TrackId) -> Duration {
    let options = PlayerOptions {
        record_history: false,
        stop_after: Some(Duration::from_millis(200)),
        chunk_timeout: STEP,
        ..PlayerOptions::default()
    };
    let player = Player::spawn(
        node.library().store().clone(),
        node.chunk_provider(),
        Box::new(NullSink::unpaced()),
        options,
    );
    tokio::task::spawn_blocking(move || {
        player.load(vec![id], 0).unwrap();
        let mut first = None;
        while let Some(event) = player.next_event_timeout(STEP) {
            match event {
                PlayerEvent::FirstAudio { after, .. } => first = Some(after),
                PlayerEvent::Error { message, .. } => panic!("playback failed: {message}"),
                PlayerEvent::Finished { .. } => break,
                _ => {}
            }
        }
        player.shutdown();
        first.expect("first audio")
    })
    .await
    .unwrap()
}

async fn floor(node: &Node, provider: PeerId, id: TrackId, ext: &str) -> Duration {
    let start = Instant::now();
    let request = Request::Chunks {
        track: id,
        start: 0,
        count: 1,
    };
    let response = protocol::request(node.client(), provider, request)
        .await
        .unwrap();
    let Response::Chunks { mut chunks, .. } = response else {
        panic!("no first chunk");
    };
    let ext = ext.to_owned();
    let chunk = chunks.remove(0);
    tokio::task::spawn_blocking(move || {
        let mut decoder = TrackDecoder::from_bytes(chunk, Some(&ext)).unwrap();
        decoder.next_block().unwrap().expect("a first packet");
    })
    .await
    .unwrap();
    start.elapsed()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut peers = Vec::new();
    for _ in 0..PEERS {
        peers.push(test_utils::start_node(NodeOptions::loopback()).await);
    }
    let mut addrs = Vec::new();
    for (_, node) in &peers {
        addrs.push(node.listen_addrs().await.unwrap()[0].clone());
    }
    for (i, (_, node)) in peers.iter().enumerate().skip(1) {
        node.connect(addrs[0].clone()).await.unwrap();
        if i > 1 {
            node.connect(addrs[i - 1].clone()).await.unwrap();
        }
    }
    let paths: Vec<_> = FILES.iter().map(|f| test_utils::audio_fixture(f)).collect();
    let published = peers[0]
        .1
        .publish(paths, PublishOptions::default())
        .await
        .unwrap();
    let tracks: Vec<(TrackId, String)> = published
        .into_iter()
        .map(|r| {
            let m = r.unwrap();
            (m.id(), m.info().format.extension().to_owned())
        })
        .collect();
    for seeder in &peers[1..=SEEDERS] {
        for (id, _) in &tracks {
            knows(&seeder.1, *id).await;
            seeder.1.fetch_to(*id, None).await.unwrap();
        }
    }
    let providers: Vec<_> = peers[..=SEEDERS].iter().map(|p| p.1.peer_id()).collect();

    let mut ttfa = Vec::new();
    let mut floors = Vec::new();
    for (n, listener) in peers[SEEDERS + 1..].iter().enumerate() {
        // Each listener plays two different tracks; together every track is played.
        for k in 0..2 {
            let (id, ext) = &tracks[(2 * n + k) % tracks.len()];
            let (node, id) = (&listener.1, *id);
            knows(node, id).await;
            let provider = providers[(n + k) % providers.len()];
            floors.push(floor(node, provider, id, ext).await.as_secs_f64() * 1000.0);
            ttfa.push(first_audio(node, id).await.as_secs_f64() * 1000.0);
        }
    }
    let trials = ttfa.len();
    println!(
        "time to first audio, {PEERS}-peer loopback swarm, {} providers per track, {trials} plays: p50 {:.1} ms, p95 {:.1} ms; floor (raw first-chunk request + first-packet decode) p50 {:.1} ms, p95 {:.1} ms",
        SEEDERS + 1,
        percentile(&mut ttfa.clone(), 0.5),
        percentile(&mut ttfa, 0.95),
        percentile(&mut floors.clone(), 0.5),
        percentile(&mut floors, 0.95),
    );
    for p in &peers {
        p.1.shutdown().await;
    }
}

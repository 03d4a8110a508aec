//! Radio on loopback: a broadcaster and in-process listeners with real libp2p swarms. Every
//! listener records into a WAV file; the recording must be exactly the broadcast samples (the
//! decoded track from the listener's first segment on), in order, with no gap.

use std::sync::Arc;
use std::time::Duration;

use busker_core::catalog::{self, CatalogEntry};
use busker_core::media::{Pcm, TrackDecoder, WavSink};
use busker_core::model::TrackId;
use busker_core::net::{self, NetworkConfig, Validation};
use busker_core::radio::{
    self as radio, ChannelDescriptor, ChannelId, DropPattern, RadioQueue, SegmentAudio,
    SegmentDraft, TuneOptions, TuneReport,
};
use busker_core::test_utils::{self, wait_for};
use busker_core::{Node, PublishOptions};

use crate::util::{NetPeer as Peer, STEP, decode_f32};

const RATE: u32 = 16_000;

/// Publishes a mono 16-bit WAV of `secs` seconds; returns its id and samples.
async fn publish_track(peer: &Peer, secs: u32, seed: u32) -> (TrackId, Vec<i16>) {
    let wav = test_utils::wav_pcm16(RATE, 1, secs * RATE, seed);
    let path = peer.dir.path().join(format!("radio-{seed}.wav"));
    std::fs::write(&path, &wav).unwrap();
    let options = PublishOptions {
        title: Some(format!("Radio Song {seed}")),
        artist: Some("Radio Artist".into()),
        album: None,
    };
    let id = peer.node.publish(vec![path], options).await.unwrap()[0]
        .as_ref()
        .unwrap()
        .id();
    (id, decode_i16(wav))
}

fn decode_i16(bytes: Vec<u8>) -> Vec<i16> {
    let mut d = TrackDecoder::from_bytes(bytes, Some("wav")).unwrap();
    let mut out = Vec::new();
    while let Some(b) = d.next_block().unwrap() {
        match b.pcm {
            Pcm::I16(v) => out.extend(v),
            other => panic!("expected 16-bit samples, got {other:?}"),
        }
    }
    out
}

/// Starts `n` listener peers: peer `i` dials the broadcaster or earlier listeners, so that most
/// listeners receive segments relayed by other listeners.
async fn listeners(broadcaster: &Peer, n: usize) -> Vec<Peer> {
    let mut peers: Vec<Peer> = Vec::new();
    for i in 0..n {
        let p = Peer::start().await;
        if i < 2 {
            p.connect_to(broadcaster).await;
        } else {
            p.connect_to(&peers[i - 1]).await;
            p.connect_to(&peers[i / 2]).await;
        }
        peers.push(p);
    }
    peers
}

async fn wait_to_hear(peer: &Peer, channel: ChannelId) {
    let node = peer.node.clone();
    wait_for(STEP, "the channel announcement", || {
        let node = node.clone();
        async move {
            node.radio_channels()
                .iter()
                .any(|c| c.id == channel)
                .then_some(())
        }
    })
    .await;
}

/// The newest sequence number the broadcaster has published.
fn last_seq(node: &Node, channel: ChannelId) -> Option<u64> {
    node.radio_channels()
        .into_iter()
        .find(|c| c.id == channel)
        .and_then(|c| c.last_seq)
}

async fn wait_for_segments(node: &Node, channel: ChannelId, count: u64) -> u64 {
    let first = wait_for(STEP, "the first segment", || async {
        last_seq(node, channel)
    })
    .await;
    wait_for(Duration::from_secs(60), "more segments", || async {
        last_seq(node, channel).filter(|s| *s >= first + count)
    })
    .await
}

/// Tunes in for `seconds` of audio, recording into a WAV file in the peer's dir.
fn tune(
    peer: &Peer,
    channel: ChannelId,
    seconds: f64,
    drop_gossip: Option<DropPattern>,
) -> tokio::task::JoinHandle<(TuneReport, Vec<i16>)> {
    let node = peer.node.clone();
    let path = peer.dir.path().join("radio-out.wav");
    tokio::spawn(async move {
        let sink = WavSink::create(&path).unwrap();
        // A tap (what feeds a player's HTTP stream) whose reader never reads: it must not
        // hold up the listener (see `assert_plays_broadcast`).
        let (tap, _stalled_reader) = tokio::sync::mpsc::channel(1);
        let options = TuneOptions {
            drop_gossip,
            tap: Some(tap),
            ..TuneOptions::seconds(seconds)
        };
        let tuning = node
            .radio_tune(channel, Box::new(sink), options)
            .await
            .unwrap();
        let report = tokio::time::timeout(Duration::from_secs(90), tuning.finish())
            .await
            .expect("the listener finishes")
            .expect("the listener plays");
        (report, decode_i16(std::fs::read(&path).unwrap()))
    })
}

/// The recording is the broadcast: the track's samples from the first segment on, in order,
/// without a gap, though a stalled reader held the listener's tap.
fn assert_plays_broadcast(who: &str, report: &TuneReport, recorded: &[i16], track: &[i16]) {
    assert_eq!(report.late, 0, "{who}: no segment missed ({report:?})");
    assert_eq!(report.continuity(), 1.0, "{who}");
    assert!(report.segments >= 3, "{who}: played {report:?}");
    // The tap's reader took nothing after the first segment, and the listener played on.
    assert_eq!(report.tap_left_out, report.segments - 1, "{who}");
    let first = report.first.expect("a first segment");
    let start = first.frame as usize;
    assert!(!recorded.is_empty(), "{who}: recorded nothing");
    assert_eq!(recorded.len() as u64, report.frames, "{who}");
    assert!(
        start + recorded.len() <= track.len(),
        "{who}: past the track's end"
    );
    let expected = &track[start..start + recorded.len()];
    if let Some(i) = (0..recorded.len()).find(|&i| recorded[i] != expected[i]) {
        panic!("{who}: sample {i} differs from the broadcast (start frame {start})");
    }
}

async fn broadcast(b: &Peer, track: TrackId) -> ChannelId {
    b.node
        .radio_start("Loopback FM", RadioQueue::Tracks(vec![track]))
        .await
        .unwrap()
        .id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_listener_records_the_broadcast_samples_in_order() {
    let b = Peer::start().await;
    let (track, samples) = publish_track(&b, 40, 1).await;
    let peers = listeners(&b, 10).await;
    let channel = broadcast(&b, track).await;
    for p in &peers {
        wait_to_hear(p, channel).await;
    }
    let runs: Vec<_> = peers.iter().map(|p| tune(p, channel, 6.0, None)).collect();
    // The broadcaster counts its listeners down the push tree (each child reports those at and
    // below it when it takes a segment): all ten, while they listen.
    wait_for(
        Duration::from_secs(6),
        "the broadcaster to count 10 listeners",
        || async {
            b.node
                .radio_channels()
                .iter()
                .any(|c| c.id == channel && c.broadcasting && c.listeners == 10)
                .then_some(())
        },
    )
    .await;
    for (i, run) in runs.into_iter().enumerate() {
        let (report, recorded) = run.await.unwrap();
        assert_plays_broadcast(&format!("listener {i}"), &report, &recorded, &samples);
        // Now-playing travels with the stream: the one track, an ordinary track id.
        let played: Vec<_> = report.tracks.iter().map(|t| t.track).collect();
        assert_eq!(played, vec![track], "listener {i}");
    }
    let on_air = b
        .node
        .radio_channels()
        .into_iter()
        .find(|c| c.id == channel)
        .and_then(|c| c.now_playing)
        .expect("the broadcaster shows what is on air");
    assert_eq!(on_air.track, track);
    for p in peers.iter().chain([&b]) {
        p.node.shutdown().await;
    }
}

/// A personal radio plays for ever: the recommender's picks (here a new release another peer
/// holds, fetched while the channel plays) and the local library, round after round.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_personal_radio_plays_on_with_a_new_release_fetched_from_a_peer() {
    let seed = Peer::start().await;
    let (fresh, _) = publish_track(&seed, 2, 7).await;
    let b = Peer::start().await;
    let (own, _) = publish_track(&b, 2, 8).await;
    b.connect_to(&seed).await;
    b.wait_to_know(fresh).await;
    let channel = b
        .node
        .radio_start("Mine", RadioQueue::Personal)
        .await
        .unwrap()
        .id();
    let peers = listeners(&b, 1).await;
    wait_to_hear(&peers[0], channel).await;
    let (report, recorded) = tune(&peers[0], channel, 9.0, None).await.unwrap();
    assert_eq!(report.late, 0, "{report:?}");
    assert_eq!(recorded.len() as u64, report.frames);
    let heard: Vec<TrackId> = report.tracks.iter().map(|t| t.track).collect();
    assert!(
        heard.contains(&fresh),
        "the new release is on air: {heard:?}"
    );
    assert!(heard.contains(&own), "the local track is on air: {heard:?}");
    assert!(
        heard.len() > 2,
        "the queue goes on past its first round: {heard:?}"
    );
    // The broadcaster fetched the new release to play it: it is local there now.
    let local = b.node.library().store().local_ids().unwrap();
    assert!(local.contains(&fresh), "fetched while on air");
    for p in peers.iter().chain([&b, &seed]) {
        p.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_listener_starts_at_the_live_point() {
    let b = Peer::start().await;
    let (track, samples) = publish_track(&b, 40, 2).await;
    let early = listeners(&b, 2).await;
    let channel = broadcast(&b, track).await;
    let early_run = tune(&early[0], channel, 12.0, None);
    let live = wait_for_segments(&b.node, channel, 5).await;
    // A newcomer that meets only a listener finds the channel in the DHT and joins late.
    let late = Peer::start().await;
    late.connect_to(&early[1]).await;
    let (report, recorded) = tune(&late, channel, 3.0, None).await.unwrap();
    let first = report.first.expect("played something");
    // The live point is the jitter buffer (1.5 s) behind the newest segment, so it falls in one
    // of the two segments before the newest one when the listener tuned in (or later ones).
    assert!(
        first.seq + 2 >= live,
        "started at segment {} although the broadcast was at {live}",
        first.seq
    );
    assert!(first.frame > 0, "not from the start of the track");
    assert_plays_broadcast("late listener", &report, &recorded, &samples);
    let (report, recorded) = early_run.await.unwrap();
    assert_plays_broadcast("early listener", &report, &recorded, &samples);
    for p in early.iter().chain([&b, &late]) {
        p.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn segments_lost_on_the_way_are_repaired_from_neighbours() {
    let b = Peer::start().await;
    let (track, samples) = publish_track(&b, 40, 3).await;
    let peers = listeners(&b, 6).await;
    let channel = broadcast(&b, track).await;
    for p in &peers {
        wait_to_hear(p, channel).await;
    }
    // One listener's links lose 1 % of the gossip deliveries, another's 20 %.
    let one_percent = DropPattern {
        first: 2,
        every: 100,
    };
    let twenty_percent = DropPattern { first: 1, every: 5 };
    let lossy = tune(&peers[3], channel, 6.0, Some(one_percent));
    let very_lossy = tune(&peers[2], channel, 6.0, Some(twenty_percent));
    let clean = tune(&peers[1], channel, 6.0, None);
    for (name, run) in [("1 %", lossy), ("20 %", very_lossy), ("clean", clean)] {
        let (report, recorded) = run.await.unwrap();
        assert_plays_broadcast(name, &report, &recorded, &samples);
        if name != "clean" {
            assert!(report.dropped >= 1, "{name}: nothing dropped: {report:?}");
            assert!(report.repaired >= 1, "{name}: nothing repaired: {report:?}");
        }
    }
    for p in peers.iter().chain([&b]) {
        p.node.shutdown().await;
    }
}

/// The tree this node sits in on `channel`: (its parent, how many children it pushes to).
fn place(node: &Node, channel: ChannelId) -> Option<(Option<net::PeerId>, usize)> {
    node.radio_channels()
        .into_iter()
        .find(|c| c.id == channel)
        .map(|c| (c.parent, c.children))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn segments_go_down_a_tree_and_the_children_of_a_crashed_listener_play_on() {
    let b = Peer::start().await;
    let (track, samples) = publish_track(&b, 60, 5).await;
    // More listeners than the broadcaster takes children: some sit under other listeners.
    let peers = listeners(&b, radio::tree::BROADCASTER_CHILDREN + 3).await;
    let channel = broadcast(&b, track).await;
    for p in &peers {
        wait_to_hear(p, channel).await;
    }
    let runs: Vec<_> = peers.iter().map(|p| tune(p, channel, 14.0, None)).collect();
    let root = b.node.peer_id();
    let ids: Vec<net::PeerId> = peers.iter().map(|p| p.node.peer_id()).collect();
    // Every listener has a parent, and one that feeds others sits right under the broadcaster.
    let victim = wait_for(STEP, "a tree with a listener feeding others", || async {
        let places: Vec<_> = peers.iter().map(|p| place(&p.node, channel)).collect();
        if places
            .iter()
            .any(|p| p.is_none_or(|(parent, _)| parent.is_none()))
        {
            return None;
        }
        places.iter().position(
            |p| matches!(p, Some((Some(parent), children)) if *parent == root && *children > 0),
        )
    })
    .await;
    let (_, root_children) = place(&b.node, channel).unwrap();
    assert!(
        root_children <= radio::tree::BROADCASTER_CHILDREN,
        "the broadcaster pushes to {root_children} peers"
    );
    let orphans: Vec<usize> = (0..peers.len())
        .filter(|i| place(&peers[*i].node, channel).unwrap().0 == Some(ids[victim]))
        .collect();
    assert!(!orphans.is_empty());

    // The victim crashes mid-broadcast: its children find another parent and play on.
    wait_for_segments(&b.node, channel, 3).await;
    peers[victim].node.crash().await;
    for &i in &orphans {
        wait_for(
            Duration::from_secs(20),
            "an orphan's new parent",
            || async {
                place(&peers[i].node, channel)
                    .and_then(|(parent, _)| parent)
                    .filter(|parent| *parent != ids[victim])
            },
        )
        .await;
    }
    for (i, run) in runs.into_iter().enumerate() {
        if i == victim {
            run.abort();
            continue;
        }
        let (report, recorded) = run.await.unwrap();
        assert_plays_broadcast(&format!("listener {i}"), &report, &recorded, &samples);
    }
    for p in peers.iter().chain([&b]) {
        p.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listener_ends_when_the_broadcast_stops() {
    let b = Peer::start().await;
    // An 8 s broadcast, a listener that asks for 20 s: the rest of its time is missing
    // segments, skipped as late, and it still ends with a report.
    let (track, samples) = publish_track(&b, 8, 6).await;
    let peers = listeners(&b, 2).await;
    let channel = broadcast(&b, track).await;
    wait_to_hear(&peers[1], channel).await;
    let (report, recorded) = tune(&peers[1], channel, 20.0, None).await.unwrap();
    assert!(report.segments >= 1, "played nothing: {report:?}");
    assert!(report.late >= 1, "no segment counted late: {report:?}");
    assert!(report.continuity() < 1.0, "{report:?}");
    // What it played is the broadcast, in order.
    let start = report.first.expect("a first segment").frame as usize;
    assert_eq!(recorded.len() as u64, report.frames);
    assert_eq!(&samples[start..start + recorded.len()], &recorded[..]);
    for p in peers.iter().chain([&b]) {
        p.node.shutdown().await;
    }
}

struct Nothing;

impl busker_core::transfer::protocol::Source for Nothing {
    fn manifest(&self, _: &TrackId) -> Option<Vec<u8>> {
        None
    }
    fn chunks(&self, _: &TrackId, _: u32, _: u16, _: usize) -> Vec<Vec<u8>> {
        Vec::new()
    }
}

impl catalog::protocol::Source for Nothing {
    fn catalog(&self, _: Option<TrackId>, _: usize) -> (Vec<CatalogEntry>, bool) {
        (Vec::new(), false)
    }
    fn manifest(&self, _: &TrackId) -> Option<Vec<u8>> {
        None
    }
}

impl radio::protocol::Source for Nothing {
    fn segments(&self, _: &ChannelId, _: Option<u64>) -> Vec<Vec<u8>> {
        // Answers repair requests with garbage too.
        vec![vec![1, 1, 0, 0]]
    }
}

/// The services of the injector: it holds nothing, and answers radio requests with garbage.
fn nothing() -> net::Services {
    let nothing = Arc::new(Nothing);
    net::Services::default()
        .protocol(busker_core::transfer::offer(nothing.clone()))
        .protocol(catalog::offer(nothing.clone()))
        .protocol(busker_core::taste::offer(|_, _| None))
        .protocol(radio::offer(nothing))
        // Takes anyone who asks to join its radio tree, and pushes forgeries to everyone.
        .protocol(net::Protocol {
            name: radio::tree::PROTOCOL,
            max_request: radio::tree::MAX_REQUEST_BYTES,
            max_response: radio::tree::MAX_RESPONSE_BYTES,
            refused: Vec::new(),
            handler: Arc::new(|_, _: &[u8]| {
                net::Reply::Answer(radio::tree::Response::Joined(Vec::new()).encode())
            }),
        })
        .topic(catalog::releases_topic())
        .max_message(radio::MAX_SEGMENT_BYTES)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_segments_from_an_injector_change_nothing() {
    let b = Peer::start().await;
    let (track, samples) = publish_track(&b, 40, 4).await;
    let peers = listeners(&b, 3).await;
    let channel = broadcast(&b, track).await;
    let descriptor: ChannelDescriptor = b.node.radio_descriptor(channel).await.unwrap();

    // The injector: a bare network actor that joins the topic, accepts anything, takes real
    // segments from the broadcaster's tune-in answers, and sends segments signed by its own
    // key, tampered copies of real segments and garbage: on the channel's gossip topic, and
    // pushed down the radio tree to every listener as if it were their parent.
    let (injector, _events) = net::spawn(
        net::Keypair::generate_ed25519(),
        NetworkConfig::loopback(),
        nothing(),
    )
    .await
    .unwrap();
    for p in peers.iter().chain([&b]) {
        injector.dial(p.addr().await).await.unwrap();
    }
    injector
        .subscribe(
            channel.topic(),
            Arc::new(|_: &[u8], _: Option<&net::PeerId>| Validation::Accept),
        )
        .await
        .unwrap();
    let thief = busker_core::model::ArtistKeypair::generate();
    let sent = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let pushes_refused = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let listener_ids: Vec<net::PeerId> = peers.iter().map(|p| p.node.peer_id()).collect();
    wait_for_segments(&b.node, channel, 2).await;
    let runs: Vec<_> = peers.iter().map(|p| tune(p, channel, 5.0, None)).collect();
    // The attack starts once the listeners are on the channel (subscribed, in its tree).
    for p in &peers {
        wait_for(STEP, "a listener in the tree", || async {
            place(&p.node, channel).and_then(|(parent, _)| parent)
        })
        .await;
    }
    let attack = {
        let injector = injector.clone();
        let (sent, pushes_refused) = (sent.clone(), pushes_refused.clone());
        let broadcaster = b.node.peer_id();
        tokio::spawn(async move {
            let mut pace = tokio::time::interval(Duration::from_millis(300));
            for round in 0..200u64 {
                pace.tick().await;
                let recent = radio::protocol::Request::Recent { channel };
                let Ok(radio::protocol::Response::Segments(list)) =
                    radio::protocol::request(&injector, broadcaster, recent).await
                else {
                    continue;
                };
                let Some(real) = list.last() else { continue };
                let Ok(radio::RadioMessage::Segment(seg)) =
                    radio::RadioMessage::decode(real, &descriptor)
                else {
                    continue;
                };
                // Next sequence numbers, signed by the wrong key, with other audio.
                let mut fields: SegmentDraft = seg.fields().clone();
                fields.seq += 1 + round % 2;
                let frames = seg.frames() as usize;
                fields.audio = SegmentAudio::Pcm(Pcm::silence(&fields.spec, frames));
                let forged = fields.sign(&thief);
                let mut tampered = real.clone();
                let n = tampered.len();
                tampered[n / 2] ^= 0x40;
                for data in [forged.encoded().to_vec(), tampered, vec![1, 1, 9, 9]] {
                    if injector
                        .publish(channel.topic(), data.clone())
                        .await
                        .unwrap_or(false)
                    {
                        sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    for listener in &listener_ids {
                        let push = radio::tree::Request::Push {
                            channel,
                            segment: data.clone(),
                        };
                        if let Ok(radio::tree::Response::Gone) =
                            radio::tree::request(&injector, *listener, push).await
                        {
                            pushes_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            }
        })
    };
    for (i, run) in runs.into_iter().enumerate() {
        let (report, recorded) = run.await.unwrap();
        assert_plays_broadcast(&format!("listener {i}"), &report, &recorded, &samples);
    }
    attack.abort();
    let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(sent >= 3, "the injector got only {sent} messages out");
    let refused = pushes_refused.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        refused >= 3,
        "listeners answered only {refused} pushes from a peer that is not their parent with Gone"
    );
    injector.shutdown().await;
    for p in peers.iter().chain([&b]) {
        p.node.shutdown().await;
    }
}

/// Prints the figures of `benches/benches/radio.rs` (ignored: slow, and it measures rather than
/// checks). Run with `cargo test -p busker --test e2e radio_figures -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore]
async fn radio_figures() {
    crate::util::init_logs();
    crate::bench_radio::radio_fifty_listeners().await;
}

/// MP3, FLAC and Vorbis channels carry the file's own packets: a listener gets a fraction of
/// the PCM's bytes (`kbps` near the file's bitrate) and plays exactly what a decode of the file
/// gives from the live point (for MP3, after the first three frames: a decoder that joins
/// mid-stream lacks the bit reservoir and the filter state of the frames before; for Vorbis,
/// after its first packet, which only primes the decoder). Vorbis's setup headers ride in a
/// track's first segment (and rarely after): a listener joining later gets them with its
/// tune-in answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mp3_flac_and_vorbis_channels_carry_the_files_packets_and_play_them_exactly() {
    let b = Peer::start().await;
    let mut channels = Vec::new();
    for (file, ext, skip_frames) in [
        ("pg10284_spring_of_love_1903.id3v2_3.mp3", "mp3", 3 * 1152),
        ("opsound_manolo_camp-morning_coffee.tagged.flac", "flac", 0),
        ("opsound_manolo_camp-morning_coffee.tagged.ogg", "ogg", 4096),
    ] {
        let path = test_utils::audio_fixture(file);
        let bytes = std::fs::read(&path).unwrap();
        let id = b
            .node
            .publish(vec![path], PublishOptions::default())
            .await
            .unwrap()[0]
            .as_ref()
            .unwrap()
            .id();
        let channel = b
            .node
            .radio_start(ext, RadioQueue::Tracks(vec![id]))
            .await
            .unwrap()
            .id();
        let reference = decode_f32(bytes.clone(), ext);
        let seconds_in_file = {
            let d = TrackDecoder::from_bytes(bytes.clone(), Some(ext)).unwrap();
            d.frames().unwrap() as f64 / f64::from(d.spec().sample_rate)
        };
        let file_kbps = bytes.len() as f64 * 8.0 / 1000.0 / seconds_in_file;
        channels.push((ext, channel, reference, file_kbps, skip_frames));
    }
    let peers = listeners(&b, 4).await;
    let mut runs = Vec::new();
    for (i, p) in peers.iter().enumerate() {
        let (ext, channel, ..) = &channels[i % 3];
        wait_to_hear(p, *channel).await;
        let node = p.node.clone();
        let path = p.dir.path().join(format!("out-{ext}.wav"));
        let channel = *channel;
        runs.push(tokio::spawn(async move {
            let sink = WavSink::create(&path).unwrap();
            let tuning = node
                .radio_tune(channel, Box::new(sink), TuneOptions::seconds(6.0))
                .await
                .unwrap();
            let report = tuning.finish().await.unwrap();
            let ext = "wav";
            (report, decode_f32(std::fs::read(&path).unwrap(), ext))
        }));
    }
    for (i, run) in runs.into_iter().enumerate() {
        let (ext, _, reference, file_kbps, skip) = &channels[i % 3];
        let (report, recorded) = run.await.unwrap();
        let who = format!("listener {i} ({ext})");
        assert_eq!(report.late, 0, "{who}: {report:?}");
        assert_eq!(recorded.len() as u64, report.frames, "{who}");
        let start = report.first.expect("a first segment").frame as usize;
        assert!(
            recorded.len() > skip + 44_100.min(reference.len() / 4),
            "{who}: too little"
        );
        let expected = &reference[start + skip..start + recorded.len()];
        if let Some(at) = (0..expected.len()).find(|&k| recorded[skip + k] != expected[k]) {
            panic!(
                "{who}: sample {} differs from the file's decode (start {start})",
                skip + at
            );
        }
        // As PCM the MP3 channel would be 1,411 kbit/s (44.1 kHz mono floats), 15x the file, and
        // the Vorbis one 256 kbit/s (8 kHz mono floats), 9x.
        // Over a short run, tune-in answers (the same segments from several neighbours) weigh;
        // the bench measures the steady state.
        let kbps = report.kbps();
        println!("figures: radio {ext}: {kbps:.0} kbit/s received, file {file_kbps:.0} kbit/s");
        if *ext != "flac" {
            assert!(
                kbps < 2.5 * file_kbps,
                "{who}: {kbps:.0} kbit/s, file {file_kbps:.0}"
            );
        }
    }
    for p in peers.iter().chain([&b]) {
        p.node.shutdown().await;
    }
}

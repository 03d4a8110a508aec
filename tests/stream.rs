//! Playback from peers through a real node: seeking into a part that has not arrived yet.

use std::time::Duration;

use busker_core::media::WavSink;
use busker_core::test_utils::wait_for;
use busker_core::{Player, PlayerEvent, PlayerOptions};

use crate::util::{NetPeer as Peer, STEP, rate_limited};

const RATE: u64 = 500_000;
/// Longer than the player's chunk timeout (30 s): a stalled download then shows as the
/// player's own error, with its message, rather than as a silent wait.
const EVENT_WAIT: Duration = Duration::from_secs(60);
/// 44.1 kHz stereo 16-bit: 176,400 bytes per second of audio.
const BYTES_PER_SEC: u64 = 176_400;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seek_into_the_undownloaded_part_fetches_that_chunk_first_and_resumes_on_the_sample() {
    let seed = Peer::start_with(rate_limited(RATE)).await;
    let (id, original) = seed.publish_wav("Long Walk", 8_000_000, 5).await;
    let listener = Peer::start().await;
    listener.connect_to(&seed).await;
    listener.wait_to_know(id).await;
    let manifest = listener.node.library().manifest(&id).unwrap();
    let store = listener.node.library().store().clone();

    let out = tempfile::NamedTempFile::new().unwrap();
    let player = Player::spawn(
        store.clone(),
        listener.node.chunk_provider(),
        Box::new(WavSink::create(out.path()).unwrap()),
        PlayerOptions {
            record_history: false,
            ..PlayerOptions::default()
        },
    );
    let target_secs = 40;
    let target_byte = 44 + target_secs * BYTES_PER_SEC;
    let chunk = u64::from(manifest.chunk_size());
    let sought = (target_byte / chunk) as usize;
    // Halfway between the start and the target: a sequential download would bring it first.
    let middle = (target_byte / 2 / chunk) as usize;

    let player = tokio::task::spawn_blocking(move || {
        player.load(vec![id], 0).unwrap();
        loop {
            match player.next_event_timeout(STEP).expect("an event") {
                PlayerEvent::FirstAudio { .. } => break,
                PlayerEvent::Error { message, .. } => panic!("{message}"),
                _ => {}
            }
        }
        player.seek(Duration::from_secs(target_secs)).unwrap();
        player
    })
    .await
    .unwrap();

    let s = store.clone();
    let m = manifest.clone();
    wait_for(STEP, "the sought chunk to arrive", || {
        let s = s.clone();
        let m = m.clone();
        async move { s.chunk(&m, sought).ok()?.map(|_| ()) }
    })
    .await;
    assert!(
        store.chunk(&manifest, middle).unwrap().is_none(),
        "the sought chunk came before the ones the playhead skipped"
    );

    tokio::task::spawn_blocking(move || {
        loop {
            match player.next_event_timeout(EVENT_WAIT).expect("an event") {
                PlayerEvent::Finished { .. } => break,
                PlayerEvent::Error { message, .. } => panic!("{message}"),
                _ => {}
            }
        }
        player.shutdown();
    })
    .await
    .unwrap();

    // The recording ends with exactly the original samples from the target on.
    let recorded = std::fs::read(out.path()).unwrap();
    let tail = &original[target_byte as usize..];
    assert!(recorded.len() > tail.len());
    assert!(
        recorded.ends_with(tail),
        "playback resumed on the sample sought"
    );
    for p in [&seed, &listener] {
        p.node.shutdown().await;
    }
}

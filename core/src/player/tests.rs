use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, sync_channel};

use super::*;
use crate::media::{MediaError, NullSink, Pcm, SampleFormat, SinkInput, TrackDecoder, WavSink};
use crate::model::Manifest;
use crate::store::ListenKind;
use crate::stream::NoNetwork;
use crate::{Library, LibraryOptions};

fn fixture_path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/audio")
        .join(name)
}

fn library() -> (tempfile::TempDir, Library) {
    let dir = tempfile::tempdir().unwrap();
    let library = Library::open(LibraryOptions::new(dir.path()).seed_demo(false)).unwrap();
    (dir, library)
}

fn publish(library: &Library, name: &str) -> Manifest {
    library
        .publish_file(&fixture_path(name), &Default::default())
        .unwrap()
}

/// The exact bytes and spec a direct decode of the original file gives.
fn direct_decode(name: &str) -> (PcmSpec, Vec<u8>) {
    let ext = Path::new(name).extension().and_then(|e| e.to_str());
    let mut d = TrackDecoder::from_bytes(std::fs::read(fixture_path(name)).unwrap(), ext).unwrap();
    let spec = d.spec();
    let mut out = Vec::new();
    while let Some(b) = d.next_block().unwrap() {
        b.pcm.write_le(&spec, &mut out);
    }
    (spec, out)
}

struct Wav {
    format_tag: u16,
    channels: u16,
    sample_rate: u32,
    bits: u16,
    data: Vec<u8>,
}

fn read_wav(path: &Path) -> Wav {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    let riff_len = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    assert_eq!(riff_len + 8, bytes.len() + (bytes.len() % 2), "RIFF length");
    let mut pos = 12;
    let mut fmt = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = &bytes[pos + 8..pos + 8 + len];
        if id == b"fmt " {
            fmt = Some((
                u16::from_le_bytes([body[0], body[1]]),
                u16::from_le_bytes([body[2], body[3]]),
                u32::from_le_bytes(body[4..8].try_into().unwrap()),
                u16::from_le_bytes([body[14], body[15]]),
            ));
        }
        if id == b"data" {
            let (format_tag, channels, sample_rate, bits) = fmt.unwrap();
            return Wav {
                format_tag,
                channels,
                sample_rate,
                bits,
                data: body.to_vec(),
            };
        }
        pos += 8 + len + len % 2;
    }
    panic!("no data chunk");
}

fn wait_finished(player: &Player) -> Vec<PlayerEvent> {
    let mut events = Vec::new();
    loop {
        let e = player
            .next_event_timeout(Duration::from_secs(60))
            .expect("the player finishes within a minute");
        let done = matches!(e, PlayerEvent::Finished { .. });
        events.push(e);
        if done {
            return events;
        }
    }
}

#[test]
fn a_library_track_played_into_a_wav_sink_is_exactly_its_direct_decode() {
    let (_dir, library) = library();
    for name in [
        "sonicpi_guit_em9.flac",
        "opsound_manolo_camp-morning_coffee.wav",
        "pg10284_spring_of_love_1903.id3v2_3.mp3",
    ] {
        let m = publish(&library, name);
        let out = tempfile::NamedTempFile::new().unwrap();
        let sink = WavSink::create(out.path()).unwrap();
        let player = Player::spawn(
            library.store().clone(),
            Arc::new(NoNetwork),
            Box::new(sink),
            PlayerOptions::default(),
        );
        player.load(vec![m.id()], 0).unwrap();
        let events = wait_finished(&player);
        let stats = player.shutdown();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, PlayerEvent::FirstAudio { .. })),
            "{name}"
        );
        let (spec, expected) = direct_decode(name);
        let wav = read_wav(out.path());
        assert_eq!(wav.sample_rate, spec.sample_rate, "{name}");
        assert_eq!(wav.channels, spec.channels, "{name}");
        match spec.format {
            SampleFormat::Int(bits) => {
                assert_eq!((wav.format_tag, wav.bits), (1, bits as u16), "{name}")
            }
            SampleFormat::Float => assert_eq!((wav.format_tag, wav.bits), (3, 32), "{name}"),
        }
        assert_eq!(wav.data.len(), expected.len(), "{name}");
        assert!(wav.data == expected, "{name}: samples differ");
        let frame_bytes = spec.bytes_per_sample() * spec.channels as usize;
        assert_eq!(
            stats.frames as usize,
            expected.len() / frame_bytes,
            "{name}"
        );
        let kinds: Vec<_> = library
            .store()
            .listens()
            .unwrap()
            .into_iter()
            .filter(|l| l.id == m.id())
            .map(|l| l.kind)
            .collect();
        assert_eq!(kinds, [ListenKind::Play, ListenKind::Complete], "{name}");
    }
}

#[test]
fn consecutive_tracks_are_recorded_back_to_back_without_a_gap() {
    let (_dir, library) = library();
    let a = publish(&library, "sonicpi_guit_em9.flac");
    let b = publish(&library, "sonicpi_ambi_piano.flac");
    let out = tempfile::NamedTempFile::new().unwrap();
    let player = Player::spawn(
        library.store().clone(),
        Arc::new(NoNetwork),
        Box::new(WavSink::create(out.path()).unwrap()),
        PlayerOptions::default(),
    );
    player.load(vec![a.id(), b.id()], 0).unwrap();
    let events = wait_finished(&player);
    player.shutdown();
    let started: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            PlayerEvent::TrackStarted { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(started, [a.id(), b.id()]);
    let (_, mut expected) = direct_decode("sonicpi_guit_em9.flac");
    expected.extend(direct_decode("sonicpi_ambi_piano.flac").1);
    let wav = read_wav(out.path());
    assert_eq!(wav.data.len(), (439_768 + 123_998) * 4);
    assert!(wav.data == expected);
}

/// A stand-in for the transfer scheduler: every `need` goes to a "network" thread that stores
/// the chunk from the original file. No sleeps: the store's watch wakes the reader.
struct FakeNetwork {
    asked: Mutex<Vec<usize>>,
    requests: SyncSender<usize>,
}

impl ChunkProvider for FakeNetwork {
    fn need(&self, _manifest: &Manifest, index: usize) {
        self.asked.lock().unwrap().push(index);
        let _ = self.requests.try_send(index);
    }
}

fn serve(store: Store, manifest: Manifest, file: Vec<u8>, requests: Receiver<usize>) {
    std::thread::spawn(move || {
        for index in requests {
            let size = manifest.chunk_size() as usize;
            let start = index * size;
            let bytes = &file[start..start + manifest.chunk_len(index)];
            store.put_chunk(&manifest, index, bytes).unwrap();
        }
    });
}

#[test]
fn a_track_whose_chunks_come_from_peers_plays_as_they_arrive() {
    let name = "sonicpi_loop_tabla.flac";
    let (_dir, library) = library();
    let m = publish(&library, name);
    // A second peer that knows the manifest but holds no chunk.
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db")).unwrap();
    store.put_manifest(&m).unwrap();
    let (tx, rx) = sync_channel(64);
    let network = Arc::new(FakeNetwork {
        asked: Mutex::new(Vec::new()),
        requests: tx,
    });
    serve(
        store.clone(),
        m.clone(),
        std::fs::read(fixture_path(name)).unwrap(),
        rx,
    );
    let out = tempfile::NamedTempFile::new().unwrap();
    let player = Player::spawn(
        store.clone(),
        network.clone(),
        Box::new(WavSink::create(out.path()).unwrap()),
        PlayerOptions::default(),
    );
    player.load(vec![m.id()], 0).unwrap();
    wait_finished(&player);
    player.shutdown();
    assert!(read_wav(out.path()).data == direct_decode(name).1);
    let asked = network.asked.lock().unwrap().clone();
    assert_eq!(
        asked.first(),
        Some(&0),
        "the first chunk is asked for first"
    );
    let mut sorted = asked.clone();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        m.chunks().len(),
        "every chunk asked once: {asked:?}"
    );
}

#[test]
fn a_chunk_nobody_sends_ends_the_track_with_an_error_not_a_hang() {
    let (_dir, library) = library();
    let m = publish(&library, "sonicpi_guit_em9.flac");
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db")).unwrap();
    store.put_manifest(&m).unwrap();
    let player = Player::spawn(
        store,
        Arc::new(NoNetwork),
        Box::new(NullSink::unpaced()),
        PlayerOptions {
            chunk_timeout: Duration::from_millis(100),
            ..PlayerOptions::default()
        },
    );
    player.load(vec![m.id()], 0).unwrap();
    let events = wait_finished(&player);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PlayerEvent::Error { id: Some(id), .. } if *id == m.id())),
        "{events:?}"
    );
    assert_eq!(player.shutdown().frames, 0);
}

#[test]
fn stopping_after_some_seconds_records_a_skip_at_that_position() {
    let (_dir, library) = library();
    let m = publish(&library, "opsound_manolo_camp-morning_coffee.tagged.flac");
    let player = Player::spawn(
        library.store().clone(),
        Arc::new(NoNetwork),
        Box::new(NullSink::unpaced()),
        PlayerOptions {
            stop_after: Some(Duration::from_secs(2)),
            ..PlayerOptions::default()
        },
    );
    player.load(vec![m.id()], 0).unwrap();
    let events = wait_finished(&player);
    assert!(matches!(
        events.last(),
        Some(PlayerEvent::Finished { frames: 16_000 })
    ));
    assert_eq!(player.shutdown().frames, 16_000);
    let listens = library.store().listens().unwrap();
    let kinds: Vec<_> = listens.iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds,
        [ListenKind::Play, ListenKind::Skip { position_ms: 2000 }]
    );
}

#[test]
fn device_sinks_get_f32_resampled_to_their_rate_with_the_volume_applied() {
    /// A device sink at 48 kHz stereo that counts what it gets and paces nothing.
    struct Device(Arc<Mutex<(u64, f32)>>);
    impl AudioSink for Device {
        fn input(&self) -> SinkInput {
            SinkInput::Device {
                sample_rate: 48_000,
                channels: 2,
            }
        }
        fn begin(&mut self, spec: &PcmSpec) -> Result<(), MediaError> {
            assert_eq!(spec.format, SampleFormat::Float);
            Ok(())
        }
        fn write(&mut self, pcm: &Pcm) -> Result<(), MediaError> {
            let Pcm::F32(v) = pcm else {
                panic!("device gets f32")
            };
            let mut s = self.0.lock().unwrap();
            s.0 += v.len() as u64 / 2;
            s.1 = v.iter().fold(s.1, |m, x| m.max(x.abs()));
            Ok(())
        }
        fn finish(&mut self) -> Result<(), MediaError> {
            Ok(())
        }
    }
    let (_dir, library) = library();
    let kick = publish(&library, "sonicpi_drum_heavy_kick.flac");
    let coffee = publish(&library, "opsound_manolo_camp-morning_coffee.tagged.flac");
    let seen = Arc::new(Mutex::new((0u64, 0f32)));
    let player = Player::spawn(
        library.store().clone(),
        Arc::new(NoNetwork),
        Box::new(Device(seen.clone())),
        PlayerOptions::default(),
    );
    player.set_volume(0.0).unwrap();
    player.load(vec![kick.id(), coffee.id()], 0).unwrap();
    wait_finished(&player);
    player.shutdown();
    let (frames, peak) = *seen.lock().unwrap();
    // 11,913 frames at 44.1 kHz and 584,771 at 8 kHz, resampled to 48 kHz.
    let expected = 11_913.0 * 48_000.0 / 44_100.0 + 584_771.0 * 6.0;
    assert!(
        (frames as f64 - expected).abs() < 4.0,
        "{frames} frames, expected {expected}"
    );
    assert_eq!(peak, 0.0, "volume 0 is silence");
}

/// A network that sends the first chunks at once and holds back the rest until released, and
/// reports every request to the test.
struct Gate {
    state: Mutex<(bool, Vec<usize>)>,
    free: usize,
    network: SyncSender<usize>,
    seen: SyncSender<usize>,
}

impl Gate {
    fn release(&self) {
        let mut state = self.state.lock().unwrap();
        state.0 = true;
        for index in state.1.drain(..) {
            self.network.try_send(index).unwrap();
        }
    }
}

impl ChunkProvider for Gate {
    fn need(&self, _manifest: &Manifest, index: usize) {
        let _ = self.seen.try_send(index);
        let mut state = self.state.lock().unwrap();
        if state.0 || index < self.free {
            self.network.try_send(index).unwrap();
        } else {
            state.1.push(index);
        }
    }
}

#[test]
fn seeking_while_waiting_for_a_chunk_asks_for_the_sought_chunk_first_and_plays_from_there() {
    let name = "opsound_manolo_camp-morning_coffee.wav";
    let (_dir, library) = library();
    let m = publish(&library, name);
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db")).unwrap();
    store.put_manifest(&m).unwrap();
    let (network_tx, network_rx) = sync_channel(256);
    let (seen_tx, seen) = sync_channel(256);
    let gate = Arc::new(Gate {
        state: Mutex::new((false, Vec::new())),
        free: 3,
        network: network_tx,
        seen: seen_tx,
    });
    serve(
        store.clone(),
        m.clone(),
        std::fs::read(fixture_path(name)).unwrap(),
        network_rx,
    );
    let out = tempfile::NamedTempFile::new().unwrap();
    let player = Player::spawn(
        store.clone(),
        gate.clone(),
        Box::new(WavSink::create(out.path()).unwrap()),
        PlayerOptions::default(),
    );
    player.load(vec![m.id()], 0).unwrap();
    // The player plays chunks 0..3, then waits for chunk 3, which the gate holds back.
    let wait = Duration::from_secs(30);
    while seen.recv_timeout(wait).unwrap() != 3 {}

    let target = 480_000u64; // 60 s at 8 kHz
    player.seek(Duration::from_secs(60)).unwrap();
    let sought_chunk = ((44 + target * 2) / m.chunk_size() as u64) as usize;
    assert_eq!(seen.recv_timeout(wait).unwrap(), sought_chunk);
    gate.release();
    wait_finished(&player);
    player.shutdown();

    // The recording ends with exactly the samples from 60 s to the end.
    let (_, reference) = direct_decode(name);
    let tail = &reference[target as usize * 2..];
    let wav = read_wav(out.path());
    assert!(wav.data.len() > tail.len());
    assert!(
        wav.data.ends_with(tail),
        "playback resumed on the sample sought"
    );
    // Before the seek, only what chunks 0..3 hold was played.
    let before = wav.data.len() - tail.len();
    assert!(
        before <= 3 * m.chunk_size() as usize,
        "{before} bytes before the seek"
    );
}

#[test]
fn pause_resume_and_next_are_reported_and_the_skip_keeps_its_position() {
    let (_dir, library) = library();
    let a = publish(&library, "opsound_manolo_camp-morning_coffee.tagged.flac");
    let b = publish(&library, "sonicpi_drum_heavy_kick.flac");
    let player = Player::spawn(
        library.store().clone(),
        Arc::new(NoNetwork),
        Box::new(NullSink::paced()),
        PlayerOptions::default(),
    );
    player.load(vec![a.id(), b.id()], 0).unwrap();
    let wait = Duration::from_secs(30);
    loop {
        if let Some(PlayerEvent::TrackStarted { .. }) = player.next_event_timeout(wait) {
            break;
        }
    }
    player.pause().unwrap();
    while player.next_event_timeout(wait).unwrap() != PlayerEvent::Paused(true) {}
    player.play().unwrap();
    while player.next_event_timeout(wait).unwrap() != PlayerEvent::Paused(false) {}
    player.next().unwrap();
    let mut started = Vec::new();
    let events = wait_finished(&player);
    for e in &events {
        if let PlayerEvent::TrackStarted { id, .. } = e {
            started.push(*id);
        }
    }
    assert_eq!(started, [b.id()]);
    player.shutdown();
    let kinds: Vec<_> = library
        .store()
        .listens()
        .unwrap()
        .into_iter()
        .map(|l| (l.id, l.kind))
        .collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert_eq!(kinds[0], (a.id(), ListenKind::Play));
    assert!(
        matches!(kinds[1], (id, ListenKind::Skip { position_ms }) if id == a.id() && position_ms < 73_000),
        "{kinds:?}"
    );
    assert_eq!(kinds[2], (b.id(), ListenKind::Play));
    assert_eq!(kinds[3], (b.id(), ListenKind::Complete));
}

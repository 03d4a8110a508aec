//! The desktop app driven through egui_kittest: the real [`busker::App`] with its real backend
//! worker, its in-process network node (on 127.0.0.1) and the core audio engine, on a temporary
//! data dir, found and clicked through its accessibility tree the way a screen reader sees it.
//! Tests of the audio path give the engine a recording [`WavSink`] and compare what it
//! recorded with a direct decode; tests of the player's own logic use [`RecordingPlayer`],
//! which records what the player was asked to do.

use std::io::{Cursor, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use busker::model::{NetState, RowStatus, Status};
use busker::ui::{network, playlists, publish, search};
use busker::{App, AppOptions, Audio, PlayerCall, RecordingPlayer, State, View};
use busker_core::media::{TrackDecoder, WavSink};
use busker_core::model::TrackId;
use busker_core::{Library, LibraryOptions, Listen, ListenKind};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use crate::util::{NetPeer, audio};

/// How long a test waits for the worker before it fails.
const TIMEOUT: Duration = Duration::from_secs(60);

fn harness(app: App) -> Harness<'static, App> {
    Harness::builder()
        .with_size([1100.0, 720.0])
        .build_ui_state(|ui, app: &mut App| app.show(ui), app)
}

fn app_on(dir: &Path, player: &RecordingPlayer) -> Harness<'static, App> {
    let mut options = AppOptions::loopback(dir);
    options.player = Some(Box::new(player.clone()));
    harness(App::new(options, State::default()))
}

/// A WAV recording kept in memory and readable after the engine let go of it.
#[derive(Clone, Default)]
struct SharedWav(Arc<Mutex<Cursor<Vec<u8>>>>);

impl Write for SharedWav {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for SharedWav {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.0.lock().unwrap().seek(pos)
    }
}

impl SharedWav {
    /// The samples of the `data` chunk.
    fn data(&self) -> Vec<u8> {
        let bytes = self.0.lock().unwrap().get_ref().clone();
        assert_eq!(&bytes[..4], b"RIFF", "a WAV recording");
        let mut pos = 12;
        while pos + 8 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
            if &bytes[pos..pos + 4] == b"data" {
                return bytes[pos + 8..(pos + 8 + len).min(bytes.len())].to_vec();
            }
            pos += 8 + len + len % 2;
        }
        panic!("no data chunk in the recording");
    }
}

/// An app on `dir` (loopback network) whose engine records into `wav`.
fn recording_app_on(dir: &Path, wav: &SharedWav) -> Harness<'static, App> {
    let mut options = AppOptions::loopback(dir);
    options.audio = Audio::Sink(Box::new(WavSink::new(wav.clone())));
    harness(App::new(options, State::default()))
}

/// The samples a direct decode of `bytes` gives, as the recording sink writes them.
fn direct_decode(bytes: Vec<u8>, ext: &str) -> Vec<u8> {
    let mut d = TrackDecoder::from_bytes(bytes, Some(ext)).unwrap();
    let spec = d.spec();
    let mut out = Vec::new();
    while let Some(b) = d.next_block().unwrap() {
        b.pcm.write_le(&spec, &mut out);
    }
    out
}

fn listens_of(dir: &Path, id: TrackId) -> Vec<ListenKind> {
    let library = Library::open(LibraryOptions::new(dir).seed_demo(false)).unwrap();
    let listens = library.store().listens().unwrap();
    listens
        .into_iter()
        .filter(|l| l.id == id)
        .map(|l| l.kind)
        .collect()
}

/// Steps until the player has played its queue to the end (the engine said so).
fn play_to_the_end(h: &mut Harness<'_, App>) {
    step_until(h, "the engine to start the track", |a| {
        a.player.current().is_some() && !a.player.is_buffering()
    });
    step_until(h, "the engine to play to the end", |a| {
        !a.player.is_playing()
            && a.player.current().is_some()
            && a.player.position() == a.player.duration()
    });
}

/// Steps frames until `done` holds, failing after [`TIMEOUT`].
fn step_until(h: &mut Harness<'_, App>, what: &str, done: impl Fn(&App) -> bool) {
    let start = Instant::now();
    while !done(h.state()) {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    h.step();
}

/// Opens Search with Ctrl+F, types `typed`, and waits until the demo track "Spring of love"
/// is the first hit; returns its id.
fn find_spring_of_love(h: &mut Harness<'_, App>, typed: &str) -> TrackId {
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::F);
    h.run_steps(2);
    h.get_by_label(search::FIELD_LABEL).type_text(typed);
    step_until(h, "search results", |a| {
        a.model
            .search
            .hits
            .first()
            .is_some_and(|t| t.info.title == "Spring of love")
    });
    h.state().model.search.hits[0].id
}

/// Waits for the library and the network to come up, then opens the Network view.
fn open_network_view(h: &mut Harness<'_, App>) {
    open(h);
    step_until(h, "the network to start", |a| {
        matches!(a.model.net.state, NetState::Up { .. })
    });
    h.get_by_role_and_label(Role::Button, "Network").click();
    h.run_steps(2);
}

/// Types `addr` into the Network view's address field and presses Connect.
fn dial_from_network_view(h: &mut Harness<'_, App>, addr: &str) {
    h.get_by_label(network::ADDRESS_LABEL).click();
    h.run_steps(1);
    h.get_by_label(network::ADDRESS_LABEL).type_text(addr);
    h.run_steps(1);
    h.get_by_role_and_label(Role::Button, network::CONNECT_LABEL)
        .click();
}

/// The track titled `title` in the Library the app holds.
fn library_track(h: &Harness<'_, App>, title: &str) -> busker_core::TrackSummary {
    let tracks = &h.state().model.tracks;
    let found = tracks.iter().find(|t| t.info.title == title);
    found
        .unwrap_or_else(|| panic!("no {title:?} in the library"))
        .clone()
}

fn open(h: &mut Harness<'_, App>) {
    step_until(h, "the library to open", |a| {
        a.is_ready() && !a.model.tracks.is_empty()
    });
}

#[test]
fn first_start_shows_the_demo_library_and_every_view_opens() {
    let dir = tempfile::tempdir().unwrap();
    let player = RecordingPlayer::default();
    let mut h = app_on(dir.path(), &player);
    open(&mut h);
    assert_eq!(h.state().model.tracks.len(), 5, "the five demo tracks");
    // The demo track shows in the Library table.
    h.get_by_label("Play Spring of love");
    step_until(&mut h, "the network to start", |a| {
        matches!(a.model.net.state, NetState::Up { .. })
    });
    let NetState::Up { peer_id, listen } = h.state().model.net.state.clone() else {
        unreachable!()
    };
    assert!(
        listen.iter().all(|a| a.starts_with("/ip4/127.0.0.1/tcp/")),
        "tests listen on loopback only: {listen:?}"
    );
    let unique_text = [
        (View::Library, "Here (published or fetched)"),
        (View::Playlists, "No playlists yet"),
        (View::Queue, "The queue is empty"),
        (View::Search, "Type to search what this peer has heard of."),
        (View::Discover, "Recommended for you"),
        (View::Radio, "No channels heard of yet"),
        (View::Publish, publish::PATH_LABEL),
        (View::Network, peer_id.as_str()),
        (View::Settings, "Dark theme"),
    ];
    for (view, text) in unique_text {
        h.get_by_role_and_label(Role::Button, view.label()).click();
        h.run_steps(2);
        assert_eq!(h.state().state.view, view);
        assert!(
            h.query_all_by_label_contains(text).next().is_some(),
            "{view:?} shows {text:?}"
        );
    }
    // The player bar is always there; on a first start, Play plays the demo library.
    h.get_by_label("Volume");
    h.get_by_label("Next track");
    h.get_by_label("Play").click();
    h.run_steps(2);
    let first = h.state().model.tracks[0].id;
    assert_eq!(h.state().player.current().map(|t| t.id), Some(first));
    assert!(player.calls().contains(&PlayerCall::Load(first.to_hex())));
    // The Network view offers the own addresses to copy.
    h.get_by_role_and_label(Role::Button, "Network").click();
    h.run_steps(2);
    h.get_by_label("Copy peer id");
    h.get_by_label("Copy address 1");
    assert!(
        h.query_all_by_label_contains("Traffic: up")
            .next()
            .is_some()
    );
}

#[test]
fn discover_lists_what_close_neighbours_like_with_the_reason_and_plays_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        // The owner played "Spring of love"; two peers whose signed profiles the taste exchange
        // kept played it too, and "Morning Coffee".
        let library = Library::open(LibraryOptions::new(dir.path())).unwrap();
        let tracks = library.list().unwrap();
        let id_of = |title: &str| tracks.iter().find(|t| t.info.title == title).unwrap().id;
        let (spring, coffee) = (id_of("Spring of love"), id_of("Morning Coffee"));
        let play = |store: &busker_core::Store, id| {
            let kind = ListenKind::Play;
            store.record_listen(&Listen { id, at_ms: 1, kind }).unwrap();
        };
        play(library.store(), spring);
        library.taste().refresh().unwrap();
        for seed in [21u8, 22] {
            let other = tempfile::tempdir().unwrap();
            let store = busker_core::Store::open(&other.path().join("db")).unwrap();
            play(&store, spring);
            play(&store, coffee);
            let taste = busker_core::taste::Taste::open(store, [seed; 32]).unwrap();
            let peer = busker_core::net::keypair_from_seed([seed; 32])
                .unwrap()
                .public()
                .to_peer_id();
            library.taste().receive(&peer, &taste.message()).unwrap();
        }
        assert_eq!(library.taste().neighbour_count(), 2);
    }
    let player = RecordingPlayer::default();
    let mut h = app_on(dir.path(), &player);
    open(&mut h);
    step_until(&mut h, "recommendations", |a| {
        !a.model.recommendations.is_empty()
    });
    h.get_by_role_and_label(Role::Button, "Discover").click();
    h.run_steps(2);
    h.get_by_label("liked by 2 peers whose taste is close to yours");
    assert!(
        h.query_by_label("Play Spring of love").is_none(),
        "a track the owner played is not recommended"
    );
    h.get_by_label("Play Morning Coffee").click();
    h.run_steps(2);
    let current = h.state().player.current().map(|t| t.info.title.clone());
    assert_eq!(current.as_deref(), Some("Morning Coffee"));
}

#[test]
fn the_radio_view_tunes_in_to_a_peers_channel_and_starts_its_own() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let seed = runtime.block_on(NetPeer::start());
    let (id, _) = runtime.block_on(seed.publish_wav("Night Shift", 2_000_000, 12));
    let queue = busker_core::radio::RadioQueue::Tracks(vec![id]);
    let seed_channel = runtime
        .block_on(seed.node.radio_start("Seed FM", queue))
        .unwrap()
        .id();
    let seed_addr = runtime.block_on(seed.addr()).to_string();

    let dir = tempfile::tempdir().unwrap();
    let player = RecordingPlayer::default();
    let mut h = app_on(dir.path(), &player);
    open_network_view(&mut h);
    dial_from_network_view(&mut h, &seed_addr);
    step_until(&mut h, "the seed's channel to be heard of", |a| {
        a.model
            .net
            .status
            .channels
            .iter()
            .any(|c| c.name == "Seed FM")
    });

    h.get_by_role_and_label(Role::Button, "Radio").click();
    h.run_steps(2);
    h.get_by_label("Tune in to Seed FM").click();
    step_until(&mut h, "the app to be tuned in", |a| {
        a.model
            .net
            .status
            .channels
            .iter()
            .any(|c| c.name == "Seed FM" && c.tuned)
    });
    h.get_by_label("tuned in");
    // What is on air shows under the channel; the listener rates it and saves it.
    step_until(&mut h, "the track on air", |a| {
        a.model.net.status.channels.iter().any(|c| {
            c.tuned
                && c.now_playing
                    .as_ref()
                    .is_some_and(|t| t.title == "Night Shift")
        })
    });
    h.run_steps(2);
    h.get_by_label("Rate Night Shift 4 stars").click();
    step_until(&mut h, "the rating", |a| a.model.rating(&id) == 4);
    h.get_by_label("Save Night Shift to the library").click();
    step_until(&mut h, "the saved track in the library", |a| {
        a.model.tracks.iter().any(|t| t.id == id && t.local)
    });
    h.run_steps(2);
    h.get_by_label("in your library");
    assert!(
        h.query_by_label_contains("stalled").is_none(),
        "premise: it plays"
    );
    // The seed goes off air: the tuned row says the channel has stalled.
    assert!(seed.node.radio_stop(&seed_channel));
    step_until(&mut h, "the channel to show as stalled", |a| {
        a.model
            .net
            .status
            .channels
            .iter()
            .any(|c| c.name == "Seed FM" && c.stalled.is_some())
    });
    h.run_steps(1);
    h.get_by_label_contains("stalled: nothing for");

    h.get_by_label("Channel name").click();
    h.run_steps(1);
    h.get_by_label("Channel name").type_text("Kitchen FM");
    h.run_steps(1);
    // The app's own channel plays its personal radio (endless, from its recommendations).
    h.get_by_label("Personal radio").click();
    h.run_steps(1);
    assert!(h.state().state.radio_personal);
    h.get_by_role_and_label(Role::Button, "Start broadcasting")
        .click();
    step_until(&mut h, "the app's own channel", |a| {
        a.model
            .net
            .status
            .channels
            .iter()
            .any(|c| c.name == "Kitchen FM" && c.broadcasting)
    });
    // The seed hears of it over the network.
    runtime.block_on(busker_core::test_utils::wait_for(
        Duration::from_secs(20),
        "the seed to hear of the app's channel",
        || async {
            seed.node
                .radio_channels()
                .iter()
                .any(|c| c.name == "Kitchen FM")
                .then_some(())
        },
    ));
    h.get_by_role_and_label(Role::Button, "Stop radio").click();
    h.run_steps(2);
    drop(h);
    runtime.block_on(seed.node.shutdown());
}

#[test]
fn a_demo_track_found_by_search_plays_through_the_engine_exactly_as_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let wav = SharedWav::default();
    let mut h = recording_app_on(dir.path(), &wav);
    open(&mut h);
    step_until(&mut h, "the audio engine", |a| a.player.has_engine());

    let id = find_spring_of_love(&mut h, "sprng of love");
    h.get_by_label("Play Spring of love").click();
    h.run_steps(1);
    let current = h.state().player.current().cloned().unwrap();
    assert_eq!(current.id, id);
    assert_eq!(
        busker::ui::player_bar::source(&current),
        "this device (local)"
    );
    play_to_the_end(&mut h);
    drop(h);

    // The recording starts with exactly the samples of the demo file, decoded directly.
    let expected = direct_decode(
        std::fs::read(audio("pg10284_spring_of_love_1903.id3v2_3.mp3")).unwrap(),
        "mp3",
    );
    let recorded = wav.data();
    assert!(expected.len() > 100_000, "a real track");
    assert!(
        recorded.len() >= expected.len(),
        "recorded {} of {} bytes",
        recorded.len(),
        expected.len()
    );
    assert!(
        recorded[..expected.len()] == expected[..],
        "the samples differ"
    );
    // The engine wrote the listening history, as `busker play` does.
    let kinds = listens_of(dir.path(), id);
    assert!(kinds.contains(&ListenKind::Play), "{kinds:?}");
    assert!(kinds.contains(&ListenKind::Complete), "{kinds:?}");
}

#[test]
fn a_peer_connected_in_the_network_view_shows_and_its_track_streams_into_the_player() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let seed = runtime.block_on(NetPeer::start());
    let (id, content) = runtime.block_on(seed.publish_wav("Harbor Lights", 400_000, 11));
    let seed_addr = runtime.block_on(seed.addr()).to_string();
    let seed_id = seed.node.peer_id().to_string();

    let dir = tempfile::tempdir().unwrap();
    let wav = SharedWav::default();
    let mut h = recording_app_on(dir.path(), &wav);
    open_network_view(&mut h);

    // A mistyped address is refused on the spot, with the reason.
    dial_from_network_view(&mut h, "192.0.2.1:4001");
    step_until(&mut h, "the bad address to be refused", |a| {
        matches!(&a.model.net.last_dial, Some((_, Err(_))))
    });
    h.get_by_label_contains("Could not connect to 192.0.2.1:4001: not a peer address");
    assert!(h.state().state.peer_addresses.is_empty());

    dial_from_network_view(&mut h, &seed_addr);
    step_until(&mut h, "the peer in the peer list", |a| {
        a.model
            .net
            .status
            .peers
            .iter()
            .any(|p| p.peer_id == seed_id)
            && a.model.net.dialling.is_empty()
    });
    assert!(
        h.query_all_by_label(&seed_id).next().is_some(),
        "the Network view lists the peer"
    );
    assert_eq!(h.state().state.peer_addresses, vec![seed_addr.clone()]);

    // Catalog sync brings the peer's track; it is only on that peer.
    step_until(&mut h, "the peer's track in the library", |a| {
        a.model
            .tracks
            .iter()
            .any(|t| t.id == id && !t.local && t.providers == 1)
    });
    h.get_by_role_and_label(Role::Button, "Library").click();
    h.run_steps(2);
    let track = h
        .state()
        .model
        .tracks
        .iter()
        .find(|t| t.id == id)
        .unwrap()
        .clone();
    assert_eq!(busker::ui::player_bar::source(&track), "1 peer");
    step_until(&mut h, "the audio engine", |a| a.player.has_engine());
    h.get_by_label("Play Harbor Lights").click();
    play_to_the_end(&mut h);
    step_until(&mut h, "the streamed track to be local", |a| {
        a.model.tracks.iter().any(|t| t.id == id && t.local)
    });
    step_until(&mut h, "the finished transfer in the Network view", |a| {
        a.model.net.transfer(&id).is_some_and(|t| t.have == t.total)
    });
    drop(h);

    let expected = direct_decode(content, "wav");
    let recorded = wav.data();
    assert!(
        recorded.len() >= expected.len(),
        "recorded {} of {} bytes",
        recorded.len(),
        expected.len()
    );
    assert!(
        recorded[..expected.len()] == expected[..],
        "the samples differ"
    );
    runtime.block_on(seed.node.shutdown());
}

#[test]
fn search_as_you_type_finds_a_demo_track_and_plays_it() {
    let dir = tempfile::tempdir().unwrap();
    let player = RecordingPlayer::default();
    let mut h = app_on(dir.path(), &player);
    open(&mut h);

    // Ctrl+F opens Search with the cursor in the field.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::F);
    h.run_steps(2);
    assert_eq!(h.state().state.view, View::Search);
    assert!(h.get_by_label(search::FIELD_LABEL).is_focused());
    // A typo, as typed.
    h.get_by_label(search::FIELD_LABEL)
        .type_text("sprng of love");
    step_until(&mut h, "search results", |a| {
        a.model
            .search
            .hits
            .first()
            .is_some_and(|t| t.info.title == "Spring of love")
    });
    assert_eq!(h.state().state.search_query, "sprng of love");
    let id = h.state().model.search.hits[0].id;
    assert!(
        h.query_all_by_label("here").next().is_some(),
        "availability is shown"
    );

    h.get_by_label("Play Spring of love").click();
    h.run_steps(2);
    let app = h.state();
    assert_eq!(app.player.current().map(|t| t.id), Some(id));
    assert!(app.player.is_playing());
    let calls = player.calls();
    assert!(calls.contains(&PlayerCall::Load(id.to_hex())), "{calls:?}");
    assert_eq!(calls.last(), Some(&PlayerCall::Play));
    h.get_by_label_contains("from this device (local)");

    // Keyboard: space pauses, the right arrow seeks forward 5 s.
    h.key_press(egui::Key::Space);
    h.run_steps(2);
    assert!(!h.state().player.is_playing());
    assert_eq!(player.calls().last(), Some(&PlayerCall::Pause));
    let before = h.state().player.position();
    h.key_press(egui::Key::ArrowRight);
    h.run_steps(2);
    let after = h.state().player.position();
    assert!(
        after >= before + Duration::from_secs(5),
        "{before:?} -> {after:?}"
    );
    h.get_by_label("Play").click();
    h.run_steps(2);
    assert!(h.state().player.is_playing());
}

#[test]
fn publish_a_file_with_an_edited_title_and_see_it_in_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let player = RecordingPlayer::default();
    let mut h = app_on(dir.path(), &player);
    open(&mut h);
    h.get_by_role_and_label(Role::Button, "Publish").click();
    h.run_steps(2);

    let path = audio("sonicpi_ambi_piano.flac");
    h.get_by_label(publish::PATH_LABEL).click();
    h.run_steps(1);
    h.get_by_label(publish::PATH_LABEL).type_text(&path);
    h.run_steps(1);
    h.get_by_label("Add files").click();
    step_until(&mut h, "the file's tags", |a| {
        a.model.publish_rows.len() == 1 && a.model.publish_rows[0].status == RowStatus::Ready
    });

    let title = h.get_by_role_and_label(Role::TextInput, "Title");
    title.click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_role_and_label(Role::TextInput, "Title")
        .type_text("Piano at Dawn");
    h.run_steps(2);
    assert_eq!(h.state().model.publish_rows[0].title, "Piano at Dawn");

    h.get_by_label("Publish 1 file").click();
    step_until(&mut h, "the publish to finish", |a| {
        matches!(a.model.publish_rows[0].status, RowStatus::Published(_))
    });
    step_until(&mut h, "the library to list it", |a| {
        a.model
            .tracks
            .iter()
            .any(|t| t.info.title == "Piano at Dawn" && t.local)
    });
    h.get_by_role_and_label(Role::Button, "Library").click();
    h.run_steps(2);
    h.get_by_label("Play Piano at Dawn");

    // The first release signed here offers the key's backup; Settings writes it.
    assert!(
        h.state()
            .model
            .notices
            .iter()
            .any(|n| n == busker::app::KEY_BACKUP_OFFER),
        "{:?}",
        h.state().model.notices
    );
    let backup = dir.path().join("my-key.txt");
    h.state_mut().model.key_backup_input = backup.display().to_string();
    h.get_by_role_and_label(Role::Button, View::Settings.label())
        .click();
    h.run_steps(2);
    h.get_by_role_and_label(Role::Button, busker::ui::settings::EXPORT_KEY_LABEL)
        .click();
    step_until(&mut h, "the backup file", |_| backup.exists());
    let key = busker_core::artist::backup::parse(&std::fs::read_to_string(&backup).unwrap())
        .expect("a backup that reads back");
    let Status::Open { artist_key, .. } = &h.state().model.status else {
        panic!("the library is open");
    };
    assert_eq!(&key.public().to_hex(), artist_key);

    // A file that is not audio fails on its own row, with the reason.
    let bad = dir.path().join("notes.mp3");
    std::fs::write(&bad, b"not audio at all").unwrap();
    h.get_by_role_and_label(Role::Button, "Publish").click();
    h.run_steps(2);
    h.get_by_label(publish::PATH_LABEL).click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label(publish::PATH_LABEL)
        .type_text(&bad.to_string_lossy());
    h.run_steps(1);
    h.get_by_label("Add files").click();
    step_until(&mut h, "the bad file's row", |a| {
        a.model.publish_rows.len() == 2
            && matches!(a.model.publish_rows[1].status, RowStatus::Unreadable(_))
    });
    h.get_by_label_contains("cannot publish");
}

#[test]
fn a_rating_is_saved_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let player = RecordingPlayer::default();
    let id = {
        let mut h = app_on(dir.path(), &player);
        open(&mut h);
        let id = library_track(&h, "Spring of love").id;
        h.get_by_label("Rate Spring of love 4 stars").click();
        step_until(&mut h, "the rating to be saved", |a| {
            a.model.rating(&id) == 4
        });
        id
    };
    // The harness (and with it the worker and the data dir lock) is gone; start again.
    let mut h = app_on(dir.path(), &player);
    open(&mut h);
    assert_eq!(h.state().model.rating(&id), 4);
    assert!(matches!(h.state().model.status, Status::Open { .. }));
}

#[test]
fn app_state_round_trips_and_old_state_loads_with_defaults() {
    let state = State {
        view: View::Network,
        volume: 0.3,
        peer_addresses: vec!["/ip4/127.0.0.1/tcp/4001".into()],
        ..State::default()
    };
    let text = serde_json::to_string(&state).unwrap();
    let back: State = serde_json::from_str(&text).unwrap();
    assert_eq!(back, state);
    let old: State = serde_json::from_str(r#"{"view":"Search"}"#).unwrap();
    assert_eq!(old.view, View::Search);
    assert_eq!(old.volume, State::default().volume);
}

/// Seeds `dir` with `n` tracks heard of (signed manifests in the store, as gossip would leave
/// them), with titles and artists drawn from small word lists.
fn seed_catalog(dir: &Path, n: usize) {
    use busker_core::model::{ArtistKeypair, ManifestDraft, TrackInfo, split_chunks};
    const WORDS: &[&str] = &[
        "midnight", "river", "golden", "echo", "summer", "rain", "velvet", "static", "northern",
        "lights", "paper", "moon", "electric", "garden", "silver", "coast", "hollow", "fire",
        "glass", "harbor", "wild", "honey", "city", "dreams", "ocean", "drive", "neon", "forest",
        "winter", "song", "broken", "radio", "sunday", "morning", "last", "dance",
    ];
    let library = Library::open(LibraryOptions::new(dir).seed_demo(false)).unwrap();
    let key = ArtistKeypair::from_seed([7; 32]);
    let word = |i: usize| WORDS[i % WORDS.len()];
    for i in 0..n {
        let bytes = (i as u64).to_le_bytes();
        let (chunk_size, chunks) = split_chunks(&bytes).unwrap();
        let m = ManifestDraft {
            info: TrackInfo {
                title: format!("{} {} {}", word(i), word(i / 7 + 3), i),
                artist: format!("{} {}", word(i / 11 + 5), word(i / 13 + 9)),
                album: format!("{} {}", word(i / 17), word(i / 19 + 1)),
                duration_ms: 180_000 + (i as u64 % 120) * 1000,
                ..TrackInfo::default()
            },
            file_size: bytes.len() as u64,
            chunk_size,
            chunks,
            published_at: 1_700_000_000 + i as u64,
        }
        .sign(&key);
        library.store().put_manifest(&m).unwrap();
    }
    library.store().flush().unwrap();
}

/// The figure in BENCHMARKS.md ("Desktop app"): UI-thread frame time (layout + tessellation, no GPU) while
/// typing a query one character per frame into Search over a catalog of 100,000 tracks, with
/// the real backend answering each keystroke. Run with
/// `cargo test -p busker --release --test e2e -- --ignored --nocapture frame_time`.
#[test]
#[ignore = "a measurement: seeds 100,000 tracks"]
fn frame_time_while_searching_100k_tracks() {
    const TRACKS: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    seed_catalog(dir.path(), TRACKS);
    eprintln!(
        "seeded {TRACKS} tracks in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let ctx = egui::Context::default();
    let mut options = AppOptions::loopback(dir.path());
    options.audio = Audio::None;
    let mut app = App::new(options, State::default());
    let screen = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1280.0, 800.0));
    let frame = |app: &mut App, events: Vec<egui::Event>| -> Duration {
        let input = egui::RawInput {
            screen_rect: Some(screen),
            events,
            ..Default::default()
        };
        let start = Instant::now();
        let output = ctx.run_ui(input, |ui| app.show(ui));
        let _meshes = ctx.tessellate(output.shapes, output.pixels_per_point);
        start.elapsed()
    };
    let start = Instant::now();
    while !(app.is_ready() && app.model.tracks.len() == TRACKS) {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "library did not open"
        );
        frame(&mut app, Vec::new());
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "opened (index rebuilt) in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    // The Library view over all 100,000 tracks, scrolled by its virtual list.
    let mut library_frames: Vec<Duration> = (0..60).map(|_| frame(&mut app, Vec::new())).collect();

    app.execute(busker::ui::Command::FocusSearch);
    frame(&mut app, Vec::new());
    let query = "golden river midnight";
    let mut frames = Vec::new();
    let mut searches = 0;
    for c in query.chars() {
        frames.push(frame(&mut app, vec![egui::Event::Text(c.to_string())]));
        // A fast typist: ~8 characters per second at 60 frames per second.
        for _ in 0..7 {
            std::thread::sleep(Duration::from_millis(16));
            frames.push(frame(&mut app, Vec::new()));
        }
        searches += 1;
    }
    let wait = Instant::now();
    while app.model.search.shown < app.model.search.sent {
        assert!(wait.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(5));
        frames.push(frame(&mut app, Vec::new()));
    }
    assert_eq!(app.state.search_query, query);
    assert!(!app.model.search.hits.is_empty());
    let stats = |v: &mut Vec<Duration>| {
        v.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let p = |q: f64| ms(v[((v.len() - 1) as f64 * q) as usize]);
        format!(
            "frames {} median {:.2} ms p99 {:.2} ms max {:.2} ms",
            v.len(),
            p(0.5),
            p(0.99),
            ms(v[v.len() - 1])
        )
    };
    eprintln!(
        "library view, {TRACKS} tracks: {}",
        stats(&mut library_frames)
    );
    eprintln!(
        "search as you type ({searches} keystrokes, {} hits, last search {:.1} ms in the worker): {}",
        app.model.search.hits.len(),
        app.model.search.took.as_secs_f64() * 1000.0,
        stats(&mut frames)
    );
    assert!(frames.iter().all(|f| *f < Duration::from_millis(100)));
}

#[test]
fn with_its_listen_port_taken_the_app_runs_offline_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    // Another program holds the one port the app is told to listen on.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let player = RecordingPlayer::default();
    let mut options = AppOptions::loopback(dir.path());
    options.listen = Some(vec![format!("/ip4/127.0.0.1/tcp/{port}")]);
    options.player = Some(Box::new(player.clone()));
    let mut h = harness(App::new(options, State::default()));
    open(&mut h);
    step_until(&mut h, "the network to fail", |a| {
        matches!(a.model.net.state, NetState::Failed(_))
    });

    // The library's flows still run, through the offline node.
    find_spring_of_love(&mut h, "spring of love");

    // The Network view says why; what needs a peer answers that the network is not running.
    h.get_by_role_and_label(Role::Button, View::Network.label())
        .click();
    h.run_steps(2);
    h.get_by_label_contains("The app works offline");
    h.get_by_role_and_label(Role::Button, View::Radio.label())
        .click();
    h.run_steps(2);
    h.get_by_label("Channel name").click();
    h.run_steps(1);
    h.get_by_label("Channel name").type_text("Offline FM");
    h.run_steps(1);
    h.get_by_role_and_label(Role::Button, "Start broadcasting")
        .click();
    step_until(&mut h, "the radio's answer", |a| {
        a.model
            .notices
            .iter()
            .any(|n| n.contains("cannot start the channel"))
    });
    let notice = h.state().model.notices.last().cloned().unwrap_or_default();
    assert!(notice.contains("the network is not running"), "{notice}");
    assert!(
        h.state().model.net.status.channels.is_empty(),
        "no channel on air"
    );
    drop(taken);
}

#[test]
fn an_artist_blocked_from_a_list_disappears_and_comes_back_from_settings() {
    let dir = tempfile::tempdir().unwrap();
    let player = RecordingPlayer::default();
    let mut h = app_on(dir.path(), &player);
    open(&mut h);
    let spring = library_track(&h, "Spring of love");
    let before = h.state().model.tracks.len();
    let same_key = h
        .state()
        .model
        .tracks
        .iter()
        .filter(|t| t.artist_key == spring.artist_key)
        .count();
    // Right-click the artist in the Library list, then Block.
    h.get_all_by_label(&spring.info.artist)
        .next()
        .unwrap()
        .click_secondary();
    h.run_steps(2);
    h.get_by_label_contains("Block ").click();
    step_until(&mut h, "the artist's releases to disappear", |a| {
        a.model.tracks.len() == before - same_key
    });
    assert!(
        h.state()
            .model
            .tracks
            .iter()
            .all(|t| t.artist_key != spring.artist_key)
    );
    assert_eq!(h.state().model.blocked, vec![spring.artist_key]);
    // Settings lists the key with Unblock; it brings the releases back.
    h.get_by_role_and_label(Role::Button, View::Settings.label())
        .click();
    h.run_steps(2);
    h.get_by_role_and_label(Role::Button, "Unblock").click();
    step_until(&mut h, "the artist's releases to come back", |a| {
        a.model.tracks.len() == before && a.model.blocked.is_empty()
    });
}

#[test]
fn a_playlist_made_in_the_app_takes_tracks_from_the_library_reorders_and_plays_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let player = RecordingPlayer::default();
    let mut h = app_on(dir.path(), &player);
    open(&mut h);
    h.get_by_role_and_label(Role::Button, View::Playlists.label())
        .click();
    h.run_steps(2);
    h.get_by_label(playlists::NEW_LABEL).click();
    h.run_steps(1);
    h.get_by_label(playlists::NEW_LABEL).type_text("Evening");
    h.run_steps(1);
    h.get_by_role_and_label(Role::Button, "Create").click();
    step_until(&mut h, "the playlist to be made", |a| {
        a.model.playlists.len() == 1
    });
    // Right-click a title in the Library, then Add to playlist > Evening: twice.
    let spring = library_track(&h, "Spring of love");
    let coffee = library_track(&h, "Morning Coffee");
    h.get_by_role_and_label(Role::Button, View::Library.label())
        .click();
    h.run_steps(2);
    for title in ["Spring of love", "Morning Coffee"] {
        h.get_all_by_label(title).next().unwrap().click_secondary();
        h.run_steps(2);
        h.get_by_label_contains("Add to playlist").click();
        h.run_steps(2);
        h.get_by_role_and_label(Role::Button, "Evening").click();
        let n = if title == "Spring of love" { 1 } else { 2 };
        step_until(&mut h, "the track to be added", |a| {
            a.model.playlists[0].tracks.len() == n
        });
    }
    // Morning Coffee moves up; Play all plays the playlist in its new order.
    h.get_by_role_and_label(Role::Button, View::Playlists.label())
        .click();
    h.run_steps(2);
    h.get_by_label("Move Morning Coffee up").click();
    step_until(&mut h, "the order to change", |a| {
        a.model.playlists[0].tracks[0].id == coffee.id
    });
    h.get_by_role_and_label(Role::Button, "▶ Play all").click();
    h.run_steps(2);
    assert_eq!(h.state().player.current().map(|t| t.id), Some(coffee.id));
    assert!(
        player
            .calls()
            .contains(&PlayerCall::Load(coffee.id.to_hex()))
    );
    drop(h);

    // Kept in the data dir, signed by this peer's key.
    let library = Library::open(LibraryOptions::new(dir.path())).unwrap();
    let kept = library.find_playlist("Evening").unwrap();
    assert_eq!(kept.tracks, vec![coffee.id, spring.id]);
    assert_eq!(kept.owner, library.artist_key());
}

#[test]
fn the_queue_shows_what_plays_next_and_takes_play_next_add_move_remove_and_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let player = RecordingPlayer::default();
    let mut h = app_on(dir.path(), &player);
    open(&mut h);
    let spring = library_track(&h, "Spring of love");
    let coffee = library_track(&h, "Morning Coffee");
    h.get_by_label(&format!("Play {}", spring.info.title))
        .click();
    h.run_steps(2);
    let library_queue = h.state().player.queue().len();
    // Right-click Morning Coffee: Play next puts it right after the track playing.
    h.get_all_by_label("Morning Coffee")
        .next()
        .unwrap()
        .click_secondary();
    h.run_steps(2);
    h.get_by_label("Play next").click();
    h.run_steps(2);
    let at = h.state().player.current_index().unwrap();
    assert_eq!(h.state().player.queue()[at + 1].id, coffee.id);
    assert_eq!(h.state().player.queue().len(), library_queue + 1);
    // The backend was told, and the track playing was not loaded again.
    assert!(player.calls().iter().any(|c| matches!(c,
        PlayerCall::Upcoming(up) if up.first() == Some(&coffee.id.to_hex()))));
    let loads = |p: &RecordingPlayer| {
        p.calls()
            .iter()
            .filter(|c| matches!(c, PlayerCall::Load(_)))
            .count()
    };
    assert_eq!(loads(&player), 1);

    h.get_by_role_and_label(Role::Button, View::Queue.label())
        .click();
    h.run_steps(2);
    h.get_by_label("Play Spring of love from the queue");
    let before = h.state().player.queue().len();
    h.get_all_by_label("Remove Morning Coffee from the queue")
        .next()
        .unwrap()
        .click();
    h.run_steps(2);
    assert_eq!(h.state().player.queue().len(), before - 1);
    assert_eq!(h.state().player.current().map(|t| t.id), Some(spring.id));
    h.get_by_role_and_label(Role::Button, "Repeat: off").click();
    h.run_steps(2);
    assert_eq!(h.state().player.repeat(), busker::player::Repeat::All);
    h.get_by_role_and_label(Role::Button, "Repeat: all").click();
    h.run_steps(2);
    assert_eq!(h.state().player.repeat(), busker::player::Repeat::One);
    assert_eq!(
        player.calls().last(),
        Some(&PlayerCall::Upcoming(Vec::new())),
        "under repeat one nothing follows"
    );
    assert_eq!(loads(&player), 1, "no queue edit restarted the track");
}

/// `playerctl ARGS` on the bus at `address`, which must succeed; its output.
fn playerctl(address: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("playerctl")
        .env("DBUS_SESSION_BUS_ADDRESS", address)
        .args(args)
        .output()
        .expect("run playerctl");
    assert!(
        out.status.success(),
        "playerctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn media_keys_drive_the_player_over_mpris_on_a_private_session_bus() {
    let have = |tool: &str| {
        std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok()
    };
    if !have("dbus-daemon") || !have("playerctl") {
        return crate::util::cannot_run("dbus-daemon and playerctl are not installed");
    }
    // A session bus of the test's own, never the user's.
    let bus = tempfile::tempdir().unwrap();
    let socket = bus.path().join("bus");
    let address = format!("unix:path={}", socket.display());
    let mut daemon = std::process::Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--nopidfile"])
        .arg(format!("--address={address}"))
        .spawn()
        .expect("start dbus-daemon");
    let start = Instant::now();
    while !socket.exists() {
        assert!(start.elapsed() < TIMEOUT, "dbus-daemon did not start");
        std::thread::sleep(Duration::from_millis(10));
    }

    let dir = tempfile::tempdir().unwrap();
    let player = RecordingPlayer::default();
    let mut options = AppOptions::loopback(dir.path());
    options.player = Some(Box::new(player.clone()));
    options.media_keys = busker::MediaKeys::Bus(address.clone());
    let mut h = harness(App::new(options, State::default()));
    open(&mut h);
    assert_eq!(
        h.state().media_keys_name(),
        Some("org.mpris.MediaPlayer2.busker")
    );
    assert!(playerctl(&address, &["-l"]).lines().any(|l| l == "busker"));
    assert_eq!(playerctl(&address, &["-p", "busker", "status"]), "Stopped");

    // The play/pause key: the demo library starts, and the desktop sees what plays.
    playerctl(&address, &["-p", "busker", "play-pause"]);
    step_until(&mut h, "the player to start", |a| a.player.is_playing());
    let first = h.state().player.current().unwrap().clone();
    h.run_steps(2);
    assert_eq!(playerctl(&address, &["-p", "busker", "status"]), "Playing");
    assert_eq!(
        playerctl(&address, &["-p", "busker", "metadata", "xesam:title"]),
        first.info.title
    );
    // The demo track's cover, as a file the desktop can show, once the player bar loaded it.
    let cover = first.info.cover.expect("demo tracks have covers").hash;
    step_until(&mut h, "the cover to load", |a| {
        a.model.covers.file(&cover).is_some()
    });
    h.run_steps(2);
    let art = playerctl(&address, &["-p", "busker", "metadata", "mpris:artUrl"]);
    let file = art.strip_prefix("file://").expect("a file URL");
    assert_eq!(
        busker_core::model::ImageHash::of(&std::fs::read(file).unwrap()),
        cover,
        "{art} is the signed cover"
    );
    // Next, then pause.
    playerctl(&address, &["-p", "busker", "next"]);
    step_until(&mut h, "the next track", |a| {
        a.player.current().is_some_and(|t| t.id != first.id)
    });
    // The desktop's repeat button.
    playerctl(&address, &["-p", "busker", "loop", "Track"]);
    step_until(&mut h, "repeat one", |a| {
        a.player.repeat() == busker::player::Repeat::One
    });
    h.run_steps(2);
    assert_eq!(playerctl(&address, &["-p", "busker", "loop"]), "Track");
    playerctl(&address, &["-p", "busker", "pause"]);
    step_until(&mut h, "the player to pause", |a| !a.player.is_playing());
    h.run_steps(2);
    assert_eq!(playerctl(&address, &["-p", "busker", "status"]), "Paused");
    assert!(player.calls().contains(&PlayerCall::Pause));
    drop(h);
    let _ = daemon.kill();
    let _ = daemon.wait();
}

#[test]
fn the_albums_grid_opens_an_album_that_plays_and_artists_lead_to_their_page() {
    let dir = tempfile::tempdir().unwrap();
    let player = RecordingPlayer::default();
    let mut h = app_on(dir.path(), &player);
    open(&mut h);
    let spring = library_track(&h, "Spring of love");
    h.get_by_role_and_label(Role::Button, "Albums").click();
    h.run_steps(2);
    // The demo library: two tagged albums and the untagged rest.
    let albums: Vec<String> = h
        .state()
        .model
        .albums
        .iter()
        .map(|a| a.name.clone())
        .collect();
    assert!(albums.contains(&spring.info.album), "{albums:?}");
    h.get_by_label(&format!(
        "Album {} by {}",
        spring.info.album, spring.info.artist
    ))
    .click();
    h.run_steps(2);
    h.get_by_role_and_label(Role::Button, "▶ Play album")
        .click();
    h.run_steps(2);
    assert_eq!(h.state().player.current().map(|t| t.id), Some(spring.id));
    assert_eq!(h.state().player.queue().len(), 1, "the album's one track");
    h.get_by_role_and_label(Role::Button, "← Albums").click();
    h.run_steps(2);
    assert!(h.state().model.album_open.is_none());

    h.get_by_role_and_label(Role::Button, "Artists").click();
    h.run_steps(2);
    let artist = h.state().model.artists[0].clone();
    h.get_all_by_label(&artist.name).next().unwrap().click();
    step_until(&mut h, "the artist's page", |a| {
        a.state.view == View::Artist
            && a.model
                .artist_page
                .as_ref()
                .is_some_and(|p| p.key == artist.key)
    });
}

#[test]
fn the_albums_grid_shows_an_albums_cover_and_so_do_its_page_and_the_player_bar() {
    let dir = tempfile::tempdir().unwrap();
    let music = tempfile::tempdir().unwrap();
    let cover = busker_core::test_utils::cover_jpeg(200, 200, 21);
    std::fs::write(music.path().join("cover.jpg"), &cover).unwrap();
    let wav = busker_core::test_utils::write_wav(music.path(), "road.wav", 200_000, 77);
    {
        let library = Library::open(LibraryOptions::new(dir.path()).seed_demo(false)).unwrap();
        let options = busker_core::PublishOptions {
            album: Some("Road Songs".into()),
            ..Default::default()
        };
        let m = library.publish_file(&wav, &options).unwrap();
        assert!(m.cover().is_some(), "published with the cover beside it");
    }
    let hash = busker_core::model::ImageHash::of(&cover);
    let player = RecordingPlayer::default();
    let mut h = app_on(dir.path(), &player);
    open(&mut h);
    assert!(h.state().model.tracks[0].cover_local);
    h.get_by_role_and_label(Role::Button, "Albums").click();
    // The tile asks for its cover; the worker decodes it; the next frame uploads the texture.
    step_until(&mut h, "the cover's texture", |a| {
        a.model.covers.is_ready(&hash)
    });
    assert_eq!(h.state().model.albums[0].cover, Some(hash));
    h.get_by_label("Cover of Road Songs");
    h.get_by_label("Album Road Songs by Unknown artist").click();
    h.run_steps(2);
    assert_eq!(
        h.get_all_by_label("Cover of Road Songs").count(),
        1,
        "on the album page"
    );
    h.get_by_role_and_label(Role::Button, "▶ Play album")
        .click();
    h.run_steps(2);
    h.get_by_label("Cover of road");
}

#[test]
fn a_peers_album_shows_its_cover_fetched_and_verified_without_fetching_the_audio() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let seed = runtime.block_on(NetPeer::start());
    let cover = busker_core::test_utils::cover_png(90, 90, 31);
    std::fs::write(seed.dir.path().join("folder.png"), &cover).unwrap();
    let (id, _) = runtime.block_on(seed.publish_wav("Far Shore", 300_000, 12));
    let seed_addr = runtime.block_on(seed.addr()).to_string();
    let hash = busker_core::model::ImageHash::of(&cover);

    let dir = tempfile::tempdir().unwrap();
    let player = RecordingPlayer::default();
    let mut h = app_on(dir.path(), &player);
    open_network_view(&mut h);
    dial_from_network_view(&mut h, &seed_addr);
    step_until(&mut h, "the peer's track in the library", |a| {
        a.model.tracks.iter().any(|t| t.id == id && !t.local)
    });
    h.get_by_role_and_label(Role::Button, "Library").click();
    h.run_steps(2);
    h.get_by_role_and_label(Role::Button, "Albums").click();
    // The tile asks for the cover; it is not here, so the worker fetches it from the peer.
    step_until(&mut h, "the peer's cover on its tile", |a| {
        a.model.covers.is_ready(&hash)
    });
    h.get_by_label("Cover of [no album]");
    let kept = dir.path().join("covers").join(hash.to_hex());
    assert_eq!(std::fs::read(kept).unwrap(), cover, "the signed image");
    assert!(
        !h.state().model.tracks.iter().any(|t| t.id == id && t.local),
        "the audio stayed on the peer"
    );
}

#[test]
fn a_channel_started_from_the_radio_view_plays_a_playlist_in_its_order() {
    let dir = tempfile::tempdir().unwrap();
    // A playlist made beforehand, as `busker playlist create` would; the library in order
    // would start with "Spring of love", the playlist starts with "Mountain".
    let first = "Mountain";
    {
        let library = Library::open(LibraryOptions::new(dir.path())).unwrap();
        let tracks = library.list().unwrap();
        let titled = |title: &str| tracks.iter().find(|t| t.info.title == title).unwrap().id;
        assert_eq!(tracks[0].info.title, "Spring of love", "premise");
        let order = [titled(first), titled("Spring of love")];
        library.create_playlist("Drive", &order).unwrap();
    }
    let player = RecordingPlayer::default();
    let mut h = app_on(dir.path(), &player);
    open(&mut h);
    step_until(&mut h, "the network and the playlist", |a| {
        matches!(a.model.net.state, NetState::Up { .. }) && !a.model.playlists.is_empty()
    });
    h.get_by_role_and_label(Role::Button, "Radio").click();
    h.run_steps(2);
    h.get_by_label("Channel name").click();
    h.run_steps(1);
    h.get_by_label("Channel name").type_text("Drive FM");
    h.run_steps(1);
    h.get_by_label(busker::ui::radio::PLAYS_LABEL).click();
    h.run_steps(2);
    h.get_by_label("the playlist Drive (2 tracks)").click();
    h.run_steps(2);
    assert!(h.state().model.radio_playlist.is_some());
    h.get_by_role_and_label(Role::Button, "Start broadcasting")
        .click();
    step_until(
        &mut h,
        "the channel on air with the playlist's first track",
        |a| {
            a.model.net.status.channels.iter().any(|c| {
                c.name == "Drive FM"
                    && c.broadcasting
                    && c.now_playing.as_ref().is_some_and(|t| t.title == first)
            })
        },
    );
    h.get_by_role_and_label(Role::Button, "Stop radio").click();
    h.run_steps(2);
}

#[test]
fn a_playlist_link_pasted_in_the_network_view_opens_the_playlist_with_its_tracks() {
    // A peer with a playlist of its two tracks, shared as a link.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let peer = runtime.block_on(NetPeer::start());
    let (a, _) = runtime.block_on(peer.publish_wav("Far Song", 300_000, 31));
    let (b, _) = runtime.block_on(peer.publish_wav("Near Song", 300_000, 32));
    let list = peer
        .node
        .library()
        .create_playlist("Shared set", &[b, a])
        .unwrap();
    let link = runtime
        .block_on(peer.node.share_playlist(list.id))
        .unwrap()
        .to_string();

    let dir = tempfile::tempdir().unwrap();
    let player = RecordingPlayer::default();
    let mut h = app_on(dir.path(), &player);
    open(&mut h);
    step_until(&mut h, "the network to start", |app| {
        matches!(app.model.net.state, NetState::Up { .. })
    });
    assert!(
        h.state().model.playlists.is_empty(),
        "premise: no playlist here"
    );
    h.get_by_role_and_label(Role::Button, "Network").click();
    h.run_steps(2);
    h.get_by_label(network::LINK_LABEL).click();
    h.run_steps(1);
    h.get_by_label(network::LINK_LABEL).type_text(&link);
    h.run_steps(1);
    h.get_by_role_and_label(Role::Button, network::OPEN_LINK_LABEL)
        .click();
    step_until(&mut h, "the playlist to open with both tracks", |app| {
        app.state.view == View::Playlists
            && app
                .model
                .playlists
                .iter()
                .any(|p| p.id == list.id && !p.own && p.tracks.iter().map(|t| t.id).eq([b, a]))
    });
    h.run_steps(2);
    h.get_by_label_contains("Shared with you");
    drop(h);
    runtime.block_on(peer.node.shutdown());
}

#[test]
fn an_artist_key_backup_is_imported_from_settings() {
    let dir = tempfile::tempdir().unwrap();
    let player = RecordingPlayer::default();
    let key = busker_core::model::ArtistKeypair::from_seed([5; 32]);
    let backup = dir.path().join("backup.txt");
    std::fs::write(&backup, busker_core::artist::backup::to_text(&key)).unwrap();
    {
        let mut h = app_on(&dir.path().join("data"), &player);
        open(&mut h);
        h.get_by_role_and_label(Role::Button, View::Settings.label())
            .click();
        h.run_steps(2);
        h.state_mut().model.key_backup_input = backup.display().to_string();
        h.get_by_role_and_label(Role::Button, busker::ui::settings::IMPORT_KEY_LABEL)
            .click();
        step_until(&mut h, "the import's notice", |a| {
            a.model.notices.iter().any(|n| n.contains("imported"))
        });
    }
    // From the next start on, this peer publishes as the imported key.
    let dir = busker_core::DataDir::open(dir.path().join("data")).unwrap();
    assert_eq!(dir.artist_key().unwrap().public(), key.public());
}

#[test]
fn a_link_from_busker_open_lands_in_the_running_app_and_an_invite_shows_as_a_qr_code() {
    use busker_core::link::Link;
    let peer = crate::util::Peer::new();
    let dir = &peer.dir;
    let player = RecordingPlayer::default();
    let mut h = app_on(dir.path(), &player);
    open(&mut h);
    step_until(&mut h, "the network", |a| {
        matches!(a.model.net.state, NetState::Up { .. })
    });
    assert!(
        dir.path().join("api.json").exists(),
        "the app serves the control API"
    );
    let NetState::Up { peer_id, .. } = h.state().model.net.state.clone() else {
        unreachable!()
    };

    // Network view: an invite link to this peer, signed by it, and its QR code.
    h.get_by_role_and_label(Role::Button, View::Network.label())
        .click();
    h.run_steps(2);
    h.get_by_role_and_label(Role::Button, network::INVITE_LABEL)
        .click();
    step_until(&mut h, "the invite link", |a| a.model.invite.is_some());
    let Some(Ok((link, qr))) = h.state().model.invite.clone() else {
        panic!("no invite: {:?}", h.state().model.invite)
    };
    let Ok(Link::Join(invite)) = Link::parse(&link) else {
        panic!("the invite does not read: {link}")
    };
    assert_eq!(invite.peer.peer.to_string(), peer_id);
    assert!(qr.is_some(), "an invite fits a QR code");
    h.run_steps(1);
    h.get_by_label("Invite link as a QR code");

    // A second `busker open --app LINK` (what the desktop runs for a link) hands it over.
    let spring = library_track(&h, "Spring of love");
    let artist_link = Link::Artist(spring.artist_key).to_string();
    assert_ne!(h.state().state.view, View::Artist, "premise");
    let out = peer.run(&["open", "--app", &artist_link]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("opened in the running app"));
    step_until(&mut h, "the artist page", |a| {
        a.state.view == View::Artist
            && a.model
                .artist_page
                .as_ref()
                .is_some_and(|p| p.releases.iter().any(|t| t.id == spring.id))
    });
    // Follow from the page: the worker saves it, and a command through the app's control API
    // reads it back.
    h.get_by_role_and_label(Role::Button, busker::ui::artist::FOLLOW_LABEL)
        .click();
    step_until(&mut h, "the follow to be saved", |a| {
        a.model.followed == vec![spring.artist_key]
    });
    let (ok, opened, err) = peer.json(&["open", &artist_link]);
    assert!(ok, "{err}");
    let opened = &opened[0];
    assert_eq!(opened["following"], true, "{opened}");
    let page = h.state().model.artist_page.clone().unwrap();
    assert_eq!(opened["name"], page.name.as_str());
    assert_eq!(opened["artist_key"], spring.artist_key.to_hex().as_str());
}

#[test]
fn the_radio_view_opens_a_live_channel_and_shows_what_the_broadcasting_program_needs() {
    let dir = tempfile::tempdir().unwrap();
    let player = RecordingPlayer::default();
    let mut h = app_on(dir.path(), &player);
    open(&mut h);
    step_until(&mut h, "the network", |a| {
        matches!(a.model.net.state, NetState::Up { .. }) && a.model.radio_base.is_some()
    });
    h.get_by_role_and_label(Role::Button, View::Radio.label())
        .click();
    h.run_steps(2);
    h.state_mut().state.radio_name = "Open Mic".into();
    h.get_by_label(busker::ui::radio::LIVE_LABEL).click();
    h.run_steps(2);
    h.get_by_role_and_label(Role::Button, busker::ui::radio::OPEN_LIVE_LABEL)
        .click();
    step_until(&mut h, "the live channel", |a| {
        a.model.live_source.is_some()
    });
    let live = h.state().model.live_source.clone().unwrap();
    let password = std::fs::read_to_string(dir.path().join("radio-source.password")).unwrap();
    assert_eq!(live.password, password.trim());
    assert!(live.mount.starts_with("/live/"), "{live:?}");
    assert_eq!(
        live.source_url,
        format!(
            "icecast://source:{}@{}{}",
            live.password, live.address, live.mount
        )
    );
    h.run_steps(1);
    h.get_by_label(&live.password);
    // The channel is on air here, waiting for its source.
    let channel = live.mount.trim_start_matches("/live/").to_owned();
    step_until(&mut h, "the channel in the list", |a| {
        a.model
            .net
            .status
            .channels
            .iter()
            .any(|c| c.id == channel && c.broadcasting)
    });
}

/// A track this peer evicted from its catalog (so catalog sync does not bring it back) is
/// found by the Search view through the connected peer, and marked "from peers".
#[test]
fn a_track_only_a_peer_knows_is_found_by_search_and_marked_from_peers() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let seed = runtime.block_on(NetPeer::start());
    let (id, _) = runtime.block_on(seed.publish_wav("Harbor Lights", 200_000, 12));
    let manifest = seed.node.library().manifest(&id).unwrap();
    let seed_addr = runtime.block_on(seed.addr()).to_string();

    let dir = tempfile::tempdir().unwrap();
    {
        let library = Library::open(LibraryOptions::new(dir.path())).unwrap();
        library.accept(vec![manifest]).unwrap();
        let evicted = library
            .store()
            .evict(0, 10, |_| busker_core::Verdict::Evict)
            .unwrap();
        assert_eq!(evicted.ids, vec![id], "only the peer's release was queued");
    }
    let player = RecordingPlayer::default();
    let mut h = app_on(dir.path(), &player);
    open_network_view(&mut h);
    dial_from_network_view(&mut h, &seed_addr);
    step_until(&mut h, "the peer to connect", |a| {
        !a.model.net.status.peers.is_empty() && a.model.net.dialling.is_empty()
    });

    // A hit marked remote was not in the catalog when searched: sync left it out.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::F);
    h.run_steps(2);
    h.get_by_label(search::FIELD_LABEL)
        .type_text("harbor lights");
    step_until(&mut h, "the peer's answer", |a| {
        a.model.search.hits.iter().any(|t| t.id == id && t.remote)
    });
    assert!(h.query_all_by_label("from peers").next().is_some());
    h.get_by_label_contains("1 of them from peers");
    drop(h);
    runtime.block_on(seed.node.shutdown());
}

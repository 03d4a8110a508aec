//! The desktop app driven through egui_kittest: the real [`busker::App`] with its real backend
//! worker on a temporary data dir, found and clicked through its accessibility tree the way a
//! screen reader sees it. The player runs with [`RecordingPlayer`], which records what the
//! player was asked to do (the audio engine arrives from the playback branch).

use std::path::Path;
use std::time::{Duration, Instant};

use busker::app::{RowStatus, Status};
use busker::ui::{publish, search};
use busker::{App, AppOptions, PlayerCall, RecordingPlayer, State, View};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use crate::util::audio;

/// How long a test waits for the worker before it fails.
const TIMEOUT: Duration = Duration::from_secs(60);

fn app_on(dir: &Path, player: &RecordingPlayer) -> Harness<'static, App> {
    let mut options = AppOptions::new(dir);
    options.player = Box::new(player.clone());
    let app = App::new(options, State::default());
    Harness::builder()
        .with_size([1100.0, 720.0])
        .build_ui_state(|ui, app: &mut App| app.show(ui), app)
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
    let unique_text = [
        (View::Library, "Here (published or fetched)"),
        (View::Search, "Type to search what this peer has heard of."),
        (
            View::Discover,
            "Recommendations: not available in this build yet",
        ),
        (
            View::Radio,
            "Radio channels: not available in this build yet",
        ),
        (View::Publish, publish::PATH_LABEL),
        (
            View::Network,
            "Peer-to-peer networking: not available in this build yet",
        ),
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
        let id = h
            .state()
            .model
            .tracks
            .iter()
            .find(|t| t.info.title == "Spring of love")
            .unwrap()
            .id;
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
    let library =
        busker_core::Library::open(busker_core::LibraryOptions::new(dir).seed_demo(false)).unwrap();
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
    let mut app = App::new(AppOptions::new(dir.path()), State::default());
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

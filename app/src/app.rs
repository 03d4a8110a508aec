//! [`App`]: the window. It keeps the persisted [`State`] apart from the runtime handles (the
//! [`Backend`], the [`Player`], the [`Model`] of what the backend reported), draws the panels
//! of [`crate::ui`], and carries out the [`Command`]s they return in one place, after drawing.

use std::time::Duration;

use crate::backend::{
    Audio, Backend, BackendOptions, Event, PublishItem, PublishStep, Request, SendError,
};
use crate::model::{Model, NetState, PublishRow, RowStatus, State, Status, View};
use crate::player::{NoAudio, Player, PlayerBackend};
use crate::ui::{self, Command};

/// How many search hits the Search view asks for.
pub const SEARCH_LIMIT: usize = 200;
/// How far the arrow keys seek.
pub const SEEK_STEP_SECS: f32 = 5.0;
/// The notice after the first release signed here.
pub const KEY_BACKUP_OFFER: &str = "Your first release is signed with your artist key, your \
     identity as an artist: back it up in Settings (Export artist key) and keep the file off \
     this disk.";

mod options;

pub use options::{AppOptions, MediaKeys};

/// The desktop app.
pub struct App {
    /// What is persisted.
    pub state: State,
    /// What the backend reported.
    pub model: Model,
    /// The player.
    pub player: Player,
    backend_options: Option<BackendOptions>,
    backend: Option<Backend>,
    /// A link was just made to share: copy it to the clipboard on the next frame.
    copy_shared: bool,
    /// Where to serve MPRIS, until the first frame starts it.
    media_keys: Option<MediaKeys>,
    mpris: Option<crate::mpris::Mpris>,
}

impl App {
    /// A new app with `state` (from storage, or the default). The backend starts on the first
    /// frame, when the app knows its `egui::Context` to wake.
    pub fn new(options: AppOptions, state: State) -> Self {
        let (backend, audio): (Box<dyn PlayerBackend>, Audio) = match options.player {
            Some(p) => (p, Audio::None),
            None => (Box::new(NoAudio), options.audio),
        };
        let player = Player::new(backend, state.volume);
        Self {
            state,
            model: Model::default(),
            player,
            backend_options: Some(BackendOptions {
                data_dir: options.data_dir,
                seed_demo: options.seed_demo,
                listen: options.listen,
                audio,
                open_link: options.open_link,
            }),
            backend: None,
            copy_shared: false,
            media_keys: Some(options.media_keys),
            mpris: None,
        }
    }

    /// Keeps a link made to share and shows it; the next frame copies it to the clipboard.
    fn shared(&mut self, link: String) {
        self.model.notice(format!("Link copied: {link}"));
        self.model.shared = Some(link);
        self.copy_shared = true;
    }

    /// Whether the backend has opened the library.
    pub fn is_ready(&self) -> bool {
        matches!(self.model.status, Status::Open { .. })
    }

    /// Draws one frame into `ui` (the whole window) and carries out what the user asked.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        self.start_backend(ui.ctx());
        self.start_media_keys(ui.ctx());
        self.drain_events();
        self.player.tick();
        let keys = self
            .mpris
            .as_mut()
            .map(|m| m.commands(&self.player))
            .unwrap_or_default();
        for command in keys {
            self.execute(command);
        }
        for notice in self.player.take_notices() {
            self.model.notice(notice);
        }
        ui.ctx().set_theme(if self.state.dark_mode {
            egui::Theme::Dark
        } else {
            egui::Theme::Light
        });

        let mut commands = self.shortcuts(ui);
        commands.extend(ui::player_bar::show(ui, &self.player, &self.model));
        commands.extend(ui::nav::show(ui, &mut self.state, &self.model));
        egui::CentralPanel::default().show(ui, |ui| {
            commands.extend(ui::notices::show(ui, &mut self.model));
            let view = match self.state.view {
                View::Library => {
                    ui::library::show(ui, &mut self.state, &mut self.model, &self.player)
                }
                View::Playlists => ui::playlists::show(ui, &mut self.model, &self.player),
                View::Queue => ui::queue::show(ui, &self.player),
                View::Search => {
                    ui::search::show(ui, &mut self.state, &mut self.model, &self.player)
                }
                View::Discover => ui::discover::show(ui, &self.model, &self.player),
                View::Radio => ui::radio::show(ui, &mut self.state, &mut self.model),
                View::Publish => ui::publish::show(ui, &mut self.state, &mut self.model),
                View::Network => ui::network::show(ui, &mut self.state, &self.model),
                View::Settings => ui::settings::show(ui, &mut self.state, &mut self.model),
                View::Artist => ui::artist::show(ui, &self.model, &self.player),
            };
            commands.extend(view);
        });
        for command in commands {
            self.execute(command);
        }
        let covers = self.model.covers.take_wanted();
        let wanted = covers
            .iter()
            .map(|h| (*h, self.model.track_with_cover(h)))
            .collect();
        let sent = |b: &Backend| b.send(Request::Covers(wanted)).is_ok();
        if !covers.is_empty() && !self.backend.as_ref().is_some_and(sent) {
            self.model.covers.forget(&covers); // asked again at the next frame that draws them
        }
        if let Some(link) = self.model.shared.as_ref().filter(|_| self.copy_shared) {
            ui.ctx().copy_text(link.clone());
            self.copy_shared = false;
        }
        if let Some(mpris) = &mut self.mpris {
            let cover = self.player.current().and_then(|t| t.info.cover);
            let art = cover.and_then(|c| self.model.covers.file(&c.hash));
            mpris.publish(&self.player, art);
        }
        if self.player.is_playing() {
            // The time display and the seek bar move while playing, and the engine's reports
            // (which do not wake the UI themselves) are taken.
            ui.ctx().request_repaint_after(Duration::from_millis(250));
        }
    }

    /// The MPRIS service's bus name, when it runs.
    pub fn media_keys_name(&self) -> Option<&str> {
        self.mpris.as_ref().map(|m| m.name.as_str())
    }

    fn start_media_keys(&mut self, ctx: &egui::Context) {
        let address = match self.media_keys.take() {
            None | Some(MediaKeys::Off) => return,
            Some(MediaKeys::SessionBus) => None,
            Some(MediaKeys::Bus(address)) => Some(address),
        };
        self.mpris = crate::mpris::Mpris::start(address.as_deref(), ctx.clone());
    }

    fn start_backend(&mut self, ctx: &egui::Context) {
        if self.backend.is_some() || !matches!(self.model.status, Status::Opening) {
            return;
        }
        let Some(options) = self.backend_options.take() else {
            return;
        };
        let repaint = ctx.clone();
        match Backend::start(options, move || repaint.request_repaint()) {
            Ok(b) => self.backend = Some(b),
            Err(e) => self.model.status = Status::Failed(format!("cannot start the worker: {e}")),
        }
    }

    fn shortcuts(&mut self, ui: &mut egui::Ui) -> Vec<Command> {
        let mut out = Vec::new();
        let ctx = ui.ctx().clone();
        if ctx.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::F)) {
            out.push(Command::FocusSearch);
        }
        if !ctx.text_edit_focused() {
            ctx.input_mut(|i| {
                if i.consume_key(egui::Modifiers::NONE, egui::Key::Space) {
                    out.push(Command::TogglePlay);
                }
                if i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowLeft) {
                    out.push(Command::SeekBy(-SEEK_STEP_SECS));
                }
                if i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowRight) {
                    out.push(Command::SeekBy(SEEK_STEP_SECS));
                }
            });
        }
        out
    }

    fn send(&mut self, request: Request) {
        let Some(backend) = &self.backend else {
            self.model.notice("the library is not open yet");
            return;
        };
        match backend.send(request) {
            Ok(()) => {}
            Err(SendError::Busy) => self.model.notice("busy: please try again in a moment"),
            Err(SendError::Stopped) => self.model.notice("the library worker has stopped"),
        }
    }

    /// Takes every event the backend posted.
    pub fn drain_events(&mut self) {
        let mut events = Vec::new();
        if let Some(backend) = &self.backend {
            while let Some(e) = backend.try_recv() {
                events.push(e);
            }
        }
        for event in events {
            self.apply(event);
        }
    }

    fn apply(&mut self, event: Event) {
        let m = &mut self.model;
        match event {
            Event::Opened {
                data_dir,
                artist_key,
                config,
            } => {
                m.status = Status::Open {
                    data_dir,
                    artist_key,
                };
                m.artist_input = config.artist_name.clone().unwrap_or_default();
                m.listen_input = config.listen.join(" ");
                m.config = config;
                if !self.state.search_query.trim().is_empty() {
                    let query = self.state.search_query.clone();
                    self.execute(Command::Search(query));
                }
            }
            Event::Opening(note) => m.opening_note = Some(note),
            Event::Cover(hash, image) => m.covers.loaded(hash, image),
            Event::OpenFailed(e) => {
                m.status = Status::Failed(e);
                self.backend = None;
            }
            Event::Library {
                tracks,
                ratings,
                new_releases,
                recommendations,
                blocked,
                followed,
            } => {
                for t in &tracks {
                    self.player.update_track(t);
                }
                m.tracks = tracks;
                m.covers.retry_missing();
                (m.albums, m.artists) = crate::model::albums::group(&m.tracks);
                m.ratings = ratings;
                m.new_releases = new_releases;
                m.recommendations = recommendations;
                m.blocked = blocked;
                m.followed = followed;
            }
            Event::SearchResults { seq, hits, took } => {
                if seq >= m.search.shown && seq <= m.search.sent {
                    m.search.shown = seq;
                    m.search.hits = hits;
                    m.search.took = took;
                }
            }
            Event::Scanned(files) => {
                m.scanning = false;
                for f in files {
                    if m.publish_rows.iter().any(|r| r.path == f.path) {
                        continue;
                    }
                    let (tags, status) = match f.tags {
                        Ok(t) => (t, RowStatus::Ready),
                        Err(e) => (Default::default(), RowStatus::Unreadable(e)),
                    };
                    m.publish_rows.push(PublishRow {
                        path: f.path,
                        title: tags.title,
                        artist: tags.artist,
                        album: tags.album,
                        duration_ms: tags.duration_ms,
                        status,
                    });
                }
            }
            Event::Publish { row, step } => {
                // The first release signed here: offer the key's backup once.
                if let PublishStep::Done(t) = &step
                    && !m.key_backup_offered
                    && m.is_own_key(&t.artist_key)
                    && !m.tracks.iter().any(|o| m.is_own_key(&o.artist_key))
                {
                    m.key_backup_offered = true;
                    m.notice(KEY_BACKUP_OFFER.to_owned());
                }
                if let Some(r) = m.publish_rows.get_mut(row) {
                    r.status = match step {
                        PublishStep::Started => RowStatus::Publishing,
                        PublishStep::Done(t) => RowStatus::Published(t.id),
                        PublishStep::Failed(e) => RowStatus::Failed(e),
                    };
                }
            }
            Event::Rated(id, stars) => {
                if stars == 0 {
                    m.ratings.remove(&id);
                } else {
                    m.ratings.insert(id, stars);
                }
            }
            Event::Listing { dir, entries } => {
                self.state.browse_dir = Some(dir.clone());
                m.listing = Some((dir, entries));
            }
            Event::Settings(config) => {
                m.listen_input = config.listen.join(" ");
                m.config = config;
            }
            Event::Error(e) => m.notice(e),
            Event::NetworkUp { peer_id, listen } => {
                m.net.state = NetState::Up { peer_id, listen };
                // Peers the user connected to before are dialled again.
                for addr in self.state.peer_addresses.clone() {
                    self.dial(addr, false);
                }
            }
            Event::NetworkFailed(e) => {
                m.notice(format!("offline: {e}"));
                m.net.state = NetState::Failed(e);
            }
            Event::Network(status) => m.net.status = status,
            Event::Dialled { addr, result } => {
                let asked = m.net.dialling.iter().position(|a| *a == addr);
                if let Some(i) = asked {
                    m.net.dialling.remove(i);
                    if result.is_ok() && !self.state.peer_addresses.contains(&addr) {
                        self.state.peer_addresses.push(addr.clone());
                    }
                    m.net.last_dial = Some((addr, result));
                } else if let Err(e) = result {
                    tracing::info!(%addr, error = %e, "a saved peer did not answer");
                }
            }
            Event::PlayerReady(engine) => self.player.attach(engine.0),
            Event::Notice(text) => m.notice(text),
            Event::LinkHanded(link) => self.execute(Command::OpenLink(link)),
            Event::OpenedTrack(track) => {
                m.notice(format!(
                    "Playing {} - {} from a link",
                    track.info.artist, track.info.title
                ));
                self.player.play_queue(vec![*track], 0);
            }
            Event::Artist(page) => {
                m.artist_page = Some(page);
                self.state.view = View::Artist;
            }
            Event::Invite(result) => {
                m.invite = Some(result.map(|link| {
                    let qr = crate::qr::Qr::encode(&link);
                    (link, qr)
                }));
            }
            Event::Shared(link) => self.shared(link),
            Event::Playlists(lists) => m.playlists = lists,
            Event::OpenedPlaylist(id) => {
                m.playlist_selected = Some(id);
                self.state.view = View::Playlists;
            }
            Event::RadioBase(base) => m.radio_base = Some(base),
            Event::LiveChannel {
                name,
                source_url,
                password,
                address,
                mount,
            } => {
                m.notice(format!(
                    "\"{name}\" is open: start your broadcasting program"
                ));
                m.live_source = Some(crate::model::LiveSource {
                    name,
                    source_url,
                    password,
                    address,
                    mount,
                });
            }
        }
    }

    /// Dials `addr`; `asked` when the user asked now (the answer is shown and the address
    /// remembered), not when a saved address is dialled at start.
    fn dial(&mut self, addr: String, asked: bool) {
        if asked {
            self.model.net.dialling.push(addr.clone());
            self.model.net.last_dial = None;
        }
        self.send(Request::Connect(addr));
    }

    /// Carries out one command.
    pub fn execute(&mut self, command: Command) {
        match command {
            Command::Show(view) => self.state.view = view,
            Command::FocusSearch => {
                self.state.view = View::Search;
                self.model.focus_search = true;
            }
            Command::Search(query) => {
                self.model.search.sent += 1;
                let seq = self.model.search.sent;
                if query.trim().is_empty() {
                    self.model.search.shown = seq;
                    self.model.search.hits.clear();
                } else {
                    self.send(Request::Search {
                        seq,
                        query,
                        limit: SEARCH_LIMIT,
                    });
                }
            }
            Command::Play { tracks, index } => self.player.play_queue(tracks, index),
            Command::TogglePlay => {
                // With nothing queued, Play starts the library from the top.
                if self.player.queue().is_empty() && !self.model.tracks.is_empty() {
                    self.player.play_queue(self.model.tracks.clone(), 0);
                } else {
                    self.player.toggle();
                }
            }
            Command::Stop => self.player.stop(),
            Command::Next => self.player.next(),
            Command::Previous => self.player.previous(),
            Command::Seek(to) => self.player.seek(to),
            Command::SeekBy(secs) => self.player.seek_by(secs),
            Command::Volume(v) => {
                self.player.set_volume(v);
                self.state.volume = self.player.volume();
            }
            Command::Rate(id, stars) => self.send(Request::Rate(id, stars)),
            Command::Block(key) => self.send(Request::Block(key, true)),
            Command::Unblock(key) => self.send(Request::Block(key, false)),
            Command::ExportKey(path) => self.send(Request::ExportKey(path)),
            Command::ImportKey(path, replace) => self.send(Request::ImportKey(path, replace)),
            Command::Scan(paths) => {
                self.model.scanning = true;
                self.send(Request::Scan(paths));
            }
            Command::Publish => {
                let mut items = Vec::new();
                for (row, r) in self.model.publish_rows.iter_mut().enumerate() {
                    if matches!(r.status, RowStatus::Ready | RowStatus::Failed(_)) {
                        r.status = RowStatus::Queued;
                        items.push(PublishItem {
                            row,
                            path: r.path.clone(),
                            title: r.title.clone(),
                            artist: r.artist.clone(),
                            album: r.album.clone(),
                        });
                    }
                }
                if !items.is_empty() {
                    self.send(Request::Publish(items));
                }
            }
            Command::ClearPublished => self.model.publish_rows.retain(|r| {
                !matches!(r.status, RowStatus::Published(_) | RowStatus::Unreadable(_))
            }),
            Command::RemoveRow(i) => {
                if i < self.model.publish_rows.len()
                    && !matches!(
                        self.model.publish_rows[i].status,
                        RowStatus::Queued | RowStatus::Publishing
                    )
                {
                    self.model.publish_rows.remove(i);
                }
            }
            Command::Browse(dir) => self.send(Request::Browse(dir)),
            Command::SetArtistName(name) => self.send(Request::SetArtistName(name)),
            Command::SetLanDiscovery(on) => self.send(Request::SetLanDiscovery(on)),
            Command::RadioStart {
                name,
                personal,
                playlist,
            } => self.send(Request::RadioStart {
                name,
                personal,
                playlist,
            }),
            Command::RadioStartLive(name) => self.send(Request::RadioStartLive(name)),
            Command::RadioTune(id) => self.send(Request::RadioTune(id)),
            Command::RadioStop => self.send(Request::RadioStop),
            Command::Save(id) => self.send(Request::Save(id)),
            Command::SetListen(addrs) => self.send(Request::SetListen(addrs)),
            Command::Connect(addr) => self.dial(addr, true),
            Command::ForgetPeer(addr) => self.state.peer_addresses.retain(|a| *a != addr),
            Command::Refresh => self.send(Request::Refresh),
            Command::OpenLink(link) => self.send(Request::OpenLink(link)),
            Command::OpenArtist(key) => self.send(Request::OpenArtist(key)),
            Command::Invite => self.send(Request::Invite),
            Command::ShareTrack(id) => self.send(Request::Share(id)),
            // An artist link is the key alone: made here.
            Command::ShareArtist(key) => {
                self.shared(busker_core::link::Link::Artist(key).to_string())
            }
            Command::Follow(key, on) => self.send(Request::Follow(key, on)),
            Command::InstallDesktop => self.send(Request::InstallDesktop),
            Command::CloseAlbum => self.model.album_open = None,
            Command::PlayNext(tracks) => self.player.play_next(tracks),
            Command::Enqueue(tracks) => self.player.enqueue(tracks),
            Command::PlayIndex(i) => self.player.play_index(i),
            Command::Dequeue(i) => self.player.remove(i),
            Command::MoveQueued(from, to) => self.player.move_item(from, to),
            Command::Shuffle => self.player.shuffle_upcoming(),
            Command::ClearUpcoming => self.player.clear_upcoming(),
            Command::Repeat(mode) => self.player.set_repeat(mode),
            Command::Playlist(op) => self.send(Request::Playlist(op)),
            Command::SharePlaylist(id) => self.send(Request::SharePlaylist(id)),
        }
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.state);
    }
}

/// Opens the window and runs until it is closed. Window geometry and [`State`] are kept in
/// the data dir's `gui.ron`.
pub fn run_native(options: AppOptions) -> anyhow::Result<()> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Busker")
            .with_app_id("busker")
            .with_inner_size([1100.0, 720.0])
            .with_min_inner_size([640.0, 420.0]),
        persistence_path: Some(options.data_dir.join("gui.ron")),
        ..eframe::NativeOptions::default()
    };
    eframe::run_native(
        "Busker",
        native,
        Box::new(move |cc| {
            let state = cc
                .storage
                .and_then(|s| eframe::get_value::<State>(s, eframe::APP_KEY))
                .unwrap_or_default();
            Ok(Box::new(App::new(options, state)))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}

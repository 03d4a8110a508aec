//! The app's worker: one thread that owns the [`Library`] (shared in an `Arc` with the network
//! [`Node`]) and does every blocking call, and a tokio runtime that runs the node.
//!
//! The UI sends [`Request`]s with [`Backend::send`] (never blocks: a full queue is reported as
//! busy) and takes [`Event`]s with [`Backend::try_recv`] once per frame. Both queues are bounded.
//! Stale searches are dropped: when several searches wait, only the newest runs, so typing fast
//! over a large catalog never builds a backlog. Every event posted calls the repaint callback.
//!
//! Once the library is open the worker starts the [`Node`] on its runtime (listening where the
//! settings say; an app that cannot start the network still works offline) and the core player
//! engine (`busker_core::Player`) with the node's chunk provider, so that a track only heard of
//! streams from peers. Network calls never run on the worker's request loop: they are spawned
//! on the runtime and answer with events. Two tasks feed the UI: one turns node events into a
//! catalog refresh (at most one per [`MIN_REFRESH`]), one posts the network status (peers,
//! transfers with progress and speed) when it changed, checked every [`STATUS_INTERVAL`].
//!
//! The parts: `protocol` (the messages), `net` (the node and its runtime), `library` (catalog,
//! search, ratings, settings), `files` (scan, browse, publish), `radio`, `status` (what the
//! Network and Radio views show). This file holds the UI's handle and the worker's loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use busker_core::Library;
use busker_core::media::{AudioSink, SinkInput, open_device};
use busker_core::model::TrackId;
use busker_core::net::Multiaddr;
use busker_core::stream::ChunkProvider;
use busker_core::{LibraryOptions, PlayerOptions};

use crate::player::EnginePlayer;

mod covers;
mod files;
mod library;
mod links;
mod net;
mod protocol;
mod radio;
mod status;

pub use protocol::{
    ArtistPage, ChannelRow, DirEntry, EngineHandle, Event, NetStatus, PeerRow, PlaylistView,
    PublishItem, PublishStep, Request, ScannedFile, Tags, TrafficRow, TransferRow, TransferState,
};
pub use status::STATUS_INTERVAL;

use net::Net;
use radio::Radio;

/// How many requests may wait for the worker.
const REQUEST_QUEUE: usize = 64;
/// How many events may wait for the UI.
const EVENT_QUEUE: usize = 1024;
/// The catalog is sent again at most this often when the network changes it.
pub const MIN_REFRESH: Duration = Duration::from_secs(1);
/// How long the worker waits for a request before it looks whether the catalog changed.
const IDLE_CHECK: Duration = Duration::from_millis(200);

/// Where the player's audio goes.
pub enum Audio {
    /// The default device (PulseAudio/PipeWire), or silence on the clock when there is none.
    Device,
    /// This sink (tests record into a [`busker_core::media::WavSink`]).
    Sink(Box<dyn AudioSink>),
    /// No engine: the UI uses a player backend of its own.
    None,
}

impl std::fmt::Debug for Audio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Audio::Device => "Device",
            Audio::Sink(_) => "Sink",
            Audio::None => "None",
        })
    }
}

/// How to start the backend.
#[derive(Debug)]
pub struct BackendOptions {
    /// The data dir.
    pub data_dir: PathBuf,
    /// Whether a new data dir gets the demo library (`None`: from the config).
    pub seed_demo: Option<bool>,
    /// Listen addresses instead of the configured ones (tests and demos: loopback).
    pub listen: Option<Vec<String>>,
    /// Where the audio goes.
    pub audio: Audio,
    /// A link to open once the app runs (`busker open --app LINK` with no app running).
    pub open_link: Option<String>,
}

/// The UI's handle on the worker. Dropping it stops the worker and waits for it, which releases
/// the data dir.
pub struct Backend {
    requests: Option<SyncSender<Request>>,
    events: Option<Receiver<Event>>,
    worker: Option<JoinHandle<()>>,
}

/// Why a request was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The worker is behind; try again.
    Busy,
    /// The worker has stopped.
    Stopped,
}

impl Backend {
    /// Starts the worker. `repaint` is called after every event is posted.
    pub fn start(
        options: BackendOptions,
        repaint: impl Fn() + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let (req_tx, req_rx) = sync_channel(REQUEST_QUEUE);
        let (ev_tx, ev_rx) = sync_channel(EVENT_QUEUE);
        let worker = std::thread::Builder::new()
            .name("busker-backend".into())
            .spawn(move || {
                let post = Post {
                    tx: ev_tx,
                    repaint: Arc::new(repaint),
                };
                run(options, &req_rx, &post);
            })?;
        Ok(Self {
            requests: Some(req_tx),
            events: Some(ev_rx),
            worker: Some(worker),
        })
    }

    /// Queues a request without blocking.
    pub fn send(&self, request: Request) -> Result<(), SendError> {
        let Some(tx) = &self.requests else {
            return Err(SendError::Stopped);
        };
        tx.try_send(request).map_err(|e| match e {
            TrySendError::Full(_) => SendError::Busy,
            TrySendError::Disconnected(_) => SendError::Stopped,
        })
    }

    /// The next event, if one is waiting.
    pub fn try_recv(&self) -> Option<Event> {
        self.events.as_ref()?.try_recv().ok()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        // Drop the event receiver first so a worker blocked on a full event queue wakes up.
        self.events = None;
        self.requests = None;
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            tracing::error!("the backend worker panicked");
        }
    }
}

#[derive(Clone)]
struct Post {
    tx: SyncSender<Event>,
    repaint: Arc<dyn Fn() + Send + Sync>,
}

impl Post {
    /// Posts an event, waiting while the UI's queue is full; `false` when the UI is gone.
    fn send(&self, event: Event) -> bool {
        let ok = self.tx.send(event).is_ok();
        (self.repaint)();
        ok
    }

    /// Posts an event unless the UI's queue is full (from async tasks, which must not block;
    /// what they post is sent again on the next change).
    fn offer(&self, event: Event) {
        if self.tx.try_send(event).is_ok() {
            (self.repaint)();
        }
    }
}

/// Opens the audio output and starts the engine with the node's chunk provider.
fn start_player(library: &Library, net: &Net, audio: Audio, post: &Post) -> bool {
    let (sink, name, audible): (Box<dyn AudioSink>, String, bool) = match audio {
        Audio::None => return true,
        Audio::Sink(sink) => (sink, "recording (no sound)".to_owned(), false),
        Audio::Device => {
            let sink = open_device("Busker");
            if matches!(sink.input(), SinkInput::Device { .. }) {
                (sink, "sound on the default output".to_owned(), true)
            } else {
                if !post.send(Event::Error(
                    "No sound server (PulseAudio or PipeWire) was found: tracks play silently, \
                     on the clock."
                        .to_owned(),
                )) {
                    return false;
                }
                (sink, "no sound server: playing silently".to_owned(), false)
            }
        }
    };
    let provider: Arc<dyn ChunkProvider> = {
        let _in_runtime = net.runtime.enter();
        net.node.chunk_provider()
    };
    let engine = busker_core::Player::spawn(
        library.store().clone(),
        provider,
        sink,
        PlayerOptions::default(),
    );
    post.send(Event::PlayerReady(EngineHandle(Box::new(
        EnginePlayer::new(engine, name, audible),
    ))))
}

fn run(options: BackendOptions, requests: &Receiver<Request>, post: &Post) {
    let mut lib_options = LibraryOptions::new(&options.data_dir);
    if let Some(seed) = options.seed_demo {
        lib_options = lib_options.seed_demo(seed);
    }
    let progress = post.clone();
    lib_options = lib_options.on_move_progress(move |p| {
        progress.offer(Event::Opening(format!(
            "Moving the audio out of the database into files: {} of {} tracks ({} MB)",
            p.done,
            p.total,
            p.bytes >> 20
        )));
    });
    let library = match Library::open(lib_options) {
        Ok(l) => Arc::new(l),
        Err(e) => {
            post.send(Event::OpenFailed(format!(
                "cannot open data dir {}: {e}",
                options.data_dir.display()
            )));
            return;
        }
    };
    let config = library.config();
    let opened = Event::Opened {
        data_dir: library.data_dir().to_owned(),
        artist_key: library.artist_key().to_hex(),
        config: config.clone(),
    };
    if !post.send(opened) {
        return;
    }
    if let Some(rebuilt) = library.store().rebuilt() {
        post.send(Event::Error(format!(
            "Your library was repaired: {rebuilt}"
        )));
    }
    let dirty = Arc::new(AtomicBool::new(false));
    let listen = options.listen.unwrap_or(config.listen);
    let net = match Net::start(&library, &listen, post, &dirty) {
        Ok(net) => net,
        Err(e) => {
            tracing::warn!(error = %e, "the network did not start");
            post.send(Event::NetworkFailed(e));
            match Net::offline(&library, &dirty) {
                Ok(net) => net,
                Err(e) => {
                    post.send(Event::OpenFailed(e));
                    return;
                }
            }
        }
    };
    let http = links::serve_api(&library, &net, post);
    if let Some(h) = &http {
        post.send(Event::RadioBase(h.doors().stream_base));
    }
    let worker = Worker {
        library,
        net,
        post: post.clone(),
        radio: Radio::default(),
        http,
        newest_search: Arc::default(),
    };
    let net = &worker.net;
    if net.node.is_online() {
        let listen = net
            .runtime
            .block_on(net.node.listen_addrs())
            .map(|a| a.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        let up = Event::NetworkUp {
            peer_id: net.node.peer_id().to_string(),
            listen,
        };
        if !post.send(up) {
            return worker.shutdown();
        }
    }
    if !post.send(worker.catalog())
        || !post.send(library::playlists(&worker.library))
        || !start_player(&worker.library, &worker.net, options.audio, post)
    {
        return worker.shutdown();
    }
    if let Some(link) = options.open_link {
        worker.open_link(link);
    }
    let mut last_refresh = Instant::now();
    loop {
        let first = match requests.recv_timeout(IDLE_CHECK) {
            Ok(r) => Some(r),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if let Some(first) = first {
            // Take everything that waits, keeping only the newest search.
            let mut batch = vec![first];
            while let Ok(r) = requests.try_recv() {
                batch.push(r);
            }
            let newest_search = batch
                .iter()
                .rposition(|r| matches!(r, Request::Search { .. }));
            for (i, request) in batch.into_iter().enumerate() {
                if matches!(request, Request::Search { .. }) && Some(i) != newest_search {
                    continue;
                }
                if matches!(request, Request::Refresh) {
                    dirty.store(true, Ordering::Relaxed);
                    continue;
                }
                if !worker.handle(request) {
                    return worker.shutdown();
                }
            }
        }
        if last_refresh.elapsed() >= MIN_REFRESH && dirty.swap(false, Ordering::Relaxed) {
            last_refresh = Instant::now();
            if !post.send(worker.catalog()) || !post.send(library::playlists(&worker.library)) {
                break;
            }
        }
    }
    worker.shutdown();
}

/// What the worker thread holds.
struct Worker {
    library: Arc<Library>,
    net: Net,
    post: Post,
    radio: Radio,
    /// The control API, so that `busker` commands and links reach this app.
    http: Option<crate::http::NodeHttp>,
    /// The newest search asked for: a search of peers for an older one is not sent.
    newest_search: Arc<std::sync::atomic::AtomicU64>,
}

impl Worker {
    fn shutdown(self) {
        // The API goes first (and its `api.json` with it): no command lands on a stopping node.
        drop(self.http);
        self.net.shutdown();
    }

    fn catalog(&self) -> Event {
        library::catalog(&self.library, &self.net)
    }

    /// Carries out one request; `false` when the UI is gone.
    fn handle(&self, request: Request) -> bool {
        let (net, post) = (&self.net, &self.post);
        match request {
            Request::Refresh => post.send(self.catalog()),
            Request::Search { seq, query, limit } => {
                self.newest_search.store(seq, Ordering::Relaxed);
                let event = library::search(net, seq, &query, limit);
                if let Event::SearchResults { hits, .. } = &event
                    && hits.len() < limit
                {
                    let asked = library::Asked { seq, query, limit };
                    let newest = self.newest_search.clone();
                    library::search_peers(net, post.clone(), newest, asked, hits.clone());
                }
                post.send(event)
            }
            Request::Scan(paths) => post.send(Event::Scanned(files::scan(&paths))),
            Request::Publish(items) => {
                for item in items {
                    if !post.send(Event::Publish {
                        row: item.row,
                        step: PublishStep::Started,
                    }) {
                        return false;
                    }
                    let (step, note) = files::publish(&self.library, net, &item);
                    let note = note.is_none_or(|n| post.send(Event::Notice(n)));
                    if !note
                        || !post.send(Event::Publish {
                            row: item.row,
                            step,
                        })
                    {
                        return false;
                    }
                }
                post.send(self.catalog())
            }
            Request::Rate(id, stars) => post.send(library::rate(&self.library, id, stars)),
            Request::Covers(wanted) => wanted.into_iter().all(|(hash, track)| {
                match (covers::cover(&self.library, hash), track) {
                    (Event::Cover(_, None), Some(track)) => {
                        net.fetch_cover(post, hash, track);
                        true
                    }
                    (event, _) => post.send(event),
                }
            }),
            Request::ExportKey(path) => post.send(
                match busker_core::export_artist_key(self.library.data_dir(), &path) {
                    Ok(key) => Event::Notice(format!(
                        "Artist key {} backed up to {}: keep it somewhere safe, off this disk",
                        &key.to_hex()[..16],
                        path.display()
                    )),
                    Err(e) => Event::Error(format!("could not back up the artist key: {e}")),
                },
            ),
            Request::ImportKey(path, replace) => {
                post.send(library::import_key(&self.library, &path, replace))
            }
            Request::Block(key, blocked) => match self.library.block(&key, blocked) {
                Ok(()) => post.send(self.catalog()),
                Err(e) => post.send(Event::Error(format!("could not block the artist: {e}"))),
            },
            Request::Browse(dir) => {
                let entries = files::list_dir(&dir);
                post.send(Event::Listing { dir, entries })
            }
            Request::SetArtistName(name) => library::settings(&self.library, post, |c| {
                c.artist_name = name.filter(|n| !n.trim().is_empty())
            }),
            Request::SetLanDiscovery(on) => {
                library::settings(&self.library, post, |c| c.lan_discovery = on)
            }
            Request::SetListen(addrs) => {
                match addrs.iter().find(|a| a.parse::<Multiaddr>().is_err()) {
                    Some(bad) => post.send(Event::Error(format!(
                        "{bad:?} is not a listen address (like /ip4/0.0.0.0/tcp/4001)"
                    ))),
                    None => library::settings(&self.library, post, |c| c.listen = addrs),
                }
            }
            Request::Connect(addr) => {
                self.connect(addr);
                true
            }
            Request::RadioStart {
                name,
                personal,
                playlist,
            } => {
                let plays = match (personal, playlist) {
                    (true, _) => radio::Plays::Personal,
                    (false, Some(id)) => radio::Plays::Playlist(id),
                    (false, None) => radio::Plays::Local,
                };
                self.radio.start(&self.library, net, post, name, plays);
                true
            }
            Request::RadioStartLive(name) => {
                let doors = self.http.as_ref().map(crate::http::NodeHttp::doors);
                self.radio.start_live(net, post, name, doors);
                true
            }
            Request::RadioTune(id) => {
                self.radio.tune(net, post, &id);
                true
            }
            Request::RadioStop => {
                self.radio.stop(net);
                true
            }
            Request::Save(id) => {
                self.save(id);
                true
            }
            Request::OpenLink(text) => {
                self.open_link(text);
                true
            }
            Request::OpenArtist(key) => {
                self.open_artist(key);
                true
            }
            Request::Invite => {
                self.invite();
                true
            }
            Request::Share(id) => {
                self.share(id);
                true
            }
            Request::Follow(key, on) => match self.library.follow(&key, on) {
                Ok(()) => post.send(self.catalog()),
                Err(e) => post.send(Event::Error(format!("could not follow the artist: {e}"))),
            },
            Request::InstallDesktop => post.send(links::install_desktop(&self.library)),
            Request::Playlist(op) => {
                match crate::playlists::apply(&self.library, &op) {
                    Ok(answer) => {
                        if let Some(id) = crate::playlists::changed(&op, &answer) {
                            net.playlist_changed(id);
                        }
                    }
                    Err(e) => {
                        post.send(Event::Error(format!("playlist: {e:#}")));
                    }
                }
                post.send(library::playlists(&self.library))
            }
            Request::SharePlaylist(id) => {
                self.share_playlist(id);
                true
            }
        }
    }

    /// Dials on the runtime; the answer comes back as [`Event::Dialled`].
    fn connect(&self, text: String) {
        let addr = match text.trim().parse::<Multiaddr>() {
            Ok(a) => a,
            Err(e) => {
                self.post.send(Event::Dialled {
                    addr: text,
                    result: Err(format!("not a peer address: {e}")),
                });
                return;
            }
        };
        self.net.connect(&self.post, text, addr);
    }

    /// Starts downloading a track; the library shows it as local once it is complete.
    fn save(&self, id: TrackId) {
        self.net.save(&self.post, id);
    }
}

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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use busker_core::media::{AudioSink, SinkInput, open_device};
use busker_core::model::TrackId;
use busker_core::net::{Multiaddr, NetworkConfig, PeerId, is_loopback};
use busker_core::stream::{ChunkProvider, NoNetwork};
use busker_core::{
    Config, Library, LibraryOptions, Node, NodeEvent, NodeOptions, PlayerOptions, PublishOptions,
    Recommended, TrackSummary,
};

use crate::player::{EnginePlayer, PlayerBackend};

/// How many requests may wait for the worker.
const REQUEST_QUEUE: usize = 64;
/// How many events may wait for the UI.
const EVENT_QUEUE: usize = 1024;
/// How many new releases the Discover view shows.
const NEW_RELEASES: usize = 20;
/// How many recommendations the Discover view shows.
const RECOMMENDATIONS: usize = 20;
/// At most this many files are taken from one folder scan.
const MAX_SCAN_FILES: usize = 10_000;
/// The catalog is sent again at most this often when the network changes it.
pub const MIN_REFRESH: Duration = Duration::from_secs(1);
/// How often the network status is looked at (it is posted only when it changed).
pub const STATUS_INTERVAL: Duration = Duration::from_secs(1);
/// How long the worker waits for a request before it looks whether the catalog changed.
const IDLE_CHECK: Duration = Duration::from_millis(200);
/// How long a dial may take before it is reported as failed.
const DIAL_TIMEOUT: Duration = Duration::from_secs(20);
/// Most transfers the Network view lists (running ones first).
const MAX_TRANSFER_ROWS: usize = 50;

/// What the UI asks of the worker.
#[derive(Debug, Clone)]
pub enum Request {
    /// Send the full track list, ratings and new releases again.
    Refresh,
    /// Local search; answered with [`Event::SearchResults`] carrying the same `seq`.
    Search {
        /// Increases with every keystroke; older answers are ignored.
        seq: u64,
        /// The text as typed.
        query: String,
        /// At most this many hits.
        limit: usize,
    },
    /// Expands files and folders into audio files and reads their tags for editing.
    Scan(Vec<PathBuf>),
    /// Publishes files with the edited tags, one [`Event::Publish`] per step.
    Publish(Vec<PublishItem>),
    /// Rates a track (0 clears).
    Rate(TrackId, u8),
    /// Lists a folder for the in-app file browser.
    Browse(PathBuf),
    /// Sets the artist name used when a file has no artist tag.
    SetArtistName(Option<String>),
    /// Turns LAN discovery on or off (saved; the network layer reads it).
    SetLanDiscovery(bool),
    /// Sets the listen addresses (saved; used from the next start).
    SetListen(Vec<String>),
    /// Dials a peer address; answered with [`Event::Dialled`].
    Connect(String),
    /// Starts broadcasting a channel named so, playing this peer's local tracks in order or,
    /// with `personal`, its endless personal radio.
    RadioStart {
        /// The channel's name.
        name: String,
        /// Personal radio (recommendations and new releases, for ever) instead of the library.
        personal: bool,
    },
    /// Tunes in to a channel (hex id) on the audio device; stops any other tuning.
    RadioTune(String),
    /// Stops tuning in and broadcasting.
    RadioStop,
    /// Downloads a track into the library; it shows among the transfers, then as local.
    Save(TrackId),
}

/// One file to publish, with the tags the user settled on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishItem {
    /// Row number in the Publish view.
    pub row: usize,
    /// The file.
    pub path: PathBuf,
    /// Title (empty: keep the tag).
    pub title: String,
    /// Artist (empty: keep the tag, else the artist name from settings).
    pub artist: String,
    /// Album (empty: keep the tag).
    pub album: String,
}

/// A file found by [`Request::Scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedFile {
    /// The file.
    pub path: PathBuf,
    /// Its tags, or why it cannot be published.
    pub tags: Result<Tags, String>,
}

/// The editable tags of a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags {
    /// Title (the file name when untagged).
    pub title: String,
    /// Artist (empty when untagged).
    pub artist: String,
    /// Album.
    pub album: String,
    /// Length.
    pub duration_ms: u64,
}

/// One entry of a folder listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// File or folder name.
    pub name: String,
    /// Full path.
    pub path: PathBuf,
    /// A folder.
    pub is_dir: bool,
}

/// Progress of one file of a publish.
#[derive(Debug, Clone, PartialEq)]
pub enum PublishStep {
    /// The worker started on it.
    Started,
    /// Published.
    Done(Box<TrackSummary>),
    /// Not published; the library is unchanged.
    Failed(String),
}

/// One connected peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRow {
    /// Its peer id.
    pub peer_id: String,
    /// The address of the connection.
    pub addr: String,
    /// When this app first saw it connected (in this run).
    pub since: Instant,
}

/// Where a transfer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferState {
    /// Downloading.
    Running,
    /// Every chunk is here: from this many peers, at this average speed (bytes per second).
    Done {
        /// Peers that sent verified chunks.
        peers_used: usize,
        /// Average speed over the whole transfer.
        bytes_per_sec: u64,
    },
    /// Ended without the whole track (verified chunks stay for a resume).
    Failed(String),
}

/// One download, as the Network view lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRow {
    /// The track.
    pub id: TrackId,
    /// Its title.
    pub title: String,
    /// Chunks here and verified.
    pub have: usize,
    /// Chunks in the track.
    pub total: usize,
    /// Bytes per second over the last [`STATUS_INTERVAL`] (running transfers).
    pub bytes_per_sec: u64,
    /// Running, done or failed.
    pub state: TransferState,
}

impl TransferRow {
    /// Progress from 0.0 to 1.0.
    pub fn fraction(&self) -> f32 {
        if self.total == 0 {
            1.0
        } else {
            self.have as f32 / self.total as f32
        }
    }
}

/// What the network looks like now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetStatus {
    /// Connected peers.
    pub peers: Vec<PeerRow>,
    /// Downloads, running ones first.
    pub transfers: Vec<TransferRow>,
    /// Radio channels heard of (or broadcast from here), by name.
    pub channels: Vec<ChannelRow>,
}

/// One radio channel as the Radio view lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRow {
    /// The channel id, hex.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Listeners its broadcaster counts.
    pub listeners: u32,
    /// Broadcast from this peer.
    pub broadcasting: bool,
    /// This peer is tuned in.
    pub tuned: bool,
    /// The track on air, when tuned in or broadcasting.
    pub now_playing: Option<busker_core::radio::NowPlaying>,
}

/// The audio engine, handed to the UI once it runs.
pub struct EngineHandle(pub Box<dyn PlayerBackend>);

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("EngineHandle").field(&self.0.name()).finish()
    }
}

/// What the worker tells the UI.
#[derive(Debug)]
pub enum Event {
    /// The library is open.
    Opened {
        /// The data dir.
        data_dir: PathBuf,
        /// This peer's artist key (hex).
        artist_key: String,
        /// The settings.
        config: Config,
    },
    /// The library could not be opened; nothing else will work.
    OpenFailed(String),
    /// The whole catalog, sorted by artist then title, with the user's ratings.
    Library {
        /// Every known track.
        tracks: Vec<TrackSummary>,
        /// Star ratings by track.
        ratings: HashMap<TrackId, u8>,
        /// The most recently published tracks, newest first.
        new_releases: Vec<TrackSummary>,
        /// Recommendations from the neighbours the taste exchange kept, best first.
        recommendations: Vec<Recommended>,
    },
    /// Answer to [`Request::Search`].
    SearchResults {
        /// The request's `seq`.
        seq: u64,
        /// Hits, best first.
        hits: Vec<TrackSummary>,
        /// How long the search took.
        took: Duration,
    },
    /// Answer to [`Request::Scan`].
    Scanned(Vec<ScannedFile>),
    /// Progress of [`Request::Publish`].
    Publish {
        /// The item's row.
        row: usize,
        /// What happened.
        step: PublishStep,
    },
    /// A rating was saved.
    Rated(TrackId, u8),
    /// Answer to [`Request::Browse`].
    Listing {
        /// The folder.
        dir: PathBuf,
        /// Folders first, then files, by name; or why the folder cannot be read.
        entries: Result<Vec<DirEntry>, String>,
    },
    /// New settings were saved.
    Settings(Config),
    /// Something failed that belongs to no view in particular.
    Error(String),
    /// The network node runs.
    NetworkUp {
        /// This peer's id.
        peer_id: String,
        /// Where it listens, each ending in `/p2p/<peer id>`.
        listen: Vec<String>,
    },
    /// The network could not start; the app works offline.
    NetworkFailed(String),
    /// Peers and transfers changed.
    Network(NetStatus),
    /// Answer to [`Request::Connect`].
    Dialled {
        /// The address as the user gave it.
        addr: String,
        /// The peer id, or why the dial failed.
        result: Result<String, String>,
    },
    /// The audio engine runs: the player should use it.
    PlayerReady(EngineHandle),
    /// Something worth telling the user that is not an error.
    Notice(String),
}

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

/// The network side: the node and the runtime it runs on.
struct Net {
    runtime: tokio::runtime::Runtime,
    node: Node,
}

impl Net {
    /// Starts the node on `listen` (loopback only when every address is loopback), and the
    /// tasks that feed the UI.
    fn start(
        library: &Arc<Library>,
        listen: &[String],
        post: &Post,
        dirty: &Arc<AtomicBool>,
    ) -> Result<Self, String> {
        let listen: Vec<Multiaddr> = listen
            .iter()
            .map(|a| {
                a.parse::<Multiaddr>()
                    .map_err(|e| format!("listen address {a:?} is not a multiaddr: {e}"))
            })
            .collect::<Result<_, _>>()?;
        if listen.is_empty() {
            return Err("no listen address is set (Settings)".to_owned());
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("busker-net")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        let loopback_only = listen.iter().all(is_loopback);
        let options = NodeOptions {
            network: NetworkConfig {
                listen,
                loopback_only,
                // The Settings toggle, read at start (core keeps it off on loopback).
                mdns: library.config().lan_discovery,
                ..NetworkConfig::loopback()
            },
            ..NodeOptions::loopback()
        };
        let node = runtime
            .block_on(Node::start(library.clone(), options))
            .map_err(|e| format!("cannot start the network: {e}"))?;
        runtime.spawn(forward_node_events(node.subscribe(), dirty.clone()));
        runtime.spawn(post_status(node.clone(), post.clone()));
        Ok(Self { runtime, node })
    }

    /// Stops the node (transfers keep their verified chunks) and the runtime.
    fn shutdown(self) {
        self.runtime.block_on(self.node.shutdown());
        self.runtime.shutdown_timeout(Duration::from_secs(5));
    }
}

/// Marks the catalog dirty when the network changed what it shows (new tracks, tracks that
/// became local, provider counts that moved with peers).
async fn forward_node_events(
    mut events: tokio::sync::broadcast::Receiver<NodeEvent>,
    dirty: Arc<AtomicBool>,
) {
    use tokio::sync::broadcast::error::RecvError;
    while let Ok(_) | Err(RecvError::Lagged(_)) = events.recv().await {
        dirty.store(true, Ordering::Relaxed);
    }
}

/// Looks at peers and transfers every [`STATUS_INTERVAL`] and posts them when they changed.
async fn post_status(node: Node, post: Post) {
    let mut last = None;
    let mut since: HashMap<PeerId, Instant> = HashMap::new();
    let mut previous: HashMap<TrackId, (usize, Instant)> = HashMap::new();
    let mut titles: HashMap<TrackId, (String, u64)> = HashMap::new();
    let mut tick = tokio::time::interval(STATUS_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Ok(peers) = node.peers().await else {
            break; // the network stopped
        };
        since.retain(|p, _| peers.iter().any(|(q, _)| q == p));
        let mut peer_rows: Vec<PeerRow> = peers
            .iter()
            .map(|(p, a)| PeerRow {
                peer_id: p.to_string(),
                addr: a.to_string(),
                since: *since.entry(*p).or_insert_with(Instant::now),
            })
            .collect();
        peer_rows.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));

        let mut transfers = Vec::new();
        for t in node.transfers() {
            let id = t.id();
            if let std::collections::hash_map::Entry::Vacant(slot) = titles.entry(id) {
                let store = node.library().store().clone();
                let found = tokio::task::spawn_blocking(move || store.manifest(&id))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten();
                slot.insert(found.map_or_else(
                    || (id.to_hex()[..12].to_owned(), 0),
                    |m| (m.info().title.clone(), m.file_size()),
                ));
            }
            let (title, file_size) = titles.get(&id).cloned().unwrap_or_default();
            let p = t.progress();
            let now = Instant::now();
            let (before, at) = previous.insert(id, (p.have, now)).unwrap_or((p.have, now));
            let chunk = file_size / p.total.max(1) as u64;
            let secs = now.duration_since(at).as_secs_f64();
            let bytes_per_sec = if secs > 0.0 {
                (p.have.saturating_sub(before) as f64 * chunk as f64 / secs) as u64
            } else {
                0
            };
            let state = match p.done {
                None => TransferState::Running,
                Some(Ok(r)) => TransferState::Done {
                    peers_used: r.peers_used,
                    bytes_per_sec: r.bytes * 1000 / r.millis.max(1),
                },
                Some(Err(e)) => TransferState::Failed(e),
            };
            let running = state == TransferState::Running;
            transfers.push(TransferRow {
                id,
                title,
                have: p.have,
                total: p.total,
                bytes_per_sec: if running { bytes_per_sec } else { 0 },
                state,
            });
        }
        transfers.sort_by(|a, b| {
            let rank = |t: &TransferRow| t.state != TransferState::Running;
            (rank(a), &a.title).cmp(&(rank(b), &b.title))
        });
        transfers.truncate(MAX_TRANSFER_ROWS);
        let channels = node
            .radio_channels()
            .into_iter()
            .map(|c| ChannelRow {
                id: c.id.to_hex(),
                name: c.name,
                listeners: c.listeners,
                broadcasting: c.broadcasting,
                tuned: c.tuned,
                now_playing: c.now_playing,
            })
            .collect();
        let status = NetStatus {
            peers: peer_rows,
            transfers,
            channels,
        };
        if last.as_ref() != Some(&status) {
            post.offer(Event::Network(status.clone()));
            last = Some(status);
        }
    }
}

/// Opens the audio output and starts the engine with the node's chunk provider.
fn start_player(library: &Library, net: Option<&Net>, audio: Audio, post: &Post) -> bool {
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
    let provider: Arc<dyn ChunkProvider> = match net {
        Some(net) => {
            let _in_runtime = net.runtime.enter();
            net.node.chunk_provider()
        }
        None => Arc::new(NoNetwork),
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
    let dirty = Arc::new(AtomicBool::new(false));
    let listen = options.listen.unwrap_or(config.listen);
    let net = match Net::start(&library, &listen, post, &dirty) {
        Ok(net) => Some(net),
        Err(e) => {
            tracing::warn!(error = %e, "the network did not start");
            post.send(Event::NetworkFailed(e));
            None
        }
    };
    let worker = Worker {
        library,
        net,
        post: post.clone(),
        radio: std::sync::Mutex::new(RadioState::default()),
    };
    if let Some(net) = &worker.net {
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
        || !start_player(&worker.library, worker.net.as_ref(), options.audio, post)
    {
        return worker.shutdown();
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
            if !post.send(worker.catalog()) {
                break;
            }
        }
    }
    worker.shutdown();
}

/// What the worker thread holds.
struct Worker {
    library: Arc<Library>,
    net: Option<Net>,
    post: Post,
    /// What the radio is doing: the tuning in progress and the channel broadcast from here.
    radio: std::sync::Mutex<RadioState>,
}

#[derive(Default)]
struct RadioState {
    tuning: Option<busker_core::radio::Tuning>,
    broadcast: Option<busker_core::radio::ChannelId>,
}

impl Worker {
    fn shutdown(self) {
        if let Some(net) = self.net {
            net.shutdown();
        }
    }

    /// Carries out one request; `false` when the UI is gone.
    fn handle(&self, request: Request) -> bool {
        let (library, post) = (&self.library, &self.post);
        match request {
            Request::Refresh => post.send(self.catalog()),
            Request::Search { seq, query, limit } => {
                let start = Instant::now();
                let hits = if query.trim().is_empty() {
                    Ok(Vec::new())
                } else {
                    match &self.net {
                        Some(net) => net.runtime.block_on(net.node.search(&query, limit)),
                        None => library.search(&query, limit),
                    }
                };
                match hits {
                    Ok(hits) => post.send(Event::SearchResults {
                        seq,
                        hits,
                        took: start.elapsed(),
                    }),
                    Err(e) => post.send(Event::Error(format!("search failed: {e}"))),
                }
            }
            Request::Scan(paths) => post.send(Event::Scanned(scan(&paths))),
            Request::Publish(items) => {
                for item in items {
                    if !post.send(Event::Publish {
                        row: item.row,
                        step: PublishStep::Started,
                    }) {
                        return false;
                    }
                    let step = self.publish(&item);
                    if !post.send(Event::Publish {
                        row: item.row,
                        step,
                    }) {
                        return false;
                    }
                }
                post.send(self.catalog())
            }
            Request::Rate(id, stars) => match library.store().set_rating(&id, stars.min(5)) {
                Ok(()) => post.send(Event::Rated(id, stars.min(5))),
                Err(e) => post.send(Event::Error(format!("could not save the rating: {e}"))),
            },
            Request::Browse(dir) => {
                let entries = list_dir(&dir);
                post.send(Event::Listing { dir, entries })
            }
            Request::SetArtistName(name) => {
                self.settings(|c| c.artist_name = name.filter(|n| !n.trim().is_empty()))
            }
            Request::SetLanDiscovery(on) => self.settings(|c| c.lan_discovery = on),
            Request::SetListen(addrs) => {
                match addrs.iter().find(|a| a.parse::<Multiaddr>().is_err()) {
                    Some(bad) => post.send(Event::Error(format!(
                        "{bad:?} is not a listen address (like /ip4/0.0.0.0/tcp/4001)"
                    ))),
                    None => self.settings(|c| c.listen = addrs),
                }
            }
            Request::Connect(addr) => {
                self.connect(addr);
                true
            }
            Request::RadioStart { name, personal } => {
                self.radio_start(name, personal);
                true
            }
            Request::RadioTune(id) => {
                self.radio_tune(&id);
                true
            }
            Request::RadioStop => {
                self.radio_stop();
                true
            }
            Request::Save(id) => {
                self.save(id);
                true
            }
        }
    }

    /// Starts downloading a track; the library shows it as local once it is complete.
    fn save(&self, id: TrackId) {
        let Some(net) = &self.net else {
            self.post.send(Event::Error(
                "saving a track needs the network, which is not running".into(),
            ));
            return;
        };
        let node = net.node.clone();
        let post = self.post.clone();
        net.runtime.spawn(async move {
            if let Err(e) = node.fetch_to(id, None).await {
                post.offer(Event::Error(format!("cannot save the track: {e}")));
            }
        });
    }

    fn radio(&self) -> std::sync::MutexGuard<'_, RadioState> {
        self.radio.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a channel that plays the local tracks; the outcome comes back as a notice.
    fn radio_start(&self, name: String, personal: bool) {
        use busker_core::radio::RadioQueue;
        let Some(net) = &self.net else {
            self.post.send(Event::Error(
                "radio needs the network, which is not running".into(),
            ));
            return;
        };
        let queue = if personal {
            RadioQueue::Personal
        } else {
            let tracks: Vec<TrackId> = match self.library.list() {
                Ok(list) => list.iter().filter(|t| t.local).map(|t| t.id).collect(),
                Err(e) => {
                    self.post
                        .send(Event::Error(format!("cannot list the tracks: {e}")));
                    return;
                }
            };
            if tracks.is_empty() {
                self.post
                    .send(Event::Error("no local tracks to broadcast".into()));
                return;
            }
            RadioQueue::Tracks(tracks)
        };
        match net.runtime.block_on(net.node.radio_start(&name, queue)) {
            Ok(d) => {
                self.radio().broadcast = Some(d.id());
                self.post
                    .send(Event::Notice(format!("broadcasting \"{name}\"")));
            }
            Err(e) => {
                self.post
                    .send(Event::Error(format!("cannot start the channel: {e}")));
            }
        }
    }

    /// Tunes in on the audio device (silently on the clock when there is none).
    fn radio_tune(&self, id: &str) {
        let Some(net) = &self.net else {
            self.post.send(Event::Error(
                "radio needs the network, which is not running".into(),
            ));
            return;
        };
        let Ok(channel) = id.parse::<busker_core::radio::ChannelId>() else {
            self.post
                .send(Event::Error(format!("{id} is not a channel id")));
            return;
        };
        if let Some(old) = self.radio().tuning.take() {
            old.stop();
        }
        let sink = open_device("Busker radio");
        let options = busker_core::radio::TuneOptions::default();
        match net
            .runtime
            .block_on(net.node.radio_tune(channel, sink, options))
        {
            Ok(tuning) => self.radio().tuning = Some(tuning),
            Err(e) => {
                self.post.send(Event::Error(format!("cannot tune in: {e}")));
            }
        }
    }

    fn radio_stop(&self) {
        let mut radio = self.radio();
        if let Some(t) = radio.tuning.take() {
            t.stop();
        }
        if let (Some(id), Some(net)) = (radio.broadcast.take(), &self.net) {
            net.node.radio_stop(&id);
        }
    }

    /// Publishes one file with its edited tags and announces it.
    fn publish(&self, item: &PublishItem) -> PublishStep {
        let non_empty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let options = PublishOptions {
            title: non_empty(&item.title),
            artist: non_empty(&item.artist),
            album: non_empty(&item.album),
        };
        let manifest = match self.library.publish_file(&item.path, &options) {
            Ok(m) => m,
            Err(e) => return PublishStep::Failed(e.source.to_string()),
        };
        if let Some(net) = &self.net
            && let Err(e) = net.runtime.block_on(net.node.announce(&manifest))
        {
            // The track is published here; peers still learn of it by catalog sync.
            tracing::warn!(error = %e, "cannot announce a published track");
        }
        match self.library.summary(&manifest) {
            Ok(s) => PublishStep::Done(Box::new(s)),
            Err(e) => PublishStep::Failed(e.to_string()),
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
        let Some(net) = &self.net else {
            self.post.send(Event::Dialled {
                addr: text,
                result: Err("the network is not running".to_owned()),
            });
            return;
        };
        let node = net.node.clone();
        let post = self.post.clone();
        net.runtime.spawn(async move {
            let result = match tokio::time::timeout(DIAL_TIMEOUT, node.connect(addr)).await {
                Ok(Ok(peer)) => Ok(peer.to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {} s", DIAL_TIMEOUT.as_secs())),
            };
            post.offer(Event::Dialled { addr: text, result });
        });
    }

    fn settings(&self, change: impl FnOnce(&mut Config)) -> bool {
        match self.library.update_config(change) {
            Ok(c) => self.post.send(Event::Settings(c)),
            Err(e) => self
                .post
                .send(Event::Error(format!("could not save settings: {e}"))),
        }
    }

    /// The whole catalog with provider counts (from the node when it runs).
    fn catalog(&self) -> Event {
        let library = &self.library;
        let tracks = match &self.net {
            Some(net) => net.runtime.block_on(net.node.list()),
            None => library.list(),
        };
        let tracks = match tracks {
            Ok(t) => t,
            Err(e) => return Event::Error(format!("could not list the library: {e}")),
        };
        let ratings = library
            .store()
            .ratings()
            .inspect_err(|e| tracing::warn!(error = %e, "unreadable ratings"))
            .unwrap_or_default()
            .into_iter()
            .collect();
        let by_id: HashMap<TrackId, &TrackSummary> = tracks.iter().map(|t| (t.id, t)).collect();
        let mut recent: Vec<_> = library
            .store()
            .manifests()
            .filter_map(Result::ok)
            .filter(|m| m.published_at() > 0)
            .map(|m| (m.published_at(), m.id()))
            .collect();
        recent.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
        let new_releases = recent
            .iter()
            .filter_map(|(_, id)| by_id.get(id).map(|t| (*t).clone()))
            .take(NEW_RELEASES)
            .collect();
        // From the kept neighbours only: the node's exchanges keep them fresh, and a
        // `TasteChanged` event brings the worker back here.
        let recommendations = library
            .recommend(RECOMMENDATIONS)
            .inspect_err(|e| tracing::warn!(error = %e, "no recommendations"))
            .unwrap_or_default();
        Event::Library {
            tracks,
            ratings,
            new_releases,
            recommendations,
        }
    }
}

fn scan(paths: &[PathBuf]) -> Vec<ScannedFile> {
    let mut files = Vec::new();
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let room = MAX_SCAN_FILES.saturating_sub(files.len());
            match busker_core::audio_files(path, room) {
                Ok(found) => files.extend(found),
                Err(e) => out.push(ScannedFile {
                    path: path.clone(),
                    tags: Err(format!("cannot read folder: {e}")),
                }),
            }
        } else {
            files.push(path.clone());
        }
    }
    for path in files {
        let tags = std::fs::read(&path)
            .map_err(|e| format!("cannot read file: {e}"))
            .and_then(|bytes| {
                busker_core::media::probe(bytes, &path)
                    .map(|p| Tags {
                        title: p.info.title,
                        artist: p.info.artist,
                        album: p.info.album,
                        duration_ms: p.info.duration_ms,
                    })
                    .map_err(|e| e.to_string())
            });
        out.push(ScannedFile { path, tags });
    }
    out
}

fn list_dir(dir: &Path) -> Result<Vec<DirEntry>, String> {
    let read = std::fs::read_dir(dir).map_err(|e| format!("cannot open {}: {e}", dir.display()))?;
    let mut entries: Vec<DirEntry> = read
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                return None;
            }
            let path = e.path();
            let is_dir = path.is_dir();
            (is_dir || busker_core::is_audio_file(&path)).then_some(DirEntry { name, path, is_dir })
        })
        .collect();
    entries.sort_by(|a, b| {
        (!a.is_dir, a.name.to_lowercase()).cmp(&(!b.is_dir, b.name.to_lowercase()))
    });
    Ok(entries)
}

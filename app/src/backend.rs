//! The app's worker: one thread that owns the [`Library`] and does every blocking call.
//!
//! The UI sends [`Request`]s with [`Backend::send`] (never blocks: a full queue is reported as
//! busy) and takes [`Event`]s with [`Backend::try_recv`] once per frame. Both queues are bounded.
//! Stale searches are dropped: when several searches wait, only the newest runs, so typing fast
//! over a large catalog never builds a backlog.
//!
//! Today the backend wraps the local [`Library`]; the network `Node` (peers, transfers, radio,
//! recommendations) replaces it once it lands, behind the same requests and events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use busker_core::model::TrackId;
use busker_core::{Config, Library, LibraryOptions, PublishOptions, TrackSummary};

/// How many requests may wait for the worker.
const REQUEST_QUEUE: usize = 64;
/// How many events may wait for the UI.
const EVENT_QUEUE: usize = 1024;
/// How many new releases the Discover view shows.
const NEW_RELEASES: usize = 20;
/// File extensions offered when publishing a folder (as the core publishes them).
/// At most this many files are taken from one folder scan.
const MAX_SCAN_FILES: usize = 10_000;

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

/// What the worker tells the UI.
#[derive(Debug, Clone)]
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
}

/// How to start the backend.
#[derive(Debug, Clone)]
pub struct BackendOptions {
    /// The data dir.
    pub data_dir: PathBuf,
    /// Whether a new data dir gets the demo library (`None`: from the config).
    pub seed_demo: Option<bool>,
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
        repaint: impl Fn() + Send + 'static,
    ) -> std::io::Result<Self> {
        let (req_tx, req_rx) = sync_channel(REQUEST_QUEUE);
        let (ev_tx, ev_rx) = sync_channel(EVENT_QUEUE);
        let worker = std::thread::Builder::new()
            .name("busker-backend".into())
            .spawn(move || {
                let post = Post {
                    tx: ev_tx,
                    repaint: Box::new(repaint),
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

struct Post {
    tx: SyncSender<Event>,
    repaint: Box<dyn Fn() + Send>,
}

impl Post {
    /// Posts an event; `false` when the UI is gone.
    fn send(&self, event: Event) -> bool {
        let ok = self.tx.send(event).is_ok();
        (self.repaint)();
        ok
    }
}

fn run(options: BackendOptions, requests: &Receiver<Request>, post: &Post) {
    let mut lib_options = LibraryOptions::new(&options.data_dir);
    if let Some(seed) = options.seed_demo {
        lib_options = lib_options.seed_demo(seed);
    }
    let library = match Library::open(lib_options) {
        Ok(l) => l,
        Err(e) => {
            post.send(Event::OpenFailed(format!(
                "cannot open data dir {}: {e}",
                options.data_dir.display()
            )));
            return;
        }
    };
    let opened = Event::Opened {
        data_dir: library.data_dir().to_owned(),
        artist_key: library.artist_key().to_hex(),
        config: library.config(),
    };
    if !post.send(opened) || !post.send(catalog(&library)) {
        return;
    }
    while let Ok(first) = requests.recv() {
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
            if !handle(&library, request, post) {
                return;
            }
        }
    }
}

/// Carries out one request; `false` when the UI is gone.
fn handle(library: &Library, request: Request, post: &Post) -> bool {
    match request {
        Request::Refresh => post.send(catalog(library)),
        Request::Search { seq, query, limit } => {
            let start = Instant::now();
            let hits = if query.trim().is_empty() {
                Ok(Vec::new())
            } else {
                library.search(&query, limit)
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
                let non_empty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
                let options = PublishOptions {
                    title: non_empty(&item.title),
                    artist: non_empty(&item.artist),
                    album: non_empty(&item.album),
                };
                let step = match library.publish_file(&item.path, &options) {
                    Ok(m) => match library.summary(&m) {
                        Ok(s) => PublishStep::Done(Box::new(s)),
                        Err(e) => PublishStep::Failed(e.to_string()),
                    },
                    Err(e) => PublishStep::Failed(e.source.to_string()),
                };
                if !post.send(Event::Publish {
                    row: item.row,
                    step,
                }) {
                    return false;
                }
            }
            post.send(catalog(library))
        }
        Request::Rate(id, stars) => match library.store().set_rating(&id, stars.min(5)) {
            Ok(()) => post.send(Event::Rated(id, stars.min(5))),
            Err(e) => post.send(Event::Error(format!("could not save the rating: {e}"))),
        },
        Request::Browse(dir) => {
            let entries = list_dir(&dir);
            post.send(Event::Listing { dir, entries })
        }
        Request::SetArtistName(name) => settings(library, post, |c| {
            c.artist_name = name.filter(|n| !n.trim().is_empty())
        }),
        Request::SetLanDiscovery(on) => settings(library, post, |c| c.lan_discovery = on),
    }
}

fn settings(library: &Library, post: &Post, change: impl FnOnce(&mut Config)) -> bool {
    match library.update_config(change) {
        Ok(c) => post.send(Event::Settings(c)),
        Err(e) => post.send(Event::Error(format!("could not save settings: {e}"))),
    }
}

fn catalog(library: &Library) -> Event {
    let tracks = match library.list() {
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
    let mut recent: Vec<_> = library
        .store()
        .manifests()
        .filter_map(Result::ok)
        .filter(|m| m.published_at() > 0)
        .collect();
    recent.sort_by_key(|m| std::cmp::Reverse(m.published_at()));
    let new_releases = recent
        .iter()
        .take(NEW_RELEASES)
        .filter_map(|m| library.summary(m).ok())
        .collect();
    Event::Library {
        tracks,
        ratings,
        new_releases,
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

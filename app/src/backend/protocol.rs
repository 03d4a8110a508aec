//! The messages between the UI and the worker: the [`Request`]s the UI sends and the
//! [`Event`]s the worker (and the node's tasks) post back, with the records they carry.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use busker_core::model::{ArtistKey, PlaylistId, TrackId};
use busker_core::{Config, Recommended, TrackSummary};

use crate::player::PlayerBackend;

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
    /// Reads and decodes covers for display, one [`Event::Cover`] each; a cover not held here
    /// is fetched from the peers that hold the track given with it, first.
    Covers(Vec<(busker_core::model::ImageHash, Option<TrackId>)>),
    /// Rates a track (0 clears).
    Rate(TrackId, u8),
    /// Blocks an artist key (`true`) or lifts the block; answered with the catalog without (or
    /// with) its releases.
    Block(ArtistKey, bool),
    /// Writes a backup of the artist key to a new file; answered with a notice.
    ExportKey(PathBuf),
    /// Makes the key in a backup file this peer's artist key from the next start (`true`:
    /// even over a key that signed releases here); answered with a notice.
    ImportKey(PathBuf, bool),
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
        /// A playlist's tracks, in its order, instead of the local tracks.
        playlist: Option<PlaylistId>,
    },
    /// Opens a live channel with this name, fed by a broadcasting program.
    RadioStartLive(String),
    /// Tunes in to a channel (hex id) on the audio device; stops any other tuning.
    RadioTune(String),
    /// Stops tuning in and broadcasting.
    RadioStop,
    /// Downloads a track into the library; it shows among the transfers, then as local.
    Save(TrackId),
    /// Opens a `busker://` link (pasted, or handed over by `busker open --app`): joins the
    /// peer of an invite, plays a track ([`Event::OpenedTrack`]), shows an artist
    /// ([`Event::Artist`]); a link that does not open is an [`Event::Error`].
    OpenLink(String),
    /// Shows an artist's page: its signed profile and releases ([`Event::Artist`]).
    OpenArtist(ArtistKey),
    /// Makes an invite link to this peer ([`Event::Invite`]).
    Invite,
    /// Makes a link to a track ([`Event::Shared`]).
    Share(TrackId),
    /// Follows an artist key (`true`) or stops; answered with the catalog.
    Follow(ArtistKey, bool),
    /// Makes this app the desktop's handler of `busker://` links; answered with a notice.
    InstallDesktop,
    /// Carries out a playlist command, as `busker playlist ...` does; answered with
    /// [`Event::Playlists`].
    Playlist(crate::playlists::PlaylistOp),
    /// Makes a link to a playlist ([`Event::Shared`]); its record goes into the DHT.
    SharePlaylist(PlaylistId),
}

/// A playlist as the Playlists view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaylistView {
    /// Its id.
    pub id: PlaylistId,
    /// Its name.
    pub name: String,
    /// This peer's own (else opened from another peer's link: read-only).
    pub own: bool,
    /// Its tracks known here, in order.
    pub tracks: Vec<TrackSummary>,
    /// Tracks it lists that are not known here (yet).
    pub missing: usize,
}

/// An artist's page.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtistPage {
    /// The artist's key.
    pub key: ArtistKey,
    /// The name in its signed profile (or on its tracks here).
    pub name: String,
    /// Its releases that a peer could describe, in its profile's order.
    pub releases: Vec<TrackSummary>,
    /// Releases its profile names that no reachable peer could describe.
    pub missing: usize,
    /// Where the page comes from, when not from the artist's signed profile.
    pub note: Option<String>,
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
    /// Opening takes a while, and this says why (an older data dir being converted).
    Opening(String),
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
        /// Blocked artist keys.
        blocked: Vec<ArtistKey>,
        /// Followed artist keys.
        followed: Vec<ArtistKey>,
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
    /// A link handed over from outside (`busker open --app LINK`, the desktop's handler): the
    /// UI opens it as if pasted.
    LinkHanded(String),
    /// A cover for display, scaled down, and its file; `None` when it is not here or does not
    /// decode.
    Cover(
        busker_core::model::ImageHash,
        Option<(busker_core::cover::Rgba, PathBuf)>,
    ),
    /// A track link opened: the track, to play.
    OpenedTrack(Box<TrackSummary>),
    /// An artist's page, to show.
    Artist(ArtistPage),
    /// Answer to [`Request::Invite`]: the link, or why there is none.
    Invite(Result<String, String>),
    /// Answer to [`Request::Share`]: the link, to copy.
    Shared(String),
    /// Every playlist, by name (at start, on refresh, after each playlist command).
    Playlists(Vec<PlaylistView>),
    /// A playlist link opened: the playlist, to show (after the [`Event::Playlists`] that
    /// holds it).
    OpenedPlaylist(PlaylistId),
    /// Where players and broadcasting programs reach this node's radio: the HTTP server's base
    /// (`http://127.0.0.1:PORT`; a channel's stream is `BASE/radio/ID`).
    RadioBase(String),
    /// A live channel is open: what to give the broadcasting program.
    LiveChannel {
        /// The channel's name.
        name: String,
        /// The whole `icecast://` URL (ffmpeg takes it as it is).
        source_url: String,
        /// The password alone.
        password: String,
        /// Host and port.
        address: String,
        /// The mount point.
        mount: String,
    },
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
    /// Bytes per second over the last status interval (a second) (running transfers).
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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NetStatus {
    /// Connected peers.
    pub peers: Vec<PeerRow>,
    /// Downloads, running ones first.
    pub transfers: Vec<TransferRow>,
    /// Radio channels heard of (or broadcast from here), by name.
    pub channels: Vec<ChannelRow>,
    /// Bytes on this peer's connections since it started, and the rates over the last look.
    pub traffic: TrafficRow,
}

/// This peer's traffic as the Network view shows it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TrafficRow {
    /// Bytes sent since the network started.
    pub sent: u64,
    /// Bytes received since the network started.
    pub received: u64,
    /// Kilobits per second sent over the last status interval.
    pub up_kbps: f64,
    /// Kilobits per second received over the last status interval.
    pub down_kbps: f64,
}

/// How far behind the clock a tuned channel's newest segment may be before it shows as stalled
/// (segments go out a second before their air time).
pub const STALLED_AFTER: Duration = Duration::from_secs(3);

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
    /// It plays a live source.
    pub live: bool,
    /// Tuned in, and nothing new has come for [`STALLED_AFTER`] (the source paused, or the
    /// broadcaster is gone).
    pub stalled: Option<Duration>,
}

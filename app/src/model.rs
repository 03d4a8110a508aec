//! What the window shows, apart from the runtime handles: the persisted [`State`] (the open
//! [`View`], the fields the user typed) and the [`Model`] of what the backend reported. The
//! panels of [`crate::ui`] draw from these; [`crate::App`] fills the model from the backend's
//! events and carries out the panels' commands.

pub mod albums;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use busker_core::model::TrackId;
use busker_core::{Config, TrackSummary};
use serde::{Deserialize, Serialize};

use crate::backend::{DirEntry, NetStatus, TransferRow};

/// How many messages the notice area keeps.
const MAX_NOTICES: usize = 5;

/// The views of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum View {
    /// Your tracks and what you fetched.
    #[default]
    Library,
    /// Your playlists and those opened from links.
    Playlists,
    /// What plays now and next.
    Queue,
    /// Search as you type.
    Search,
    /// Recommendations and new releases.
    Discover,
    /// Radio channels.
    Radio,
    /// Publish files.
    Publish,
    /// Peers and transfers.
    Network,
    /// Settings.
    Settings,
    /// An artist's page (opened from a link or an artist's name; not in the navigation).
    Artist,
}

impl View {
    /// Every view, in navigation order.
    pub const ALL: [View; 9] = [
        View::Library,
        View::Playlists,
        View::Queue,
        View::Search,
        View::Discover,
        View::Radio,
        View::Publish,
        View::Network,
        View::Settings,
    ];

    /// The navigation label.
    pub fn label(self) -> &'static str {
        match self {
            View::Library => "Library",
            View::Playlists => "Playlists",
            View::Queue => "Queue",
            View::Search => "Search",
            View::Discover => "Discover",
            View::Radio => "Radio",
            View::Publish => "Publish",
            View::Network => "Network",
            View::Settings => "Settings",
            View::Artist => "Artist",
        }
    }
}

/// What the Library view lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LibraryMode {
    /// Every track, in a table.
    #[default]
    Tracks,
    /// Albums, as a grid.
    Albums,
    /// Artist keys.
    Artists,
}

/// Which tracks the Library view lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LibraryFilter {
    /// Everything known.
    #[default]
    All,
    /// Tracks whose bytes are here (published or fetched).
    Here,
    /// Tracks only heard of.
    Elsewhere,
}

/// What survives a restart (saved by eframe in the data dir's `gui.ron`). Settings that the
/// peer itself needs (artist name, LAN discovery) live in the data dir's `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    /// The open view.
    pub view: View,
    /// Player volume, 0.0 to 1.0.
    pub volume: f32,
    /// The search text.
    pub search_query: String,
    /// The Library view's filter.
    pub library_filter: LibraryFilter,
    /// Tracks, Albums or Artists.
    pub library_mode: LibraryMode,
    /// The path field of the Publish view.
    pub publish_path: String,
    /// The folder the file browser shows.
    pub browse_dir: Option<PathBuf>,
    /// Dark or light theme.
    pub dark_mode: bool,
    /// Peer addresses the user connected to; dialled again at every start.
    pub peer_addresses: Vec<String>,
    /// The Network view's address field.
    pub peer_input: String,
    /// The Network view's link field.
    pub link_input: String,
    /// The Radio view's channel name field.
    pub radio_name: String,
    /// The new channel plays the personal radio (not the local tracks in order).
    pub radio_personal: bool,
    /// The new channel is live, fed by a broadcasting program.
    pub radio_live: bool,
}

impl Default for State {
    fn default() -> Self {
        Self {
            view: View::Library,
            volume: 0.8,
            search_query: String::new(),
            library_filter: LibraryFilter::All,
            library_mode: LibraryMode::Tracks,
            publish_path: String::new(),
            browse_dir: None,
            dark_mode: true,
            peer_addresses: Vec::new(),
            peer_input: String::new(),
            link_input: String::new(),
            radio_name: String::new(),
            radio_personal: false,
            radio_live: false,
        }
    }
}

/// A live channel opened here: what its broadcasting program is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSource {
    /// The channel's name.
    pub name: String,
    /// The whole `icecast://source:PASSWORD@HOST:PORT/MOUNT` URL.
    pub source_url: String,
    /// The password.
    pub password: String,
    /// Host and port.
    pub address: String,
    /// The mount point.
    pub mount: String,
}

/// How the backend is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Opening the data dir (a first start also seeds the demo library).
    Opening,
    /// Ready.
    Open {
        /// The data dir.
        data_dir: PathBuf,
        /// This peer's artist key (hex).
        artist_key: String,
    },
    /// The data dir could not be opened.
    Failed(String),
}

/// One file in the Publish view.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishRow {
    /// The file.
    pub path: PathBuf,
    /// Editable title.
    pub title: String,
    /// Editable artist.
    pub artist: String,
    /// Editable album.
    pub album: String,
    /// Length, when the file could be read.
    pub duration_ms: u64,
    /// Where it is.
    pub status: RowStatus,
}

/// Where a file of the Publish view is.
#[derive(Debug, Clone, PartialEq)]
pub enum RowStatus {
    /// Tags read; waiting for "Publish".
    Ready,
    /// The file cannot be published (unreadable, not audio).
    Unreadable(String),
    /// Waiting its turn in a publish.
    Queued,
    /// Being published.
    Publishing,
    /// Published as this track.
    Published(TrackId),
    /// Publishing failed; nothing was kept.
    Failed(String),
}

/// Where the network node is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetState {
    /// Starting (or the library is still opening).
    #[default]
    Starting,
    /// Running.
    Up {
        /// This peer's id.
        peer_id: String,
        /// Where it listens, each ending in `/p2p/<peer id>`.
        listen: Vec<String>,
    },
    /// It could not start; the app works offline.
    Failed(String),
}

/// The network as the Network view and the player bar show it.
#[derive(Debug, Clone, Default)]
pub struct NetModel {
    /// The node.
    pub state: NetState,
    /// Peers and transfers.
    pub status: NetStatus,
    /// Dials sent and not answered yet.
    pub dialling: Vec<String>,
    /// The answer to the last dial the user asked for: the address and the peer id or error.
    pub last_dial: Option<(String, Result<String, String>)>,
}

impl NetModel {
    /// The transfer of `id`, if one is listed.
    pub fn transfer(&self, id: &TrackId) -> Option<&TransferRow> {
        self.status.transfers.iter().find(|t| t.id == *id)
    }
}

/// The Search view's results.
#[derive(Debug, Clone, Default)]
pub struct SearchResults {
    /// The seq of the newest search sent.
    pub sent: u64,
    /// The seq of the results shown.
    pub shown: u64,
    /// Hits, best first.
    pub hits: Vec<TrackSummary>,
    /// How long the shown search took in the backend.
    pub took: Duration,
}

/// What the backend reported, as the views need it. Not persisted.
#[derive(Debug, Clone)]
pub struct Model {
    /// The backend's status.
    pub status: Status,
    /// Why opening takes long, while it does (an older data dir being converted).
    pub opening_note: Option<String>,
    /// The peer's settings.
    pub config: Config,
    /// Every known track.
    pub tracks: Vec<TrackSummary>,
    /// Star ratings.
    pub ratings: HashMap<TrackId, u8>,
    /// Newest published tracks.
    pub new_releases: Vec<TrackSummary>,
    /// Recommendations with their reasons, best first.
    pub recommendations: Vec<busker_core::Recommended>,
    /// Blocked artist keys (Settings lists them with Unblock).
    pub blocked: Vec<busker_core::model::ArtistKey>,
    /// Followed artist keys.
    pub followed: Vec<busker_core::model::ArtistKey>,
    /// The catalog's albums (see [`albums`]).
    pub albums: Vec<albums::AlbumRow>,
    /// Cover textures, loaded as views draw them.
    pub covers: crate::covers::Covers,
    /// The catalog's artist keys.
    pub artists: Vec<albums::ArtistRow>,
    /// The playlist a new radio channel plays (`None`: the local tracks).
    pub radio_playlist: Option<busker_core::model::PlaylistId>,
    /// The album the Library shows (its artist key and name), over the grid.
    pub album_open: Option<(busker_core::model::ArtistKey, String)>,
    /// Every playlist, by name.
    pub playlists: Vec<crate::backend::PlaylistView>,
    /// The playlist the Playlists view shows.
    pub playlist_selected: Option<busker_core::model::PlaylistId>,
    /// The Playlists view's new playlist name field.
    pub playlist_name_input: String,
    /// The Playlists view's rename field.
    pub playlist_rename_input: String,
    /// The artist page last opened.
    pub artist_page: Option<crate::backend::ArtistPage>,
    /// The invite link the Network view shows (or why there is none), with its QR code.
    pub invite: Option<Result<(String, Option<crate::qr::Qr>), String>>,
    /// The last link made to share (copied to the clipboard too).
    pub shared: Option<String>,
    /// Where channels stream to players (`http://127.0.0.1:PORT`).
    pub radio_base: Option<String>,
    /// The live channel opened here, and what the broadcasting program needs.
    pub live_source: Option<LiveSource>,
    /// Where Settings backs the artist key up to.
    pub key_backup_input: String,
    /// The backup was offered at the first publish (once a session).
    pub key_backup_offered: bool,
    /// Settings' "import over a key that signed releases" box.
    pub key_import_replace: bool,
    /// Search results.
    pub search: SearchResults,
    /// Files of the Publish view.
    pub publish_rows: Vec<PublishRow>,
    /// A scan is running.
    pub scanning: bool,
    /// The file browser's listing.
    pub listing: Option<(PathBuf, Result<Vec<DirEntry>, String>)>,
    /// Recent errors and messages, newest last.
    pub notices: Vec<String>,
    /// Move keyboard focus to the search field on the next frame.
    pub focus_search: bool,
    /// The artist name field of Settings.
    pub artist_input: String,
    /// The listen address field of Settings.
    pub listen_input: String,
    /// The network.
    pub net: NetModel,
}

impl Model {
    /// A known track whose manifest names this cover (to fetch the cover from its holders).
    pub fn track_with_cover(&self, hash: &busker_core::model::ImageHash) -> Option<TrackId> {
        let named = |t: &&TrackSummary| t.info.cover.is_some_and(|c| c.hash == *hash);
        self.tracks.iter().find(named).map(|t| t.id)
    }
}

impl Default for Model {
    fn default() -> Self {
        Self {
            status: Status::Opening,
            opening_note: None,
            config: Config::default(),
            tracks: Vec::new(),
            ratings: HashMap::new(),
            new_releases: Vec::new(),
            recommendations: Vec::new(),
            blocked: Vec::new(),
            followed: Vec::new(),
            albums: Vec::new(),
            covers: crate::covers::Covers::default(),
            artists: Vec::new(),
            album_open: None,
            radio_playlist: None,
            playlists: Vec::new(),
            playlist_selected: None,
            playlist_name_input: String::new(),
            playlist_rename_input: String::new(),
            artist_page: None,
            invite: None,
            shared: None,
            radio_base: None,
            live_source: None,
            key_backup_input: default_key_backup_path(),
            key_backup_offered: false,
            key_import_replace: false,
            search: SearchResults::default(),
            publish_rows: Vec::new(),
            scanning: false,
            listing: None,
            notices: Vec::new(),
            focus_search: false,
            artist_input: String::new(),
            listen_input: String::new(),
            net: NetModel::default(),
        }
    }
}

impl Model {
    /// Adds a message to the notice area.
    pub fn notice(&mut self, text: impl Into<String>) {
        self.notices.push(text.into());
        if self.notices.len() > MAX_NOTICES {
            self.notices.remove(0);
        }
    }

    /// The rating of a track (0: unrated).
    pub fn rating(&self, id: &TrackId) -> u8 {
        self.ratings.get(id).copied().unwrap_or(0)
    }

    /// Whether `key` is followed here.
    pub fn is_followed(&self, key: &busker_core::model::ArtistKey) -> bool {
        self.followed.contains(key)
    }

    /// Whether `key` is this peer's own artist key (which it cannot block).
    pub fn is_own_key(&self, key: &busker_core::model::ArtistKey) -> bool {
        matches!(&self.status, Status::Open { artist_key, .. } if *artist_key == key.to_hex())
    }
}

/// Where Settings offers to back the artist key up: a new file in the home folder.
fn default_key_backup_path() -> String {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join("busker-artist-key.txt")
        .display()
        .to_string()
}

//! The one error type of `busker-core`.
//!
//! Every error's message includes what failed underneath it, so a log line or a status bar
//! that shows `{e}` says everything; the cause is also kept as [`std::error::Error::source`],
//! typed, for code that needs to tell causes apart. [`Report`] prints a whole chain (an
//! `anyhow` context over an [`Error`], say) without repeating a cause a message already holds.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use libp2p::PeerId;
use libp2p::request_response::OutboundFailure;

use crate::media::MediaError;
use crate::model::TrackId;
use crate::wire::DecodeError;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in the peer. Each variant says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written; check the path and its permissions.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Not a regular file (a FIFO, device or socket): skipped without being opened.
    #[error("not a regular file ({0}): skipped")]
    NotARegularFile(&'static str),
    /// A symbolic link leads back into a folder already being published: entered once.
    #[error("a symbolic link loop: this folder is already being published")]
    SymlinkLoop,
    /// Publishing was stopped (Ctrl-C, or the node shutting down) before this file was done;
    /// nothing of it was kept.
    #[error("stopped before this file was done; nothing of it was kept")]
    Cancelled,
    /// A file to publish could not be read; check that it exists and is readable.
    #[error("cannot read the file: {0}")]
    ReadFile(#[source] std::io::Error),
    /// Another Busker process uses this data dir; stop it or choose another `--data-dir`.
    #[error("data dir {0} is in use by another Busker process")]
    DataDirLocked(PathBuf),
    /// The database failed (corruption, an I/O error); the store stays as it was before the call.
    #[error("database error: {0}")]
    Store(#[source] sled::Error),
    /// The disk holding the data dir is full. What was being written was not kept (a publish
    /// leaves nothing, a download keeps its verified chunks); free some space and try again.
    #[error("the disk is full: free some space and try again ({0})")]
    DiskFull(String),
    /// Stored audio no longer matches its hash (changed or damaged on disk). It was dropped and
    /// is fetched again from peers like any track that is not here.
    #[error("stored audio is damaged: {0}")]
    Damaged(String),
    /// A database transaction failed.
    #[error("database transaction failed: {0}")]
    Transaction(String),
    /// The search index failed; it is rebuilt from the store on the next start.
    #[error("search index error: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// A stored or received record is malformed.
    #[error("malformed record: {0}")]
    Decode(#[from] DecodeError),
    /// The file is not audio Busker can play, or it is damaged.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// An image is not a usable cover, or not the one a manifest names.
    #[error("cover art: {0}")]
    Cover(#[from] crate::model::CoverError),
    /// The track is already in the library.
    #[error("already published as {0}")]
    Duplicate(TrackId),
    /// The file is empty or larger than a manifest can describe (4 GiB).
    #[error("file size {0} bytes is not publishable (1 byte to 4 GiB)")]
    BadFileSize(u64),
    /// No track with this id is known.
    #[error("no track {0} in this library")]
    UnknownTrack(TrackId),
    /// A rating must be 0 (clear) to 5 stars.
    #[error("{0} stars is not a rating (1 to 5, 0 clears)")]
    BadRating(u8),
    /// Blocking this peer's own artist key (it would hide everything it publishes).
    #[error("this is your own artist key: it cannot be blocked")]
    OwnArtistKey,
    /// Importing an artist key over one that signed releases here, without `--replace`.
    #[error(
        "this peer's artist key signed {0} release(s) here: they stay, but only that key can \
         update them. Keep its backup (busker key export FILE), then import with --replace"
    )]
    KeyHasReleases(usize),
    /// An artist key backup that cannot be imported.
    #[error("artist key backup: {0}")]
    KeyBackup(#[from] crate::artist::backup::BackupError),
    /// A track id (or id prefix) that matches no known track, or more than one.
    #[error("{0}")]
    BadTrackRef(String),

    /// A playlist edit refused by its limits.
    #[error(transparent)]
    Playlist(#[from] crate::playlist::PlaylistError),

    /// No playlist, or more than one, answers to what was given.
    #[error("{0}")]
    BadPlaylistRef(String),

    /// A playlist another key signed: only its owner can change it.
    #[error(
        "playlist {0:?} was shared by another peer: only its owner can change it (copy it with `busker playlist create NAME` and its track ids)"
    )]
    ForeignPlaylist(String),

    /// An M3U file that cannot be read.
    #[error(transparent)]
    M3u(#[from] crate::playlist::m3u::M3uError),
    /// This peer runs without its network (it could not start, see the log); start it again
    /// with a free listen address.
    #[error("the network is not running")]
    Offline,
    /// The network actor has stopped (shut down or crashed); start the node again.
    #[error("the network is stopped")]
    NetworkStopped,
    /// A network operation failed (dial refused, request timed out, listen address in use).
    #[error("network: {0}")]
    Network(String),
    /// A request could not reach its peer: the dial failed, or the connection closed before
    /// the answer (the peer may be gone).
    #[error("peer {peer} unreachable: {source}")]
    Unreachable {
        /// The peer asked.
        peer: PeerId,
        /// What the network saw.
        #[source]
        source: OutboundFailure,
    },
    /// A dial failed: no address of the peer answered, or the peer is not who the address
    /// says; check the address and that the peer runs.
    #[error("dial failed: {0}")]
    Dial(#[source] Box<libp2p::swarm::DialError>),
    /// The peer is banned here, or cut off by the partition switch: nothing was sent to it.
    #[error("peer {0} is banned or cut off")]
    ShutOut(PeerId),
    /// A request reached its peer but failed on the way (it timed out, the peer does not speak
    /// the protocol, a stream broke); retry or ask another peer.
    #[error("request to {peer} failed: {source}")]
    Request {
        /// The peer asked.
        peer: PeerId,
        /// What the network saw.
        #[source]
        source: OutboundFailure,
    },
    /// A peer's answer does not decode: it speaks another version, or it is broken or hostile.
    #[error("{peer} sent an answer that does not decode: {source}")]
    BadAnswer {
        /// The peer that answered.
        peer: PeerId,
        /// What is wrong with the answer.
        #[source]
        source: Box<DecodeError>,
    },
    /// A download failed; the verified chunks it stored stay for a resume.
    #[error("download failed: {0}")]
    Transfer(#[source] Arc<Error>),
    /// A background task of the peer stopped before its answer: it panicked, or the runtime is
    /// shutting down.
    #[error("{what} failed: {source}")]
    Task {
        /// Which task.
        what: &'static str,
        /// How it ended.
        #[source]
        source: tokio::task::JoinError,
    },
    /// Nobody that holds the track could be reached in time; connect to more peers and retry.
    #[error("no reachable peer holds track {0}")]
    NoProviders(TrackId),
    /// A taste profile or taste exchange message from another peer was refused (malformed,
    /// over its limits, or with a signature that does not match); nothing of it was kept.
    #[error("taste exchange: {0}")]
    Taste(String),
    /// A taste profile from another peer (or this peer's own) breaks the neighbourhood's rules
    /// or does not decode; nothing of it was kept.
    #[error("taste profile refused: {0}")]
    TasteProfile(#[source] busker_recommender::Error),
    /// No valid profile of this artist key was found in the DHT; connect to more peers.
    #[error("no profile of artist {0} was found in the DHT")]
    UnknownArtist(String),
    /// The config file is not valid TOML for Busker.
    #[error("config {path}: {reason}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        match &e {
            sled::Error::Io(io) if is_disk_full(io) => Self::DiskFull(io.to_string()),
            _ => Self::Store(e),
        }
    }
}

/// Whether an I/O error means "no space left" (or over quota).
pub(crate) fn is_disk_full(e: &std::io::Error) -> bool {
    // ENOSPC and EDQUOT on Linux; `StorageFull` where the standard library maps them.
    e.kind() == std::io::ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(28 | 122))
}

impl Error {
    /// The error of a background task that ended without its answer.
    pub(crate) fn task(what: &'static str) -> impl FnOnce(tokio::task::JoinError) -> Self {
        move |source| Self::Task { what, source }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if is_disk_full(&source) {
            return Self::DiskFull(format!("{}: {source}", path.display()));
        }
        Self::Io { path, source }
    }
}

/// Publishing one file failed; the library is unchanged by it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct PublishError {
    /// The file.
    pub path: PathBuf,
    /// Why (boxed: the error of a whole batch is a list of these).
    #[source]
    pub source: Box<Error>,
}

/// Prints an error and its causes as `outer: inner: innermost`, leaving out a cause whose message
/// the message before it already ends with (a [`busker_core`](crate) error says its cause, an
/// `anyhow` context does not).
///
/// ```
/// use busker_core::Report;
///
/// let io = std::io::Error::other("disk on fire");
/// let e = busker_core::Error::ReadFile(io);
/// assert_eq!(Report(&e).to_string(), "cannot read the file: disk on fire");
/// ```
pub struct Report<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            if !shown.ends_with(&text) {
                write!(f, ": {text}")?;
                shown.push_str(": ");
                shown.push_str(&text);
            }
            next = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

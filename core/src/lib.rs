//! The Busker peer: everything except pixels.
//!
//! A peer keeps a signed catalog of tracks in a [`Store`] (sled), indexes it for local full-text
//! search in a [`SearchIndex`] (tantivy), probes and decodes audio with [`media`] (symphonia), and
//! ties them together in a [`Library`], the handle the CLI and the GUI use. A [`Player`] plays a
//! queue of tracks from the store into an audio sink, reading each through a
//! [`stream::ChunkSource`] that asks a [`stream::ChunkProvider`] for chunks that are not here yet.
//!
//! ```no_run
//! use busker_core::{Library, LibraryOptions};
//!
//! let library = Library::open(LibraryOptions::new("/tmp/busker-demo"))?;
//! for hit in library.search("sprng of love", 10)? {
//!     println!("{} by {}", hit.info.title, hit.info.artist);
//! }
//! # Ok::<(), busker_core::Error>(())
//! ```
#![deny(missing_docs)]

pub mod artist;
pub mod catalog;
mod config;
pub mod cover;
mod datadir;
mod demo;
mod error;
mod index;
mod library;
pub mod link;
pub mod media;
pub mod model;
pub mod net;
mod node;
mod player;
pub mod playlist;
pub mod radio;
pub mod release;
mod store;
pub mod stream;
pub mod taste;
pub mod transfer;
pub mod wire;

#[cfg(any(test, feature = "test-utils"))]
pub mod test_utils;

pub use config::{
    Config, DEFAULT_CATALOG_BUDGET_KIB, DEFAULT_CATALOG_RECENT_DAYS, DEFAULT_LISTEN,
    DEFAULT_LISTEN_QUIC, DEFAULT_SUBSONIC_LISTEN,
};
pub use datadir::{DataDir, export_artist_key};
pub use error::{Error, PublishError, Report, Result};
/// The judged query set for local search (feature `test-utils`).
#[cfg(any(test, feature = "test-utils"))]
pub use index::judged as search_judged;
pub use index::{SearchHit, SearchIndex};
pub use library::{
    AUDIO_EXTENSIONS, ArtistCatalog, CoverRefused, EvictionReport, Imported, Library,
    LibraryOptions, PlaylistEdit, PublishEvent, PublishOptions, Published, Recommended, SameAudio,
    TrackSummary, audio_files, is_audio_file,
};
pub use node::{Node, NodeEvent, NodeOptions};
pub use player::{Player, PlayerError, PlayerEvent, PlayerOptions, PlayerStats};
pub use store::{
    BlobWriter, ENTRY_OVERHEAD, Evicted, IndexedRelease, Listen, ListenKind, MAX_REMEMBERED,
    MAX_STARS, MoveProgress, Store, Stored, Upgrade, Verdict,
};

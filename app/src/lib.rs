//! The desktop app of Busker (eframe/egui), as a library so that tests drive the real [`App`].
//!
//! The parts:
//! - [`backend`]: a worker thread that owns the [`busker_core::Library`] (every call into it
//!   blocks on disk I/O) and a tokio runtime running the [`busker_core::Node`] in-process; the
//!   UI sends it [`backend::Request`]s over a bounded channel and drains its
//!   [`backend::Event`]s with `try_recv` once per frame. The worker and the node's tasks call
//!   `request_repaint()` whenever they post an event, so an idle app draws nothing.
//! - [`player`]: the player state (queue, position clock, volume) and the [`PlayerBackend`]
//!   seam, where the core player engine ([`EnginePlayer`]) plugs in once the backend started
//!   it on the node's chunk provider.
//! - [`model`]: what the window shows: the persisted [`State`] and the [`model::Model`] of
//!   what the backend reported.
//! - [`http`]: the local control API the app and `busker node` serve (so that `busker` commands
//!   and `busker://` links reach a running app), with [`output`] and [`play`], which it shares
//!   with the command line.
//! - [`ui`]: one file per panel; panels draw from the [`model`] and return [`ui::Command`]s,
//!   which [`App`] carries out in one place after drawing.
//!
//! ```no_run
//! let options = busker::app::AppOptions::new("/tmp/busker-gui");
//! busker::app::run_native(options)?;
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod app;
pub mod backend;
pub mod covers;
pub mod desktop;
pub mod http;
pub mod model;
pub mod mpris;
pub mod output;
pub mod play;
pub mod player;
pub mod playlists;
pub mod qr;
pub mod ui;

pub use app::{App, AppOptions, MediaKeys};
pub use backend::Audio;
pub use model::{State, View};
pub use player::{EnginePlayer, NoAudio, PlayerBackend, PlayerCall, RecordingPlayer};

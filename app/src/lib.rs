//! The desktop app of Busker (eframe/egui), as a library so that tests drive the real [`App`].
//!
//! The parts:
//! - [`backend`]: a worker thread that owns the [`busker_core::Library`] (every call into it
//!   blocks on disk I/O); the UI sends it [`backend::Request`]s over a bounded channel and drains
//!   its [`backend::Event`]s with `try_recv` once per frame. The worker calls
//!   `request_repaint()` whenever it posts an event, so an idle app draws nothing.
//! - [`player`]: the player state (queue, position clock, volume) and the [`PlayerBackend`]
//!   seam where the audio engine plugs in.
//! - [`ui`]: one file per panel; panels draw from the [`App`]'s state and return
//!   [`ui::Command`]s, which [`App`] carries out in one place after drawing.
//!
//! ```no_run
//! let options = busker::app::AppOptions::new("/tmp/busker-gui");
//! busker::app::run_native(options)?;
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod app;
pub mod backend;
pub mod player;
pub mod ui;

pub use app::{App, AppOptions, State, View};
pub use player::{NoAudio, PlayerBackend, PlayerCall, RecordingPlayer};

//! How the app is started: [`AppOptions`].

use std::path::PathBuf;

use crate::backend::Audio;
use crate::player::PlayerBackend;

/// How to start the app.
pub struct AppOptions {
    /// The data dir.
    pub data_dir: PathBuf,
    /// Whether a new data dir gets the demo library (`None`: from the config).
    pub seed_demo: Option<bool>,
    /// Listen addresses instead of the configured ones.
    pub listen: Option<Vec<String>>,
    /// Where the audio engine plays.
    pub audio: Audio,
    /// A player backend instead of the audio engine (tests of the player's own logic).
    pub player: Option<Box<dyn PlayerBackend>>,
    /// A `busker://` link to open once the app runs.
    pub open_link: Option<String>,
    /// Where the media keys reach the player (MPRIS over D-Bus).
    pub media_keys: MediaKeys,
}

/// Where the app answers MPRIS (see [`crate::mpris`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaKeys {
    /// Not at all (tests, demos).
    Off,
    /// On the user's session bus.
    SessionBus,
    /// On the bus at this D-Bus address (tests run their own `dbus-daemon`).
    Bus(String),
}

impl AppOptions {
    /// Options for `data_dir`: the configured listen addresses, the default audio device.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            seed_demo: None,
            listen: None,
            audio: Audio::Device,
            player: None,
            open_link: None,
            media_keys: MediaKeys::SessionBus,
        }
    }

    /// Options for tests and demos: the peer listens on a free port of 127.0.0.1 only.
    pub fn loopback(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: Some(vec!["/ip4/127.0.0.1/tcp/0".to_owned()]),
            media_keys: MediaKeys::Off,
            ..Self::new(data_dir)
        }
    }
}

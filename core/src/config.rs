//! The peer's settings, kept as TOML in the data dir.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::datadir::write_private_atomic;
use crate::error::{Error, Result};

/// Settings a user can change; every field has a default so old files keep loading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The artist display name put on published tracks that carry no artist tag.
    pub artist_name: Option<String>,
    /// Seed a new data dir with the bundled demo library.
    pub seed_demo_library: bool,
    /// LAN discovery (mDNS). Off by default: it sends traffic beyond this machine.
    pub lan_discovery: bool,
    /// Where the desktop app's peer listens (multiaddrs; `busker node` takes `--listen`).
    pub listen: Vec<String>,
    /// Where the Subsonic API is served (`host:port`; a port already taken falls back to a
    /// free one, which `busker subsonic` names).
    pub subsonic_listen: String,
    /// The disk budget of the catalog of manifests heard from peers, in KiB (0: no limit).
    /// Beyond it the peer evicts releases it does not hold, play, rate, follow or get
    /// recommended, oldest received first; they stay findable through peers.
    pub catalog_budget_kib: u64,
    /// Releases published within this many days are never evicted over the catalog budget (0:
    /// no such window).
    pub catalog_recent_days: u64,
}

/// The default catalog budget: 1 GiB, about a million manifests of 1 KB.
pub const DEFAULT_CATALOG_BUDGET_KIB: u64 = 1 << 20;
/// The default window of recent releases kept over the catalog budget: 30 days.
pub const DEFAULT_CATALOG_RECENT_DAYS: u64 = 30;

/// The Subsonic API's default address: loopback, the port Navidrome uses too.
pub const DEFAULT_SUBSONIC_LISTEN: &str = "127.0.0.1:4533";

/// The desktop app's default listen address: every interface, a free TCP port.
pub const DEFAULT_LISTEN: &str = "/ip4/0.0.0.0/tcp/0";
/// And QUIC beside it: every interface, a free UDP port.
pub const DEFAULT_LISTEN_QUIC: &str = "/ip4/0.0.0.0/udp/0/quic-v1";

impl Default for Config {
    fn default() -> Self {
        Self {
            artist_name: None,
            seed_demo_library: true,
            lan_discovery: false,
            listen: vec![DEFAULT_LISTEN.to_owned(), DEFAULT_LISTEN_QUIC.to_owned()],
            subsonic_listen: DEFAULT_SUBSONIC_LISTEN.to_owned(),
            catalog_budget_kib: DEFAULT_CATALOG_BUDGET_KIB,
            catalog_recent_days: DEFAULT_CATALOG_RECENT_DAYS,
        }
    }
}

impl Config {
    /// Loads `path`, or the defaults when it does not exist.
    pub fn load(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| Error::Config {
                path: path.to_owned(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Saves to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self).map_err(|e| Error::Config {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        write_private_atomic(path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_take_defaults_and_bad_toml_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.toml");
        assert_eq!(Config::load(&path).unwrap(), Config::default());
        std::fs::write(&path, "artist_name = \"Ada\"\n").unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.artist_name.as_deref(), Some("Ada"));
        assert!(c.seed_demo_library);
        assert_eq!(c.catalog_budget_kib, DEFAULT_CATALOG_BUDGET_KIB);
        assert_eq!(
            c.listen,
            vec![DEFAULT_LISTEN.to_owned(), DEFAULT_LISTEN_QUIC.to_owned()]
        );
        c.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), c);
        std::fs::write(&path, "artist_name = [").unwrap();
        assert!(matches!(Config::load(&path), Err(Error::Config { .. })));
    }
}

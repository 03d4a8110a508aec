//! The command line, as documented in `CLI.md`: a contract that outside tests rely on.

use std::path::PathBuf;

use busker::playlists::PlaylistOp;
use clap::{Parser, Subcommand};

/// Busker: the music network nobody can shut down.
///
/// With no command, opens the desktop app.
#[derive(Debug, Parser)]
#[command(name = "busker", version, about, long_about = None)]
pub struct Cli {
    /// Where this peer keeps everything (default: the platform data dir).
    #[arg(long, global = true, value_name = "DIR", env = "BUSKER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Machine-readable output: one JSON value per line on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    /// Do not seed a new data dir with the bundled demo library.
    #[arg(long, global = true)]
    pub no_demo: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Publish audio files or folders (recursively) as signed tracks.
    Publish {
        /// Files or folders to publish.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Artist display name (remembered for later publishes).
        #[arg(long, value_name = "NAME")]
        artist: Option<String>,
        /// Title instead of the title tag (single files).
        #[arg(long)]
        title: Option<String>,
        /// Album instead of the album tag.
        #[arg(long)]
        album: Option<String>,
    },
    /// List the tracks this peer knows.
    List,
    /// Run a headless peer until SIGINT/SIGTERM, with the local control API.
    Node {
        /// Address to listen on (repeatable), e.g. /ip4/0.0.0.0/tcp/4001.
        #[arg(long, value_name = "MULTIADDR")]
        listen: Vec<String>,
        /// Peer to dial at start (repeatable), e.g. /ip4/192.0.2.7/tcp/4001/p2p/12D3Koo...
        #[arg(long, value_name = "MULTIADDR")]
        peer: Vec<String>,
        /// An address other peers can reach this node at (repeatable): a public address or a
        /// port forward. It is announced, and makes this node a relay for peers that cannot
        /// be reached directly.
        #[arg(long, value_name = "MULTIADDR")]
        external: Vec<String>,
        /// Find peers on the local network (mDNS; also on with `lan_discovery = true` in
        /// config.toml). Off by default: it sends multicast traffic to the LAN.
        #[arg(long)]
        mdns: bool,
    },
    /// Show this node's peer id, the addresses it can be reached at (relayed ones included) and
    /// the bytes it has sent and received (through the running node).
    Status,
    /// Dial a peer (through the running node).
    Connect {
        /// The peer's address, ending in /p2p/<peer id>.
        #[arg(value_name = "MULTIADDR")]
        addr: String,
    },
    /// List connected peers (through the running node).
    Peers,
    /// Download and verify a track (through the running node).
    Fetch {
        /// Track id (or a unique prefix of 6 or more hex digits).
        #[arg(value_name = "ID")]
        id: String,
        /// Write the original file here.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Search the local index (typo-tolerant, prefix-aware).
    Search {
        /// What to look for.
        #[arg(required = true, value_name = "QUERY")]
        query: Vec<String>,
        /// At most this many results.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Play a track on the audio device, or decode it into a WAV file.
    Play {
        /// Track id (or a unique prefix of 6+ hex digits, as `list` prints).
        #[arg(value_name = "ID")]
        id: String,
        /// Write the decoded samples to this WAV file (the track's own rate, channels and bit
        /// depth) instead of playing them.
        #[arg(long, value_name = "FILE.wav")]
        out: Option<PathBuf>,
        /// Stop after this many seconds of audio.
        #[arg(long, value_name = "S", value_parser = parse_seconds)]
        seconds: Option<f64>,
    },
    /// Rate a track: 1 to 5 stars, 0 clears the rating.
    Rate {
        /// Track id (or a unique prefix of 6+ hex digits).
        #[arg(value_name = "ID")]
        id: String,
        /// Stars, 0 to 5.
        #[arg(value_name = "STARS", value_parser = clap::value_parser!(u8).range(0..=5))]
        stars: u8,
    },
    /// Block an artist key: its releases are hidden here (list, search, new releases,
    /// recommendations) and not relayed to other peers.
    Block {
        /// The artist's key, 64 hex digits (`list --json` shows each track's `artist_key`).
        #[arg(value_name = "ARTIST_KEY")]
        key: String,
    },
    /// Lift the block of an artist key.
    Unblock {
        /// The artist's key, 64 hex digits.
        #[arg(value_name = "ARTIST_KEY")]
        key: String,
    },
    /// Recommend tracks from the taste of peers close to yours, with reasons.
    Recommend {
        /// At most this many recommendations.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
    },
    /// An artist by key: its signed profile in the DHT and its releases, found through the
    /// running node. Without a key: this peer's own artist key and profile (to share).
    Artist {
        /// The artist's key, 64 hex digits (`busker artist` prints it on the artist's peer).
        #[arg(value_name = "KEY")]
        key: Option<String>,
    },
    /// Make an invite link to this peer (through the running node): another peer joins with
    /// `busker join LINK`, or by opening it in the app. Signed by this peer; lasts a week.
    Invite {
        /// How long the link stays good, in hours.
        #[arg(long, value_name = "HOURS", default_value_t = 168,
              value_parser = clap::value_parser!(u64).range(1..=8760))]
        hours: u64,
    },
    /// Connect to a peer through its invite link (through the running node), and keep it:
    /// every later start dials it again.
    Join {
        /// A busker://join/... link.
        #[arg(value_name = "LINK")]
        link: String,
    },
    /// Make a link to a track, an artist or a playlist, to pass on: busker://track/... carries
    /// the release id and peers that hold it, busker://artist/KEY the artist's key,
    /// busker://playlist/... a playlist of yours (its signed record goes into the DHT).
    Share {
        /// A track id (or a unique prefix of 6+ hex digits), a playlist (id, prefix or name), or
        /// an artist key (64 hex digits).
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Open a busker:// link (through the running node): join a peer, find and show a track
    /// (then `play` or `fetch` it), or an artist's releases.
    Open {
        /// A busker://join/..., busker://track/..., busker://artist/... or busker://playlist/...
        /// link (with --app it
        /// may be left out: then the app just opens).
        #[arg(value_name = "LINK", required_unless_present = "app")]
        link: Option<String>,
        /// Hand the link to the desktop app: the running one (or node), else start the app
        /// with it. What the desktop runs for a busker:// link.
        #[arg(long)]
        app: bool,
    },
    /// Follow an artist key: its new releases come first in Discover.
    Follow {
        /// The artist's key, 64 hex digits.
        #[arg(value_name = "KEY")]
        key: String,
    },
    /// Stop following an artist key.
    Unfollow {
        /// The artist's key, 64 hex digits.
        #[arg(value_name = "KEY")]
        key: String,
    },
    /// Make this busker the handler of busker:// links on this Linux desktop (a .desktop file
    /// for x-scheme-handler/busker, in the user's own XDG directories).
    InstallDesktop,
    /// Radio channels: broadcast from the running node, list, tune in.
    Radio {
        #[command(subcommand)]
        command: RadioCommand,
    },
    /// Playlists: make, change, export and import M3U (share one with `busker share PLAYLIST`).
    Playlist {
        #[command(subcommand)]
        command: PlaylistOp,
    },
    /// Where the running node (or app) serves the Subsonic API, and the user and password to
    /// give a Subsonic client (DSub, Symfonium, Ultrasonic, Feishin, Sublime Music).
    Subsonic,
    /// This peer's artist key: back it up, or take one over from another machine.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

/// `busker key ...`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Write a backup of this peer's artist key to a new file (owner-only; keep it safe: it
    /// is your identity as an artist).
    Export {
        /// Where to write the backup (an existing file is never overwritten).
        file: PathBuf,
    },
    /// Make the key in a backup this peer's artist key (stop its node first). The key it
    /// replaces is kept in the data dir's `keys/retired/`.
    Import {
        /// A backup written by `busker key export`.
        file: PathBuf,
        /// Replace a key that already signed releases here (they stay, but only that key can
        /// update them).
        #[arg(long)]
        replace: bool,
    },
}

/// `busker radio ...`
#[derive(Debug, Subcommand)]
pub enum RadioCommand {
    /// Start broadcasting a channel from the running node (returns at once).
    Start {
        /// The channel's name (with this peer's artist key it makes the channel id).
        #[arg(value_name = "NAME")]
        name: String,
        /// Tracks to play, in order (ids or unique prefixes of 6+ hex digits).
        #[arg(value_name = "ID")]
        ids: Vec<String>,
        /// An endless personal radio instead of a fixed list.
        #[arg(long, conflicts_with = "ids")]
        personal: bool,
        /// A live channel: prints the URL (with its password) an Icecast source client such as
        /// ffmpeg, BUTT, Mixxx or liquidsoap broadcasts to.
        #[arg(long, conflicts_with_all = ["ids", "personal"])]
        live: bool,
    },
    /// Stop a channel this node broadcasts.
    Stop {
        /// The channel id.
        #[arg(value_name = "CHANNEL_ID")]
        channel: String,
    },
    /// Channels heard of, with listener counts.
    List,
    /// Tune in to a channel (through the running node) and play it, or record it.
    Tune {
        /// The channel id (64 hex digits, as `radio list` prints).
        #[arg(value_name = "CHANNEL_ID")]
        channel: String,
        /// Write the decoded samples to this WAV file (the track's own rate, channels and bit
        /// depth) instead of playing them.
        #[arg(long, value_name = "FILE.wav")]
        out: Option<PathBuf>,
        /// Stop after this many seconds of the broadcast (played, or skipped as late) and report.
        #[arg(long, value_name = "S", value_parser = parse_seconds)]
        seconds: Option<f64>,
    },
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}

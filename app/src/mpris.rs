//! Media keys and the desktop's media controls: the player answers MPRIS
//! (`org.mpris.MediaPlayer2` and `.Player`) on the D-Bus session bus, so the play/pause, next
//! and previous keys, `playerctl`, and the desktop's sound menu drive it and show what plays.
//!
//! The bus side runs on zbus's own executor; the UI thread owns the [`Player`]. They meet in two
//! places: a [`Snapshot`] of what plays (written each frame, read by property getters, and
//! announced with `PropertiesChanged` when it changed), and a channel of [`Control`]s the UI
//! drains once per frame as the player bar's [`Command`]s (a call asks for a repaint, so an idle
//! window answers at once). Without a
//! session bus [`Mpris::start`] logs one line and the app runs on without it.

use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zbus::zvariant::{ObjectPath, Value};

use crate::player::{Player, Repeat};
use crate::ui::Command;

const PATH: &str = "/org/mpris/MediaPlayer2";
/// The bus name: `org.mpris.MediaPlayer2.busker`, with `.instance<pid>` when that is taken.
const NAME: &str = "org.mpris.MediaPlayer2.busker";
/// Controls kept between two frames.
const CONTROLS: usize = 64;

/// What the desktop asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Control {
    /// Play or pause.
    PlayPause,
    /// Play.
    Play,
    /// Pause.
    Pause,
    /// Stop.
    Stop,
    /// Next track.
    Next,
    /// Previous track.
    Previous,
    /// Move the playhead by this many microseconds (negative: back).
    SeekBy(i64),
    /// Put the playhead here (microseconds).
    SetPosition(i64),
    /// Volume, 0.0 to 1.0.
    Volume(f64),
    /// The repeat mode (MPRIS's `LoopStatus`).
    Loop(Repeat),
}

/// What plays, as MPRIS reports it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// `Playing`, `Paused` or `Stopped`.
    pub status: &'static str,
    /// Track id (hex), title, artist, album, length.
    pub track: Option<(String, String, String, String, Duration)>,
    /// Volume, 0.0 to 1.0.
    pub volume: f64,
    /// Position when the snapshot was taken.
    pub position: Duration,
    /// The repeat mode.
    pub repeat: Repeat,
    /// A track follows / comes before.
    pub can_next: bool,
    /// See `can_next`.
    pub can_previous: bool,
    /// The current track's cover as a `file://` URL, when it is held here.
    pub art_url: Option<String>,
}

impl Snapshot {
    /// What `player` plays now.
    pub fn of(player: &Player) -> Self {
        let status = match (player.current(), player.is_playing()) {
            (None, _) => "Stopped",
            (Some(_), true) => "Playing",
            (Some(_), false) => "Paused",
        };
        let at = player.current_index();
        Self {
            status,
            track: player.current().map(|t| {
                (
                    t.id.to_hex(),
                    t.info.title.clone(),
                    t.info.artist.clone(),
                    t.info.album.clone(),
                    Duration::from_millis(t.info.duration_ms),
                )
            }),
            volume: f64::from(player.volume()),
            position: player.position(),
            repeat: player.repeat(),
            can_next: at.is_some_and(|i| i + 1 < player.queue().len()),
            can_previous: at.is_some(),
            art_url: None,
        }
    }

    /// Equal but for the position (which moves every frame and is read, not announced).
    fn same_announced(&self, other: &Self) -> bool {
        Self {
            position: Duration::ZERO,
            ..self.clone()
        } == Self {
            position: Duration::ZERO,
            ..other.clone()
        }
    }
}

/// The shared state: the last snapshot and when it was taken (to tell the position between
/// frames).
type Shared = Arc<Mutex<(Snapshot, Instant)>>;

fn read(shared: &Shared) -> (Snapshot, Instant) {
    shared
        .lock()
        .map(|s| s.clone())
        .unwrap_or_else(|p| p.into_inner().clone())
}

/// The MPRIS service of one app.
pub struct Mpris {
    shared: Shared,
    controls: Receiver<Control>,
    announce: futures::channel::mpsc::Sender<()>,
    last: Snapshot,
    /// The bus name it got.
    pub name: String,
}

impl std::fmt::Debug for Mpris {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mpris").field("name", &self.name).finish()
    }
}

impl Mpris {
    /// Connects to the session bus (or `address`, a D-Bus address) and serves MPRIS there.
    /// `None`, with a log line, when there is no bus.
    pub fn start(address: Option<&str>, repaint: egui::Context) -> Option<Self> {
        let shared: Shared = Arc::new(Mutex::new((Snapshot::default(), Instant::now())));
        // Bounded: a desktop that sends more than this between two frames loses the surplus.
        let (controls_tx, controls) = std::sync::mpsc::sync_channel(CONTROLS);
        // One pending announcement is enough: it reads the newest snapshot when it runs.
        let (announce, announced) = futures::channel::mpsc::channel(1);
        let served = futures::executor::block_on(serve(
            address,
            shared.clone(),
            Controls {
                tx: controls_tx,
                repaint,
            },
        ));
        let (connection, name) = match served {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(error = %e, "no D-Bus session bus: media keys are not available");
                return None;
            }
        };
        std::thread::Builder::new()
            .name("mpris".into())
            .spawn(move || futures::executor::block_on(announce_changes(connection, announced)))
            .ok()?;
        Some(Self {
            shared,
            controls,
            announce,
            last: Snapshot::default(),
            name,
        })
    }

    /// Once per frame: what the desktop asked for since the last frame, as the commands the
    /// player bar gives (so Play on an empty queue starts the library, as the button does).
    pub fn commands(&mut self, player: &Player) -> Vec<Command> {
        let mut out = Vec::new();
        while let Ok(control) = self.controls.try_recv() {
            out.extend(command(player, control));
        }
        out
    }

    /// Once per frame, after the commands ran: publishes what plays, with its cover's file
    /// when it is held here.
    pub fn publish(&mut self, player: &Player, art: Option<&std::path::Path>) {
        let now = Snapshot {
            art_url: art.map(file_url),
            ..Snapshot::of(player)
        };
        let announce = !now.same_announced(&self.last);
        if let Ok(mut shared) = self.shared.lock() {
            *shared = (now.clone(), Instant::now());
        }
        if announce {
            self.last = now;
            let _ = self.announce.try_send(());
        }
    }
}

/// A `file://` URL of an absolute path, bytes other than unreserved ones and `/` escaped.
fn file_url(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut url = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

fn command(player: &Player, control: Control) -> Option<Command> {
    let micros = |us: i64| Duration::from_micros(us.unsigned_abs());
    Some(match control {
        Control::PlayPause => Command::TogglePlay,
        Control::Play if !player.is_playing() => Command::TogglePlay,
        Control::Pause if player.is_playing() => Command::TogglePlay,
        Control::Play | Control::Pause => return None,
        Control::Stop => Command::Stop,
        Control::Next => Command::Next,
        Control::Previous => Command::Previous,
        Control::SeekBy(us) => Command::SeekBy(us as f32 / 1e6),
        Control::SetPosition(us) if us >= 0 => Command::Seek(micros(us)),
        Control::SetPosition(_) => return None,
        Control::Volume(v) => Command::Volume(v.clamp(0.0, 1.0) as f32),
        Control::Loop(mode) => Command::Repeat(mode),
    })
}

#[derive(Clone)]
struct Controls {
    tx: SyncSender<Control>,
    repaint: egui::Context,
}

impl Controls {
    fn send(&self, control: Control) {
        if self.tx.try_send(control).is_ok() {
            self.repaint.request_repaint();
        }
    }
}

async fn serve(
    address: Option<&str>,
    shared: Shared,
    controls: Controls,
) -> zbus::Result<(zbus::Connection, String)> {
    let builder = match address {
        Some(a) => zbus::connection::Builder::address(a)?,
        None => zbus::connection::Builder::session()?,
    };
    let connection = builder
        .serve_at(
            PATH,
            Root {
                controls: controls.clone(),
            },
        )?
        .serve_at(PATH, PlayerIface { shared, controls })?
        .build()
        .await?;
    let mut name = NAME.to_owned();
    if connection.request_name(NAME).await.is_err() {
        name = format!("{NAME}.instance{}", std::process::id());
        connection.request_name(name.as_str()).await?;
    }
    Ok((connection, name))
}

/// Sends `PropertiesChanged` for what the UI changed, until the app goes away.
async fn announce_changes(
    connection: zbus::Connection,
    mut changes: futures::channel::mpsc::Receiver<()>,
) {
    use futures::StreamExt;
    let Ok(iface) = connection
        .object_server()
        .interface::<_, PlayerIface>(PATH)
        .await
    else {
        return;
    };
    while changes.next().await.is_some() {
        let emitter = iface.signal_emitter();
        let player = iface.get().await;
        let sent = async {
            player.playback_status_changed(emitter).await?;
            player.metadata_changed(emitter).await?;
            player.volume_changed(emitter).await?;
            player.loop_status_changed(emitter).await?;
            player.can_go_next_changed(emitter).await?;
            player.can_go_previous_changed(emitter).await
        };
        if let Err(e) = sent.await {
            tracing::debug!(error = %e, "an MPRIS change was not announced");
        }
    }
}

/// `org.mpris.MediaPlayer2`.
struct Root {
    controls: Controls,
}

#[zbus::interface(name = "org.mpris.MediaPlayer2")]
impl Root {
    fn raise(&self) {
        self.controls.repaint.request_repaint();
    }
    fn quit(&self) {}
    #[zbus(property)]
    fn can_quit(&self) -> bool {
        false
    }
    #[zbus(property)]
    fn can_raise(&self) -> bool {
        false
    }
    #[zbus(property)]
    fn has_track_list(&self) -> bool {
        false
    }
    #[zbus(property)]
    fn identity(&self) -> &str {
        "Busker"
    }
    #[zbus(property)]
    fn desktop_entry(&self) -> &str {
        "busker"
    }
    #[zbus(property)]
    fn supported_uri_schemes(&self) -> Vec<String> {
        vec!["busker".into()]
    }
    #[zbus(property)]
    fn supported_mime_types(&self) -> Vec<String> {
        Vec::new()
    }
}

/// `org.mpris.MediaPlayer2.Player`.
struct PlayerIface {
    shared: Shared,
    controls: Controls,
}

#[zbus::interface(name = "org.mpris.MediaPlayer2.Player")]
impl PlayerIface {
    fn play_pause(&self) {
        self.controls.send(Control::PlayPause);
    }
    fn play(&self) {
        self.controls.send(Control::Play);
    }
    fn pause(&self) {
        self.controls.send(Control::Pause);
    }
    fn stop(&self) {
        self.controls.send(Control::Stop);
    }
    fn next(&self) {
        self.controls.send(Control::Next);
    }
    fn previous(&self) {
        self.controls.send(Control::Previous);
    }
    fn seek(&self, offset: i64) {
        self.controls.send(Control::SeekBy(offset));
    }
    fn set_position(&self, _track: ObjectPath<'_>, position: i64) {
        self.controls.send(Control::SetPosition(position));
    }
    fn open_uri(&self, _uri: &str) {}

    #[zbus(property)]
    fn playback_status(&self) -> String {
        read(&self.shared).0.status.to_owned()
    }
    #[zbus(property)]
    fn loop_status(&self) -> String {
        match read(&self.shared).0.repeat {
            Repeat::Off => "None",
            Repeat::All => "Playlist",
            Repeat::One => "Track",
        }
        .into()
    }
    #[zbus(property)]
    fn set_loop_status(&mut self, status: String) {
        let mode = match status.as_str() {
            "Track" => Repeat::One,
            "Playlist" => Repeat::All,
            _ => Repeat::Off,
        };
        self.controls.send(Control::Loop(mode));
    }
    #[zbus(property)]
    fn rate(&self) -> f64 {
        1.0
    }
    #[zbus(property)]
    fn shuffle(&self) -> bool {
        false
    }
    #[zbus(property)]
    fn metadata(&self) -> std::collections::HashMap<String, Value<'static>> {
        let mut out = std::collections::HashMap::new();
        let (snapshot, _) = read(&self.shared);
        let Some((id, title, artist, album, length)) = snapshot.track else {
            return out;
        };
        let path = format!("/org/busker/track/t{id}");
        if let Ok(path) = ObjectPath::try_from(path) {
            out.insert("mpris:trackid".into(), Value::from(path.into_owned()));
        }
        let micros = i64::try_from(length.as_micros()).unwrap_or(i64::MAX);
        out.insert("mpris:length".into(), Value::from(micros));
        out.insert("xesam:title".into(), Value::from(title));
        out.insert("xesam:artist".into(), Value::from(vec![artist]));
        out.insert("xesam:album".into(), Value::from(album));
        if let Some(url) = snapshot.art_url {
            out.insert("mpris:artUrl".into(), Value::from(url));
        }
        out
    }
    #[zbus(property)]
    fn volume(&self) -> f64 {
        read(&self.shared).0.volume
    }
    #[zbus(property)]
    fn set_volume(&mut self, volume: f64) {
        self.controls.send(Control::Volume(volume));
    }
    #[zbus(property)]
    fn position(&self) -> i64 {
        let (snapshot, taken) = read(&self.shared);
        let mut at = snapshot.position;
        if snapshot.status == "Playing" {
            at += taken.elapsed();
        }
        if let Some((.., length)) = snapshot.track {
            at = at.min(length);
        }
        i64::try_from(at.as_micros()).unwrap_or(i64::MAX)
    }
    #[zbus(property)]
    fn minimum_rate(&self) -> f64 {
        1.0
    }
    #[zbus(property)]
    fn maximum_rate(&self) -> f64 {
        1.0
    }
    #[zbus(property)]
    fn can_go_next(&self) -> bool {
        read(&self.shared).0.can_next
    }
    #[zbus(property)]
    fn can_go_previous(&self) -> bool {
        read(&self.shared).0.can_previous
    }
    #[zbus(property)]
    fn can_play(&self) -> bool {
        true
    }
    #[zbus(property)]
    fn can_pause(&self) -> bool {
        true
    }
    #[zbus(property)]
    fn can_seek(&self) -> bool {
        true
    }
    #[zbus(property)]
    fn can_control(&self) -> bool {
        true
    }
}

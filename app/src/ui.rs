//! The panels, one file each. A panel is a function over `&mut Ui` and the state it needs; it
//! returns the [`Command`]s the user gave, which [`crate::App::execute`] carries out after drawing.

pub mod albums;
pub mod artist;
pub mod discover;
pub mod library;
pub mod nav;
pub mod network;
pub mod notices;
pub mod player_bar;
pub mod playlists;
pub mod publish;
pub mod queue;
pub mod radio;
pub mod search;
pub mod settings;
pub mod tracks;

use std::path::PathBuf;
use std::time::Duration;

use busker_core::TrackSummary;
use busker_core::model::{ArtistKey, TrackId};

use crate::model::View;

/// What a panel asks the app to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open a view.
    Show(View),
    /// Open Search and put the cursor in its field.
    FocusSearch,
    /// Run a search (the text changed).
    Search(String),
    /// Replace the queue with `tracks` and play `tracks[index]`.
    Play {
        /// The new queue.
        tracks: Vec<TrackSummary>,
        /// Which one to start.
        index: usize,
    },
    /// Play or pause.
    TogglePlay,
    /// Stop (the media keys' Stop).
    Stop,
    /// Next track.
    Next,
    /// Previous track (or restart).
    Previous,
    /// Move the playhead.
    Seek(Duration),
    /// Move the playhead by seconds.
    SeekBy(f32),
    /// Set the volume.
    Volume(f32),
    /// Rate a track (0 clears).
    Rate(TrackId, u8),
    /// Block an artist key: its releases disappear from every list.
    Block(ArtistKey),
    /// Lift the block of an artist key.
    Unblock(ArtistKey),
    /// Back up the artist key to a new file.
    ExportKey(PathBuf),
    /// Import an artist key backup (`true`: over a key that signed releases here).
    ImportKey(PathBuf, bool),
    /// Read files and folders for publishing.
    Scan(Vec<PathBuf>),
    /// Publish every ready file of the Publish view.
    Publish,
    /// Remove published and unreadable files from the Publish view.
    ClearPublished,
    /// Remove one file from the Publish view.
    RemoveRow(usize),
    /// List a folder in the file browser.
    Browse(PathBuf),
    /// Set the artist name for untagged files.
    SetArtistName(Option<String>),
    /// LAN discovery on or off.
    SetLanDiscovery(bool),
    /// Start broadcasting a channel: the local tracks in order, or the personal radio.
    RadioStart {
        /// The channel's name.
        name: String,
        /// Personal radio instead of the library in order.
        personal: bool,
        /// A playlist's tracks instead of the library's.
        playlist: Option<busker_core::model::PlaylistId>,
    },
    /// Open a live channel with this name, fed by a broadcasting program.
    RadioStartLive(String),
    /// Tune in to a channel (hex id).
    RadioTune(String),
    /// Stop tuning in and broadcasting.
    RadioStop,
    /// Download a track into the library (one heard on the radio, say).
    Save(TrackId),
    /// Save the listen addresses (used from the next start).
    SetListen(Vec<String>),
    /// Dial a peer address.
    Connect(String),
    /// Stop dialling a saved peer address at start.
    ForgetPeer(String),
    /// Reload the catalog.
    Refresh,
    /// Open a `busker://` link (join, track, artist).
    OpenLink(String),
    /// Show an artist's page.
    OpenArtist(ArtistKey),
    /// Make an invite link to this peer.
    Invite,
    /// Make a link to a track and copy it.
    ShareTrack(TrackId),
    /// Copy a link to an artist.
    ShareArtist(ArtistKey),
    /// Follow an artist key (`true`) or stop.
    Follow(ArtistKey, bool),
    /// Make this app the desktop's handler of `busker://` links.
    InstallDesktop,
    /// Back from an album's page to the Albums grid.
    CloseAlbum,
    /// Put tracks right after the one playing.
    PlayNext(Vec<TrackSummary>),
    /// Put tracks at the end of the queue.
    Enqueue(Vec<TrackSummary>),
    /// Play the queue's track at this place.
    PlayIndex(usize),
    /// Take the queue's track at this place out.
    Dequeue(usize),
    /// Move a queued track from one place to another.
    MoveQueued(usize, usize),
    /// Shuffle what follows the track playing.
    Shuffle,
    /// Take out everything that follows the track playing.
    ClearUpcoming,
    /// Set the repeat mode.
    Repeat(crate::player::Repeat),
    /// A playlist command, as `busker playlist ...`.
    Playlist(crate::playlists::PlaylistOp),
    /// Make a link to a playlist and copy it.
    SharePlaylist(busker_core::model::PlaylistId),
}

/// `m:ss`.
pub fn clock(d: Duration) -> String {
    let secs = d.as_secs();
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// Where a track's bytes are: here, on n peers, or only announced.
pub fn availability(t: &TrackSummary) -> String {
    if t.remote {
        "from peers".to_owned()
    } else if t.local {
        "here".to_owned()
    } else if t.providers > 0 {
        format!("{} peers", t.providers)
    } else {
        "announced only".to_owned()
    }
}

/// The honest placeholder of a part whose backend is not in this build.
pub fn not_available(ui: &mut egui::Ui, what: &str, awaiting: &str) {
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.strong(format!("{what}: not available in this build yet"));
        ui.label(egui::RichText::new(awaiting).weak());
    });
}

/// A labelled single-line text field; returns its response.
pub fn labelled_field(
    ui: &mut egui::Ui,
    label: &str,
    text: &mut String,
    hint: &str,
) -> egui::Response {
    ui.horizontal(|ui| {
        let l = ui.label(label);
        ui.add(
            egui::TextEdit::singleline(text)
                .hint_text(hint)
                .desired_width(f32::INFINITY),
        )
        .labelled_by(l.id)
    })
    .inner
}

/// Five star buttons; returns the new rating when one was clicked (clicking the current rating
/// clears it).
pub fn stars(ui: &mut egui::Ui, current: u8, enabled: bool, what: &str) -> Option<u8> {
    let mut out = None;
    ui.horizontal(|ui| {
        ui.spacing_mut().item_spacing.x = 0.0;
        for n in 1..=5u8 {
            let filled = n <= current;
            let text = egui::RichText::new(if filled { "★" } else { "☆" }).color(if filled {
                egui::Color32::from_rgb(240, 180, 40)
            } else {
                ui.visuals().weak_text_color()
            });
            let r = ui.add_enabled(enabled, egui::Button::new(text).frame(false));
            let label = format!("Rate {what} {n} star{}", if n == 1 { "" } else { "s" });
            r.widget_info(|| {
                egui::WidgetInfo::selected(egui::WidgetType::Button, enabled, filled, &label)
            });
            if r.clicked() {
                out = Some(if current == n { 0 } else { n });
            }
        }
    });
    out
}

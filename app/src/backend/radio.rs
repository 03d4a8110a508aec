//! The Radio view's requests: start a channel from here, tune in to one, stop both.
//!
//! Starting and tuning in wait on the network (a channel is put in the DHT; a tune looks the
//! channel up first), so they run on the node's runtime and report back with events. Requests
//! can overtake each other that way: a tune that comes back after a newer tune or a stop is
//! stopped at once, and so is a channel that comes up after the user stopped the radio.

use std::sync::{Arc, Mutex, MutexGuard};

use busker_core::Library;
use busker_core::media::open_device;
use busker_core::model::TrackId;
use busker_core::radio::{ChannelId, RadioQueue, TuneOptions, Tuning};

use super::net::Net;
use super::{Event, Post};
use crate::http::radio::RadioDoors;

/// What the radio is doing; shared with the tasks that start and tune.
#[derive(Debug, Clone, Default)]
pub(super) struct Radio {
    state: Arc<Mutex<RadioState>>,
}

#[derive(Debug, Default)]
struct RadioState {
    /// The tuning in progress.
    tuning: Option<Tuning>,
    /// The channel broadcast from here.
    broadcast: Option<ChannelId>,
    /// Bumped by every tune and every stop: a tune that started earlier is stale.
    tunes: u64,
    /// Bumped by every stop: a channel started earlier must not stay on air.
    stops: u64,
}

/// What a new channel plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plays {
    /// The local tracks, by artist then title.
    Local,
    /// A playlist's tracks, in its order (fetched from peers when not here).
    Playlist(busker_core::model::PlaylistId),
    /// The personal radio.
    Personal,
}

impl Radio {
    fn lock(&self) -> MutexGuard<'_, RadioState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `id` as the channel broadcast from here, unless the radio was stopped since
    /// `stops` was read (then the caller stops it). Whether it stays on air.
    fn on_air(&self, stops: u64, id: ChannelId) -> bool {
        let mut state = self.lock();
        let on_air = state.stops == stops;
        if on_air {
            state.broadcast = Some(id);
        }
        on_air
    }

    /// Starts a channel that plays the local tracks (or, `personal`, the personal radio); the
    /// outcome comes back as a notice or an error.
    pub(super) fn start(
        &self,
        library: &Library,
        net: &Net,
        post: &Post,
        name: String,
        plays: Plays,
    ) {
        let tracks: Result<Vec<TrackId>, String> = match plays {
            Plays::Personal => Ok(Vec::new()),
            Plays::Local => library
                .local_tracks()
                .map(|list| list.iter().map(|t| t.id).collect())
                .map_err(|e| format!("cannot list the tracks: {e}")),
            Plays::Playlist(id) => library
                .find_playlist(&id.to_hex())
                .map(|list| list.tracks)
                .map_err(|e| format!("cannot read the playlist: {e}")),
        };
        let queue = match (plays, tracks) {
            (Plays::Personal, _) => RadioQueue::Personal,
            (_, Err(e)) => {
                post.send(Event::Error(e));
                return;
            }
            (_, Ok(tracks)) if tracks.is_empty() => {
                post.send(Event::Error("no tracks to broadcast".into()));
                return;
            }
            (_, Ok(tracks)) => RadioQueue::Tracks(tracks),
        };
        let stops = self.lock().stops;
        let (radio, node, post) = (self.clone(), net.node.clone(), post.clone());
        net.runtime.spawn(async move {
            let descriptor = match node.radio_start(&name, queue).await {
                Ok(d) => d,
                Err(e) => {
                    post.offer(Event::Error(format!("cannot start the channel: {e}")));
                    return;
                }
            };
            let id = descriptor.id();
            if radio.on_air(stops, id) {
                post.offer(Event::Notice(format!("broadcasting \"{name}\"")));
            } else {
                node.radio_stop(&id);
            }
        });
    }

    /// Opens a live channel for a broadcasting program; its source URL comes back as
    /// [`Event::LiveChannel`].
    pub(super) fn start_live(
        &self,
        net: &Net,
        post: &Post,
        name: String,
        source: Option<RadioDoors>,
    ) {
        let Some(doors) = source else {
            post.send(Event::Error(
                "live channels need the control API, which did not start (see the log)".into(),
            ));
            return;
        };
        let stops = self.lock().stops;
        let (radio, node, post) = (self.clone(), net.node.clone(), post.clone());
        net.runtime.spawn(async move {
            let descriptor = match node.radio_start_live(&name, "").await {
                Ok((d, _)) => d,
                Err(e) => {
                    post.offer(Event::Error(format!("cannot start the channel: {e}")));
                    return;
                }
            };
            let id = descriptor.id();
            if radio.on_air(stops, id) {
                post.offer(Event::LiveChannel {
                    name,
                    source_url: doors.source_url(&id),
                    password: doors.password.to_string(),
                    address: doors.source_addr.to_string(),
                    mount: format!("/live/{}", id.to_hex()),
                });
            } else {
                node.radio_stop(&id);
            }
        });
    }

    /// Tunes in on the audio device (silently on the clock when there is none); any other
    /// tuning stops first. A failure comes back as an error.
    pub(super) fn tune(&self, net: &Net, post: &Post, id: &str) {
        let Ok(channel) = id.parse::<ChannelId>() else {
            post.send(Event::Error(format!("{id} is not a channel id")));
            return;
        };
        let tune = {
            let mut state = self.lock();
            if let Some(old) = state.tuning.take() {
                old.stop();
            }
            state.tunes += 1;
            state.tunes
        };
        let sink = open_device("Busker radio");
        let (radio, node, post) = (self.clone(), net.node.clone(), post.clone());
        net.runtime.spawn(async move {
            match node.radio_tune(channel, sink, TuneOptions::default()).await {
                Ok(tuning) => {
                    let mut state = radio.lock();
                    if state.tunes == tune {
                        state.tuning = Some(tuning);
                    } else {
                        tuning.stop();
                    }
                }
                Err(e) => post.offer(Event::Error(format!("cannot tune in: {e}"))),
            }
        });
    }

    /// Stops tuning in and broadcasting, and whatever of either is still on its way.
    pub(super) fn stop(&self, net: &Net) {
        let mut state = self.lock();
        state.tunes += 1;
        state.stops += 1;
        if let Some(t) = state.tuning.take() {
            t.stop();
        }
        if let Some(id) = state.broadcast.take() {
            net.node.radio_stop(&id);
        }
    }
}

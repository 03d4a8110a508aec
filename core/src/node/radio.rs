//! The radio part of [`Node`]: start and stop channels, list them, tune in.

use std::sync::{Arc, Mutex};

use futures::FutureExt;
use rand::seq::SliceRandom;
use tokio::sync::mpsc;

use super::{Node, blocking, lock};
use crate::error::{Error, Result};
use crate::media::AudioSink;
use crate::model::{Manifest, TrackId};
use crate::radio::{
    self, BroadcastOptions, ChannelDescriptor, ChannelId, ChannelInfo, LiveInput, RadioQueue,
    TuneOptions, Tuning,
};

/// How many of the newest local releases open each round of a personal radio.
const PERSONAL_NEW_RELEASES: usize = 3;
/// How many recommendations open each round of a personal radio.
const PERSONAL_RECOMMENDED: usize = 10;

impl Node {
    /// Starts broadcasting the channel `name`, owned by this peer's artist key, from this node,
    /// and returns its descriptor at once (the broadcast runs on the node's runtime). A channel
    /// of the same name that already runs here is restarted with the new queue.
    ///
    /// [`RadioQueue::Personal`] plays an endless queue: each round the recommender's picks
    /// (with its share of promoted new releases), then the newest local releases, then the rest
    /// of the local library shuffled.
    /// The next track is fetched (if needed) while the current one plays.
    pub async fn radio_start(&self, name: &str, queue: RadioQueue) -> Result<ChannelDescriptor> {
        self.radio_start_with(name, "", queue, BroadcastOptions::default())
            .await
    }

    /// [`Node::radio_start`] with a description and broadcast options.
    pub async fn radio_start_with(
        &self,
        name: &str,
        description: &str,
        queue: RadioQueue,
        options: BroadcastOptions,
    ) -> Result<ChannelDescriptor> {
        if !self.is_online() {
            return Err(Error::Offline);
        }
        let next_track = self.queue_feed(queue).await?;
        self.on_air(name, description, move |client, hub, owner, descriptor| {
            radio::broadcast(client, hub, owner, descriptor, next_track, options).boxed()
        })
        .await
    }

    /// Starts a live channel `name`: what sources push into the returned [`LiveInput`] (the app
    /// serves it to Icecast source clients) is broadcast as it arrives; the channel waits for a
    /// source, and for the next when one disconnects, until [`Node::radio_stop`].
    pub async fn radio_start_live(
        &self,
        name: &str,
        description: &str,
    ) -> Result<(ChannelDescriptor, LiveInput)> {
        if !self.is_online() {
            return Err(Error::Offline);
        }
        let (input, connections) = radio::live_input();
        let options = BroadcastOptions::default();
        let descriptor = self
            .on_air(name, description, move |client, hub, owner, descriptor| {
                radio::broadcast_live(client, hub, owner, descriptor, connections, options).boxed()
            })
            .await?;
        lock(&self.inner.live).insert(descriptor.id(), input.clone());
        Ok((descriptor, input))
    }

    /// The codec setup bytes `setup_id` of a channel this node broadcasts or is tuned to, as a
    /// segment held here carries them (Vorbis headers ride in every few segments only).
    pub fn radio_setup(&self, channel: &ChannelId, setup_id: u32) -> Option<Vec<u8>> {
        self.inner.radio.setup(channel, setup_id)
    }

    /// The input of a live channel this node broadcasts.
    pub fn radio_live_input(&self, channel: &ChannelId) -> Option<LiveInput> {
        lock(&self.inner.live).get(channel).cloned()
    }

    /// Signs the channel's descriptor, restarts it if it runs here, enters its topic, puts the
    /// descriptor in the DHT and spawns the broadcast `run` makes.
    async fn on_air(
        &self,
        name: &str,
        description: &str,
        run: impl FnOnce(
            crate::net::Client,
            Arc<radio::RadioHub>,
            crate::model::ArtistKeypair,
            ChannelDescriptor,
        ) -> futures::future::BoxFuture<'static, Result<()>>,
    ) -> Result<ChannelDescriptor> {
        let owner = self.inner.library.dir().artist_key()?;
        let created = radio::unix_ms() / 1000;
        let descriptor = ChannelDescriptor::sign(&owner, name, description, created);
        let id = descriptor.id();
        self.radio_stop(&id);
        let hub = self.inner.radio.clone();
        let client = self.inner.client.clone();
        hub.heard(descriptor.clone(), 0, None);
        let membership = hub.enter(&client, &descriptor, true).await?;
        if let Err(e) = client
            .put_record(id.as_bytes().to_vec(), descriptor.encoded().to_vec())
            .await
        {
            tracing::info!(channel = %id, error = %e, "channel not put in the DHT");
        }
        let broadcast = run(client, hub, owner, descriptor.clone());
        let task = tokio::spawn(async move {
            match broadcast.await {
                Ok(()) => tracing::info!(channel = %id, "broadcast ended: the queue is over"),
                Err(e) => tracing::warn!(channel = %id, error = %e, "broadcast stopped"),
            }
            drop(membership);
        });
        lock(&self.inner.broadcasts).insert(id, task);
        Ok(descriptor)
    }

    /// Stops a broadcast of this node. Returns whether one was running.
    pub fn radio_stop(&self, channel: &ChannelId) -> bool {
        lock(&self.inner.live).remove(channel);
        match lock(&self.inner.broadcasts).remove(channel) {
            Some(task) => {
                let running = !task.is_finished();
                task.abort();
                running
            }
            None => false,
        }
    }

    /// Channels heard of (announced in the last minute) and the channels this node broadcasts
    /// or is tuned to, with listener counts.
    pub fn radio_channels(&self) -> Vec<ChannelInfo> {
        self.inner.radio.channels()
    }

    /// The descriptor of a channel: known here, or looked up in the DHT (verified).
    pub async fn radio_descriptor(&self, channel: ChannelId) -> Result<ChannelDescriptor> {
        if let Some(d) = self.inner.radio.descriptor(&channel) {
            return Ok(d);
        }
        for value in self
            .inner
            .client
            .get_record(channel.as_bytes().to_vec())
            .await?
        {
            match ChannelDescriptor::decode(&value) {
                Ok(d) if d.id() == channel => {
                    self.inner.radio.heard(d.clone(), 0, None);
                    return Ok(d);
                }
                Ok(_) => tracing::info!(%channel, "DHT record names another channel"),
                Err(e) => tracing::info!(%channel, error = %e, "bad channel record in the DHT"),
            }
        }
        Err(Error::Network(format!(
            "channel {channel} is not known here nor in the DHT"
        )))
    }

    /// Tunes in to a channel: joins its topic, starts at the live point and plays into `sink`
    /// (a [`crate::media::WavSink`] records the exact samples; a device sink plays them). The
    /// returned [`Tuning`] gives events (now playing, listener counts, gaps) and, at the end,
    /// the [`radio::TuneReport`]. Call from within the node's runtime.
    pub async fn radio_tune(
        &self,
        channel: ChannelId,
        sink: Box<dyn AudioSink>,
        options: TuneOptions,
    ) -> Result<Tuning> {
        let descriptor = self.radio_descriptor(channel).await?;
        let hub = self.inner.radio.clone();
        let client = self.inner.client.clone();
        let membership = hub.enter(&client, &descriptor, false).await?;
        let (tx, segments) = mpsc::channel(64);
        let tuner = hub.add_tuner(&channel, tx);
        let session = radio::TuneSession {
            segments,
            tuner,
            membership,
            broadcaster: hub.broadcaster(&channel),
        };
        Ok(radio::tune(client, hub, descriptor, sink, options, session))
    }

    /// The manifest and the whole verified file of a track, fetched from the network first
    /// when it is not here.
    async fn track_for_radio(&self, id: TrackId) -> Result<(Manifest, Vec<u8>)> {
        self.fetch_to(id, None).await?;
        let manifest = self.find_manifest(id).await?;
        let bytes = self.read_track(id).await?;
        Ok((manifest, bytes))
    }

    async fn queue_feed(&self, queue: RadioQueue) -> Result<radio::NextTrack> {
        let node = self.clone();
        match queue {
            RadioQueue::Tracks(ids) => {
                if ids.is_empty() {
                    return Err(Error::BadTrackRef(
                        "a channel needs at least one track (or --personal)".into(),
                    ));
                }
                for id in &ids {
                    self.find_manifest(*id).await?;
                }
                let queue = Arc::new(Mutex::new(ids.into_iter()));
                Ok(Box::new(move || {
                    next_listed(node.clone(), queue.clone()).boxed()
                }))
            }
            RadioQueue::Personal => {
                if self.personal_round().await?.is_empty() {
                    return Err(Error::BadTrackRef(
                        "a personal radio needs local tracks; publish or fetch some first".into(),
                    ));
                }
                let queue = Arc::new(Mutex::new(Vec::new().into_iter()));
                Ok(Box::new(move || {
                    next_personal(node.clone(), queue.clone()).boxed()
                }))
            }
        }
    }

    /// One round of the personal radio: the recommender's picks (which include a share of new
    /// releases; fetched while the previous track plays), then the newest local releases, then
    /// the rest of the local library shuffled.
    async fn personal_round(&self) -> Result<Vec<TrackId>> {
        let recommended: Vec<TrackId> = match self.recommend(PERSONAL_RECOMMENDED).await {
            Ok(list) => list.into_iter().map(|r| r.track.id).collect(),
            Err(e) => {
                tracing::info!(error = %e, "no recommendations for the personal radio");
                Vec::new()
            }
        };
        let store = self.inner.library.store().clone();
        let mut tracks = blocking(move || {
            let mut out = Vec::new();
            for id in store.local_ids()? {
                if let Some(m) = store.manifest(&id)? {
                    out.push((m.published_at(), id));
                }
            }
            Ok(out)
        })
        .await?;
        tracks.sort_by(|a, b| b.cmp(a));
        let split = PERSONAL_NEW_RELEASES.min(tracks.len());
        let mut rest = tracks.split_off(split);
        rest.shuffle(&mut rand::thread_rng());
        let mut round = recommended;
        for (_, id) in tracks.into_iter().chain(rest) {
            if !round.contains(&id) {
                round.push(id);
            }
        }
        Ok(round)
    }
}

type Queue = Arc<Mutex<std::vec::IntoIter<TrackId>>>;

/// The next playable track of a fixed list (an unreadable one is skipped).
async fn next_listed(node: Node, queue: Queue) -> Result<Option<(Manifest, Vec<u8>)>> {
    loop {
        let next = lock(&queue).next();
        let Some(id) = next else {
            return Ok(None);
        };
        match node.track_for_radio(id).await {
            Ok(track) => return Ok(Some(track)),
            Err(e) => tracing::warn!(track = %id, error = %e, "skipping a track"),
        }
    }
}

/// The next track of the endless personal radio; a new round when one is over. Gives up (the
/// radio ends) when the library is empty or 64 tracks in a row cannot be read.
async fn next_personal(node: Node, queue: Queue) -> Result<Option<(Manifest, Vec<u8>)>> {
    for _ in 0..64 {
        let next = lock(&queue).next();
        let id = match next {
            Some(id) => id,
            None => {
                let mut round = node.personal_round().await?.into_iter();
                let first = round.next();
                *lock(&queue) = round;
                match first {
                    Some(id) => id,
                    None => return Ok(None),
                }
            }
        };
        match node.track_for_radio(id).await {
            Ok(track) => return Ok(Some(track)),
            Err(e) => tracing::warn!(track = %id, error = %e, "skipping a track"),
        }
    }
    Ok(None)
}

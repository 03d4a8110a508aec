//! [`Library`]: the local catalog of one peer (store + search index + keys + config): what is
//! known, listed, searched, rated and accepted from peers. The publish flow is in [`publish`],
//! new releases and recommendations in [`recommend`], blocked artists in [`block`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::Config;
use crate::datadir::DataDir;
use crate::demo;
use crate::error::{Error, Result};
use crate::index::SearchIndex;
use crate::model::{ArtistKey, ArtistKeypair, Manifest, TrackId, TrackInfo};
use crate::release::{self, unix_now};
use crate::store::{MoveProgress, Store};
use crate::taste::Taste;

mod block;
mod budget;
mod playlists;
mod publish;
mod recommend;
mod remote;

pub use budget::EvictionReport;
pub use playlists::{Imported, PlaylistEdit};

pub use publish::{
    AUDIO_EXTENSIONS, CoverRefused, PublishEvent, PublishOptions, Published, audio_files,
    is_audio_file,
};
pub use recommend::Recommended;

/// How to open a [`Library`].
#[derive(Debug, Clone)]
pub struct LibraryOptions {
    root: PathBuf,
    artist_name: Option<String>,
    seed_demo: Option<bool>,
    on_move: OnMove,
}

/// Told how far moving the audio of an older data dir out of its database is.
#[derive(Clone, Default)]
struct OnMove(Option<Arc<dyn Fn(MoveProgress) + Send + Sync>>);

impl std::fmt::Debug for OnMove {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "OnMove(..)"
        } else {
            "OnMove(None)"
        })
    }
}

impl LibraryOptions {
    /// Options for the data dir `root`, with the settings from its config file.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            artist_name: None,
            seed_demo: None,
            on_move: OnMove::default(),
        }
    }

    /// Calls `progress` after each audio file while an older data dir's audio moves out of its
    /// database into files (see [`Store::move_audio`]), to show the user why opening waits.
    pub fn on_move_progress(
        mut self,
        progress: impl Fn(MoveProgress) + Send + Sync + 'static,
    ) -> Self {
        self.on_move = OnMove(Some(Arc::new(progress)));
        self
    }

    /// Sets (and saves) the artist display name.
    pub fn artist_name(mut self, name: impl Into<String>) -> Self {
        self.artist_name = Some(name.into());
        self
    }

    /// Overrides the config's `seed_demo_library` for this open.
    pub fn seed_demo(mut self, seed: bool) -> Self {
        self.seed_demo = Some(seed);
        self
    }
}

/// An artist's catalog: the signed profile and each release, with its summary when its manifest
/// is known ([`Library::artist_catalog`] for this peer, `Node::artist_catalog` for any artist).
#[derive(Debug, Clone)]
pub struct ArtistCatalog {
    /// The artist's signed profile (name, key, release ids).
    pub profile: crate::artist::ArtistProfile,
    /// Every release in the profile's order, with its summary when its manifest was found.
    pub releases: Vec<(TrackId, Option<TrackSummary>)>,
}

/// A track as lists and search results show it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackSummary {
    /// The track.
    pub id: TrackId,
    /// Who signed it.
    pub artist_key: ArtistKey,
    /// Tags and stream parameters.
    pub info: TrackInfo,
    /// When its artist published it (Unix seconds, as signed in the manifest).
    pub published_at: u64,
    /// Every chunk is here.
    pub local: bool,
    /// How many peers are known to hold it (this one included when local).
    pub providers: usize,
    /// The cover its manifest names (`info.cover`) is held here, verified.
    pub cover_local: bool,
    /// The release with the same audio that this peer saw first, when another key signed it:
    /// this one is a re-signed copy, and lists rank the original first.
    pub same_audio_as: Option<SameAudio>,
    /// Found by asking peers, not in this peer's catalog when the search ran (see
    /// `Node::search`).
    pub remote: bool,
}

/// The original of a re-signed copy, as [`TrackSummary::same_audio_as`] names it.
#[derive(Debug, Clone, PartialEq)]
pub struct SameAudio {
    /// The original release.
    pub id: TrackId,
    /// Its title.
    pub title: String,
    /// Its artist display name.
    pub artist: String,
    /// The key that signed it (display names can be copied, keys cannot).
    pub artist_key: ArtistKey,
}

impl TrackSummary {
    /// Where it goes in its album: by disc, then track number (unnumbered tracks last), then
    /// title (what an album page and a Subsonic album sort by).
    pub fn album_order(&self) -> (u16, u16, String) {
        let track = match self.info.track {
            0 => u16::MAX,
            n => n,
        };
        (self.info.disc, track, self.info.title.to_lowercase())
    }

    /// Sorts originals before re-signed copies, keeping the order otherwise.
    pub fn originals_first(list: &mut [TrackSummary]) {
        list.sort_by_key(|t| t.same_audio_as.is_some());
    }

    /// The name an artist key goes by when its signed profile is out of reach: the artist name
    /// on most of `releases` (its releases), the first in alphabetical order on a tie. One rule
    /// for every view, so that the same key reads the same everywhere.
    pub fn key_name<'a>(releases: impl IntoIterator<Item = &'a TrackSummary>) -> Option<&'a str> {
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for t in releases {
            *counts.entry(t.info.artist.as_str()).or_default() += 1;
        }
        let most = counts.values().copied().max()?;
        counts
            .into_iter()
            .find(|(_, n)| *n == most)
            .map(|(name, _)| name)
    }
}

/// One peer's catalog. Thread-safe; every method blocks on disk I/O, so call it off the UI thread.
#[derive(Debug)]
pub struct Library {
    dir: DataDir,
    store: Store,
    index: SearchIndex,
    artist: ArtistKeypair,
    config: Mutex<Config>,
    publishing: Mutex<()>,
    /// Set by [`Library::stop_publishing`]: publishes in progress stop at the next chunk.
    stop_publishing: std::sync::atomic::AtomicBool,
    taste: Taste,
    /// Held by the eviction run under way (see [`budget`]).
    evicting: Mutex<()>,
    /// The catalog's bytes when the last eviction run found nothing more to evict (0: it did).
    eviction_stalled_at: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Library {
    /// Opens the data dir: takes its lock, creates the keys on first start, opens the store
    /// (upgrading a data dir an older build left, see [`Store::upgrade`]) and the index
    /// (rebuilding it when it disagrees with the store), and seeds the demo library into a data
    /// dir on its first start.
    pub fn open(options: LibraryOptions) -> Result<Self> {
        let dir = DataDir::open(&options.root)?;
        let mut config = Config::load(&dir.config_path())?;
        if let Some(name) = &options.artist_name
            && config.artist_name.as_deref() != Some(name.as_str())
        {
            config.artist_name = Some(name.clone());
            config.save(&dir.config_path())?;
        }
        let artist = dir.artist_key()?;
        let peer_seed = dir.key_seed("peer")?;
        let mut store = Store::open(&dir.db_path())?;
        if let Some(rebuilt) = store.rebuilt() {
            tracing::warn!("{rebuilt}");
        }
        let index = SearchIndex::open(&dir.index_path())?;
        let upgraded = store.needs_upgrade();
        if upgraded {
            let done = store.upgrade(&[artist.clone(), demo::artist_key()])?;
            tracing::info!(
                resigned = done.resigned,
                waiting = done.waiting,
                dropped = done.dropped,
                "upgraded the data dir to manifest version 2"
            );
        }
        if store.audio_in_db() {
            let on_move = options.on_move.0.clone();
            store.move_audio(|p| {
                if let Some(f) = &on_move {
                    f(p);
                }
            })?;
            tracing::info!("moved the audio out of the database into files");
        }
        if upgraded || index.len() != store.manifest_count() {
            let n = index.rebuild(store.manifests())?;
            tracing::info!(tracks = n, "rebuilt the search index from the store");
        }
        let seed = options.seed_demo.unwrap_or(config.seed_demo_library);
        let taste = Taste::open(store.clone(), peer_seed)?;
        let library = Self {
            dir,
            store,
            index,
            artist,
            config: Mutex::new(config),
            publishing: Mutex::new(()),
            stop_publishing: std::sync::atomic::AtomicBool::new(false),
            taste,
            evicting: Mutex::new(()),
            eviction_stalled_at: Default::default(),
        };
        // Only a first start seeds: a user who started without the demo never gets it later.
        if seed && library.store.created() {
            library.seed_demo()?;
        }
        Ok(library)
    }

    fn seed_demo(&self) -> Result<()> {
        let key = demo::artist_key();
        let overrides = PublishOptions::default();
        for track in demo::TRACKS {
            let result = self.publish_bytes(
                track.bytes,
                track.cover,
                Path::new(track.file_name),
                &key,
                &overrides,
                Some(demo::FALLBACK_ARTIST),
                0,
            );
            match result {
                Ok(_) | Err(Error::Duplicate(_)) => {}
                Err(e) => tracing::warn!(file = track.file_name, error = %e, "demo track skipped"),
            }
        }
        self.finish_batch();
        Ok(())
    }

    /// The data dir.
    pub fn data_dir(&self) -> &Path {
        self.dir.root()
    }

    /// The store (for the network and transfer layers).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The search index.
    pub fn index(&self) -> &SearchIndex {
        &self.index
    }

    /// The data dir handle (keys, paths).
    pub fn dir(&self) -> &DataDir {
        &self.dir
    }

    /// This peer's artist key.
    pub fn artist_key(&self) -> ArtistKey {
        self.artist.public()
    }

    /// The current settings.
    pub fn config(&self) -> Config {
        lock(&self.config).clone()
    }

    /// Changes the settings and saves them to the config file.
    pub fn update_config(&self, change: impl FnOnce(&mut Config)) -> Result<Config> {
        let mut config = lock(&self.config);
        let mut next = config.clone();
        change(&mut next);
        if next != *config {
            next.save(&self.dir.config_path())?;
            *config = next;
        }
        Ok(config.clone())
    }

    /// A track as lists show it.
    pub fn summary(&self, manifest: &Manifest) -> Result<TrackSummary> {
        let local = self.store.is_local(&manifest.id())?;
        Ok(TrackSummary {
            id: manifest.id(),
            artist_key: manifest.artist_key(),
            info: manifest.info().clone(),
            published_at: manifest.published_at(),
            local,
            providers: usize::from(local),
            cover_local: manifest
                .cover()
                .is_some_and(|c| self.store.cover_path(&c.hash).is_some()),
            same_audio_as: self.store.same_audio_as(manifest)?.map(|m| SameAudio {
                id: m.id(),
                title: m.info().title.clone(),
                artist: m.info().artist.clone(),
                artist_key: m.artist_key(),
            }),
            remote: false,
        })
    }

    /// Every known track, sorted by artist, then title.
    pub fn list(&self) -> Result<Vec<TrackSummary>> {
        let mut out = Vec::with_capacity(self.store.manifest_count());
        let blocked = self.blocked()?;
        for m in self.store.manifests() {
            let m = m?;
            if !blocked.hides(&m) {
                out.push(self.summary(&m)?);
            }
        }
        by_artist_then_title(&mut out);
        Ok(out)
    }

    /// The tracks of `artist` known here, sorted as [`Library::list`] sorts them (none when
    /// the key is blocked). Reads that artist's releases alone.
    pub fn releases_by(&self, artist: &ArtistKey) -> Result<Vec<TrackSummary>> {
        if self.store.is_blocked(artist)? {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for release in self.store.releases_of(artist) {
            if let Some(m) = self.store.manifest(&release?.id)? {
                out.push(self.summary(&m)?);
            }
        }
        by_artist_then_title(&mut out);
        Ok(out)
    }

    /// Local full-text search, best first.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<TrackSummary>> {
        let mut out = Vec::new();
        let blocked = self.blocked()?;
        for hit in self.index.search(query, limit)? {
            if let Some(m) = self.store.manifest(&hit.id)?
                && !blocked.hides(&m)
            {
                out.push(self.summary(&m)?);
            }
        }
        TrackSummary::originals_first(&mut out);
        Ok(out)
    }

    /// The tracks whose audio is whole here (blocked keys' left out), sorted as `list` sorts:
    /// read from the `local` marks, not from every manifest.
    pub fn local_tracks(&self) -> Result<Vec<TrackSummary>> {
        let blocked = self.blocked()?;
        let mut out = Vec::new();
        for id in self.store.local_ids()? {
            if let Some(m) = self.store.manifest(&id)?
                && !blocked.hides(&m)
            {
                out.push(self.summary(&m)?);
            }
        }
        by_artist_then_title(&mut out);
        Ok(out)
    }

    /// Resolves a full id or a unique prefix of at least 6 hex digits (as `list` prints them).
    pub fn resolve(&self, id_or_prefix: &str) -> Result<TrackId> {
        let text = id_or_prefix.trim().to_ascii_lowercase();
        if let Ok(id) = text.parse::<TrackId>() {
            // An id printed before the data dir was upgraded still names its release.
            if !self.store.has_manifest(&id)?
                && let Some(current) = self.store.renamed(&id)?
            {
                return Ok(current);
            }
            return Ok(id);
        }
        if text.len() < 6 || !text.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::BadTrackRef(format!(
                "{id_or_prefix:?} is not a track id (64 hex digits, or a unique prefix of 6 or more)"
            )));
        }
        let mut found = match self.store.ids_with_prefix(&text, 2)?[..] {
            [] => None,
            [id] => Some(id),
            _ => {
                return Err(Error::BadTrackRef(format!(
                    "{id_or_prefix:?} matches more than one track; give more digits"
                )));
            }
        };
        if found.is_none()
            && let [(_, current)] = self.store.renamed_from(&text)?[..]
        {
            found = Some(current);
        }
        found.ok_or_else(|| {
            Error::BadTrackRef(format!("no known track starts with {id_or_prefix:?}"))
        })
    }

    /// The manifest of `id`.
    pub fn manifest(&self, id: &TrackId) -> Result<Manifest> {
        self.store.manifest(id)?.ok_or(Error::UnknownTrack(*id))
    }

    /// This peer's own catalog: its artist profile ([`Library::artist_profile`]) with a summary
    /// of every release. `None` when it has published nothing.
    pub fn artist_catalog(&self) -> Result<Option<ArtistCatalog>> {
        let Some(profile) = self.artist_profile()? else {
            return Ok(None);
        };
        let mut releases = Vec::with_capacity(profile.releases.len());
        for &id in &profile.releases {
            let summary = match self.store.manifest(&id)? {
                Some(m) => Some(self.summary(&m)?),
                None => None,
            };
            releases.push((id, summary));
        }
        Ok(Some(ArtistCatalog { profile, releases }))
    }

    /// This peer's artist profile, signed now: its display name (the configured artist name,
    /// else the artist tag of its newest release) and its local releases, newest first. `None`
    /// when it has published nothing.
    pub fn artist_profile(&self) -> Result<Option<crate::artist::ArtistProfile>> {
        let Some((name, ids)) = self.own_releases()? else {
            return Ok(None);
        };
        Ok(Some(crate::artist::ArtistProfile::sign(
            &self.artist,
            &name,
            release::unix_ms(),
            ids,
        )))
    }

    /// This peer's artist name and its key's local releases, newest first (`None` when it has
    /// none).
    fn own_releases(&self) -> Result<Option<(String, Vec<TrackId>)>> {
        // The index lists them newest first, equal times in id order.
        let mut releases = Vec::new();
        for release in self.store.releases_of(&self.artist.public()) {
            let id = release?.id;
            if self.store.is_local(&id)? {
                releases.push(id);
            }
        }
        let Some(newest) = releases.first() else {
            return Ok(None);
        };
        let name = match self.config().artist_name {
            Some(name) => name,
            None => self.manifest(newest)?.info().artist.clone(),
        };
        Ok(Some((name, releases)))
    }

    /// Makes `key` (from a [`crate::artist::backup`]) this peer's artist key from the next
    /// open on; returns the key it replaced, if another. A key that already signed releases
    /// here is replaced only with `replace` ([`Error::KeyHasReleases`] otherwise): the releases
    /// stay, but only that key can update them, so its backup should be kept.
    ///
    /// A replaced key with releases is retired: its last signed profile names the new key as
    /// its successor, and the node puts it into the DHT (see [`DataDir::retired_profiles`]).
    pub fn import_artist_key(
        &self,
        key: &ArtistKeypair,
        replace: bool,
    ) -> Result<Option<ArtistKey>> {
        if key.public() == self.artist.public() {
            return Ok(None);
        }
        if let Some((name, releases)) = self.own_releases()? {
            if !replace {
                return Err(Error::KeyHasReleases(releases.len()));
            }
            let last = crate::artist::ArtistProfile::retire(
                &self.artist,
                &name,
                release::unix_ms(),
                releases,
                key.public(),
            );
            self.dir.keep_retired_profile(&last)?;
        }
        self.dir.import_artist_key(key)
    }

    /// Rates a track known here: 1 to 5 stars, 0 clears the rating. The one way ratings are
    /// written; the taste profile picks them up at its next refresh.
    pub fn rate(&self, id: &TrackId, stars: u8) -> Result<()> {
        if self.store.manifest(id)?.is_none() {
            return Err(Error::UnknownTrack(*id));
        }
        self.store.set_rating(id, stars)
    }

    /// Keeps manifests received from peers (already verified): stores and indexes the ones
    /// new here that [`release::admit`] takes (no future dates, nothing under the demo key) and
    /// returns their ids; a release evicted here lately is left out (see
    /// [`Library::accept_wanted`]). The one way other peers' tracks enter the library. The
    /// catalog may be over its budget afterwards: see [`Library::evict_over_budget`].
    pub fn accept(&self, manifests: Vec<Manifest>) -> Result<Vec<TrackId>> {
        let (now, recent_since) = (unix_now(), self.recent_since());
        let mut new = Vec::new();
        for m in manifests {
            if let Err(why) = release::admit(&m, now) {
                tracing::info!(track = %m.id(), %why, "release refused");
                continue;
            }
            if self.evicted_lately(&m, recent_since)? {
                continue;
            }
            if self.store.put_manifest(&m)?.changed() {
                new.push(m);
            }
        }
        if !new.is_empty() {
            self.index.add(&new)?;
        }
        Ok(new.iter().map(Manifest::id).collect())
    }

    /// This peer's side of the taste exchange (its profile and kept neighbours).
    pub fn taste(&self) -> &Taste {
        &self.taste
    }
}

/// Sorts by artist, then title (case-insensitive), then id.
fn by_artist_then_title(list: &mut [TrackSummary]) {
    list.sort_by(|a, b| {
        (
            a.info.artist.to_lowercase(),
            a.info.title.to_lowercase(),
            a.id,
        )
            .cmp(&(
                b.info.artist.to_lowercase(),
                b.info.title.to_lowercase(),
                b.id,
            ))
    });
}

#[cfg(test)]
mod tests;

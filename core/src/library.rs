//! [`Library`]: the local catalog of one peer (store + search index + keys + config), and the
//! publish flow.
//!
//! Publishing a file: read it, [`crate::media::probe`] it, cut it into chunks with BLAKE3 hashes,
//! sign a [`Manifest`] with the artist key, then write the chunks and, in one transaction, the
//! manifest with its "local" mark, and finally index it. A file that fails any step leaves nothing
//! behind (see [`crate::Store`] for how an interrupted write is swept).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::datadir::DataDir;
use crate::demo;
use crate::error::{Error, PublishError, Result};
use crate::index::SearchIndex;
use crate::media;
use crate::model::{ArtistKey, ArtistKeypair, Manifest, ManifestDraft, TrackId, TrackInfo};
use crate::release::{self, unix_now};
use crate::store::Store;
use crate::taste::Taste;

mod block;
mod recommend;

pub use recommend::Recommended;

/// File extensions picked up when publishing a folder.
pub const AUDIO_EXTENSIONS: &[&str] = &["mp3", "flac", "ogg", "oga", "wav"];
/// How many files `publish_paths` publishes between index commits.
pub const PUBLISH_BATCH: usize = 64;

/// How to open a [`Library`].
#[derive(Debug, Clone)]
pub struct LibraryOptions {
    root: PathBuf,
    artist_name: Option<String>,
    seed_demo: Option<bool>,
}

impl LibraryOptions {
    /// Options for the data dir `root`, with the settings from its config file.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            artist_name: None,
            seed_demo: None,
        }
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

/// Per-publish overrides of what the tags say.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// Title instead of the title tag.
    pub title: Option<String>,
    /// Artist instead of the artist tag.
    pub artist: Option<String>,
    /// Album instead of the album tag.
    pub album: Option<String>,
}

/// Progress of [`Library::publish_paths`].
#[derive(Debug)]
pub enum PublishEvent<'a> {
    /// The paths were expanded into this many files.
    Found(usize),
    /// One file finished, well or not.
    Finished(&'a std::result::Result<Manifest, PublishError>),
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
    /// Every chunk is here.
    pub local: bool,
    /// How many peers are known to hold it (this one included when local).
    pub providers: usize,
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
    taste: Taste,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Library {
    /// Opens the data dir: takes its lock, creates the keys on first start, opens the store and
    /// the index (rebuilding the index when it disagrees with the store), and seeds the demo
    /// library into a data dir on its first start.
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
        let store = Store::open(&dir.db_path())?;
        let index = SearchIndex::open(&dir.index_path())?;
        if index.len() != store.manifest_count() {
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
            taste,
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
                track.bytes.to_vec(),
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

    /// Publishes one file. On error the library is unchanged.
    pub fn publish_file(
        &self,
        path: &Path,
        options: &PublishOptions,
    ) -> std::result::Result<Manifest, PublishError> {
        let manifest = self.publish_one(path, options)?;
        self.finish_batch();
        Ok(manifest)
    }

    fn publish_one(
        &self,
        path: &Path,
        options: &PublishOptions,
    ) -> std::result::Result<Manifest, PublishError> {
        let fail = |source| PublishError {
            path: path.to_owned(),
            source: Box::new(source),
        };
        let bytes = std::fs::read(path).map_err(|e| fail(Error::ReadFile(e)))?;
        let fallback = self.config().artist_name;
        self.publish_bytes(
            bytes,
            path,
            &self.artist,
            options,
            fallback.as_deref(),
            unix_now(),
        )
        .map_err(fail)
    }

    /// Makes a batch of publishes searchable and durable. Each file was already written
    /// atomically; this commits the index once and flushes the database once for the batch.
    fn finish_batch(&self) {
        if let Err(e) = self.index.commit() {
            // The store is the source of truth; the index is rebuilt from it on the next start.
            tracing::warn!(error = %e, "published but not indexed yet");
        }
        if let Err(e) = self.store.end_write() {
            tracing::warn!(error = %e, "could not flush the database after publishing");
        }
    }

    /// Publishes files and folders (recursively, audio extensions only inside folders), in
    /// order, calling `on_event` as it goes. One file failing does not stop the others. The
    /// index is committed every [`PUBLISH_BATCH`] files and at the end.
    pub fn publish_paths(
        &self,
        paths: &[PathBuf],
        options: &PublishOptions,
        mut on_event: impl FnMut(PublishEvent<'_>),
    ) -> Vec<std::result::Result<Manifest, PublishError>> {
        let mut files = Vec::new();
        let mut results = Vec::new();
        for path in paths {
            if path.is_dir() {
                if let Err(e) = collect_audio_files(path, usize::MAX, &mut files) {
                    results.push(Err(PublishError {
                        path: path.clone(),
                        source: Box::new(e),
                    }));
                }
            } else {
                files.push(path.clone());
            }
        }
        on_event(PublishEvent::Found(files.len()));
        for e in &results {
            on_event(PublishEvent::Finished(e));
        }
        for (i, file) in files.iter().enumerate() {
            let result = self.publish_one(file, options);
            if (i + 1) % PUBLISH_BATCH == 0 {
                self.finish_batch();
            }
            on_event(PublishEvent::Finished(&result));
            results.push(result);
        }
        self.finish_batch();
        results
    }

    fn publish_bytes(
        &self,
        bytes: Vec<u8>,
        name: &Path,
        key: &ArtistKeypair,
        options: &PublishOptions,
        fallback_artist: Option<&str>,
        published_at: u64,
    ) -> Result<Manifest> {
        let size = bytes.len() as u64;
        let (chunk_size, chunks) =
            crate::model::split_chunks(&bytes).ok_or(Error::BadFileSize(size))?;
        let id = TrackId::derive(size, chunk_size, &chunks);
        if self.store.is_local(&id)? {
            return Err(Error::Duplicate(id));
        }
        self.store.ensure_space(size)?;
        let mut info = media::probe(bytes.clone(), name)?.info;
        for (field, value) in [
            (&mut info.title, &options.title),
            (&mut info.artist, &options.artist),
            (&mut info.album, &options.album),
        ] {
            if let Some(v) = value.as_ref().filter(|v| !v.trim().is_empty()) {
                *field = v.clone();
            }
        }
        if info.artist.trim().is_empty() {
            info.artist = fallback_artist.unwrap_or("Unknown artist").to_owned();
        }
        let manifest = ManifestDraft {
            info,
            file_size: size,
            chunk_size,
            chunks,
            published_at,
        }
        .sign(key);

        let _guard = lock(&self.publishing);
        // The flag stays set until the batch is flushed: a crash before that sweeps whatever
        // chunks no committed manifest references.
        self.store.begin_write()?;
        let written = manifest
            .chunks()
            .iter()
            .zip(bytes.chunks(chunk_size as usize))
            .try_for_each(|(hash, chunk)| self.store.put_hashed_chunk(hash, chunk))
            .and_then(|()| self.store.commit_local_track(&manifest));
        if let Err(e) = written {
            // Sweep this file's chunks now rather than at the next start.
            if let Err(gc) = self.store.collect_garbage() {
                tracing::warn!(error = %gc, "could not sweep after a failed publish");
            }
            return Err(e);
        }
        if let Err(e) = self.index.add_uncommitted(std::slice::from_ref(&manifest)) {
            tracing::warn!(error = %e, "published but not indexed yet");
        }
        Ok(manifest)
    }

    /// A track as lists show it.
    pub fn summary(&self, manifest: &Manifest) -> Result<TrackSummary> {
        let local = self.store.is_local(&manifest.id())?;
        Ok(TrackSummary {
            id: manifest.id(),
            artist_key: manifest.artist_key(),
            info: manifest.info().clone(),
            local,
            providers: usize::from(local),
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
        out.sort_by(|a, b| {
            (a.info.artist.to_lowercase(), a.info.title.to_lowercase())
                .cmp(&(b.info.artist.to_lowercase(), b.info.title.to_lowercase()))
        });
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
        Ok(out)
    }

    /// Resolves a full id or a unique prefix of at least 6 hex digits (as `list` prints them).
    pub fn resolve(&self, id_or_prefix: &str) -> Result<TrackId> {
        let text = id_or_prefix.trim().to_ascii_lowercase();
        if let Ok(id) = text.parse::<TrackId>() {
            return Ok(id);
        }
        if text.len() < 6 || !text.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::BadTrackRef(format!(
                "{id_or_prefix:?} is not a track id (64 hex digits, or a unique prefix of 6 or more)"
            )));
        }
        let mut found = None;
        for m in self.store.manifests() {
            let id = m?.id();
            if id.to_hex().starts_with(&text) {
                if found.is_some() {
                    return Err(Error::BadTrackRef(format!(
                        "{id_or_prefix:?} matches more than one track; give more digits"
                    )));
                }
                found = Some(id);
            }
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
        let mine = self.artist.public();
        let mut releases: Vec<(u64, TrackId, String)> = Vec::new();
        for m in self.store.manifests() {
            let m = m?;
            if m.artist_key() == mine && self.store.is_local(&m.id())? {
                releases.push((m.published_at(), m.id(), m.info().artist.clone()));
            }
        }
        if releases.is_empty() {
            return Ok(None);
        }
        releases.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let name = self
            .config()
            .artist_name
            .unwrap_or_else(|| releases[0].2.clone());
        let version = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let ids = releases.into_iter().map(|r| r.1).collect();
        Ok(Some(crate::artist::ArtistProfile::sign(
            &self.artist,
            &name,
            version,
            ids,
        )))
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
    /// returns their ids. The one way other peers' tracks enter the library.
    pub fn accept(&self, manifests: Vec<Manifest>) -> Result<Vec<TrackId>> {
        let now = unix_now();
        let mut new = Vec::new();
        for m in manifests {
            if let Err(why) = release::admit(&m, now) {
                tracing::info!(track = %m.id(), %why, "release refused");
                continue;
            }
            if self.store.put_manifest(&m)? {
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

/// Whether `path` has one of the [`AUDIO_EXTENSIONS`] (any case).
pub fn is_audio_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The audio files under `dir`, recursively, in path order, skipping hidden entries; at most
/// `limit` of them (a guard against scanning a whole disk from a UI).
pub fn audio_files(dir: &Path, limit: usize) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    collect_audio_files(dir, limit, &mut out)?;
    Ok(out)
}

fn collect_audio_files(dir: &Path, limit: usize, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if out.len() >= limit {
            break;
        }
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect_audio_files(&path, limit, out)?;
        } else if is_audio_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

//! The sled database behind one small `Clone` handle.
//!
//! Trees:
//! - `manifests`: track id -> encoded manifest, for every track this peer has heard of;
//! - `verified`: audio id + chunk index -> empty, for the chunks of a download in progress that
//!   arrived and matched their hash (the bytes are in the audio's partial file, see [`blobs`]);
//! - `local`: track id -> empty, for tracks whose whole audio is here, verified, in its blob;
//! - `meta`: small flags (schema version, a write in progress);
//! - `history`: listening events (plays, skips with their position, completions) in time order,
//!   the implicit feedback the recommender learns from;
//! - `ratings`: track id -> stars (1..=5), the explicit feedback;
//! - `profiles`: peer key -> a neighbour's signed taste profile, as received (see
//!   [`crate::taste`]), so that recommendations survive a restart;
//! - `blocked`: artist key -> empty, for the keys whose releases this peer hides;
//! - `followed`: artist key -> empty, for the keys this peer follows, `starred`: track id ->
//!   empty, for the tracks starred through the Subsonic API (see [`follows`]);
//! - `playlists`: playlist id -> signed playlist record, `shared_playlists`: id -> empty for
//!   those this peer shared (see [`playlists`]);
//! - `known_peers`: peers joined through an invite, with their addresses (see [`peers`]);
//! - `bans`: peer id -> when its ban ends, so that bans outlive a restart (see [`peers`]);
//! - `audio`: audio id -> the release with that audio this peer saw first (the original, when
//!   another key re-signs the same file);
//! - `legacy`, `renamed`: what an upgrade from manifest version 1 left (see [`upgrade`]);
//! - `releases_by_artist`, `artists_by_newest`, `artist_newest`: the manifests in the orders
//!   user paths read them in, kept with them (see [`order`]);
//! - `eviction_queue`, `evicted`: the catalog's disk budget, what it evicts first and what it
//!   evicted lately (see [`budget`]).
//!
//! Cover images are files too, in `covers/`, named by their hash (see [`covers`]).
//!
//! The audio itself is not in the database: it lives in plain files beside it, one per audio
//! content, in the data dir's `blobs/` (see [`blobs`]); a data dir whose audio is still inside
//! the database (schema 2) moves it out on first open (see [`Store::move_audio`]).
//!
//! Invariants: a chunk is stored only after it matched its BLAKE3 hash, and is checked again
//! whenever it is read; a track is marked local only after its blob is complete and in place. A
//! publish writes its blob first and the manifest plus the `local` mark last, atomically, so a
//! crash in between leaves only an unreferenced blob, which [`Store::open`] sweeps away.
//!
//! All methods block on disk I/O: call them from a worker thread, never from a UI thread.

use std::path::Path;

use crate::error::{Error, Result};
use crate::model::{ArtistKey, Manifest, TrackId};

mod blobs;
mod budget;
mod covers;
mod follows;
mod keep;
mod move_audio;
mod order;
mod peers;
mod playlists;
mod upgrade;

pub use blobs::BlobWriter;
pub use budget::{ENTRY_OVERHEAD, Evicted, MAX_REMEMBERED, Verdict};
pub use keep::Rebuilt;
pub use move_audio::MoveProgress;
pub use order::IndexedRelease;
pub use upgrade::Upgrade;

/// Schema 4: the release indexes of [`order`]. Schema 3 (audio in files beside the database)
/// has them built at open. Schema 2 (manifests of version 2, track ids that cover the artist
/// key, audio inside the database) moves its audio out with [`Store::move_audio`]; schema 1
/// (manifests of version 1) is first upgraded by [`Store::upgrade`].
const SCHEMA_VERSION: &[u8] = b"4";
const UNORDERED_SCHEMA_VERSION: &[u8] = b"3";
const AUDIO_IN_DB_SCHEMA_VERSION: &[u8] = b"2";
const LEGACY_SCHEMA_VERSION: &[u8] = b"1";
const KEY_SCHEMA: &[u8] = b"schema";
const KEY_WRITE_IN_PROGRESS: &[u8] = b"write_in_progress";

/// The peer's database. Cheap to clone; all clones share one database.
#[derive(Clone, Debug)]
pub struct Store {
    db: sled::Db,
    manifests: sled::Tree,
    verified: sled::Tree,
    local: sled::Tree,
    meta: sled::Tree,
    history: sled::Tree,
    ratings: sled::Tree,
    profiles: sled::Tree,
    blocked: sled::Tree,
    audio: sled::Tree,
    bans: sled::Tree,
    legacy: sled::Tree,
    renamed: sled::Tree,
    order: order::Order,
    budget: budget::Budget,
    /// Held by every writer of the manifests and their indexes around its transaction, so
    /// that an eviction can read an artist's remaining releases before its own.
    order_lock: std::sync::Arc<std::sync::Mutex<()>>,
    blobs: std::sync::Arc<blobs::Blobs>,
    keep: std::sync::Arc<keep::Keep>,
    rebuilt: Option<Rebuilt>,
    created: bool,
    needs_upgrade: bool,
    audio_in_db: bool,
    path: std::path::PathBuf,
}

/// Room kept free beyond what a write needs: the database's own log, index and config writes.
const SPACE_MARGIN: u64 = 8 << 20;

/// What happened when a track was listened to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenKind {
    /// The track started playing.
    Play,
    /// The listener left the track before its end, at this position.
    Skip {
        /// Where playback was when the listener moved on, in milliseconds.
        position_ms: u64,
    },
    /// The track played to its end.
    Complete,
}

/// One entry of the listening history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    /// The track.
    pub id: TrackId,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What happened.
    pub kind: ListenKind,
}

impl Listen {
    const ENCODED_LEN: usize = 32 + 1 + 8;

    fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0; Self::ENCODED_LEN];
        out[..32].copy_from_slice(self.id.as_bytes());
        let (code, position) = match self.kind {
            ListenKind::Play => (0, 0),
            ListenKind::Skip { position_ms } => (1, position_ms),
            ListenKind::Complete => (2, 0),
        };
        out[32] = code;
        out[33..].copy_from_slice(&position.to_be_bytes());
        out
    }

    fn decode(key: &[u8], value: &[u8]) -> Option<Self> {
        let at_ms = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
        if value.len() != Self::ENCODED_LEN {
            return None;
        }
        let id = TrackId(value[..32].try_into().ok()?);
        let position_ms = u64::from_be_bytes(value[33..].try_into().ok()?);
        let kind = match value[32] {
            0 => ListenKind::Play,
            1 => ListenKind::Skip { position_ms },
            2 => ListenKind::Complete,
            _ => return None,
        };
        Some(Self { id, at_ms, kind })
    }
}

/// What [`Store::put_manifest`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// The release was new here.
    New,
    /// It replaced an older version of the same release.
    Updated,
    /// The stored version is as new or newer: nothing changed.
    Kept,
}

impl Stored {
    /// Whether the stored manifest changed.
    pub fn changed(self) -> bool {
        self != Self::Kept
    }
}

/// The highest rating.
pub const MAX_STARS: u8 = 5;

/// How long an open waits for the file lock of a database this process just closed.
const RELOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens sled's database. A database this process dropped a moment ago may still be locked:
/// sled's flusher thread lets go of its file lock after the last handle is gone. That lock (and
/// only that) is waited for, a little; the data dir's own lock keeps other processes out.
fn open_sled(path: &Path) -> Result<sled::Db> {
    let start = std::time::Instant::now();
    loop {
        let opened = sled::Config::new()
            .path(path)
            .cache_capacity(64 * 1024 * 1024)
            .open();
        match opened {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && start.elapsed() < RELOCK_WAIT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return Ok(other?),
        }
    }
}

impl Store {
    /// Opens (or creates) the database at `path`, with the audio files in `blobs` beside it,
    /// and repairs what an interrupted write left. A database that sled cannot open (damaged,
    /// or not sled's) is set aside and rebuilt from the files beside it (see [`keep`]);
    /// [`Store::rebuilt`] then says so.
    pub fn open(path: &Path) -> Result<Self> {
        let store = match Self::open_db(path) {
            Err(Error::Store(sled::Error::Corruption { .. })) => {
                Self::rebuild(path, "its files are damaged".into())?
            }
            Err(Error::Store(sled::Error::Unsupported(why) | sled::Error::ReportableBug(why))) => {
                Self::rebuild(path, why)?
            }
            // sled recovers a cut log by dropping what follows the cut: a database that opens
            // empty in a data dir that kept files has lost its contents.
            Ok(store) if store.created && store.keep.holds_anything()? => {
                drop(store);
                Self::rebuild(path, "it opened empty: its files were cut short".into())?
            }
            opened => opened?,
        };
        if !store.audio_in_db {
            store.sweep_completed_partials()?;
            store.start_keeping()?;
        }
        Ok(store)
    }

    /// When this open found the database damaged: where it was set aside and what was rebuilt.
    pub fn rebuilt(&self) -> Option<&Rebuilt> {
        self.rebuilt.as_ref()
    }

    fn open_db(path: &Path) -> Result<Self> {
        let root = path.parent().unwrap_or(Path::new("."));
        let blobs = root.join("blobs");
        let db = open_sled(path)?;
        let mut store = Self {
            manifests: db.open_tree("manifests")?,
            verified: db.open_tree("verified")?,
            local: db.open_tree("local")?,
            meta: db.open_tree("meta")?,
            history: db.open_tree("history")?,
            ratings: db.open_tree("ratings")?,
            profiles: db.open_tree("profiles")?,
            blocked: db.open_tree("blocked")?,
            audio: db.open_tree("audio")?,
            bans: db.open_tree("bans")?,
            legacy: db.open_tree("legacy")?,
            renamed: db.open_tree("renamed")?,
            order: order::Order::open(&db)?,
            budget: budget::Budget::open(&db)?,
            order_lock: Default::default(),
            db,
            blobs: std::sync::Arc::new(blobs::Blobs::open(&blobs)?),
            keep: std::sync::Arc::new(keep::Keep::new(root)?),
            rebuilt: None,
            created: false,
            needs_upgrade: false,
            audio_in_db: false,
            path: path.to_owned(),
        };
        match store.meta.get(KEY_SCHEMA)? {
            None => {
                // Durable at once: a first start killed before the next background flush
                // would otherwise look like a first start again (and seed the demo library
                // that the killed start may have been told not to).
                store.meta.insert(KEY_SCHEMA, SCHEMA_VERSION)?;
                store.db.flush()?;
                store.created = true;
            }
            Some(v) if v.as_ref() == SCHEMA_VERSION => store.drop_moved_audio()?,
            Some(v) if v.as_ref() == UNORDERED_SCHEMA_VERSION => {
                store.drop_moved_audio()?;
                store.build_order()?;
            }
            Some(v) if v.as_ref() == AUDIO_IN_DB_SCHEMA_VERSION => store.audio_in_db = true,
            Some(v) if v.as_ref() == LEGACY_SCHEMA_VERSION => {
                store.needs_upgrade = true;
                store.audio_in_db = true;
            }
            Some(v) => {
                return Err(Error::Config {
                    path: path.to_owned(),
                    reason: format!(
                        "database schema {} is newer than this build understands",
                        String::from_utf8_lossy(&v)
                    ),
                });
            }
        }
        if !store.audio_in_db && !store.has_budget()? {
            store.build_budget()?;
        }
        if store.meta.get(KEY_WRITE_IN_PROGRESS)?.is_some() && !store.audio_in_db {
            let removed = store.collect_garbage()?;
            tracing::info!(removed, "swept chunks left by an interrupted write");
        }
        Ok(store)
    }

    /// The lock every writer of the manifests' indexes holds around its transaction.
    fn lock_order(&self) -> std::sync::MutexGuard<'_, ()> {
        self.order_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this open created the database (a first start).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Remembers `manifest` as the original of its audio unless another release came first.
    fn note_audio(&self, manifest: &Manifest) -> Result<()> {
        let id = manifest.id();
        let first = Some(id.as_bytes().as_slice());
        // A failed swap means an earlier release holds the place: nothing to do.
        let _ =
            self.audio
                .compare_and_swap(manifest.audio_id().as_bytes(), None::<&[u8]>, first)?;
        Ok(())
    }

    /// The release with the same audio that this peer saw before `manifest`, when another key
    /// signed it (a re-signed copy of someone's file names its original here).
    pub fn same_audio_as(&self, manifest: &Manifest) -> Result<Option<Manifest>> {
        let Some(first) = self.audio.get(manifest.audio_id().as_bytes())? else {
            return Ok(None);
        };
        if first.as_ref() == manifest.id().as_bytes() {
            return Ok(None);
        }
        let Ok(first) = <[u8; 32]>::try_from(first.as_ref()) else {
            return Ok(None);
        };
        Ok(self
            .manifest(&TrackId(first))?
            .filter(|m| m.artist_key() != manifest.artist_key()))
    }

    /// The manifest of `id`, if known.
    pub fn manifest(&self, id: &TrackId) -> Result<Option<Manifest>> {
        match self.manifests.get(id.as_bytes())? {
            Some(bytes) => Ok(Some(Manifest::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Every known manifest, in id order.
    pub fn manifests(&self) -> impl Iterator<Item = Result<Manifest>> + '_ {
        self.manifests
            .iter()
            .values()
            .map(|v| Ok(Manifest::decode(&v?)?))
    }

    /// Whether the manifest of `id` is known.
    pub fn has_manifest(&self, id: &TrackId) -> Result<bool> {
        Ok(self.manifests.contains_key(id.as_bytes())?)
    }

    /// Up to `limit` known track ids greater than `after`, in id order, each with whether it is
    /// local, and whether more follow (a catalog page for anti-entropy sync).
    pub fn catalog_page(
        &self,
        after: Option<&TrackId>,
        limit: usize,
    ) -> Result<(Vec<(TrackId, bool)>, bool)> {
        use std::ops::Bound;
        let lower = match after {
            Some(id) => Bound::Excluded(id.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for key in self
            .manifests
            .range::<Vec<u8>, _>((lower, Bound::Unbounded))
            .keys()
        {
            let key = key?;
            let Ok(bytes) = <[u8; 32]>::try_from(key.as_ref()) else {
                continue;
            };
            if out.len() == limit {
                return Ok((out, true));
            }
            let id = TrackId(bytes);
            out.push((id, self.is_local(&id)?));
        }
        Ok((out, false))
    }

    /// Every track id marked local.
    pub fn local_ids(&self) -> Result<Vec<TrackId>> {
        let mut out = Vec::new();
        for key in self.local.iter().keys() {
            if let Ok(bytes) = <[u8; 32]>::try_from(key?.as_ref()) {
                out.push(TrackId(bytes));
            }
        }
        Ok(out)
    }

    /// Whether every chunk of `id` is here.
    pub fn is_local(&self, id: &TrackId) -> Result<bool> {
        Ok(self.local.contains_key(id.as_bytes())?)
    }

    /// Checks that the disk can take `bytes` more of chunks before they are written, so that a
    /// publish or download too big for the disk fails at once with [`Error::DiskFull`] instead
    /// of running into ENOSPC half way. Counts the bytes plus a margin for the database. Where
    /// free space cannot be read, says yes.
    pub fn ensure_space(&self, bytes: u64) -> Result<()> {
        let needed = bytes.saturating_add(SPACE_MARGIN);
        match fs2::available_space(&self.path) {
            Ok(free) if free < needed => Err(Error::DiskFull(format!(
                "{} needs about {} MB and {} MB are free",
                self.path.display(),
                needed.div_ceil(1 << 20),
                free >> 20
            ))),
            _ => Ok(()),
        }
    }

    /// Marks the start of a multi-step write; if the process dies before
    /// [`Store::end_write`], the next open sweeps unreferenced blobs.
    pub fn begin_write(&self) -> Result<()> {
        self.meta.insert(KEY_WRITE_IN_PROGRESS, &[])?;
        Ok(())
    }

    /// Marks the end of a multi-step write and makes it durable.
    pub fn end_write(&self) -> Result<()> {
        self.meta.remove(KEY_WRITE_IN_PROGRESS)?;
        self.db.flush()?;
        Ok(())
    }

    /// Reads a flag from `meta`.
    pub fn flag(&self, key: &str) -> Result<bool> {
        Ok(self.meta.contains_key(key.as_bytes())?)
    }

    /// Sets a flag in `meta`.
    pub fn set_flag(&self, key: &str) -> Result<()> {
        self.meta.insert(key.as_bytes(), &[])?;
        Ok(())
    }

    /// Removes every blob (and partial download) that no known manifest references. Returns how
    /// many were removed.
    pub fn collect_garbage(&self) -> Result<usize> {
        let mut referenced = std::collections::HashSet::new();
        for bytes in self.manifests.iter().values() {
            referenced.insert(upgrade::audio_of(&bytes?)?);
        }
        for value in self.legacy.iter().values() {
            referenced.insert(upgrade::audio_of(upgrade::legacy_manifest_bytes(&value?))?);
        }
        let removed = self.sweep_blobs(&referenced)?;
        self.keep
            .sweep_manifests(|id| self.manifests.contains_key(id.as_bytes()).unwrap_or(true))?;
        self.meta.remove(KEY_WRITE_IN_PROGRESS)?;
        self.db.flush()?;
        Ok(removed)
    }

    /// Writes everything to disk.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// Appends one event to the listening history (and to the journal).
    pub fn record_listen(&self, listen: &Listen) -> Result<()> {
        self.put_listen(listen)?;
        self.journal_listen(listen);
        Ok(())
    }

    fn put_listen(&self, listen: &Listen) -> Result<()> {
        // The key sorts by time; the generated id keeps two events of the same millisecond apart.
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&listen.at_ms.to_be_bytes());
        key[8..].copy_from_slice(&self.db.generate_id()?.to_be_bytes());
        self.history.insert(key, &listen.encode()[..])?;
        Ok(())
    }

    /// The listening history, oldest first. Malformed entries are skipped.
    pub fn listens(&self) -> Result<Vec<Listen>> {
        let mut out = Vec::with_capacity(self.history.len());
        for entry in self.history.iter() {
            let (key, value) = entry?;
            if let Some(listen) = Listen::decode(&key, &value) {
                out.push(listen);
            }
        }
        Ok(out)
    }

    /// Rates a track with 1..=5 stars; 0 clears the rating. More than 5 is refused.
    pub fn set_rating(&self, id: &TrackId, stars: u8) -> Result<()> {
        self.put_rating(id, stars)?;
        self.journal_rating(id, stars);
        Ok(())
    }

    fn put_rating(&self, id: &TrackId, stars: u8) -> Result<()> {
        match stars {
            0 => {
                self.ratings.remove(id.as_bytes())?;
            }
            1..=MAX_STARS => {
                self.ratings.insert(id.as_bytes(), &[stars])?;
            }
            _ => return Err(Error::BadRating(stars)),
        }
        self.ratings.flush()?;
        Ok(())
    }

    /// The stars given to a track, if rated.
    pub fn rating(&self, id: &TrackId) -> Result<Option<u8>> {
        Ok(self
            .ratings
            .get(id.as_bytes())?
            .and_then(|v| v.first().copied()))
    }

    /// Blocks an artist key (`true`) or lifts the block; written through before it returns.
    pub fn set_blocked(&self, key: &ArtistKey, blocked: bool) -> Result<()> {
        self.put_blocked(key, blocked)?;
        self.journal_block(key, blocked);
        Ok(())
    }

    fn put_blocked(&self, key: &ArtistKey, blocked: bool) -> Result<()> {
        if blocked {
            self.blocked.insert(key.as_bytes(), &[])?;
        } else {
            self.blocked.remove(key.as_bytes())?;
        }
        self.blocked.flush()?;
        Ok(())
    }

    /// Whether an artist key is blocked here.
    pub fn is_blocked(&self, key: &ArtistKey) -> Result<bool> {
        Ok(self.blocked.contains_key(key.as_bytes())?)
    }

    /// Every blocked artist key.
    pub fn blocked_keys(&self) -> Result<std::collections::HashSet<ArtistKey>> {
        let mut out = std::collections::HashSet::new();
        for key in self.blocked.iter().keys() {
            if let Ok(k) = <[u8; 32]>::try_from(key?.as_ref()) {
                out.insert(ArtistKey(k));
            }
        }
        Ok(out)
    }

    /// Every rating, in track id order.
    pub fn ratings(&self) -> Result<Vec<(TrackId, u8)>> {
        let mut out = Vec::new();
        for entry in self.ratings.iter() {
            let (key, value) = entry?;
            if let (Ok(id), Some(&stars)) = (<[u8; 32]>::try_from(key.as_ref()), value.first()) {
                out.push((TrackId(id), stars));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;

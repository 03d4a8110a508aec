//! The catalog's disk budget: what the manifests cost, the order they are evicted in, and the
//! ids evicted lately (issue 21: a peer does not keep every manifest it hears of for ever).
//!
//! - `meta`'s `catalog_bytes`: what the stored manifests cost, each its encoded length plus
//!   [`ENTRY_OVERHEAD`] for its entries in the indexes; changed in the same transaction as the
//!   manifest ([`Store::put_manifest`], [`Store::commit_local_track`], [`Store::evict`]), so
//!   reading it is O(1) and it never drifts;
//! - `eviction_queue`: sequence number ++ track id -> empty, one entry per manifest received
//!   from a peer, in the order received: eviction walks it from the front. A release that is
//!   kept when its turn comes (played, rated, followed, recent...) goes to the back, and one
//!   kept for good (held here, this peer's own key) leaves the queue, so a walk never passes
//!   over the same protected releases again and again;
//! - `evicted`: track id -> when (Unix seconds), the releases evicted here, so that catalog sync
//!   does not fetch them straight back (at most [`MAX_REMEMBERED`]; beyond that a random part
//!   is forgotten: such a release may come back once and go again, a bounded cost);
//!   `meta`'s `evicted_count` counts them (sled's `len` reads the whole tree).
//!
//! One eviction batch is one sled transaction over every tree that names the manifests
//! (`manifests`, the [`super::order`] indexes, the count and the bytes, the queue, `evicted`,
//! `audio`), so a process killed during an eviction leaves either the batch done or nothing
//! done. The search index is updated after it; an index that still holds evicted tracks
//! disagrees with the count and is rebuilt at the next open (and search skips ids without a
//! manifest meanwhile).
//!
//! A data dir from before the budget (schema 4 without `catalog_bytes`) gets its total and its
//! queue at open, in one pass over the manifests that reads their lengths and keys without
//! decoding them ([`Store::build_budget`]); the total is written last, so a killed pass starts
//! over.

use std::collections::{HashMap, HashSet};

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::Store;
pub use super::order::ENTRY_OVERHEAD;
use super::order::{KEY_BYTES, KEY_COUNT, artist_entry, be_u64, cost, queue_key, release_key};
use crate::error::{Error, Result};
use crate::model::{ArtistKey, Manifest, TrackId};

const KEY_EVICTED_COUNT: &[u8] = b"evicted_count";
/// Most evicted ids remembered (about 40 bytes each on disk).
pub const MAX_REMEMBERED: u64 = 200_000;
/// Entries written per batch while the queue is built.
const BUILD_BATCH: usize = 10_000;

/// The budget's trees (see the module docs).
#[derive(Clone, Debug)]
pub(super) struct Budget {
    pub(super) queue: sled::Tree,
    evicted: sled::Tree,
}

impl Budget {
    pub(super) fn open(db: &sled::Db) -> Result<Self> {
        Ok(Self {
            queue: db.open_tree("eviction_queue")?,
            evicted: db.open_tree("evicted")?,
        })
    }
}

/// What to do with a release whose turn in the eviction queue came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Evict it.
    Evict,
    /// Keep it for now: it goes to the back of the queue.
    Keep,
    /// Keep it for good (held here, signed by this peer): it leaves the queue.
    KeepForGood,
}

/// What one [`Store::evict`] batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evicted {
    /// The releases evicted.
    pub ids: Vec<TrackId>,
    /// The budget bytes they freed.
    pub bytes: u64,
    /// Queue entries looked at.
    pub examined: usize,
}

type Tx = ConflictableTransactionError<()>;

/// How an artist's entries change when some of its releases go: its newest remaining release
/// (`None`: none is left) and the time `artist_newest` holds now.
struct ArtistChange {
    artist: ArtistKey,
    held: u64,
    remaining: Option<u64>,
}

impl Store {
    /// What the stored manifests cost in bytes (see [`ENTRY_OVERHEAD`]).
    pub fn catalog_bytes(&self) -> u64 {
        match self.meta.get(KEY_BYTES) {
            Ok(Some(v)) => be_u64(&v).unwrap_or(0),
            _ => 0,
        }
    }

    /// Whether chunks of `audio` are being downloaded (some arrived, not all yet).
    pub fn is_downloading(&self, audio: &crate::model::AudioId) -> Result<bool> {
        Ok(self.verified.scan_prefix(audio.as_bytes()).next().is_some())
    }

    /// Whether `id` was evicted here lately (and not wanted back since).
    pub fn was_evicted(&self, id: &TrackId) -> Result<bool> {
        Ok(self.budget.evicted.contains_key(id.as_bytes())?)
    }

    /// How many evicted ids are remembered.
    pub fn evicted_count(&self) -> u64 {
        match self.meta.get(KEY_EVICTED_COUNT) {
            Ok(Some(v)) => be_u64(&v).unwrap_or(0),
            _ => 0,
        }
    }

    /// Forgets that `id` was evicted: the user asked for it (a play, a fetch, a search).
    pub fn forget_evicted(&self, id: &TrackId) -> Result<()> {
        let trees = (&self.budget.evicted, &self.meta);
        trees
            .transaction(|(evicted, meta)| {
                if evicted.remove(id.as_bytes())?.is_some() {
                    let n = meta.get(KEY_EVICTED_COUNT)?.and_then(|v| be_u64(&v));
                    let n = n.unwrap_or(0).saturating_sub(1);
                    meta.insert(KEY_EVICTED_COUNT, &n.to_be_bytes())?;
                }
                Ok::<_, Tx>(())
            })
            .map_err(tx_error)
    }

    /// One eviction batch: walks the queue from its oldest entry, asks `judge` about each
    /// release, and evicts those it names until the catalog costs at most `target` bytes, at
    /// most `batch` releases, looking at no more than four times that many entries. Kept
    /// releases move to the back of the queue (or leave it, kept for good). Everything happens
    /// in one transaction; the caller then drops the ids from the search index.
    pub fn evict(
        &self,
        target: u64,
        batch: usize,
        mut judge: impl FnMut(&Manifest) -> Verdict,
    ) -> Result<Evicted> {
        let _order = self.lock_order();
        let mut over = self.catalog_bytes().saturating_sub(target);
        let mut out = Evicted::default();
        let mut gone: Vec<([u8; 40], Manifest)> = Vec::new();
        let mut requeue: Vec<[u8; 40]> = Vec::new();
        let mut dequeue: Vec<[u8; 40]> = Vec::new();
        for entry in self.budget.queue.iter().keys() {
            if over == 0 || gone.len() == batch || out.examined == batch.saturating_mul(4) {
                break;
            }
            let key = entry?;
            out.examined += 1;
            let Ok(key) = <[u8; 40]>::try_from(key.as_ref()) else {
                continue;
            };
            let id = TrackId(key[8..].try_into().unwrap_or_default());
            let Some(bytes) = self.manifests.get(id.as_bytes())? else {
                // Nothing to evict: an entry a crash or a rebuild left behind.
                dequeue.push(key);
                continue;
            };
            let Ok(m) = Manifest::decode_stored(&bytes) else {
                dequeue.push(key);
                continue;
            };
            match judge(&m) {
                Verdict::Evict => {
                    over = over.saturating_sub(cost(bytes.len()));
                    out.bytes += cost(bytes.len());
                    gone.push((key, m));
                }
                Verdict::Keep => requeue.push(key),
                Verdict::KeepForGood => dequeue.push(key),
            }
        }
        let changes = self.artist_changes(&gone)?;
        let now = crate::release::unix_now().to_be_bytes();
        let order = &self.order;
        let trees = [
            &self.manifests,
            &order.by_artist,
            &order.artists,
            &order.newest,
            &self.meta,
            &self.budget.queue,
            &self.budget.evicted,
            &self.audio,
        ];
        trees
            .transaction(|t| {
                let [
                    manifests,
                    by_artist,
                    artists,
                    newest,
                    meta,
                    queue,
                    evicted,
                    audio,
                ] = &t[..]
                else {
                    return Err(Tx::Abort(()));
                };
                let (mut freed, mut removed, mut remembered) = (0u64, 0u64, 0u64);
                for (key, m) in &gone {
                    let id = m.id();
                    if let Some(old) = manifests.remove(id.as_bytes())? {
                        freed += cost(old.len());
                        removed += 1;
                    }
                    by_artist.remove(&release_key(&m.artist_key(), m.published_at(), &id)[..])?;
                    queue.remove(&key[..])?;
                    if evicted.insert(id.as_bytes(), &now)?.is_none() {
                        remembered += 1;
                    }
                    if audio.get(m.audio_id().as_bytes())?.as_deref() == Some(id.as_bytes()) {
                        audio.remove(m.audio_id().as_bytes())?;
                    }
                }
                for change in &changes {
                    let (artist, held) = (&change.artist, change.held);
                    match change.remaining {
                        None => {
                            artists.remove(&artist_entry(held, artist)[..])?;
                            newest.remove(artist.as_bytes())?;
                        }
                        Some(at) if at < held => {
                            artists.remove(&artist_entry(held, artist)[..])?;
                            artists.insert(&artist_entry(at, artist)[..], &[])?;
                            newest.insert(artist.as_bytes(), &at.to_be_bytes())?;
                        }
                        Some(_) => {}
                    }
                }
                for key in &dequeue {
                    queue.remove(&key[..])?;
                }
                for key in &requeue {
                    queue.remove(&key[..])?;
                    let id = TrackId(key[8..].try_into().unwrap_or_default());
                    queue.insert(&queue_key(queue.generate_id()?, &id)[..], &[])?;
                }
                let sub = |key: &[u8], by: u64| -> std::result::Result<(), Tx> {
                    let n = meta.get(key)?.and_then(|v| be_u64(&v)).unwrap_or(0);
                    meta.insert(key, &n.saturating_sub(by).to_be_bytes())?;
                    Ok(())
                };
                sub(KEY_COUNT, removed)?;
                sub(KEY_BYTES, freed)?;
                let n = meta.get(KEY_EVICTED_COUNT)?.and_then(|v| be_u64(&v));
                let n = n.unwrap_or(0) + remembered;
                meta.insert(KEY_EVICTED_COUNT, &n.to_be_bytes())?;
                Ok(())
            })
            .map_err(tx_error)?;
        out.ids = gone.iter().map(|(_, m)| m.id()).collect();
        if self.evicted_count() > MAX_REMEMBERED {
            self.forget_some_evicted()?;
        }
        Ok(out)
    }

    /// For each artist losing releases in `gone`: the time its entries hold now and its newest
    /// release that stays. Read under the order lock, so no writer changes them before the
    /// transaction.
    fn artist_changes(&self, gone: &[([u8; 40], Manifest)]) -> Result<Vec<ArtistChange>> {
        let mut by_artist: HashMap<ArtistKey, HashSet<TrackId>> = HashMap::new();
        for (_, m) in gone {
            by_artist.entry(m.artist_key()).or_default().insert(m.id());
        }
        let mut out = Vec::with_capacity(by_artist.len());
        for (artist, ids) in by_artist {
            let Some(held) = self
                .order
                .newest
                .get(artist.as_bytes())?
                .and_then(|v| be_u64(&v))
            else {
                continue;
            };
            let mut remaining = None;
            for release in self.releases_of(&artist) {
                let release = release?;
                if !ids.contains(&release.id) {
                    remaining = Some(release.published_at);
                    break;
                }
            }
            out.push(ArtistChange {
                artist,
                held,
                remaining,
            });
        }
        Ok(out)
    }

    /// Forgets a tenth of the remembered evictions, from a random place in id order.
    fn forget_some_evicted(&self) -> Result<()> {
        let start: [u8; 32] = rand::random();
        let want = (MAX_REMEMBERED / 10) as usize;
        let mut ids: Vec<sled::IVec> = Vec::with_capacity(want);
        let tree = &self.budget.evicted;
        for key in tree.range(start..).keys().chain(tree.iter().keys()) {
            let key = key?;
            if ids.len() == want || ids.last() == Some(&key) {
                break;
            }
            ids.push(key);
        }
        ids.sort();
        ids.dedup();
        let trees = (tree, &self.meta);
        trees
            .transaction(|(evicted, meta)| {
                let mut removed = 0u64;
                for id in &ids {
                    if evicted.remove(id)?.is_some() {
                        removed += 1;
                    }
                }
                let n = meta.get(KEY_EVICTED_COUNT)?.and_then(|v| be_u64(&v));
                let n = n.unwrap_or(0).saturating_sub(removed);
                meta.insert(KEY_EVICTED_COUNT, &n.to_be_bytes())?;
                Ok::<_, Tx>(())
            })
            .map_err(tx_error)
    }

    /// Whether the budget's total and queue exist (a data dir from before them has neither).
    pub(super) fn has_budget(&self) -> Result<bool> {
        Ok(self.meta.contains_key(KEY_BYTES)?)
    }

    /// Builds the byte total and the eviction queue from every manifest, in one pass that
    /// reads keys and lengths (no decoding): the upgrade of a data dir from before the budget.
    /// Starts from an empty queue and writes the total last, so a killed build starts over.
    pub(super) fn build_budget(&self) -> Result<()> {
        let queue = &self.budget.queue;
        queue.clear()?;
        let (mut batch, mut pending) = (sled::Batch::default(), 0);
        let (mut bytes, mut queued) = (0u64, 0u64);
        for entry in self.manifests.iter() {
            let (key, value) = entry?;
            bytes += cost(value.len());
            let Ok(id) = <[u8; 32]>::try_from(key.as_ref()) else {
                continue;
            };
            let id = TrackId(id);
            if self.local.contains_key(id.as_bytes())? {
                continue;
            }
            batch.insert(&queue_key(self.db.generate_id()?, &id)[..], &[]);
            (pending, queued) = (pending + 1, queued + 1);
            if pending == BUILD_BATCH {
                queue.apply_batch(std::mem::take(&mut batch))?;
                pending = 0;
            }
        }
        queue.apply_batch(batch)?;
        self.db.flush()?;
        if !self.meta.contains_key(KEY_EVICTED_COUNT)? {
            self.meta.insert(KEY_EVICTED_COUNT, &0u64.to_be_bytes())?;
        }
        self.meta.insert(KEY_BYTES, &bytes.to_be_bytes())?;
        self.db.flush()?;
        if bytes > 0 {
            tracing::info!(bytes, queued, "counted the catalog's bytes for its budget");
        }
        Ok(())
    }
}

fn tx_error(e: TransactionError<()>) -> Error {
    match e {
        TransactionError::Abort(()) => Error::Transaction("eviction aborted".into()),
        TransactionError::Storage(e) => e.into(),
    }
}

#[cfg(test)]
impl Store {
    /// Panics unless the byte total and the queue agree with the manifests: the total is the
    /// sum of their costs, and every queued id is distinct.
    pub(crate) fn assert_budget_matches_scan(&self) {
        let bytes: u64 = self
            .manifests
            .iter()
            .values()
            .map(|v| cost(v.unwrap().len()))
            .sum();
        assert_eq!(self.catalog_bytes(), bytes, "catalog_bytes");
        let mut seen = HashSet::new();
        for key in self.budget.queue.iter().keys() {
            let key = key.unwrap();
            assert!(seen.insert(key[8..].to_vec()), "an id queued twice");
        }
        let evicted = self.budget.evicted.iter().count() as u64;
        assert_eq!(self.evicted_count(), evicted, "evicted_count");
    }

    /// How many entries the eviction queue holds.
    pub(crate) fn queue_len(&self) -> usize {
        self.budget.queue.len()
    }

    pub(crate) fn write_without_budget(&self) {
        self.write_as_before_budget().unwrap();
    }
}

#[cfg(any(test, feature = "test-utils"))]
impl Store {
    /// Rewrites this store as a schema 4 data dir from before the budget: no total, no queue.
    /// For the tests and the bench of the build at open.
    pub fn write_as_before_budget(&self) -> Result<()> {
        self.budget.queue.clear()?;
        self.meta.remove(KEY_BYTES)?;
        self.meta.remove(KEY_EVICTED_COUNT)?;
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;

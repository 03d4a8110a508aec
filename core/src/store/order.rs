//! Ordered indexes beside the manifests, so that no user path reads every manifest: an artist's
//! releases newest first, the artists by their newest release, ids by prefix (the `manifests`
//! tree itself is in id order), and the manifest count.
//!
//! Trees (times are stored as `u64::MAX - published_at`, big-endian, so that a forward walk is
//! newest first and equal times come in track id order, the order [`crate::release::fair_newest`]
//! ranks by):
//! - `releases_by_artist`: artist key ++ time ++ track id -> audio id, one entry per manifest;
//! - `artists_by_newest`: time ++ artist key -> empty, one entry per artist, at a time no older
//!   than its newest release (exact, except after a release's time went back, which only
//!   [`Store::commit_local_track`] of an older version can do; readers take it as a bound);
//! - `artist_newest`: artist key -> that time (published_at, big-endian), to find the entry
//!   of `artists_by_newest` inside a transaction, where sled cannot scan;
//! - `meta`'s `manifest_count`: how many manifests are stored.
//!
//! They change in the same sled transaction as the manifest they describe
//! ([`Store::put_manifest`], [`Store::commit_local_track`], which every other writer goes
//! through: a rebuild from the journal, the restore of kept manifests). Nothing removes a
//! current manifest (garbage collection removes blobs, a block hides a key's releases); the
//! version 1 manifests an upgrade removes were never indexed. A data dir of schema 3 (before
//! these trees) has them built once at open ([`Store::build_order`]); the schema becomes 4 only
//! when they are complete, so an open killed midway builds them again from scratch.

use std::collections::HashMap;

use sled::Transactional;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};

use super::{KEY_SCHEMA, SCHEMA_VERSION, Store, Stored};
use crate::error::{Error, Result};
use crate::model::{ArtistKey, AudioId, Manifest, TrackId};
use crate::wire::DecodeError;

pub(super) const KEY_COUNT: &[u8] = b"manifest_count";
/// The catalog's budget bytes in `meta` (see [`super::budget`]).
pub(super) const KEY_BYTES: &[u8] = b"catalog_bytes";
/// What one manifest costs beyond its encoded bytes: its entries in `releases_by_artist`, the
/// eviction queue and the search index, roughly.
pub const ENTRY_OVERHEAD: u64 = 256;

/// What an encoded manifest of `len` bytes costs in the budget.
pub(super) fn cost(len: usize) -> u64 {
    len as u64 + ENTRY_OVERHEAD
}

/// The eviction queue key of the `seq`-th received release `id`.
pub(super) fn queue_key(seq: u64, id: &TrackId) -> [u8; 40] {
    let mut key = [0; 40];
    key[..8].copy_from_slice(&seq.to_be_bytes());
    key[8..].copy_from_slice(id.as_bytes());
    key
}

/// Entries written per batch while the trees are built.
const BUILD_BATCH: usize = 10_000;

/// The index trees (see the module docs).
#[derive(Clone, Debug)]
pub(super) struct Order {
    pub(super) by_artist: sled::Tree,
    pub(super) artists: sled::Tree,
    pub(super) newest: sled::Tree,
}

impl Order {
    pub(super) fn open(db: &sled::Db) -> Result<Self> {
        Ok(Self {
            by_artist: db.open_tree("releases_by_artist")?,
            artists: db.open_tree("artists_by_newest")?,
            newest: db.open_tree("artist_newest")?,
        })
    }
}

/// One release as the indexes list it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexedRelease {
    /// The release.
    pub id: TrackId,
    /// Its publish time (Unix seconds).
    pub published_at: u64,
    /// Its audio.
    pub audio: AudioId,
}

fn time_key(published_at: u64) -> [u8; 8] {
    (u64::MAX - published_at).to_be_bytes()
}

pub(super) fn release_key(artist: &ArtistKey, published_at: u64, id: &TrackId) -> [u8; 72] {
    let mut key = [0; 72];
    key[..32].copy_from_slice(artist.as_bytes());
    key[32..40].copy_from_slice(&time_key(published_at));
    key[40..].copy_from_slice(id.as_bytes());
    key
}

pub(super) fn artist_entry(newest: u64, artist: &ArtistKey) -> [u8; 40] {
    let mut key = [0; 40];
    key[..8].copy_from_slice(&time_key(newest));
    key[8..].copy_from_slice(artist.as_bytes());
    key
}

pub(super) fn be_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

fn time_of(bytes: &[u8]) -> Option<u64> {
    be_u64(bytes).map(|t| u64::MAX - t)
}

/// Why a manifest transaction stopped without writing.
enum Abort {
    /// The stored version is as new or newer.
    Kept,
    /// The track is local already.
    Duplicate,
    /// The stored version does not decode.
    Decode(DecodeError),
}

type Tx = ConflictableTransactionError<Abort>;

/// The index trees and `meta`, inside one transaction.
struct OrderTx<'a> {
    by_artist: &'a TransactionalTree,
    artists: &'a TransactionalTree,
    newest: &'a TransactionalTree,
    meta: &'a TransactionalTree,
    queue: &'a TransactionalTree,
}

impl OrderTx<'_> {
    /// Indexes `manifest`, which replaced `old` (the encoded version it replaced, if any),
    /// counts its bytes in the budget and, when it is new and `evictable`, queues it for
    /// eviction (see [`super::budget`]).
    fn index(
        &self,
        manifest: &Manifest,
        old: Option<&[u8]>,
        evictable: bool,
    ) -> std::result::Result<(), UnabortableTransactionError> {
        let bytes = self.meta.get(KEY_BYTES)?.and_then(|v| be_u64(&v));
        let bytes = bytes.unwrap_or(0) + cost(manifest.encoded().len());
        let bytes = bytes.saturating_sub(old.map_or(0, |old| cost(old.len())));
        self.meta.insert(KEY_BYTES, &bytes.to_be_bytes())?;
        if old.is_none() && evictable {
            let seq = self.queue.generate_id()?;
            self.queue
                .insert(&queue_key(seq, &manifest.id())[..], &[])?;
        }
        let (artist, at, id) = (
            manifest.artist_key(),
            manifest.published_at(),
            manifest.id(),
        );
        match old {
            // The old version's entry goes; an old version that does not decode any more
            // was indexed under a time nobody can read, and a rebuild drops its entry.
            Some(old) => {
                if let Ok(old) = Manifest::decode_stored(old) {
                    self.by_artist
                        .remove(&release_key(&artist, old.published_at(), &id)[..])?;
                }
            }
            None => {
                let count = self.meta.get(KEY_COUNT)?.and_then(|v| be_u64(&v));
                let count = count.unwrap_or(0) + 1;
                self.meta.insert(KEY_COUNT, &count.to_be_bytes())?;
            }
        }
        self.by_artist.insert(
            &release_key(&artist, at, &id)[..],
            manifest.audio_id().as_bytes(),
        )?;
        let before = self.newest.get(artist.as_bytes())?.and_then(|v| be_u64(&v));
        if before.is_none_or(|before| before < at) {
            if let Some(before) = before {
                self.artists.remove(&artist_entry(before, &artist)[..])?;
            }
            self.artists.insert(&artist_entry(at, &artist)[..], &[])?;
            self.newest.insert(artist.as_bytes(), &at.to_be_bytes())?;
        }
        Ok(())
    }
}

impl Store {
    /// Stores a manifest heard from the network (or published here), verified when it was
    /// decoded. A release already known is replaced only by a newer version (a later
    /// `published_at`): the track id covers the artist key, so only the key that signed a
    /// release can update it, and a replayed older version cannot undo an update.
    pub fn put_manifest(&self, manifest: &Manifest) -> Result<Stored> {
        let id = manifest.id();
        // Most manifests heard are known already: answer those without a transaction.
        if let Some(old) = self.manifests.get(id.as_bytes())?
            && Manifest::decode(&old)?.published_at() >= manifest.published_at()
        {
            return Ok(Stored::Kept);
        }
        let order = &self.order;
        let trees = (
            &self.manifests,
            &order.by_artist,
            &order.artists,
            &order.newest,
            &self.meta,
            &self.budget.queue,
        );
        let _order = self.lock_order();
        let result = trees.transaction(|(manifests, by_artist, artists, newest, meta, queue)| {
            let old = manifests.get(id.as_bytes())?;
            if let Some(old) = &old {
                let old = Manifest::decode(old).map_err(|e| Tx::Abort(Abort::Decode(e)))?;
                if old.published_at() >= manifest.published_at() {
                    return Err(Tx::Abort(Abort::Kept));
                }
            }
            manifests.insert(id.as_bytes(), manifest.encoded())?;
            let tx = OrderTx {
                by_artist,
                artists,
                newest,
                meta,
                queue,
            };
            tx.index(manifest, old.as_deref(), true)?;
            Ok(if old.is_some() {
                Stored::Updated
            } else {
                Stored::New
            })
        });
        let stored = match result {
            Ok(stored) => stored,
            Err(TransactionError::Abort(Abort::Kept)) => return Ok(Stored::Kept),
            Err(TransactionError::Abort(Abort::Decode(e))) => return Err(e.into()),
            Err(TransactionError::Abort(Abort::Duplicate)) => {
                return Err(Error::Transaction("unexpected duplicate".into()));
            }
            Err(TransactionError::Storage(e)) => return Err(e.into()),
        };
        drop(_order);
        if stored == Stored::New {
            self.note_audio(manifest)?;
        }
        if !self.legacy.is_empty() {
            self.adopt_legacy(manifest)?;
        }
        Ok(stored)
    }

    /// Atomically stores `manifest` and marks its track local, after making its blob complete
    /// (a download's partial file, when every chunk has arrived). Fails with
    /// [`Error::Duplicate`] when the track is already local.
    pub fn commit_local_track(&self, manifest: &Manifest) -> Result<()> {
        if !self.complete_audio(manifest)? {
            return Err(Error::Transaction(format!(
                "chunks of {} are missing",
                manifest.id()
            )));
        }
        self.keep.put_manifest(manifest)?;
        let id = manifest.id();
        let order = &self.order;
        let trees = (
            &self.manifests,
            &self.local,
            &order.by_artist,
            &order.artists,
            &order.newest,
            &self.meta,
            &self.budget.queue,
        );
        let _order = self.lock_order();
        let result = trees.transaction(|t| {
            let (manifests, local, by_artist, artists, newest, meta, queue) = t;
            if local.get(id.as_bytes())?.is_some() {
                return Err(Tx::Abort(Abort::Duplicate));
            }
            let old = manifests.insert(id.as_bytes(), manifest.encoded())?;
            let tx = OrderTx {
                by_artist,
                artists,
                newest,
                meta,
                queue,
            };
            // A held track is never evicted: it is not queued (and leaves the queue when its
            // turn comes, if it was queued before it became local).
            tx.index(manifest, old.as_deref(), false)?;
            local.insert(id.as_bytes(), &[])?;
            Ok(())
        });
        drop(_order);
        match result {
            Ok(()) => self.note_audio(manifest),
            Err(TransactionError::Abort(Abort::Duplicate)) => Err(Error::Duplicate(id)),
            Err(TransactionError::Abort(Abort::Decode(e))) => Err(e.into()),
            Err(TransactionError::Abort(Abort::Kept)) => {
                Err(Error::Transaction("unexpected keep".into()))
            }
            Err(TransactionError::Storage(e)) => Err(Error::from(e)),
        }
    }

    /// How many manifests are known.
    pub fn manifest_count(&self) -> usize {
        // Before its indexes are built (an older data dir being upgraded), the count is not
        // kept yet: count the tree.
        let ordered = self.meta.get(KEY_SCHEMA).ok().flatten();
        if ordered.as_deref() != Some(SCHEMA_VERSION) {
            return self.manifests.len();
        }
        match self.meta.get(KEY_COUNT) {
            Ok(count) => count.and_then(|v| be_u64(&v)).unwrap_or(0) as usize,
            Err(_) => self.manifests.len(),
        }
    }

    /// The releases `artist` signed that are known here, newest first (equal times in id
    /// order).
    pub fn releases_of(
        &self,
        artist: &ArtistKey,
    ) -> impl Iterator<Item = Result<IndexedRelease>> + '_ {
        self.order
            .by_artist
            .scan_prefix(artist.as_bytes())
            .filter_map(|entry| {
                let (key, audio) = match entry {
                    Ok(entry) => entry,
                    Err(e) => return Some(Err(e.into())),
                };
                let published_at = time_of(key.get(32..40)?)?;
                let id = TrackId(key.get(40..)?.try_into().ok()?);
                let audio = AudioId(audio.as_ref().try_into().ok()?);
                Some(Ok(IndexedRelease {
                    id,
                    published_at,
                    audio,
                }))
            })
    }

    /// Every artist with a release known here, by its newest release, newest first; each with
    /// a publish time no older than that release (see the module docs): an artist after
    /// another has no release newer than the time given with the first.
    pub fn artists_newest_first(&self) -> impl Iterator<Item = Result<(ArtistKey, u64)>> + '_ {
        self.order.artists.iter().keys().filter_map(|key| {
            let key = match key {
                Ok(key) => key,
                Err(e) => return Some(Err(e.into())),
            };
            let newest = time_of(key.get(..8)?)?;
            let artist = ArtistKey(key.get(8..)?.try_into().ok()?);
            Some(Ok((artist, newest)))
        })
    }

    /// Whether the release `id` with audio `audio` is a re-signed copy: another key's release
    /// of the same audio came first here. [`Store::same_audio_as`] without reading manifests
    /// (the first release of an audio has the id its own key gives it, so another id there is
    /// another key's).
    pub fn is_resigned_copy(&self, id: &TrackId, audio: &AudioId) -> Result<bool> {
        match self.audio.get(audio.as_bytes())? {
            Some(first) if first.as_ref() != id.as_bytes() => {
                Ok(self.manifests.contains_key(&first)?)
            }
            _ => Ok(false),
        }
    }

    /// Up to `limit` known track ids that start with the hex digits `prefix`, in id order.
    pub fn ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<TrackId>> {
        hex_range(&self.manifests, prefix, limit)?
            .into_iter()
            .map(|(id, _)| Ok(id))
            .collect()
    }

    /// Builds the index trees from every manifest, then marks the store as schema 4. Run by
    /// the open of a schema 3 data dir; starts over from empty trees, so an open killed midway
    /// simply builds again.
    pub(super) fn build_order(&self) -> Result<()> {
        let order = &self.order;
        order.by_artist.clear()?;
        order.artists.clear()?;
        order.newest.clear()?;
        let mut newest: HashMap<ArtistKey, u64> = HashMap::new();
        let mut batch = sled::Batch::default();
        let (mut pending, mut count) = (0, 0u64);
        for bytes in self.manifests.iter().values() {
            count += 1;
            // Checked when they were stored: verifying every signature again would make this
            // take minutes at a million manifests.
            let m = match Manifest::decode_stored(&bytes?) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "a stored manifest does not decode: not indexed");
                    continue;
                }
            };
            let (artist, at) = (m.artist_key(), m.published_at());
            batch.insert(
                &release_key(&artist, at, &m.id())[..],
                m.audio_id().as_bytes(),
            );
            let newest = newest.entry(artist).or_insert(at);
            *newest = (*newest).max(at);
            pending += 1;
            if pending == BUILD_BATCH {
                order.by_artist.apply_batch(std::mem::take(&mut batch))?;
                pending = 0;
            }
        }
        order.by_artist.apply_batch(batch)?;
        let (mut artists, mut times) = (sled::Batch::default(), sled::Batch::default());
        for (artist, at) in &newest {
            artists.insert(&artist_entry(*at, artist)[..], &[]);
            times.insert(artist.as_bytes(), &at.to_be_bytes());
        }
        order.artists.apply_batch(artists)?;
        order.newest.apply_batch(times)?;
        self.meta.insert(KEY_COUNT, &count.to_be_bytes())?;
        self.db.flush()?;
        self.meta.insert(KEY_SCHEMA, SCHEMA_VERSION)?;
        self.db.flush()?;
        tracing::info!(
            manifests = count,
            artists = newest.len(),
            "built the release indexes"
        );
        Ok(())
    }
}

/// Up to `limit` entries of `tree` (keyed by 32-byte ids) whose key starts with the hex digits
/// `prefix`, in key order.
pub(super) fn hex_range(
    tree: &sled::Tree,
    prefix: &str,
    limit: usize,
) -> Result<Vec<(TrackId, sled::IVec)>> {
    if prefix.len() > 64 || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(Vec::new());
    }
    // The ids from the prefix padded with the lowest digit to those padded with the highest.
    let bound = |pad: char| {
        let mut hex = prefix.to_ascii_lowercase();
        hex.extend(std::iter::repeat_n(pad, 64 - prefix.len()));
        hex.parse::<TrackId>()
    };
    let (Ok(low), Ok(high)) = (bound('0'), bound('f')) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in tree.range(low.as_bytes().as_slice()..=high.as_bytes().as_slice()) {
        if out.len() == limit {
            break;
        }
        let (key, value) = entry?;
        if let Ok(id) = <[u8; 32]>::try_from(key.as_ref()) {
            out.push((TrackId(id), value));
        }
    }
    Ok(out)
}

#[cfg(test)]
impl Store {
    /// Panics unless the index trees and the count hold exactly what the manifests say.
    pub(crate) fn assert_order_matches_scan(&self) {
        use std::collections::{BTreeMap, BTreeSet};
        let mut releases = BTreeMap::new();
        let mut newest: HashMap<ArtistKey, u64> = HashMap::new();
        for m in self.manifests() {
            let m = m.unwrap();
            let key = release_key(&m.artist_key(), m.published_at(), &m.id());
            releases.insert(key.to_vec(), m.audio_id().as_bytes().to_vec());
            let at = newest.entry(m.artist_key()).or_insert(m.published_at());
            *at = (*at).max(m.published_at());
        }
        let tree = |t: &sled::Tree| -> BTreeMap<Vec<u8>, Vec<u8>> {
            t.iter()
                .map(|e| e.unwrap())
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect()
        };
        assert_eq!(tree(&self.order.by_artist), releases, "releases_by_artist");
        let artists: BTreeSet<Vec<u8>> = newest
            .iter()
            .map(|(artist, at)| artist_entry(*at, artist).to_vec())
            .collect();
        let actual: BTreeSet<Vec<u8>> = tree(&self.order.artists).into_keys().collect();
        assert_eq!(actual, artists, "artists_by_newest");
        let times: BTreeMap<Vec<u8>, Vec<u8>> = newest
            .iter()
            .map(|(artist, at)| (artist.as_bytes().to_vec(), at.to_be_bytes().to_vec()))
            .collect();
        assert_eq!(tree(&self.order.newest), times, "artist_newest");
        assert_eq!(self.manifest_count(), self.manifests.len(), "count");
        assert_eq!(
            self.meta.get(KEY_SCHEMA).unwrap().as_deref(),
            Some(SCHEMA_VERSION)
        );
    }
}

#[cfg(any(test, feature = "test-utils"))]
impl Store {
    /// Rewrites this store as the build before the release indexes left it: schema 3, no
    /// index trees, no count. For the tests and the bench of the build at open.
    pub fn write_as_schema_3(&self) -> Result<()> {
        self.order.by_artist.clear()?;
        self.order.artists.clear()?;
        self.order.newest.clear()?;
        self.meta.remove(KEY_COUNT)?;
        self.meta
            .insert(KEY_SCHEMA, super::UNORDERED_SCHEMA_VERSION)?;
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ArtistKeypair;
    use crate::test_utils::signed_release;

    fn release(key: &ArtistKeypair, n: u32, at: u64) -> Manifest {
        signed_release(key, &n.to_be_bytes().repeat(300), &format!("r{n}"), at)
    }

    /// Three keys, equal times, an update, a re-signed copy, a local track.
    fn fill(store: &Store) -> Vec<Manifest> {
        let keys: Vec<_> = (1..=3u8)
            .map(|s| ArtistKeypair::from_seed([s; 32]))
            .collect();
        let mut all = Vec::new();
        for n in 0..30u32 {
            let m = release(&keys[n as usize % 3], n, 1_000 + u64::from(n / 4));
            assert_eq!(store.put_manifest(&m).unwrap(), Stored::New);
            all.push(m);
        }
        let newer = all[4]
            .updated(&keys[1], all[4].info().clone(), 5_000)
            .unwrap();
        assert_eq!(store.put_manifest(&newer).unwrap(), Stored::Updated);
        assert_eq!(store.put_manifest(&all[4]).unwrap(), Stored::Kept);
        let copy = release(&keys[2], 0, 9_000);
        store.put_manifest(&copy).unwrap();
        all.push(copy);
        let content = 77u32.to_be_bytes().repeat(300);
        let local = signed_release(&keys[0], &content, "local", 2_000);
        let mut writer = store.blob_writer().unwrap();
        writer.write(&content).unwrap();
        writer.finish(&local.audio_id()).unwrap();
        store.commit_local_track(&local).unwrap();
        all.push(local);
        all
    }

    #[test]
    fn the_indexes_follow_puts_updates_and_local_tracks() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("db")).unwrap();
        store.assert_order_matches_scan();
        let all = fill(&store);
        store.assert_order_matches_scan();
        assert_eq!(store.manifest_count(), 32);
        // An artist's releases newest first, equal times in id order.
        let key = all[0].artist_key();
        let listed: Vec<_> = store.releases_of(&key).map(|r| r.unwrap()).collect();
        let mut expected: Vec<_> = store
            .manifests()
            .map(|m| m.unwrap())
            .filter(|m| m.artist_key() == key)
            .map(|m| (std::cmp::Reverse(m.published_at()), m.id()))
            .collect();
        expected.sort();
        let ids: Vec<_> = listed
            .iter()
            .map(|r| (std::cmp::Reverse(r.published_at), r.id))
            .collect();
        assert_eq!(ids, expected);
        // The copy is known as one; its original is not.
        let copy = &all[30];
        assert!(
            store
                .is_resigned_copy(&copy.id(), &copy.audio_id())
                .unwrap()
        );
        assert!(
            !store
                .is_resigned_copy(&all[0].id(), &all[0].audio_id())
                .unwrap()
        );
        // Artists by their newest release: the copy's key (9 000), the updated one's (5 000).
        let artists: Vec<_> = store.artists_newest_first().map(|a| a.unwrap()).collect();
        assert_eq!(artists[0], (copy.artist_key(), 9_000));
        assert_eq!(artists[1], (all[4].artist_key(), 5_000));
        // Garbage collection and a reopen keep them.
        store.collect_garbage().unwrap();
        store.assert_order_matches_scan();
        drop(store);
        let store = Store::open(&tmp.path().join("db")).unwrap();
        store.assert_order_matches_scan();
    }

    #[test]
    fn a_local_commit_of_an_older_version_leaves_a_bound_that_still_holds() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("db")).unwrap();
        let key = ArtistKeypair::from_seed([4; 32]);
        let content = 5u32.to_be_bytes().repeat(300);
        let old = signed_release(&key, &content, "old", 10);
        let new = old.updated(&key, old.info().clone(), 20).unwrap();
        store.put_manifest(&new).unwrap();
        let mut writer = store.blob_writer().unwrap();
        writer.write(&content).unwrap();
        writer.finish(&old.audio_id()).unwrap();
        store.commit_local_track(&old).unwrap();
        let listed: Vec<_> = store
            .releases_of(&key.public())
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].published_at, 10);
        let artists: Vec<_> = store.artists_newest_first().map(|a| a.unwrap()).collect();
        assert_eq!(
            artists,
            vec![(key.public(), 20)],
            "a bound, no older than the newest"
        );
        assert_eq!(store.manifest_count(), 1);
    }

    #[test]
    fn a_schema_3_data_dir_gets_its_indexes_at_open_even_after_a_killed_build() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db");
        {
            let store = Store::open(&path).unwrap();
            fill(&store);
            store.write_as_schema_3().unwrap();
            // A build killed midway leaves some entries (here a wrong one) and schema 3.
            let m = release(&ArtistKeypair::from_seed([9; 32]), 999, 1);
            store
                .order
                .by_artist
                .insert(&release_key(&m.artist_key(), 1, &m.id())[..], &[0u8; 32])
                .unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(&path).unwrap();
        store.assert_order_matches_scan();
        assert_eq!(store.manifest_count(), 32);
    }

    #[test]
    fn a_rebuilt_database_has_its_indexes() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db");
        let local = {
            let store = Store::open(&path).unwrap();
            let all = fill(&store);
            store.flush().unwrap();
            all[31].clone()
        };
        let conf = path.join("conf");
        let mut bytes = std::fs::read(&conf).unwrap();
        bytes[..16].copy_from_slice(&[0xAA; 16]);
        std::fs::write(&conf, bytes).unwrap();
        let store = Store::open(&path).unwrap();
        assert!(store.rebuilt().is_some());
        // The local track comes back from its kept manifest file.
        assert_eq!(store.manifest_count(), 1);
        assert!(store.is_local(&local.id()).unwrap());
        store.assert_order_matches_scan();
    }

    #[test]
    fn ids_are_found_by_hex_prefix_of_any_length() {
        let tmp = tempfile::tempdir().unwrap();
        let db = sled::open(tmp.path().join("db")).unwrap();
        let tree = db.open_tree("t").unwrap();
        let ids: Vec<TrackId> = ["ab12", "ab13", "ab1f", "ab20", "0000", "ffff"]
            .iter()
            .map(|p| format!("{p}{}", "5".repeat(60)).parse().unwrap())
            .collect();
        for id in &ids {
            tree.insert(id.as_bytes(), &[]).unwrap();
        }
        let found = |prefix: &str, limit| -> Vec<TrackId> {
            hex_range(&tree, prefix, limit)
                .unwrap()
                .into_iter()
                .map(|(id, _)| id)
                .collect()
        };
        assert_eq!(found("ab1", 10), ids[..3].to_vec());
        assert_eq!(found("AB1", 10), ids[..3].to_vec());
        assert_eq!(found("ab12", 10), ids[..1].to_vec());
        assert_eq!(found("ab", 2), ids[..2].to_vec());
        assert_eq!(found("ab2", 10), ids[3..4].to_vec());
        assert_eq!(found("0", 10), ids[4..5].to_vec());
        assert_eq!(found("ffff5", 10), ids[5..6].to_vec());
        assert!(found("fffff", 10).is_empty());
        assert_eq!(found(&ids[1].to_hex(), 10), ids[1..2].to_vec());
        assert!(found("ab14", 10).is_empty());
        assert!(found("xyz", 10).is_empty());
        assert!(found(&"a".repeat(65), 10).is_empty());
    }
}

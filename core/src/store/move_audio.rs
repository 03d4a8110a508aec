//! Moving the audio of a schema 2 data dir out of the database into blob files (schema 3).
//!
//! Schema 2 kept every chunk as a sled value in the `chunks` tree, keyed by its hash.
//! [`Store::move_audio`] writes, for every audio a manifest (or an upgrade's waiting release)
//! names, its chunks in order into a blob: a complete audio through `blobs/tmp/`, synced and
//! renamed into place; an audio with only some chunks (a download that was under way) into its
//! partial file, with the `verified` marks. Each chunk is checked against its hash on the way, so
//! a damaged value is left behind (and fetched again) rather than moved. Only when every audio is
//! moved does the schema become 3 (and then 4, once the release indexes are built, see
//! [`super::order`]); the `chunks` tree is dropped after that, at the latest by the next open. A crash at any point leaves a data dir that the next open moves again, skipping
//! what is already in place.

use std::collections::HashSet;

use super::{KEY_SCHEMA, KEY_WRITE_IN_PROGRESS, Store, UNORDERED_SCHEMA_VERSION, upgrade};
use crate::error::{Error, Result};
use crate::model::{AudioId, ChunkHash, LegacyManifest, Manifest};

const CHUNKS_TREE: &str = "chunks";

/// How far [`Store::move_audio`] is, after each audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoveProgress {
    /// Audio files moved (or found in place) so far.
    pub done: usize,
    /// Audio files to move in all.
    pub total: usize,
    /// Bytes written to blob files so far.
    pub bytes: u64,
}

/// What one audio needs: its sizes and its chunks in order.
struct Layout {
    audio: AudioId,
    file_size: u64,
    chunk_size: u32,
    chunks: Vec<ChunkHash>,
}

impl Layout {
    fn of(bytes: &[u8]) -> Result<Self> {
        if upgrade::is_legacy(bytes) {
            let legacy = LegacyManifest::decode(bytes)?;
            return Ok(Self {
                audio: legacy.audio_id(),
                file_size: legacy.draft.file_size,
                chunk_size: legacy.draft.chunk_size,
                chunks: legacy.draft.chunks,
            });
        }
        let m = Manifest::decode(bytes)?;
        Ok(Self {
            audio: m.audio_id(),
            file_size: m.file_size(),
            chunk_size: m.chunk_size(),
            chunks: m.chunks().to_vec(),
        })
    }

    fn chunk_len(&self, index: usize) -> u64 {
        let start = index as u64 * u64::from(self.chunk_size);
        (self.file_size - start).min(u64::from(self.chunk_size))
    }
}

impl Store {
    /// Whether the audio of this data dir is still inside the database, for
    /// [`Store::move_audio`] to move first.
    pub fn audio_in_db(&self) -> bool {
        self.audio_in_db
    }

    /// Moves the audio out of the database into blob files (see the module docs), telling
    /// `progress` after each audio. Crash-safe: a crash at any point leaves a data dir that the
    /// next open moves again. Fails with [`Error::DiskFull`] before writing anything when the
    /// disk cannot hold a second copy of the audio for the time of the move.
    pub fn move_audio(&mut self, progress: impl FnMut(MoveProgress)) -> Result<()> {
        self.move_audio_steps(progress, usize::MAX)
    }

    /// [`Store::move_audio`], stopping (as a crash would) after `steps` audio files.
    pub(crate) fn move_audio_steps(
        &mut self,
        mut progress: impl FnMut(MoveProgress),
        steps: usize,
    ) -> Result<()> {
        if !self.audio_in_db {
            return Ok(());
        }
        if self.needs_upgrade {
            return Err(Error::Transaction(
                "the data dir must be upgraded to manifest version 2 first".into(),
            ));
        }
        let chunks = self.db.open_tree(CHUNKS_TREE)?;
        let mut layouts = Vec::new();
        let mut seen = HashSet::new();
        let legacy = self
            .legacy
            .iter()
            .values()
            .map(|v| v.map(|v| upgrade::legacy_manifest_bytes(&v).to_vec()));
        for bytes in self
            .manifests
            .iter()
            .values()
            .map(|v| v.map(|v| v.to_vec()))
            .chain(legacy)
        {
            let layout = Layout::of(&bytes?)?;
            if seen.insert(layout.audio) {
                layouts.push(layout);
            }
        }
        let mut needed = 0;
        for layout in layouts.iter().filter(|l| !self.blobs.has(&l.audio)) {
            for (index, hash) in layout.chunks.iter().enumerate() {
                if chunks.contains_key(hash.as_bytes())? {
                    needed += layout.chunk_len(index);
                }
            }
        }
        self.ensure_space(needed)?;

        let total = layouts.len();
        let mut state = MoveProgress {
            done: 0,
            total,
            bytes: 0,
        };
        for layout in &layouts {
            if state.done == steps {
                return Ok(());
            }
            if !self.blobs.has(&layout.audio) {
                state.bytes += self.move_one(&chunks, layout)?;
            }
            state.done += 1;
            progress(state);
        }
        if state.done == steps {
            return Ok(());
        }
        self.db.flush()?;
        self.meta.insert(KEY_SCHEMA, UNORDERED_SCHEMA_VERSION)?;
        self.db.flush()?;
        self.audio_in_db = false;
        drop(chunks);
        self.drop_moved_audio()?;
        self.build_order()?;
        self.build_budget()?;
        if self.meta.contains_key(KEY_WRITE_IN_PROGRESS)? {
            self.collect_garbage()?;
        }
        self.start_keeping()
    }

    /// Moves one audio's chunks out of `chunks`: into its blob when all are there and match,
    /// else into its partial file. How many bytes were written.
    fn move_one(&self, chunks: &sled::Tree, layout: &Layout) -> Result<u64> {
        let mut present = Vec::with_capacity(layout.chunks.len());
        for hash in &layout.chunks {
            present.push(
                chunks
                    .get(hash.as_bytes())?
                    .filter(|v| ChunkHash::of(v) == *hash),
            );
        }
        let mut written = 0;
        if present.iter().all(Option::is_some) {
            let mut writer = self.blob_writer()?;
            for bytes in present.iter().flatten() {
                writer.write(bytes)?;
                written += bytes.len() as u64;
            }
            writer.finish(&layout.audio)?;
            return Ok(written);
        }
        for (index, bytes) in present.iter().enumerate() {
            if let Some(bytes) = bytes {
                let at = index as u64 * u64::from(layout.chunk_size);
                self.write_partial(&layout.audio, layout.file_size, index, at, bytes)?;
                written += bytes.len() as u64;
            }
        }
        self.sync_partial(&layout.audio)?;
        Ok(written)
    }

    /// Drops the `chunks` tree a move to schema 3 left, if it is still there.
    pub(super) fn drop_moved_audio(&self) -> Result<()> {
        if self
            .db
            .tree_names()
            .iter()
            .any(|n| n == CHUNKS_TREE.as_bytes())
        {
            self.db.drop_tree(CHUNKS_TREE)?;
        }
        Ok(())
    }
}

impl Store {
    /// Rewrites this store as the build before the blob store kept it: schema 2, every chunk of
    /// every audio here a value of the `chunks` tree, no blob files (and partial downloads
    /// dropped). For the tests of the move on a data dir of any size.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn write_as_schema_2(&mut self) -> Result<()> {
        use super::AUDIO_IN_DB_SCHEMA_VERSION;
        let chunks = self.db.open_tree(CHUNKS_TREE)?;
        for manifest in self.manifests() {
            let m = manifest?;
            if self.blobs.has(&m.audio_id()) {
                for (index, hash) in m.chunks().iter().enumerate() {
                    if let Some(bytes) = self.chunk(&m, index)? {
                        chunks.insert(hash.as_bytes(), bytes)?;
                    }
                }
            }
        }
        for (audio, _) in self.blobs.list()? {
            self.blobs.remove(&audio)?;
        }
        self.verified.clear()?;
        self.meta.insert(KEY_SCHEMA, AUDIO_IN_DB_SCHEMA_VERSION)?;
        self.db.flush()?;
        self.audio_in_db = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{noise, release};

    struct Old {
        whole: (Manifest, Vec<u8>),
        partial: (Manifest, Vec<u8>),
        damaged: (Manifest, Vec<u8>),
    }

    /// Writes a schema 2 store as the build before the blob store left them: a local track, a
    /// download that was under way (chunks 1 and 3 of 5), and a local track one of whose chunk
    /// values was damaged on disk.
    fn schema_2(path: &std::path::Path) -> Old {
        let old = Old {
            whole: (release(&noise(200_000, 1), "whole"), noise(200_000, 1)),
            partial: (release(&noise(300_000, 2), "partial"), noise(300_000, 2)),
            damaged: (release(&noise(140_000, 3), "damaged"), noise(140_000, 3)),
        };
        let store = Store::open(path).unwrap();
        let chunks = store.db.open_tree(CHUNKS_TREE).unwrap();
        for (m, bytes) in [&old.whole, &old.partial, &old.damaged] {
            store.put_manifest(m).unwrap();
            for (index, chunk) in bytes.chunks(m.chunk_size() as usize).enumerate() {
                let keep = m.info().title != "partial" || index % 2 == 1;
                if keep {
                    chunks.insert(m.chunks()[index].as_bytes(), chunk).unwrap();
                }
            }
            if m.info().title != "partial" {
                store.local.insert(m.id().as_bytes(), &[]).unwrap();
            }
        }
        let damaged = &old.damaged.0.chunks()[1];
        chunks.insert(damaged.as_bytes(), &b"bit rot"[..]).unwrap();
        store.meta.insert(KEY_SCHEMA, b"2").unwrap();
        store.flush().unwrap();
        old
    }

    #[test]
    fn audio_moves_out_of_the_database_whatever_step_a_crash_stops_it_at() {
        for crash_after in 0..=3 {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("db");
            let old = schema_2(&path);
            {
                let mut store = Store::open(&path).unwrap();
                assert!(store.audio_in_db());
                store.move_audio_steps(|_| {}, crash_after).unwrap();
                store.flush().unwrap();
            }
            let mut seen = Vec::new();
            {
                let mut store = Store::open(&path).unwrap();
                assert!(store.audio_in_db(), "crashed after {crash_after} steps");
                store.move_audio(|p| seen.push(p)).unwrap();
            }
            assert_eq!(seen.last().map(|p| (p.done, p.total)), Some((3, 3)));

            let store = Store::open(&path).unwrap();
            assert!(!store.audio_in_db());
            assert!(
                !store
                    .db
                    .tree_names()
                    .iter()
                    .any(|n| n == CHUNKS_TREE.as_bytes())
            );
            let (m, bytes) = &old.whole;
            assert!(store.is_local(&m.id()).unwrap());
            assert_eq!(
                &std::fs::read(store.blobs.complete_path(&m.audio_id())).unwrap(),
                bytes
            );
            let (m, bytes) = &old.partial;
            let here: Vec<bool> = (0..5).map(|i| store.has_chunk(m, i).unwrap()).collect();
            assert_eq!(here, [false, true, false, true, false]);
            assert_eq!(
                store.chunk(m, 3).unwrap().unwrap(),
                &bytes[3 * 65_536..4 * 65_536]
            );
            // The damaged chunk stayed behind; the rest of that track waits as a partial
            // download, and the track is fetched again.
            let (m, bytes) = &old.damaged;
            assert!(!store.has_chunk(m, 1).unwrap());
            assert_eq!(store.chunk(m, 0).unwrap().unwrap(), &bytes[..65_536]);
            assert!(store.commit_local_track(m).is_err());
        }
    }
}

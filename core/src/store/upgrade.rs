//! Upgrading a data dir from manifest version 1, whose track ids covered the content alone, to
//! version 2, whose ids cover the artist key and the content.
//!
//! [`Store::upgrade`] moves every version 1 manifest, one sled transaction each:
//! - a release signed by a key this peer holds (its own artist key, the public demo key) is
//!   signed again as version 2, with the same text and time; its local mark and rating move to
//!   the new id, and `renamed` maps the old id to the new one;
//! - a release signed by anyone else cannot be signed again here. It waits in `legacy` (keyed by
//!   artist key and audio id, with its local mark) and its chunks stay. When that artist's
//!   version 2 manifest arrives, [`Store::put_manifest`] adopts it: the local mark (when every
//!   chunk is still here), the rating and the history move to the new id, with no download.
//!
//! Then the history is rewritten through `renamed`, and the schema version is written last. Every
//! step can run twice, so a crash anywhere leaves a data dir that the next open upgrades again.
//! A version 1 manifest's old id equals its [`AudioId`], which is what the lookups rely on.

use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::{AUDIO_IN_DB_SCHEMA_VERSION, KEY_SCHEMA, Listen, Store};
use crate::error::{Error, Result};
use crate::model::{
    ArtistKey, ArtistKeypair, AudioId, LEGACY_MANIFEST_VERSION, LegacyManifest, Manifest, TrackId,
    manifest_version,
};

/// What [`Store::upgrade`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Upgrade {
    /// Releases signed again under their new id (this peer's own, the demo library's).
    pub resigned: usize,
    /// Other artists' releases waiting for their version 2 manifest.
    pub waiting: usize,
    /// Version 1 manifests that no longer verify, dropped.
    pub dropped: usize,
}

/// Whether an encoded manifest is of version 1.
pub(super) fn is_legacy(bytes: &[u8]) -> bool {
    manifest_version(bytes) == Some(LEGACY_MANIFEST_VERSION)
}

/// The audio of an encoded manifest of either version.
pub(super) fn audio_of(bytes: &[u8]) -> Result<AudioId> {
    if is_legacy(bytes) {
        Ok(LegacyManifest::decode(bytes)?.audio_id())
    } else {
        Ok(Manifest::decode(bytes)?.audio_id())
    }
}

/// A `legacy` value is one byte (1 when the track was local) and the version 1 manifest.
pub(super) fn legacy_manifest_bytes(value: &[u8]) -> &[u8] {
    value.get(1..).unwrap_or_default()
}

fn legacy_key(artist: &ArtistKey, audio: &AudioId) -> [u8; 64] {
    let mut key = [0; 64];
    key[..32].copy_from_slice(artist.as_bytes());
    key[32..].copy_from_slice(audio.as_bytes());
    key
}

fn abort(e: impl std::fmt::Display) -> ConflictableTransactionError<String> {
    ConflictableTransactionError::Abort(e.to_string())
}

impl Store {
    /// Whether this data dir holds version 1 manifests that [`Store::upgrade`] must move first.
    pub fn needs_upgrade(&self) -> bool {
        self.needs_upgrade
    }

    /// Upgrades a version 1 data dir (see the module docs), signing again the releases of
    /// `keys`. Crash-safe: a crash at any point leaves a data dir that the next open upgrades.
    pub fn upgrade(&mut self, keys: &[ArtistKeypair]) -> Result<Upgrade> {
        self.upgrade_steps(keys, usize::MAX)
    }

    /// [`Store::upgrade`], stopping (as a crash would) after `steps` manifests have moved.
    pub(crate) fn upgrade_steps(
        &mut self,
        keys: &[ArtistKeypair],
        steps: usize,
    ) -> Result<Upgrade> {
        let mut done = Upgrade::default();
        let mut moved = 0;
        for entry in self.manifests.iter() {
            let (old_key, bytes) = entry?;
            if manifest_version(&bytes) != Some(LEGACY_MANIFEST_VERSION) {
                continue;
            }
            if moved == steps {
                return Ok(done);
            }
            moved += 1;
            let legacy = match LegacyManifest::decode(&bytes) {
                Ok(legacy) => legacy,
                Err(e) => {
                    tracing::warn!(error = %e, "dropping a version 1 manifest that does not verify");
                    self.manifests.remove(&old_key)?;
                    self.local.remove(&old_key)?;
                    done.dropped += 1;
                    continue;
                }
            };
            match keys.iter().find(|k| k.public() == legacy.artist_key) {
                Some(key) => {
                    let current = legacy.draft.clone().sign(key);
                    self.resign(&legacy, &current)?;
                    done.resigned += 1;
                }
                None => {
                    self.set_aside(&legacy, &bytes)?;
                    done.waiting += 1;
                }
            }
        }
        if moved == steps {
            return Ok(done);
        }
        self.rewrite_history(None)?;
        self.meta.insert(KEY_SCHEMA, AUDIO_IN_DB_SCHEMA_VERSION)?;
        self.db.flush()?;
        self.needs_upgrade = false;
        Ok(done)
    }

    /// Moves a release signed here to its version 2 id, with its local mark and rating.
    fn resign(&self, legacy: &LegacyManifest, current: &Manifest) -> Result<()> {
        let new_id = current.id();
        let (old, new) = (legacy.id.as_bytes(), new_id.as_bytes());
        let trees = (
            &self.manifests,
            &self.local,
            &self.ratings,
            &self.renamed,
            &self.audio,
        );
        trees
            .transaction(|(manifests, local, ratings, renamed, audio)| {
                manifests.remove(old)?;
                manifests.insert(new, current.encoded())?;
                if local.remove(old)?.is_some() {
                    local.insert(new, &[])?;
                }
                if let Some(stars) = ratings.remove(old)? {
                    ratings.insert(new, stars)?;
                }
                renamed.insert(old, new)?;
                if audio.get(current.audio_id().as_bytes())?.is_none() {
                    audio.insert(current.audio_id().as_bytes(), new)?;
                }
                Ok::<_, ConflictableTransactionError<String>>(())
            })
            .map_err(|e| Error::Transaction(format!("upgrading {}: {e:?}", legacy.id)))
    }

    /// Keeps another artist's version 1 release aside until its version 2 manifest arrives.
    fn set_aside(&self, legacy: &LegacyManifest, bytes: &[u8]) -> Result<()> {
        let audio_id = legacy.audio_id();
        let key = legacy_key(&legacy.artist_key, &audio_id);
        let old = legacy.id.as_bytes();
        // The artist's own version 2 release is the original of this audio here, whatever copy
        // arrives before it.
        let original = TrackId::derive(&legacy.artist_key, &audio_id);
        (&self.manifests, &self.local, &self.legacy, &self.audio)
            .transaction(|(manifests, local, waiting, audio)| {
                manifests.remove(old)?;
                if audio.get(audio_id.as_bytes())?.is_none() {
                    audio.insert(audio_id.as_bytes(), original.as_bytes())?;
                }
                let was_local = local.remove(old)?.is_some();
                let mut value = Vec::with_capacity(1 + bytes.len());
                value.push(u8::from(was_local));
                value.extend_from_slice(bytes);
                waiting.insert(&key[..], value)?;
                Ok::<_, ConflictableTransactionError<String>>(())
            })
            .map_err(|e| Error::Transaction(format!("upgrading {}: {e:?}", legacy.id)))
    }

    /// Adopts what a version 1 data dir held of `manifest`'s release, if anything: the local
    /// mark (when its audio is still here), the rating and the history move to its id.
    pub(super) fn adopt_legacy(&self, manifest: &Manifest) -> Result<()> {
        let key = legacy_key(&manifest.artist_key(), &manifest.audio_id());
        let Some(value) = self.legacy.get(key)? else {
            return Ok(());
        };
        let was_local = value.first() == Some(&1);
        let complete = self.has_audio(&manifest.audio_id());
        if was_local && complete {
            // Like every local track, its signed manifest is kept beside the audio first.
            self.keep.put_manifest(manifest)?;
        }
        let old = manifest.audio_id().legacy_track_id();
        let new = manifest.id();
        (&self.local, &self.ratings, &self.renamed, &self.legacy)
            .transaction(|(local, ratings, renamed, waiting)| {
                if waiting.remove(&key[..])?.is_none() {
                    return Err(abort("adopted already"));
                }
                if was_local && complete {
                    local.insert(new.as_bytes(), &[])?;
                }
                if let Some(stars) = ratings.remove(old.as_bytes())? {
                    ratings.insert(new.as_bytes(), stars)?;
                }
                renamed.insert(old.as_bytes(), new.as_bytes())?;
                Ok(())
            })
            .or_else(|e| match e {
                sled::transaction::TransactionError::Abort(_) => Ok(()),
                e => Err(Error::Transaction(format!("adopting {new}: {e:?}"))),
            })?;
        tracing::info!(track = %new, local = was_local && complete, "adopted a track kept from before the upgrade");
        self.rewrite_history(Some((old, new)))
    }

    /// The id a version 1 data dir knew a release by, mapped to its current id.
    pub fn renamed(&self, old: &TrackId) -> Result<Option<TrackId>> {
        Ok(self
            .renamed
            .get(old.as_bytes())?
            .and_then(|v| <[u8; 32]>::try_from(v.as_ref()).ok())
            .map(TrackId))
    }

    /// Every (old id, current id) whose old id starts with the hex digits `prefix`.
    pub fn renamed_from(&self, prefix: &str) -> Result<Vec<(TrackId, TrackId)>> {
        let found = super::order::hex_range(&self.renamed, prefix, usize::MAX)?;
        Ok(found
            .into_iter()
            .filter_map(|(old, new)| Some((old, TrackId(new.as_ref().try_into().ok()?))))
            .collect())
    }

    /// Points every history entry of a renamed track at its current id: of the one `only`
    /// names (old, new), or of every track in `renamed`.
    fn rewrite_history(&self, only: Option<(TrackId, TrackId)>) -> Result<()> {
        if self.renamed.is_empty() {
            return Ok(());
        }
        for entry in self.history.iter() {
            let (key, value) = entry?;
            let Some(listen) = Listen::decode(&key, &value) else {
                continue;
            };
            let current = match only {
                Some((old, new)) => (listen.id == old).then_some(new),
                None => self.renamed(&listen.id)?,
            };
            if let Some(id) = current {
                let moved = Listen { id, ..listen };
                self.history.insert(key, &moved.encode()[..])?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::DataDir;

    /// Bo's data dir as version 1 left it (`tests/fixtures/datadir-v1/README.md`): Bo's own
    /// "Morning" (rated 4) and Ada's "Machine Wars" (fetched, rated 5, played once).
    fn bo_v1() -> (tempfile::TempDir, ArtistKeypair) {
        let tmp = tempfile::tempdir().unwrap();
        crate::test_utils::copy_fixture_dir("datadir-v1/bo", tmp.path());
        let key = DataDir::open(tmp.path()).unwrap().artist_key().unwrap();
        (tmp, key)
    }

    fn by_title(store: &Store, title: &str) -> Manifest {
        store
            .manifests()
            .map(Result::unwrap)
            .find(|m| m.info().title == title)
            .unwrap_or_else(|| panic!("no {title:?}"))
    }

    #[test]
    fn a_crash_between_any_two_steps_upgrades_to_the_same_store() {
        let (reference, key) = bo_v1();
        let mut store = Store::open(&reference.path().join("db")).unwrap();
        assert!(store.needs_upgrade());
        let report = store.upgrade(std::slice::from_ref(&key)).unwrap();
        assert_eq!(
            report,
            Upgrade {
                resigned: 1,
                waiting: 1,
                dropped: 0
            }
        );
        let morning = by_title(&store, "Morning");
        assert_eq!(morning.artist_key(), key.public());
        assert!(store.is_local(&morning.id()).unwrap());
        assert_eq!(store.rating(&morning.id()).unwrap(), Some(4));
        assert_eq!(store.manifest_count(), 1, "Ada's release waits for Ada");
        let expected = (store.ratings().unwrap(), store.listens().unwrap());
        store.move_audio(|_| {}).unwrap();
        let blobs = store.blob_count().unwrap();
        drop(store);

        for crash_after in 0..=2 {
            let (tmp, key) = bo_v1();
            let path = tmp.path().join("db");
            {
                let mut store = Store::open(&path).unwrap();
                store
                    .upgrade_steps(std::slice::from_ref(&key), crash_after)
                    .unwrap();
                store.flush().unwrap();
            }
            {
                let mut store = Store::open(&path).unwrap();
                assert!(store.needs_upgrade(), "crashed after {crash_after} steps");
                store.upgrade(std::slice::from_ref(&key)).unwrap();
            }
            let store = Store::open(&path).unwrap();
            assert!(!store.needs_upgrade());
            assert_eq!(
                (store.ratings().unwrap(), store.listens().unwrap()),
                expected
            );
            let mut store = store;
            store.move_audio(|_| {}).unwrap();
            assert_eq!(store.blob_count().unwrap(), blobs);
            assert_eq!(by_title(&store, "Morning"), morning);
        }
    }

    #[test]
    fn another_artists_release_is_adopted_when_its_new_manifest_arrives() {
        let (tmp, key) = bo_v1();
        let mut store = Store::open(&tmp.path().join("db")).unwrap();
        store.upgrade(std::slice::from_ref(&key)).unwrap();
        let legacy_value = store.legacy.iter().values().next().unwrap().unwrap();
        let legacy = LegacyManifest::decode(legacy_manifest_bytes(&legacy_value)).unwrap();
        let old_id = legacy.id;
        assert_eq!(store.rating(&old_id).unwrap(), Some(5));
        // Everything needed is kept: moved out of the database and left alone by the garbage
        // collector.
        store.move_audio(|_| {}).unwrap();
        store.collect_garbage().unwrap();
        assert!(store.has_audio(&legacy.audio_id()));

        // Ada's own node signs the same release again when it upgrades; here, Ada's key from
        // her fixture data dir does it.
        let ada_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/datadir-v1/ada/keys/artist.key");
        let ada = ArtistKeypair::from_seed(std::fs::read(ada_dir).unwrap().try_into().unwrap());
        assert_eq!(ada.public(), legacy.artist_key);
        let current = legacy.draft.clone().sign(&ada);
        // Someone else's release of the same audio adopts nothing, and is known as a copy of
        // Ada's as soon as Ada's arrives.
        let copy = legacy.draft.clone().sign(&key);
        store.put_manifest(&copy).unwrap();
        assert!(!store.is_local(&copy.id()).unwrap());
        assert_eq!(store.same_audio_as(&copy).unwrap(), None);

        assert_eq!(
            store.put_manifest(&current).unwrap(),
            super::super::Stored::New
        );
        assert!(store.is_local(&current.id()).unwrap(), "no download needed");
        assert_eq!(store.rating(&current.id()).unwrap(), Some(5));
        assert_eq!(store.rating(&old_id).unwrap(), None);
        assert!(
            store
                .listens()
                .unwrap()
                .iter()
                .any(|l| l.id == current.id())
        );
        assert_eq!(store.renamed(&old_id).unwrap(), Some(current.id()));
        assert!(store.legacy.is_empty());
        assert_eq!(store.same_audio_as(&copy).unwrap(), Some(current.clone()));
        assert_eq!(store.same_audio_as(&current).unwrap(), None);
    }
}

//! The publish flow: files and folders in, signed manifests and stored chunks out.
//!
//! Reading a file, [`crate::media::probe`] it, cutting it into chunks with BLAKE3 hashes,
//! signing a [`Manifest`] with the artist key, then writing the chunks and, in one transaction,
//! the manifest with its "local" mark, and finally indexing it. A file that fails any step
//! leaves nothing behind (see [`crate::Store`] for how an interrupted write is swept).

use std::path::{Path, PathBuf};

use super::{Library, lock};
use crate::error::{Error, PublishError, Result};
use crate::media;
use crate::model::{ArtistKeypair, AudioId, Manifest, ManifestDraft, TrackId};
use crate::release::unix_now;

/// File extensions picked up when publishing a folder.
pub const AUDIO_EXTENSIONS: &[&str] = &["mp3", "flac", "ogg", "oga", "wav"];
/// How many files `publish_paths` publishes between index commits.
pub const PUBLISH_BATCH: usize = 64;

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

impl Library {
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
    pub(super) fn finish_batch(&self) {
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

    pub(super) fn publish_bytes(
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
        let id = TrackId::derive(&key.public(), &AudioId::derive(size, chunk_size, &chunks));
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

//! The publish flow: files and folders in, signed manifests and stored chunks out.
//!
//! A file is checked (a regular file, at most 4 GiB), probed from disk
//! ([`crate::media::probe_file`]), then read one chunk at a time: each chunk hashed with BLAKE3
//! and stored as it is read, so memory holds one chunk whatever the file's size. Then the
//! [`Manifest`] is signed with the artist key and committed with its "local" mark in one
//! transaction, and indexed. A file that fails any step, or a publish stopped by
//! [`Library::stop_publishing`], leaves nothing behind (see [`crate::Store`] for how an
//! interrupted write is swept).
//!
//! The cover comes from the file's embedded picture, else a `cover.*` or `folder.*` beside it
//! ([`crate::cover`]); it is checked before the manifest is signed and kept in the store before
//! the manifest is committed, so a local manifest never names a cover this peer lacks. An image
//! that fails the checks is refused with a [`CoverRefused`] naming it, and the audio is published
//! without a cover.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Library, lock};
use crate::cover::{self, CoverError};
use crate::error::{Error, PublishError, Result};
use crate::media;
use crate::model::{
    ArtistKeypair, ChunkHash, CoverRef, Manifest, ManifestDraft, TrackId, TrackInfo,
};
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
    /// A file's cover was refused (the audio is published without it); comes before that
    /// file's `Finished`.
    CoverRefused {
        /// The audio file.
        path: &'a Path,
        /// Its release.
        track: TrackId,
        /// Which image and why.
        refused: &'a CoverRefused,
    },
    /// One file finished, well or not.
    Finished(&'a std::result::Result<Manifest, PublishError>),
}

/// A cover image that publish refused: which one and why. The audio was published without a
/// cover.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cover {image} refused: {error}; published without a cover")]
pub struct CoverRefused {
    /// The image: its file name, or "the embedded picture".
    pub image: String,
    /// Why.
    pub error: CoverError,
}

/// The outcome of publishing one file: the manifest, and the cover refused on the way, if one
/// was.
pub type Published = (Manifest, Option<CoverRefused>);

impl Library {
    /// Publishes one file. On error the library is unchanged.
    pub fn publish_file(
        &self,
        path: &Path,
        options: &PublishOptions,
    ) -> std::result::Result<Manifest, PublishError> {
        self.publish_file_noting(path, options).map(|(m, _)| m)
    }

    /// [`Library::publish_file`], also saying which cover was refused, if one was.
    pub fn publish_file_noting(
        &self,
        path: &Path,
        options: &PublishOptions,
    ) -> std::result::Result<Published, PublishError> {
        let published = self.publish_one(path, options)?;
        self.finish_batch();
        Ok(published)
    }

    fn publish_one(
        &self,
        path: &Path,
        options: &PublishOptions,
    ) -> std::result::Result<Published, PublishError> {
        let fail = |source| PublishError {
            path: path.to_owned(),
            source: Box::new(source),
        };
        let fallback = self.config().artist_name;
        self.publish_from_disk(path, options, fallback.as_deref())
            .map_err(fail)
    }

    /// Publishes the regular file at `path` as a stream: probed from disk, then read chunk by
    /// chunk (see [`Library::write_track`]), so memory holds one chunk whatever the file's size.
    fn publish_from_disk(
        &self,
        path: &Path,
        options: &PublishOptions,
        fallback_artist: Option<&str>,
    ) -> Result<Published> {
        let meta = std::fs::metadata(path).map_err(Error::ReadFile)?;
        regular(&meta)?;
        self.store.ensure_space(meta.len())?;
        let mut probe = media::probe_file(path)?;
        let (found, refused) = pick_cover(probe.picture.take(), Some(path));
        let mut info = track_info(probe, options, fallback_artist);
        info.cover = found.as_ref().map(|(c, _)| *c);
        let file = std::fs::File::open(path).map_err(Error::ReadFile)?;
        let image = found.as_ref().map(|(c, bytes)| (c, bytes.as_slice()));
        let manifest = self.write_track(file, meta.len(), info, image, &self.artist, unix_now())?;
        Ok((manifest, refused))
    }

    /// Stops every publish in progress, and every later one, at its next chunk: the files
    /// already published stay, the one in progress leaves nothing behind, the rest are not
    /// started (Ctrl-C on `busker publish`, a node shutting down).
    pub fn stop_publishing(&self) {
        self.stop_publishing
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn publish_cancelled(&self) -> bool {
        self.stop_publishing
            .load(std::sync::atomic::Ordering::Relaxed)
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
        let mut walk = Walk::default();
        for path in paths {
            if path.is_dir() {
                if let Err(e) = walk.folder(path, usize::MAX) {
                    walk.skip(path, e);
                }
            } else {
                // A file named on the command line is published whatever its extension.
                walk.files.push(path.clone());
            }
        }
        let Walk { files, skipped, .. } = walk;
        let mut results: Vec<_> = skipped.into_iter().map(Err).collect();
        on_event(PublishEvent::Found(files.len()));
        for e in &results {
            on_event(PublishEvent::Finished(e));
        }
        for (i, file) in files.iter().enumerate() {
            if self.publish_cancelled() {
                tracing::info!(left = files.len() - i, "publishing stopped");
                break;
            }
            let result = self.publish_one(file, options);
            if (i + 1) % PUBLISH_BATCH == 0 {
                self.finish_batch();
            }
            if let Ok((manifest, Some(refused))) = &result {
                on_event(PublishEvent::CoverRefused {
                    path: file,
                    track: manifest.id(),
                    refused,
                });
            }
            let result = result.map(|(manifest, _)| manifest);
            on_event(PublishEvent::Finished(&result));
            results.push(result);
        }
        self.finish_batch();
        results
    }

    /// Publishes bytes already in memory (the embedded demo library), with `cover` as its cover
    /// when the file embeds none.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn publish_bytes(
        &self,
        bytes: &[u8],
        cover: Option<&[u8]>,
        name: &Path,
        key: &ArtistKeypair,
        options: &PublishOptions,
        fallback_artist: Option<&str>,
        published_at: u64,
    ) -> Result<Manifest> {
        let size = bytes.len() as u64;
        self.store.ensure_space(size)?;
        let mut probe = media::probe(bytes.to_vec(), name)?;
        let picture = probe.picture.take().or_else(|| cover.map(<[u8]>::to_vec));
        let (found, refused) = pick_cover(picture, None);
        if let Some(refused) = refused {
            tracing::warn!(file = %name.display(), %refused, "cover refused");
        }
        let mut info = track_info(probe, options, fallback_artist);
        info.cover = found.as_ref().map(|(c, _)| *c);
        let image = found.as_ref().map(|(c, bytes)| (c, bytes.as_slice()));
        self.write_track(bytes, size, info, image, key, published_at)
    }

    /// Reads `size` bytes from `source` one chunk at a time, hashing each chunk and writing it
    /// to a new blob file as it is read, then signs the manifest and commits it with its local
    /// mark in one transaction. A failure, a stop ([`Library::stop_publishing`]) or a source
    /// that is not `size` bytes long removes the file; a duplicate keeps the blob already
    /// there.
    fn write_track(
        &self,
        mut source: impl Read,
        size: u64,
        info: TrackInfo,
        cover: Option<(&CoverRef, &[u8])>,
        key: &ArtistKeypair,
        published_at: u64,
    ) -> Result<Manifest> {
        let chunk_size = crate::model::chunk_size_for(size)
            .filter(|_| size > 0)
            .ok_or(Error::BadFileSize(size))?;
        let _guard = lock(&self.publishing);
        // The flag stays set until the batch is flushed: a crash before that sweeps whatever
        // chunks no committed manifest references.
        self.store.begin_write()?;
        let written =
            self.write_chunks(&mut source, size, chunk_size)
                .and_then(|(chunks, blob)| {
                    let manifest = ManifestDraft {
                        info,
                        file_size: size,
                        chunk_size,
                        chunks,
                        published_at,
                    }
                    .sign(key);
                    blob.finish(&manifest.audio_id())?;
                    if let Some((cover, bytes)) = cover {
                        self.store.put_cover(cover, bytes)?;
                    }
                    self.store.commit_local_track(&manifest)?;
                    Ok(manifest)
                });
        match written {
            Ok(manifest) => {
                if let Err(e) = self.index.add_uncommitted(std::slice::from_ref(&manifest)) {
                    tracing::warn!(error = %e, "published but not indexed yet");
                }
                Ok(manifest)
            }
            Err(e @ Error::Duplicate(_)) => Err(e),
            Err(e) => {
                // Sweep this file's blob now rather than at the next start.
                if let Err(gc) = self.store.collect_garbage() {
                    tracing::warn!(error = %gc, "could not sweep after a failed publish");
                }
                Err(e)
            }
        }
    }

    /// Writes `source` to a new blob file as it is read; the chunks' hashes, in order, and the
    /// file for [`crate::BlobWriter::finish`] to move into place once the audio id is known.
    fn write_chunks(
        &self,
        source: &mut impl Read,
        size: u64,
        chunk_size: u32,
    ) -> Result<(Vec<ChunkHash>, crate::BlobWriter)> {
        let mut blob = self.store.blob_writer()?;
        let mut buf = vec![0u8; chunk_size as usize];
        let mut chunks = Vec::with_capacity(size.div_ceil(u64::from(chunk_size)) as usize);
        let mut total = 0u64;
        loop {
            let n = read_full(source, &mut buf).map_err(Error::ReadFile)?;
            if n == 0 {
                break;
            }
            if self.publish_cancelled() {
                return Err(Error::Cancelled);
            }
            total += n as u64;
            if total > size {
                return Err(Error::BadFileSize(total));
            }
            chunks.push(ChunkHash::of(&buf[..n]));
            blob.write(&buf[..n])?;
        }
        if total != size {
            return Err(Error::ReadFile(std::io::Error::other(
                "the file changed while it was read",
            )));
        }
        Ok((chunks, blob))
    }
}

/// The tags a probe found, under the user's overrides; the artist falls back to
/// `fallback_artist`, then "Unknown artist".
fn track_info(
    probe: media::Probe,
    options: &PublishOptions,
    fallback_artist: Option<&str>,
) -> TrackInfo {
    let mut info = probe.info;
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
    info
}

/// The cover of a file: its embedded `picture`, else the `cover.*` / `folder.*` beside
/// `audio` (when publishing from disk), the first one that passes [`cover::check`], with its
/// bytes. When none passes, the first refusal, naming its image.
fn pick_cover(
    picture: Option<Vec<u8>>,
    audio: Option<&Path>,
) -> (Option<(CoverRef, Vec<u8>)>, Option<CoverRefused>) {
    let mut refused = None;
    let embedded = picture.map(|bytes| ("the embedded picture".to_owned(), Ok(bytes)));
    let beside = audio.and_then(cover::beside).map(|file| {
        let name = file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        (name, cover::read_file(&file))
    });
    for (image, bytes) in embedded.into_iter().chain(beside) {
        match bytes.and_then(|b| cover::check(&b).map(|c| (c, b))) {
            Ok(found) => return (Some(found), None),
            Err(error) => {
                refused.get_or_insert(CoverRefused { image, error });
            }
        }
    }
    (None, refused)
}

/// Reads until `buf` is full or the source ends; how many bytes were read.
fn read_full(source: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Whether `path` has one of the [`AUDIO_EXTENSIONS`] (any case).
pub fn is_audio_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The audio files under `dir`, recursively, in path order, skipping hidden entries and what is
/// not a regular file; at most `limit` of them (a guard against scanning a whole disk from a UI).
pub fn audio_files(dir: &Path, limit: usize) -> Result<Vec<PathBuf>> {
    let mut walk = Walk::default();
    walk.folder(dir, limit)?;
    Ok(walk.files)
}

/// A walk of the folders to publish: the audio files found, and one error for each entry that
/// will not be published (a FIFO, device or socket, never opened; a symbolic link loop, entered
/// once).
#[derive(Default)]
struct Walk {
    files: Vec<PathBuf>,
    skipped: Vec<PublishError>,
    /// Folders entered, by device and inode, so that a link back up is entered once.
    entered: std::collections::HashSet<(u64, u64)>,
}

impl Walk {
    fn skip(&mut self, path: &Path, source: Error) {
        self.skipped.push(PublishError {
            path: path.to_owned(),
            source: Box::new(source),
        });
    }

    fn folder(&mut self, dir: &Path, limit: usize) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(dir).map_err(|e| Error::io(dir, e))?;
        if !self.entered.insert((meta.dev(), meta.ino())) {
            self.skip(dir, Error::SymlinkLoop);
            return Ok(());
        }
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            if self.files.len() >= limit {
                break;
            }
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if hidden {
                continue;
            }
            // Follows symbolic links: a link to a folder is walked, a link to a device skipped.
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => self.folder(&path, limit)?,
                Ok(_) if !is_audio_file(&path) => {}
                Ok(m) => match regular(&m) {
                    Ok(()) => self.files.push(path),
                    Err(e) => self.skip(&path, e),
                },
                Err(e) => self.skip(&path, Error::ReadFile(e)),
            }
        }
        Ok(())
    }
}

/// The largest file a manifest can describe.
pub const MAX_PUBLISH_BYTES: u64 =
    crate::model::MAX_CHUNKS as u64 * crate::model::MAX_CHUNK_SIZE as u64;

/// Whether `meta` is a regular file that may be published: not a FIFO, device or socket (which
/// are never opened: reading one may block for ever or never end), nor larger than a manifest
/// can describe.
fn regular(meta: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let kind = if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else if !t.is_file() {
        "not a file"
    } else if meta.len() == 0 || meta.len() > MAX_PUBLISH_BYTES {
        return Err(Error::BadFileSize(meta.len()));
    } else {
        return Ok(());
    };
    Err(Error::NotARegularFile(kind))
}

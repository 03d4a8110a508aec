//! Audio bytes as plain files beside the database, one file per audio content.
//!
//! Layout under the data dir's `blobs/`:
//! - `ab/abcd…`: the whole file of one audio content, named by its [`AudioId`] in hex (its first
//!   two digits as a folder, so no folder grows past a few thousand entries). A blob is written
//!   once, synced, then renamed into place: it is complete or absent, never half there;
//! - `partial/abcd…`: a download in progress, a sparse file of the full size; the `verified` tree
//!   lists which of its chunks arrived and matched their hash (key: audio id, chunk index);
//! - `tmp/`: files being published, renamed into place when complete (swept at open).
//!
//! Two releases of the same audio (a re-signed copy) share one blob. Every chunk is checked
//! against its BLAKE3 hash when it is stored and again each time it is read, so a file damaged
//! on disk is never played nor served: the damaged blob is dropped and the track stops being
//! local, so that it is fetched again.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::Store;
use crate::error::{Error, Result};
use crate::model::{AudioId, ChunkHash, Manifest};

/// Open file handles, so that reading or writing a chunk is one positional call.
const MAX_OPEN: usize = 64;

/// Where the blobs live, and the files held open.
#[derive(Debug)]
pub(super) struct Blobs {
    root: PathBuf,
    readers: Mutex<HashMap<AudioId, Arc<File>>>,
    partials: Mutex<HashMap<AudioId, Arc<File>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Blobs {
    /// The blob folders under `root`; files a crashed publish left in `tmp/` are removed.
    pub(super) fn open(root: &Path) -> Result<Self> {
        let tmp = root.join("tmp");
        for dir in [root.to_owned(), root.join("partial"), tmp.clone()] {
            fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        for entry in fs::read_dir(&tmp).map_err(|e| Error::io(&tmp, e))? {
            let path = entry.map_err(|e| Error::io(&tmp, e))?.path();
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
        Ok(Self {
            root: root.to_owned(),
            readers: Mutex::default(),
            partials: Mutex::default(),
        })
    }

    pub(super) fn complete_path(&self, audio: &AudioId) -> PathBuf {
        let hex = audio.to_hex();
        self.root.join(&hex[..2]).join(&hex)
    }

    fn partial_path(&self, audio: &AudioId) -> PathBuf {
        self.root.join("partial").join(audio.to_hex())
    }

    pub(super) fn has(&self, audio: &AudioId) -> bool {
        self.complete_path(audio).is_file()
    }

    /// The complete blob of `audio`, open for reading, if it is here.
    fn reader(&self, audio: &AudioId) -> Result<Option<Arc<File>>> {
        if let Some(file) = lock(&self.readers).get(audio) {
            return Ok(Some(file.clone()));
        }
        let path = self.complete_path(audio);
        let file = match File::open(&path) {
            Ok(file) => Arc::new(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut readers = lock(&self.readers);
        if readers.len() >= MAX_OPEN {
            readers.clear();
        }
        readers.insert(*audio, file.clone());
        Ok(Some(file))
    }

    /// The partial file of `audio`, created at its full size when new.
    fn partial(&self, audio: &AudioId, size: u64) -> Result<Arc<File>> {
        let mut partials = lock(&self.partials);
        if let Some(file) = partials.get(audio) {
            return Ok(file.clone());
        }
        let path = self.partial_path(audio);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        if file.metadata().map_err(|e| Error::io(&path, e))?.len() != size {
            // Sparse: only the chunks written take room.
            file.set_len(size).map_err(|e| Error::io(&path, e))?;
        }
        if partials.len() >= MAX_OPEN {
            partials.clear();
        }
        let file = Arc::new(file);
        partials.insert(*audio, file.clone());
        Ok(file)
    }

    /// The partial file of `audio`, if there is one (never created here).
    fn partial_for_reading(&self, audio: &AudioId) -> Result<Option<Arc<File>>> {
        if let Some(file) = lock(&self.partials).get(audio) {
            return Ok(Some(file.clone()));
        }
        let path = self.partial_path(audio);
        match File::open(&path) {
            Ok(file) => Ok(Some(Arc::new(file))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Makes the partial file of `audio` durable and moves it into place as complete.
    fn complete_partial(&self, audio: &AudioId) -> Result<()> {
        let from = self.partial_path(audio);
        let file = lock(&self.partials).remove(audio);
        let file = match file {
            Some(file) => file,
            None => Arc::new(File::open(&from).map_err(|e| Error::io(&from, e))?),
        };
        file.sync_all().map_err(|e| Error::io(&from, e))?;
        self.move_into_place(&from, audio)
    }

    /// Renames a synced file to the blob of `audio` and syncs the folder, so that the name
    /// survives a power cut. A blob already there (the same audio, stored twice) wins.
    fn move_into_place(&self, from: &Path, audio: &AudioId) -> Result<()> {
        let to = self.complete_path(audio);
        let Some(dir) = to.parent() else {
            return Err(Error::io(&to, std::io::Error::other("no parent folder")));
        };
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        if to.is_file() {
            return fs::remove_file(from).map_err(|e| Error::io(from, e));
        }
        fs::rename(from, &to).map_err(|e| Error::io(&to, e))?;
        sync_dir(dir)
    }

    /// Removes the blob of `audio` (complete and partial), closing its handles.
    pub(super) fn remove(&self, audio: &AudioId) -> Result<()> {
        lock(&self.readers).remove(audio);
        lock(&self.partials).remove(audio);
        for path in [self.complete_path(audio), self.partial_path(audio)] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        Ok(())
    }

    /// Every audio id with a complete (`false`) or partial (`true`) file here.
    pub(super) fn list(&self) -> Result<Vec<(AudioId, bool)>> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.root).map_err(|e| Error::io(&self.root, e))?;
        for entry in entries {
            let dir = entry.map_err(|e| Error::io(&self.root, e))?.path();
            let partial = dir.file_name().is_some_and(|n| n == "partial");
            if !dir.is_dir() || dir.file_name().is_some_and(|n| n == "tmp") {
                continue;
            }
            out.extend(audio_files(&dir)?.into_iter().map(|a| (a, partial)));
        }
        Ok(out)
    }

    /// Every audio id with a partial file here (only the `partial/` folder is read).
    fn partial_ids(&self) -> Result<Vec<AudioId>> {
        audio_files(&self.root.join("partial"))
    }
}

/// The audio ids named by the files in `dir`.
fn audio_files(dir: &Path) -> Result<Vec<AudioId>> {
    let mut out = Vec::new();
    for file in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let name = file.map_err(|e| Error::io(dir, e))?.file_name();
        if let Some(audio) = name.to_str().and_then(|n| n.parse::<AudioId>().ok()) {
            out.push(audio);
        }
    }
    Ok(out)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(unix)]
fn write_at(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(windows)]
fn write_at(file: &File, mut buf: &[u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(file, buf, offset)?;
        buf = &buf[n..];
        offset += n as u64;
    }
    Ok(())
}

/// The `verified` key of chunk `index` of `audio`.
fn verified_key(audio: &AudioId, index: usize) -> [u8; 36] {
    let mut key = [0; 36];
    key[..32].copy_from_slice(audio.as_bytes());
    key[32..].copy_from_slice(&(index as u32).to_be_bytes());
    key
}

fn offset(manifest: &Manifest, index: usize) -> u64 {
    index as u64 * u64::from(manifest.chunk_size())
}

/// A file being published: written chunk by chunk to `blobs/tmp/`, moved into place by
/// [`BlobWriter::finish`]. Dropped unfinished, it removes its file.
#[derive(Debug)]
pub struct BlobWriter {
    store: Store,
    file: Option<File>,
    path: PathBuf,
}

impl BlobWriter {
    /// Appends the next chunk.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        file.write_all(bytes).map_err(|e| Error::io(&self.path, e))
    }

    /// Syncs the file and makes it the blob of `audio`.
    pub fn finish(mut self, audio: &AudioId) -> Result<()> {
        if let Some(file) = self.file.take() {
            file.sync_all().map_err(|e| Error::io(&self.path, e))?;
        }
        self.store.blobs.move_into_place(&self.path, audio)
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Store {
    /// A writer for a file being published, in `blobs/tmp/`.
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let name = format!("{:016x}", self.db.generate_id()?);
        let path = self.blobs.root.join("tmp").join(name);
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(BlobWriter {
            store: self.clone(),
            file: Some(file),
            path,
        })
    }

    /// Chunk `index` of `manifest`'s audio, read from its blob and checked against its hash; `None`
    /// when it is not here. A chunk that no longer matches (the file was damaged on disk) is
    /// never returned: the damaged blob is dropped, the track is no longer local, and the
    /// error says so.
    pub fn chunk(&self, manifest: &Manifest, index: usize) -> Result<Option<Vec<u8>>> {
        let Some(hash) = manifest.chunks().get(index) else {
            return Ok(None);
        };
        let audio = manifest.audio_id();
        let mut buf = vec![0; manifest.chunk_len(index)];
        let at = offset(manifest, index);
        let complete = match self.blobs.reader(&audio)? {
            Some(file) => {
                let path = || self.blobs.complete_path(&audio);
                read_at(&file, &mut buf, at).map_err(|e| Error::io(path(), e))?;
                true
            }
            None => {
                let key = verified_key(&audio, index);
                if !self.verified.contains_key(key)? {
                    return Ok(None);
                }
                let Some(file) = self.blobs.partial_for_reading(&audio)? else {
                    return self.chunk_from_complete(manifest, index);
                };
                if read_at(&file, &mut buf, at).is_err() {
                    // Completed in between: the blob is in place now.
                    return self.chunk_from_complete(manifest, index);
                }
                false
            }
        };
        if ChunkHash::of(&buf) == *hash {
            return Ok(Some(buf));
        }
        tracing::warn!(track = %manifest.id(), index, "a stored chunk no longer matches its hash");
        if complete {
            self.drop_damaged(&audio)?;
        } else {
            self.verified.remove(verified_key(&audio, index))?;
        }
        Err(Error::Damaged(format!(
            "chunk {index} of {} changed on disk; the track will be fetched again",
            manifest.id()
        )))
    }

    fn chunk_from_complete(&self, manifest: &Manifest, index: usize) -> Result<Option<Vec<u8>>> {
        if self.blobs.has(&manifest.audio_id()) {
            self.chunk(manifest, index)
        } else {
            Ok(None)
        }
    }

    /// Forgets a damaged blob: every release of its audio stops being local.
    fn drop_damaged(&self, audio: &AudioId) -> Result<()> {
        self.blobs.remove(audio)?;
        for id in self.local_ids()? {
            if self.manifest(&id)?.is_some_and(|m| m.audio_id() == *audio) {
                self.local.remove(id.as_bytes())?;
            }
        }
        Ok(())
    }

    /// Whether chunk `index` of `manifest`'s audio is here.
    pub fn has_chunk(&self, manifest: &Manifest, index: usize) -> Result<bool> {
        let audio = manifest.audio_id();
        Ok(self.blobs.has(&audio) || self.verified.contains_key(verified_key(&audio, index))?)
    }

    /// Whether the whole audio of `manifest` is here.
    pub fn has_audio(&self, audio: &AudioId) -> bool {
        self.blobs.has(audio)
    }

    /// The file that holds the whole audio of `manifest`, when it is here: the published
    /// file's exact bytes, which any player can open (playlist exports point at it).
    pub fn audio_file(&self, manifest: &Manifest) -> Option<PathBuf> {
        let audio = manifest.audio_id();
        self.blobs
            .has(&audio)
            .then(|| self.blobs.complete_path(&audio))
    }

    /// Stores chunk `index` of a download after checking it against the manifest. A chunk that
    /// does not match is refused: nothing unverified is ever stored.
    pub fn put_chunk(&self, manifest: &Manifest, index: usize, bytes: &[u8]) -> Result<()> {
        if manifest.chunks().get(index) != Some(&ChunkHash::of(bytes)) {
            return Err(Error::Decode(crate::wire::DecodeError::Invalid(
                "chunk does not match its hash",
            )));
        }
        self.put_verified_chunk(manifest, index, bytes)
    }

    /// Stores chunk `index` whose hash the caller has just checked against the manifest (a
    /// download checks each chunk as it arrives), so that the hot path hashes every byte once.
    /// The bytes go to the partial file first and the mark to the database after, so that a
    /// crash can lose a chunk but never mark one that is not written.
    pub(crate) fn put_verified_chunk(
        &self,
        manifest: &Manifest,
        index: usize,
        bytes: &[u8],
    ) -> Result<()> {
        debug_assert_eq!(manifest.chunks().get(index), Some(&ChunkHash::of(bytes)));
        let audio = manifest.audio_id();
        if self.blobs.has(&audio) {
            return Ok(());
        }
        let at = offset(manifest, index);
        self.write_partial(&audio, manifest.file_size(), index, at, bytes)
    }

    /// Writes chunk `index` (at byte `at`) to the partial file of `audio`, then marks it.
    pub(super) fn write_partial(
        &self,
        audio: &AudioId,
        file_size: u64,
        index: usize,
        at: u64,
        bytes: &[u8],
    ) -> Result<()> {
        let file = self.blobs.partial(audio, file_size)?;
        write_at(&file, bytes, at).map_err(|e| Error::io(self.blobs.partial_path(audio), e))?;
        self.verified.insert(verified_key(audio, index), &[])?;
        Ok(())
    }

    /// Syncs the partial file of `audio`, if there is one, so that its marks can be trusted.
    pub(super) fn sync_partial(&self, audio: &AudioId) -> Result<()> {
        let file = lock(&self.blobs.partials).get(audio).cloned();
        match file {
            Some(file) => file
                .sync_all()
                .map_err(|e| Error::io(self.blobs.partial_path(audio), e)),
            None => Ok(()),
        }
    }

    /// Watches for chunk `index` of `manifest`'s audio: the subscriber sees its mark inserted
    /// when it arrives, and removed when the download completes. Subscribe before checking
    /// [`Store::has_chunk`] so that no arrival is missed in between.
    pub(crate) fn watch_chunk(&self, manifest: &Manifest, index: usize) -> sled::Subscriber {
        self.verified
            .watch_prefix(verified_key(&manifest.audio_id(), index))
    }

    /// Makes the audio of `manifest` complete when every chunk has arrived: the partial file is
    /// synced and moved into place, then its marks are dropped. Whether the blob is here.
    pub(super) fn complete_audio(&self, manifest: &Manifest) -> Result<bool> {
        let audio = manifest.audio_id();
        if self.blobs.has(&audio) {
            return Ok(true);
        }
        for index in 0..manifest.chunks().len() {
            if !self.verified.contains_key(verified_key(&audio, index))? {
                return Ok(false);
            }
        }
        self.blobs.complete_partial(&audio)?;
        self.forget_verified(&audio)?;
        Ok(true)
    }

    fn forget_verified(&self, audio: &AudioId) -> Result<()> {
        for key in self.verified.scan_prefix(audio.as_bytes()).keys() {
            self.verified.remove(key?)?;
        }
        Ok(())
    }

    /// Removes the partial files (and marks) of audio that is complete: what a chunk arriving
    /// as its download completed can leave.
    pub(super) fn sweep_completed_partials(&self) -> Result<()> {
        for audio in self.blobs.partial_ids()? {
            if self.blobs.has(&audio) {
                lock(&self.blobs.partials).remove(&audio);
                let path = self.blobs.partial_path(&audio);
                fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                self.forget_verified(&audio)?;
            }
        }
        Ok(())
    }

    /// Removes every blob, partial file and mark whose audio is not in `referenced`. How many
    /// blobs were removed.
    pub(super) fn sweep_blobs(
        &self,
        referenced: &std::collections::HashSet<AudioId>,
    ) -> Result<usize> {
        let mut removed = 0;
        for (audio, _) in self.blobs.list()? {
            if !referenced.contains(&audio) {
                self.blobs.remove(&audio)?;
                removed += 1;
            }
        }
        let mut stale = Vec::new();
        for key in self.verified.iter().keys() {
            let key = key?;
            let audio = key.get(..32).and_then(|a| <[u8; 32]>::try_from(a).ok());
            if audio.is_none_or(|a| !referenced.contains(&AudioId(a))) {
                stale.push(key);
            }
        }
        for key in stale {
            self.verified.remove(key)?;
        }
        Ok(removed)
    }

    /// How many complete blobs are stored.
    pub fn blob_count(&self) -> Result<usize> {
        Ok(self.blobs.list()?.iter().filter(|(_, p)| !p).count())
    }

    /// Writes the whole file of a local track to `out` (through a temporary name, synced, then
    /// renamed), every chunk checked on the way; memory stays one chunk whatever the size.
    pub fn export_audio(&self, manifest: &Manifest, out: &Path) -> Result<()> {
        let tmp = out.with_extension("part");
        let mut file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let written = (0..manifest.chunks().len()).try_for_each(|index| {
            let chunk = self
                .chunk(manifest, index)?
                .ok_or(Error::UnknownTrack(manifest.id()))?;
            file.write_all(&chunk).map_err(|e| Error::io(&tmp, e))
        });
        let synced = written.and_then(|()| file.sync_all().map_err(|e| Error::io(&tmp, e)));
        if let Err(e) = synced {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, out).map_err(|e| Error::io(out, e))
    }
}

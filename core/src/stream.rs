//! Streaming a track from the chunk store: the byte source the decoder reads while chunks arrive.
//!
//! [`ChunkSource`] reads a track's file chunk by chunk from the [`Store`]. When the chunk under
//! the read position is not here yet it tells a [`ChunkProvider`] (the transfer scheduler) which
//! chunk the playhead needs, then waits for the store to receive it, with a timeout and a
//! [`CancelToken`]. A seek moves the read position, so the first chunk requested after a seek is
//! the one the playhead jumped to. For local tracks the provider is never called.
//!
//! The wait watches the store's marks of verified chunks (sled `watch_prefix`), so a chunk
//! written by any thread through [`Store::put_chunk`] wakes the reader at once. A failed read carries a
//! [`SourceError`] and is kept in the source's [`FailureSlot`] (see [`StreamingSource`]), so the
//! decoder reports a chunk that did not come as such. [`crate::Player`] plays tracks through it;
//! [`crate::media`] decodes any source and knows nothing of the store.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::media::{FailureSlot, SourceError, StreamingSource};
use crate::model::{Manifest, TrackId};
use crate::store::Store;

/// What the player needs from the network: chunks of a track, the one under the playhead first.
///
/// Implementations must return quickly (queue the request, do not fetch inline): they are called
/// from the audio thread. A chunk that arrives is written to the [`Store`], which wakes the reader.
pub trait ChunkProvider: Send + Sync {
    /// The playhead needs chunk `index` of `manifest` and it is not in the store. Called before
    /// waiting and again every second of the wait (so a download that failed is started anew:
    /// make repeated calls cheap); a seek to a missing part calls it for the chunk sought first.
    fn need(&self, manifest: &Manifest, index: usize);

    /// The read position moved into chunk `index` (present or not): a hint for read-ahead.
    fn playhead(&self, _track: &TrackId, _index: usize) {}
}

/// A provider for a peer without network: nothing is fetched, missing chunks time out.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNetwork;

impl ChunkProvider for NoNetwork {
    fn need(&self, _manifest: &Manifest, _index: usize) {}
}

/// Cancels waits for chunks (a skip, a seek, a shutdown). Cheap to clone; clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels: every wait on this token returns [`SourceError::Cancelled`] promptly.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Makes the token usable again after a cancellation has been handled.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    /// Whether [`CancelToken::cancel`] was called (and not reset since).
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How long to wait for a missing chunk before giving up, by default.
pub const DEFAULT_CHUNK_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a wait looks at its cancel token.
const CANCEL_POLL: Duration = Duration::from_millis(20);

/// How often a wait looks in the store itself and asks the provider again. The store's events
/// are the fast path; this is the safety net when a download that was asked for failed or
/// stalled (the provider starts a new one) or an event was missed.
const RETRY_EVERY: Duration = Duration::from_millis(1000);

/// A track's file as `Read + Seek`, backed by the chunk store.
pub struct ChunkSource {
    store: Store,
    manifest: Arc<Manifest>,
    provider: Arc<dyn ChunkProvider>,
    cancel: CancelToken,
    timeout: Duration,
    pos: u64,
    current: Option<(usize, Arc<[u8]>)>,
    last_playhead: Option<usize>,
    failure: FailureSlot,
}

impl std::fmt::Debug for ChunkSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkSource")
            .field("track", &self.manifest.id())
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl ChunkSource {
    /// A source for `manifest`'s file that asks `provider` for missing chunks.
    pub fn new(store: Store, manifest: Arc<Manifest>, provider: Arc<dyn ChunkProvider>) -> Self {
        Self {
            store,
            manifest,
            provider,
            cancel: CancelToken::new(),
            timeout: DEFAULT_CHUNK_TIMEOUT,
            pos: 0,
            current: None,
            last_playhead: None,
            failure: FailureSlot::default(),
        }
    }

    /// Sets how long a read waits for a missing chunk.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Uses `cancel` to interrupt waits.
    pub fn with_cancel(mut self, cancel: CancelToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// The track.
    pub fn manifest(&self) -> &Arc<Manifest> {
        &self.manifest
    }

    /// Asks the provider for the first `count` chunks that are missing, without waiting (next
    /// track prefetch). Returns how many were requested.
    pub fn prefetch(&self, count: usize) -> usize {
        let mut asked = 0;
        for index in 0..self.manifest.chunks().len().min(count) {
            if !self.store.has_chunk(&self.manifest, index).unwrap_or(false) {
                self.provider.need(&self.manifest, index);
                asked += 1;
            }
        }
        asked
    }

    fn load(&mut self, index: usize) -> Result<Arc<[u8]>, SourceError> {
        if index >= self.manifest.chunks().len() {
            return Err(SourceError::Store(format!("no chunk {index}")));
        }
        let bytes = match self.read_chunk(index)? {
            Some(bytes) => bytes,
            None => self.wait(index)?,
        };
        if bytes.len() != self.manifest.chunk_len(index) {
            return Err(SourceError::Store(format!(
                "chunk {index} has {} bytes, the manifest says {}",
                bytes.len(),
                self.manifest.chunk_len(index)
            )));
        }
        Ok(bytes)
    }

    /// Chunk `index` from the store (checked against its hash there), if it is here.
    fn read_chunk(&self, index: usize) -> Result<Option<Arc<[u8]>>, SourceError> {
        match self.store.chunk(&self.manifest, index) {
            Ok(bytes) => Ok(bytes.map(Arc::from)),
            Err(e) => Err(SourceError::Store(e.to_string())),
        }
    }

    fn wait(&mut self, index: usize) -> Result<Arc<[u8]>, SourceError> {
        // Subscribe first, then look again: a chunk stored in between is seen either way.
        let mut events = self.store.watch_chunk(&self.manifest, index);
        if let Some(bytes) = self.read_chunk(index)? {
            return Ok(bytes);
        }
        tracing::debug!(track = %self.manifest.id(), index, "waiting for a chunk");
        self.provider.need(&self.manifest, index);
        let deadline = Instant::now() + self.timeout;
        let mut next_retry = Instant::now() + RETRY_EVERY;
        loop {
            if self.cancel.is_cancelled() {
                return Err(SourceError::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(SourceError::Timeout {
                    index,
                    timeout_ms: self.timeout.as_millis() as u64,
                });
            }
            if now >= next_retry {
                next_retry = now + RETRY_EVERY;
                if let Some(bytes) = self.read_chunk(index)? {
                    return Ok(bytes);
                }
                self.provider.need(&self.manifest, index);
            }
            // An insert is the chunk's mark, written after its bytes; a remove is the download
            // completing, after its blob is in place: either way the chunk can be read now.
            // sled 0.34 says `Disconnected` when a write to the watched key has begun but not
            // finished within the timeout (`OneShot::wait_timeout`); it keeps that write and
            // hands its event to the next call, so this is "not yet". A real disconnect cannot
            // happen: `self.store` keeps the database open.
            if events.next_timeout(CANCEL_POLL.min(deadline - now)).is_ok()
                && let Some(bytes) = self.read_chunk(index)?
            {
                return Ok(bytes);
            }
        }
    }
}

impl Read for ChunkSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.manifest.file_size();
        if buf.is_empty() || self.pos >= size {
            return Ok(0);
        }
        let chunk_size = self.manifest.chunk_size() as u64;
        let index = (self.pos / chunk_size) as usize;
        if self.last_playhead != Some(index) {
            self.last_playhead = Some(index);
            self.provider.playhead(&self.manifest.id(), index);
        }
        let bytes = match &self.current {
            Some((i, bytes)) if *i == index => bytes.clone(),
            _ => {
                let bytes = self.load(index).map_err(|e| {
                    self.failure.set(&e);
                    io::Error::other(e)
                })?;
                self.current = Some((index, bytes.clone()));
                bytes
            }
        };
        let offset = (self.pos - index as u64 * chunk_size) as usize;
        let n = buf.len().min(bytes.len() - offset);
        buf[..n].copy_from_slice(&bytes[offset..offset + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for ChunkSource {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let size = self.manifest.file_size() as i128;
        let target = match to {
            SeekFrom::Start(n) => n as i128,
            SeekFrom::End(d) => size + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if target < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the track",
            ));
        }
        self.pos = target.min(u64::MAX as i128) as u64;
        Ok(self.pos)
    }
}

impl symphonia::core::io::MediaSource for ChunkSource {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.manifest.file_size())
    }
}

impl StreamingSource for ChunkSource {
    fn failures(&self) -> FailureSlot {
        self.failure.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Mutex;
    use std::sync::mpsc::{SyncSender, sync_channel};

    use super::*;
    use crate::media::{Pcm, TrackDecoder};
    use crate::model::{ArtistKeypair, ManifestDraft, TrackInfo, split_chunks};

    const WAV: &str = "opsound_manolo_camp-morning_coffee.wav";

    fn fixture() -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../assets/audio")
                .join(WAV),
        )
        .unwrap()
    }

    fn manifest_of(bytes: &[u8]) -> Manifest {
        let (chunk_size, chunks) = split_chunks(bytes).unwrap();
        ManifestDraft {
            info: TrackInfo {
                title: "Morning Coffee".into(),
                ..TrackInfo::default()
            },
            file_size: bytes.len() as u64,
            chunk_size,
            chunks,
            published_at: 0,
        }
        .sign(&ArtistKeypair::from_seed([3; 32]))
    }

    /// Records every `need` and hands it to the "network" thread.
    struct Recorder {
        asked: Mutex<Vec<usize>>,
        requests: SyncSender<usize>,
    }

    impl ChunkProvider for Recorder {
        fn need(&self, _manifest: &Manifest, index: usize) {
            self.asked.lock().unwrap().push(index);
            let _ = self.requests.try_send(index);
        }
    }

    fn samples(pcm: Pcm) -> Vec<i16> {
        match pcm {
            Pcm::I16(v) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_seek_into_a_missing_part_asks_for_that_chunk_first_and_resumes_on_the_sample() {
        let bytes = fixture();
        let m = Arc::new(manifest_of(&bytes));
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("db")).unwrap();
        store.put_manifest(&m).unwrap();
        // Only the first chunk (with the header) is here.
        store.put_chunk(&m, 0, &bytes[..m.chunk_len(0)]).unwrap();

        let (tx, rx) = sync_channel(16);
        let recorder = Arc::new(Recorder {
            asked: Mutex::new(Vec::new()),
            requests: tx,
        });
        let network_store = store.clone();
        let network_manifest = m.clone();
        let file = bytes.clone();
        std::thread::spawn(move || {
            for index in rx {
                let start = index * network_manifest.chunk_size() as usize;
                let chunk = &file[start..start + network_manifest.chunk_len(index)];
                network_store
                    .put_chunk(&network_manifest, index, chunk)
                    .unwrap();
            }
        });

        let source = ChunkSource::new(store, m.clone(), recorder.clone());
        let mut decoder = TrackDecoder::open(Box::new(source), Some("wav")).unwrap();
        assert!(
            recorder.asked.lock().unwrap().is_empty(),
            "the header was here"
        );

        // 60 s into an 8 kHz mono 16-bit file: byte 44 + 960,000, far past the first chunk.
        let target = 480_000u64;
        decoder.seek(target).unwrap();
        let block = decoder.next_block().unwrap().unwrap();
        let expected_chunk = ((44 + target * 2) / m.chunk_size() as u64) as usize;
        let asked = recorder.asked.lock().unwrap().clone();
        assert_eq!(asked.first(), Some(&expected_chunk), "asked {asked:?}");
        assert_eq!(
            block.start_frame, target,
            "playback resumes on the sample sought"
        );

        let mut reference = TrackDecoder::from_bytes(bytes, Some("wav")).unwrap();
        let mut all = Vec::new();
        while let Some(b) = reference.next_block().unwrap() {
            all.extend(samples(b.pcm));
        }
        let got = samples(block.pcm);
        assert_eq!(got[..], all[target as usize..target as usize + got.len()]);
    }

    #[test]
    fn a_wait_ends_promptly_on_cancel_and_on_timeout() {
        let bytes = fixture();
        let m = Arc::new(manifest_of(&bytes));
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("db")).unwrap();
        let cancel = CancelToken::new();
        cancel.cancel();
        let mut source = ChunkSource::new(store.clone(), m.clone(), Arc::new(NoNetwork))
            .with_cancel(cancel.clone());
        let err = source.read(&mut [0; 16]).unwrap_err();
        assert_eq!(SourceError::from_io(&err), Some(&SourceError::Cancelled));
        cancel.reset();
        let mut source =
            ChunkSource::new(store, m, Arc::new(NoNetwork)).with_timeout(Duration::from_millis(30));
        let err = source.read(&mut [0; 16]).unwrap_err();
        assert!(matches!(
            SourceError::from_io(&err),
            Some(SourceError::Timeout { index: 0, .. })
        ));
    }
    /// Loses the first request for each chunk, as a download that failed does, and serves the
    /// repeated one.
    struct LosesFirst {
        file: Vec<u8>,
        store: Store,
        asked: Mutex<Vec<usize>>,
    }

    impl ChunkProvider for LosesFirst {
        fn need(&self, manifest: &Manifest, index: usize) {
            let mut asked = self.asked.lock().unwrap();
            let again = asked.contains(&index);
            asked.push(index);
            if again {
                let start = index * manifest.chunk_size() as usize;
                let chunk = &self.file[start..start + manifest.chunk_len(index)];
                self.store.put_chunk(manifest, index, chunk).unwrap();
            }
        }
    }

    #[test]
    fn a_wait_asks_again_when_the_first_request_came_to_nothing() {
        let bytes = fixture();
        let m = Arc::new(manifest_of(&bytes));
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("db")).unwrap();
        let provider = Arc::new(LosesFirst {
            file: bytes.clone(),
            store: store.clone(),
            asked: Mutex::new(Vec::new()),
        });
        let mut source = ChunkSource::new(store, m, provider.clone());
        let mut head = [0u8; 44];
        source.read_exact(&mut head).unwrap();
        assert_eq!(head[..], bytes[..44]);
        assert_eq!(*provider.asked.lock().unwrap(), [0, 0]);
    }

    #[test]
    fn a_chunk_missing_while_the_format_is_probed_is_reported_as_such() {
        let bytes = fixture();
        let m = Arc::new(manifest_of(&bytes));
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("db")).unwrap();
        let source =
            ChunkSource::new(store, m, Arc::new(NoNetwork)).with_timeout(Duration::from_millis(30));
        let err = TrackDecoder::open_chunks(source, Some("wav")).unwrap_err();
        assert!(
            matches!(err, crate::media::MediaError::ChunkTimeout(0)),
            "{err}"
        );
    }
}

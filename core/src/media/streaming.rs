//! What the decoder needs from a source whose bytes are still arriving.
//!
//! A streaming source (the chunk store's [`crate::stream::ChunkSource`] is the one Busker has)
//! can fail a read for reasons the decoder must report as themselves rather than as damaged
//! audio: the data did not come in time, or the wait was cancelled. Such a source puts a
//! [`SourceError`] inside the `io::Error` it returns, and keeps its last one in a
//! [`FailureSlot`], because symphonia's probe reads through read errors as "no suitable format
//! reader". [`StreamingSource`] hands the decoder that slot; this module names no store.

use std::io;
use std::sync::{Arc, Mutex};

use symphonia::core::io::MediaSource;

/// Why a read from a streaming source failed. Carried inside the `io::Error` the decoder sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The chunk did not arrive in time; the track is not playable now (no provider has it).
    #[error("chunk {index} did not arrive within {timeout_ms} ms")]
    Timeout {
        /// The chunk waited for.
        index: usize,
        /// How long the source waited.
        timeout_ms: u64,
    },
    /// The wait was cancelled (skip, seek, shutdown).
    #[error("cancelled")]
    Cancelled,
    /// The store behind the source failed or holds a chunk of the wrong length.
    #[error("store: {0}")]
    Store(String),
}

impl SourceError {
    /// The `SourceError` inside an `io::Error` made by a streaming source, if it is one.
    pub fn from_io(e: &io::Error) -> Option<&SourceError> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<SourceError>())
    }
}

/// The last [`SourceError`] a streaming source returned, kept beside it for whoever reads through
/// a layer that swallows errors: symphonia's probe treats any read error as the end of the data
/// and reports "no suitable format reader", and [`FailureSlot::take`] gives the real cause.
#[derive(Debug, Clone, Default)]
pub struct FailureSlot(Arc<Mutex<Option<SourceError>>>);

impl FailureSlot {
    /// Keeps `e` as the last failure.
    pub fn set(&self, e: &SourceError) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
    }

    /// The last failure, if any, and clears it.
    pub fn take(&self) -> Option<SourceError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// A [`MediaSource`] that waits for its bytes and keeps its last failure, for
/// [`super::TrackDecoder::open_chunks`].
pub trait StreamingSource: MediaSource + 'static {
    /// Where the source keeps its last failure (shared, so it stays readable after the source
    /// has moved into the decoder).
    fn failures(&self) -> FailureSlot;
}

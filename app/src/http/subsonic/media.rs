//! `stream` and `download`: a song's published file, as it is (no transcoding), with HTTP
//! ranges. A song held here is read from its blob; one that only peers hold is fetched as it is
//! read, from the asked range first, each chunk checked against the signed manifest before a
//! byte of it is sent (the player's [`ChunkSource`] over the node's network provider).

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use busker_core::Node;
use busker_core::model::{Format, TrackId};
use busker_core::stream::{CancelToken, ChunkSource};

use super::{Answer, Failure, Params};

/// Bytes read per piece sent.
const PIECE: usize = 64 * 1024;
/// Pieces read ahead of a client that reads slowly.
const AHEAD: usize = 4;

/// The MIME type of a format.
pub(super) fn content_type(format: Format) -> &'static str {
    match format {
        Format::Mp3 => "audio/mpeg",
        Format::Flac => "audio/flac",
        Format::Ogg => "audio/ogg",
        Format::Wav => "audio/wav",
        Format::Other => "application/octet-stream",
    }
}

/// The song `id`, whole or the range the client asked for.
pub(super) async fn stream(
    node: &Node,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Answer, Failure> {
    let id: TrackId = params
        .need("id")?
        .parse()
        .map_err(|_| Failure::not_found("song"))?;
    let manifest = node
        .find_manifest(id)
        .await
        .map_err(|_| Failure::not_found("song"))?;
    let size = manifest.file_size();
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, size));
    let (start, end, status) = match range {
        None => (0, size, StatusCode::OK),
        Some(Some((start, end))) => (start, end, StatusCode::PARTIAL_CONTENT),
        Some(None) => {
            let refused = (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{size}"))],
            );
            return Ok(Answer::Bytes(refused.into_response()));
        }
    };
    let format = manifest.info().format;
    let source = ChunkSource::new(
        node.library().store().clone(),
        Arc::new(manifest),
        node.chunk_provider(),
    );
    let body = read_range(source, start, end);
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type(format))
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_LENGTH, end - start);
    if status == StatusCode::PARTIAL_CONTENT {
        response = response.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{size}", end - 1),
        );
    }
    response
        .body(body)
        .map(Answer::Bytes)
        .map_err(|e| Failure::new(0, e.to_string()))
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N` as a half-open range within `size`; `None` when it
/// asks for nothing that exists (a range list is served as its first range).
fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value
        .trim()
        .strip_prefix("bytes=")?
        .split(',')
        .next()?
        .trim();
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => (size.saturating_sub(n.parse().ok()?), size),
        (a, "") => (a.parse().ok()?, size),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.saturating_add(1).min(size),
        ),
    };
    (start < end && start < size).then_some((start, end))
}

/// A body that reads `start..end` of `source` on the blocking pool, a few pieces ahead of the
/// client. The reading stops when the client goes (the body is dropped).
fn read_range(source: ChunkSource, start: u64, end: u64) -> Body {
    let cancel = CancelToken::new();
    let mut source = source.with_cancel(cancel.clone());
    let (tx, rx) = futures::channel::mpsc::channel::<std::io::Result<Bytes>>(AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut tx = tx;
        let send = |tx: &mut futures::channel::mpsc::Sender<_>, item| {
            futures::executor::block_on(futures::SinkExt::send(tx, item)).is_ok()
        };
        if let Err(e) = source.seek(SeekFrom::Start(start)) {
            send(&mut tx, Err(e));
            return;
        }
        let mut left = end - start;
        while left > 0 {
            let mut piece = vec![0; PIECE.min(left as usize)];
            match source.read(&mut piece) {
                Ok(0) => break,
                Ok(n) => {
                    piece.truncate(n);
                    left -= n as u64;
                    if !send(&mut tx, Ok(Bytes::from(piece))) {
                        break;
                    }
                }
                Err(e) => {
                    send(&mut tx, Err(e));
                    break;
                }
            }
        }
    });
    Body::from_stream(Guarded { rx, cancel })
}

/// The pieces, and the token that stops the reader's waits when the client goes away.
struct Guarded {
    rx: futures::channel::mpsc::Receiver<std::io::Result<Bytes>>,
    cancel: CancelToken,
}

impl futures::Stream for Guarded {
    type Item = std::io::Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.rx).poll_next(cx)
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_clients_send_them() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some((0, 100)));
        assert_eq!(parse_range("bytes=900-", 1000), Some((900, 1000)));
        assert_eq!(parse_range("bytes=-100", 1000), Some((900, 1000)));
        assert_eq!(parse_range("bytes=990-2000", 1000), Some((990, 1000)));
        assert_eq!(parse_range("bytes=0-1, 5-9", 1000), Some((0, 2)));
        assert_eq!(parse_range("bytes=1000-", 1000), None);
        assert_eq!(parse_range("bytes=5-2", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
    }
}

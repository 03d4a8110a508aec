//! The transfer protocol `/busker/transfer/2`: a track's manifest by id, and ranges of its
//! chunks, in the canonical [`crate::wire`] encoding.
//!
//! Every body starts with [`PROTOCOL_VERSION`] and a tag byte (the tags and fields are those
//! of `/busker/transfer/1`, which also carried the catalog, taste and radio messages before
//! each service got its own protocol). The network checks each frame's length against
//! [`MAX_REQUEST_BYTES`] or [`MAX_RESPONSE_BYTES`] before reading it, and [`Request::decode`]
//! and [`Response::decode`] reject anything that does not fit with a [`DecodeError`], never a
//! panic. A peer serves what its [`Source`] holds (the store, see [`offer`]); chunks and manifests are
//! unverified until the asking side checks them against the manifest and its id.

use std::sync::Arc;

use libp2p::{PeerId, StreamProtocol};

use crate::error::Result;
use crate::model::{MAX_CHUNK_SIZE, MAX_MANIFEST_BYTES, TrackId};
use crate::net::{self, Client, Reply};
use crate::store::Store;
use crate::wire::{DecodeError, Envelope};

/// The protocol name negotiated on every transfer stream.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/busker/transfer/3");
/// Version byte at the start of every request and response body.
pub const PROTOCOL_VERSION: u8 = 1;
/// Largest request body.
pub const MAX_REQUEST_BYTES: usize = 1024;
/// Most bytes of chunk data one response carries (a peer asks for fewer chunks when they are big).
pub const MAX_CHUNK_DATA: usize = 4 * 1024 * 1024;
/// Most chunks one request may ask for.
pub const MAX_CHUNKS_PER_REQUEST: u16 = 64;
/// Largest response body: the most chunk data, with room for framing.
pub const MAX_RESPONSE_BYTES: usize = MAX_CHUNK_DATA + 64 * 1024;

const _: () = assert!(MAX_MANIFEST_BYTES + 8 <= MAX_RESPONSE_BYTES);
const _: () = assert!(MAX_CHUNK_SIZE as usize <= MAX_CHUNK_DATA);

/// What one peer asks another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The signed manifest of a track.
    Manifest(TrackId),
    /// Chunks `start..start + count` of a track.
    Chunks {
        /// The track.
        track: TrackId,
        /// Index of the first chunk.
        start: u32,
        /// How many chunks (at most [`MAX_CHUNKS_PER_REQUEST`]).
        count: u16,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The encoded manifest, or `None` when unknown. The receiver decodes and verifies it.
    Manifest(Option<Vec<u8>>),
    /// The chunks from `start` that the peer holds, in order, possibly fewer than asked for
    /// (it stops at the first missing chunk or at [`MAX_CHUNK_DATA`]). Unverified until checked
    /// against the manifest.
    Chunks {
        /// Index of the first chunk returned.
        start: u32,
        /// Chunk bytes.
        chunks: Vec<Vec<u8>>,
    },
    /// The request was refused (too busy, over the peer's rate).
    Refused,
}

const TAG_MANIFEST: u8 = 1;
const TAG_CHUNKS: u8 = 2;
const TAG_REFUSED: u8 = 5;

const REQUEST: Envelope = Envelope::new(PROTOCOL_VERSION, MAX_REQUEST_BYTES);
const RESPONSE: Envelope = Envelope::new(PROTOCOL_VERSION, MAX_RESPONSE_BYTES);

impl Request {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Manifest(track) => {
                let mut w = REQUEST.writer(TAG_MANIFEST);
                w.raw(track.as_bytes());
                w.into_bytes()
            }
            Self::Chunks {
                track,
                start,
                count,
            } => {
                let mut w = REQUEST.writer(TAG_CHUNKS);
                w.raw(track.as_bytes());
                w.u32(*start);
                w.u16(*count);
                w.into_bytes()
            }
        }
    }

    /// Decodes a request body, rejecting anything out of its limits.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        REQUEST.decode("request", bytes, |tag, r| match tag {
            TAG_MANIFEST => Ok(Self::Manifest(TrackId::read(r)?)),
            TAG_CHUNKS => {
                let track = TrackId::read(r)?;
                let start = r.u32("start")?;
                let count = r.u16("count")?;
                if count == 0 || count > MAX_CHUNKS_PER_REQUEST {
                    return Err(DecodeError::Invalid("chunk count"));
                }
                Ok(Self::Chunks {
                    track,
                    start,
                    count,
                })
            }
            _ => Err(DecodeError::Invalid("request tag")),
        })
    }
}

impl Response {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Manifest(m) => {
                let mut w = RESPONSE.writer(TAG_MANIFEST);
                match m {
                    None => w.u8(0),
                    Some(bytes) => {
                        w.u8(1);
                        w.bytes(bytes);
                    }
                }
                w.into_bytes()
            }
            Self::Chunks { start, chunks } => {
                let len = chunks.iter().map(|c| c.len() + 4).sum::<usize>();
                let mut w = RESPONSE.writer(TAG_CHUNKS);
                w.reserve(len + 6);
                w.u32(*start);
                w.byte_list(chunks);
                w.into_bytes()
            }
            Self::Refused => RESPONSE.writer(TAG_REFUSED).into_bytes(),
        }
    }

    /// Decodes a response body, rejecting anything out of its limits. Manifests and chunks inside
    /// are still unverified.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        RESPONSE.decode("response", bytes, |tag, r| match tag {
            TAG_MANIFEST => match r.u8("manifest flag")? {
                0 => Ok(Self::Manifest(None)),
                1 => Ok(Self::Manifest(Some(
                    r.bytes("manifest", MAX_MANIFEST_BYTES)?.to_vec(),
                ))),
                _ => Err(DecodeError::Invalid("manifest flag")),
            },
            TAG_CHUNKS => {
                let start = r.u32("start")?;
                let n = r.u16("chunk count")?;
                if n > MAX_CHUNKS_PER_REQUEST {
                    return Err(DecodeError::Invalid("chunk count"));
                }
                let mut chunks = Vec::with_capacity(n as usize);
                let mut total = 0usize;
                for _ in 0..n {
                    let c = r.bytes("chunk", MAX_CHUNK_SIZE as usize)?;
                    total += c.len();
                    if total > MAX_CHUNK_DATA {
                        return Err(DecodeError::TooLarge {
                            what: "chunk data",
                            len: total,
                            max: MAX_CHUNK_DATA,
                        });
                    }
                    chunks.push(c.to_vec());
                }
                Ok(Self::Chunks { start, chunks })
            }
            TAG_REFUSED => Ok(Self::Refused),
            _ => Err(DecodeError::Invalid("response tag")),
        })
    }
}

/// Sends `request` to `peer` and decodes the answer (an answer that does not decode is an
/// [`Error::BadAnswer`](crate::Error::BadAnswer)).
pub async fn request(client: &Client, peer: PeerId, request: Request) -> Result<Response> {
    client
        .ask(peer, PROTOCOL, request.encode(), Response::decode)
        .await
}

/// Where a peer finds what it serves. Methods block (disk reads); the network calls them on the
/// blocking pool. Only verified content may be returned: the store never holds anything else.
pub trait Source: Send + Sync + 'static {
    /// The encoded manifest of `id`, if known.
    fn manifest(&self, id: &TrackId) -> Option<Vec<u8>>;
    /// Chunks `start..start + count` of `track` that are here, stopping at the first missing one
    /// or when `max_bytes` would be exceeded.
    fn chunks(&self, track: &TrackId, start: u32, count: u16, max_bytes: usize) -> Vec<Vec<u8>>;
}

impl Source for Store {
    fn manifest(&self, id: &TrackId) -> Option<Vec<u8>> {
        Store::manifest(self, id)
            .ok()
            .flatten()
            .map(|m| m.encoded().to_vec())
    }

    fn chunks(&self, track: &TrackId, start: u32, count: u16, max_bytes: usize) -> Vec<Vec<u8>> {
        let Ok(Some(manifest)) = Store::manifest(self, track) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut total = 0;
        let end = manifest.chunks().len().min(start as usize + count as usize);
        for index in start as usize..end {
            if total + manifest.chunk_len(index) > max_bytes {
                break;
            }
            // Read and checked again here: a chunk damaged on disk is never served.
            match self.chunk(&manifest, index) {
                Ok(Some(bytes)) => {
                    total += bytes.len();
                    out.push(bytes);
                }
                _ => break,
            }
        }
        out
    }
}

/// The answer to one request out of `source`. Chunk data is paced (see [`Reply::Paced`]).
pub fn serve(source: &dyn Source, request: Request) -> Reply {
    match request {
        Request::Manifest(id) => Reply::Answer(Response::Manifest(source.manifest(&id)).encode()),
        Request::Chunks {
            track,
            start,
            count,
        } => {
            let chunks = source.chunks(&track, start, count, MAX_CHUNK_DATA);
            let len = chunks.iter().map(Vec::len).sum();
            let answer = Response::Chunks { start, chunks }.encode();
            Reply::Paced { answer, len }
        }
    }
}

/// The transfer protocol serving `source`, to register with [`net::Services::protocol`]. A
/// request that does not decode gets no answer.
pub fn offer(source: Arc<dyn Source>) -> net::Protocol {
    net::Protocol::decoding(
        PROTOCOL,
        MAX_REQUEST_BYTES,
        MAX_RESPONSE_BYTES,
        Response::Refused.encode(),
        Request::decode,
        move |_, request| serve(&*source, request),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> TrackId {
        TrackId([b; 32])
    }

    fn requests() -> Vec<Request> {
        vec![
            Request::Manifest(id(1)),
            Request::Chunks {
                track: id(2),
                start: 7,
                count: 3,
            },
        ]
    }

    fn responses() -> Vec<Response> {
        vec![
            Response::Manifest(None),
            Response::Manifest(Some(vec![1, 2, 3])),
            Response::Chunks {
                start: 3,
                chunks: vec![vec![9; 100], vec![8; 5]],
            },
            Response::Refused,
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for r in requests() {
            assert_eq!(Request::decode(&r.encode()).unwrap(), r);
        }
        for r in responses() {
            assert_eq!(Response::decode(&r.encode()).unwrap(), r);
        }
    }

    #[test]
    fn the_wire_bytes_are_those_of_transfer_1() {
        let chunks = Request::Chunks {
            track: id(2),
            start: 7,
            count: 3,
        };
        let mut expected = vec![1, 2];
        expected.extend_from_slice(&[2; 32]);
        expected.extend_from_slice(&[0, 0, 0, 7, 0, 3]);
        assert_eq!(chunks.encode(), expected);
        assert_eq!(Response::Refused.encode(), vec![1, 5]);
        assert_eq!(Response::Manifest(None).encode(), vec![1, 1, 0]);
    }

    #[test]
    fn out_of_limit_messages_are_rejected() {
        let mut too_many = Request::Chunks {
            track: id(1),
            start: 0,
            count: MAX_CHUNKS_PER_REQUEST + 1,
        }
        .encode();
        assert!(Request::decode(&too_many).is_err());
        too_many[1] = 99;
        assert!(Request::decode(&too_many).is_err());
        let mut v2 = Request::Manifest(id(1)).encode();
        v2[0] = 2;
        assert!(matches!(
            Request::decode(&v2),
            Err(DecodeError::UnsupportedVersion { found: 2, .. })
        ));
        assert!(Request::decode(&vec![0; MAX_REQUEST_BYTES + 1]).is_err());
        assert!(Response::decode(&vec![1; MAX_RESPONSE_BYTES + 1]).is_err());
        // More chunk data than a response may carry.
        let big = Response::Chunks {
            start: 0,
            chunks: vec![vec![0; MAX_CHUNK_SIZE as usize]; 5],
        };
        assert!(matches!(
            Response::decode(&big.encode()),
            Err(DecodeError::TooLarge { .. })
        ));
        let mut trailing = Response::Refused.encode();
        trailing.push(0);
        assert_eq!(
            Response::decode(&trailing),
            Err(DecodeError::TrailingBytes(1))
        );
    }

    /// Holds chunks `0..4` of every track, 10 bytes each, and no manifest.
    struct Four;

    impl Source for Four {
        fn manifest(&self, _: &TrackId) -> Option<Vec<u8>> {
            None
        }
        fn chunks(&self, _: &TrackId, start: u32, count: u16, max: usize) -> Vec<Vec<u8>> {
            (start..(start + u32::from(count)).min(4))
                .map(|i| vec![i as u8; 10])
                .take(max / 10)
                .collect()
        }
    }

    #[test]
    fn chunks_are_paced_by_their_bytes_and_garbage_is_not_answered() {
        let handler = offer(Arc::new(Four)).handler;
        let peer = PeerId::random();
        let ask = Request::Chunks {
            track: id(1),
            start: 2,
            count: 5,
        };
        let expected = Response::Chunks {
            start: 2,
            chunks: vec![vec![2; 10], vec![3; 10]],
        };
        assert_eq!(
            handler.handle(peer, &ask.encode()),
            Reply::Paced {
                answer: expected.encode(),
                len: 20
            }
        );
        let manifest = Request::Manifest(id(1)).encode();
        assert_eq!(
            handler.handle(peer, &manifest),
            Reply::Answer(Response::Manifest(None).encode())
        );
        assert_eq!(handler.handle(peer, &[1, 99]), Reply::Drop);
    }

    crate::wire::codec_proptests!(
        Request,
        Response,
        requests()
            .iter()
            .map(Request::encode)
            .chain(responses().iter().map(Response::encode))
            .collect()
    );
}

//! The transfer protocol `/busker/transfer/1`: requests and responses for manifests, chunk ranges
//! and catalog pages, in the canonical [`crate::wire`] encoding.
//!
//! Every frame is a big-endian `u32` length followed by the body; the body starts with
//! [`PROTOCOL_VERSION`] and a tag byte. The length is checked against [`MAX_REQUEST_BYTES`] or
//! [`MAX_RESPONSE_BYTES`] before anything is allocated, and [`Request::decode`] and
//! [`Response::decode`] reject anything that does not fit with a [`DecodeError`], never a panic.

use std::io;

use futures::prelude::*;
use libp2p::StreamProtocol;

use crate::model::{MAX_CHUNK_SIZE, MAX_MANIFEST_BYTES, TrackId};
use crate::radio::{ChannelId, MAX_SEGMENT_BYTES};
use crate::wire::{DecodeError, Reader, Writer};

/// The protocol name negotiated on every transfer stream.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/busker/transfer/1");
/// Version byte at the start of every request and response body.
pub const PROTOCOL_VERSION: u8 = 1;
/// Largest request body (a taste exchange message is the largest request).
pub const MAX_REQUEST_BYTES: usize = MAX_TASTE_BYTES + 1024;
/// Largest taste exchange message (see [`crate::taste`]), in a request or a response.
pub const MAX_TASTE_BYTES: usize = 48 * 1024;
/// Most bytes of chunk data one response carries (a peer asks for fewer chunks when they are big).
pub const MAX_CHUNK_DATA: usize = 4 * 1024 * 1024;
/// Most chunks one request may ask for.
pub const MAX_CHUNKS_PER_REQUEST: u16 = 64;
/// Most manifests one request may ask for.
pub const MAX_MANIFESTS_PER_REQUEST: usize = 16;
/// Most ids in one catalog page.
pub const MAX_CATALOG_PAGE: usize = 1024;
/// Most radio segments one response carries.
pub const MAX_RADIO_SEGMENTS: usize = 4;
/// Largest response body: the most chunk data, with room for framing.
pub const MAX_RESPONSE_BYTES: usize = MAX_CHUNK_DATA + 64 * 1024;

// A full batch of the largest manifests fits in one response.
const _: () = assert!(MAX_MANIFESTS_PER_REQUEST * (MAX_MANIFEST_BYTES + 8) <= MAX_RESPONSE_BYTES);
const _: () = assert!(MAX_CHUNK_SIZE as usize <= MAX_CHUNK_DATA);
const _: () = assert!(MAX_RADIO_SEGMENTS * (MAX_SEGMENT_BYTES + 8) <= MAX_RESPONSE_BYTES);

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
    /// A page of the peer's catalog: ids greater than `after`, in id order.
    Catalog {
        /// Start after this id (`None`: from the beginning).
        after: Option<TrackId>,
    },
    /// Several manifests at once (at most [`MAX_MANIFESTS_PER_REQUEST`]).
    Manifests(Vec<TrackId>),
    /// A taste exchange: the sender's signed taste message (at most [`MAX_TASTE_BYTES`],
    /// decoded and checked by [`crate::taste`]); the answer is the receiver's own.
    Taste(Vec<u8>),
    /// One radio segment (repair of a segment gossip did not bring).
    RadioSegment {
        /// The channel.
        channel: ChannelId,
        /// Its sequence number.
        seq: u64,
    },
    /// The most recent segments of a channel the peer holds (a listener tuning in).
    RadioRecent {
        /// The channel.
        channel: ChannelId,
    },
}

/// One catalog entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The track.
    pub id: TrackId,
    /// The peer holds every chunk (it is a provider).
    pub local: bool,
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
    /// A catalog page.
    Catalog {
        /// Entries in id order.
        entries: Vec<CatalogEntry>,
        /// More entries follow after the last one.
        more: bool,
    },
    /// The manifests that were found, encoded, each to be verified by the receiver.
    Manifests(Vec<Vec<u8>>),
    /// The request was refused (too busy, malformed, unknown track).
    Refused,
    /// The answer to a taste exchange: the receiver's signed taste message.
    Taste(Vec<u8>),
    /// Encoded radio segments, oldest first (at most [`MAX_RADIO_SEGMENTS`]), each still to be
    /// verified against the channel's owner key.
    RadioSegments(Vec<Vec<u8>>),
}

const TAG_MANIFEST: u8 = 1;
const TAG_CHUNKS: u8 = 2;
const TAG_CATALOG: u8 = 3;
const TAG_MANIFESTS: u8 = 4;
const TAG_REFUSED: u8 = 5;
const TAG_TASTE: u8 = 6;
const TAG_RADIO_SEGMENT: u8 = 7;
const TAG_RADIO_RECENT: u8 = 8;

fn header(r: &mut Reader<'_>, what: &'static str) -> Result<u8, DecodeError> {
    let version = r.u8("version")?;
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            what,
            found: version,
            supported: PROTOCOL_VERSION,
        });
    }
    r.u8("tag")
}

fn id(r: &mut Reader<'_>) -> Result<TrackId, DecodeError> {
    Ok(TrackId(r.array("track id")?))
}

impl Request {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        w.u8(PROTOCOL_VERSION);
        match self {
            Self::Manifest(track) => {
                w.u8(TAG_MANIFEST);
                w.raw(track.as_bytes());
            }
            Self::Chunks {
                track,
                start,
                count,
            } => {
                w.u8(TAG_CHUNKS);
                w.raw(track.as_bytes());
                w.u32(*start);
                w.u16(*count);
            }
            Self::Catalog { after } => {
                w.u8(TAG_CATALOG);
                match after {
                    None => w.u8(0),
                    Some(id) => {
                        w.u8(1);
                        w.raw(id.as_bytes());
                    }
                }
            }
            Self::Manifests(ids) => {
                w.u8(TAG_MANIFESTS);
                w.u16(ids.len() as u16);
                for id in ids {
                    w.raw(id.as_bytes());
                }
            }
            Self::Taste(message) => {
                w.u8(TAG_TASTE);
                w.bytes(message);
            }
            Self::RadioSegment { channel, seq } => {
                w.u8(TAG_RADIO_SEGMENT);
                w.raw(channel.as_bytes());
                w.u64(*seq);
            }
            Self::RadioRecent { channel } => {
                w.u8(TAG_RADIO_RECENT);
                w.raw(channel.as_bytes());
            }
        }
        w.into_bytes()
    }

    /// Decodes a request body, rejecting anything out of its limits.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_REQUEST_BYTES {
            return Err(DecodeError::TooLarge {
                what: "request",
                len: bytes.len(),
                max: MAX_REQUEST_BYTES,
            });
        }
        let mut r = Reader::new(bytes);
        let out = match header(&mut r, "request")? {
            TAG_MANIFEST => Self::Manifest(id(&mut r)?),
            TAG_CHUNKS => {
                let track = id(&mut r)?;
                let start = r.u32("start")?;
                let count = r.u16("count")?;
                if count == 0 || count > MAX_CHUNKS_PER_REQUEST {
                    return Err(DecodeError::Invalid("chunk count"));
                }
                Self::Chunks {
                    track,
                    start,
                    count,
                }
            }
            TAG_CATALOG => match r.u8("after flag")? {
                0 => Self::Catalog { after: None },
                1 => Self::Catalog {
                    after: Some(id(&mut r)?),
                },
                _ => return Err(DecodeError::Invalid("after flag")),
            },
            TAG_MANIFESTS => {
                let n = r.u16("manifest count")? as usize;
                if n > MAX_MANIFESTS_PER_REQUEST {
                    return Err(DecodeError::TooLarge {
                        what: "manifest ids",
                        len: n,
                        max: MAX_MANIFESTS_PER_REQUEST,
                    });
                }
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    ids.push(id(&mut r)?);
                }
                Self::Manifests(ids)
            }
            TAG_TASTE => Self::Taste(r.bytes("taste message", MAX_TASTE_BYTES)?.to_vec()),
            TAG_RADIO_SEGMENT => Self::RadioSegment {
                channel: ChannelId(r.array("channel id")?),
                seq: r.u64("seq")?,
            },
            TAG_RADIO_RECENT => Self::RadioRecent {
                channel: ChannelId(r.array("channel id")?),
            },
            _ => return Err(DecodeError::Invalid("request tag")),
        };
        r.finish()?;
        Ok(out)
    }
}

impl Response {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        w.u8(PROTOCOL_VERSION);
        match self {
            Self::Manifest(m) => {
                w.u8(TAG_MANIFEST);
                match m {
                    None => w.u8(0),
                    Some(bytes) => {
                        w.u8(1);
                        w.bytes(bytes);
                    }
                }
            }
            Self::Chunks { start, chunks } => {
                w.u8(TAG_CHUNKS);
                w.u32(*start);
                w.u16(chunks.len() as u16);
                for c in chunks {
                    w.bytes(c);
                }
            }
            Self::Catalog { entries, more } => {
                w.u8(TAG_CATALOG);
                w.u8(u8::from(*more));
                w.u16(entries.len() as u16);
                for e in entries {
                    w.raw(e.id.as_bytes());
                    w.u8(u8::from(e.local));
                }
            }
            Self::Manifests(list) => {
                w.u8(TAG_MANIFESTS);
                w.u16(list.len() as u16);
                for m in list {
                    w.bytes(m);
                }
            }
            Self::Refused => w.u8(TAG_REFUSED),
            Self::Taste(message) => {
                w.u8(TAG_TASTE);
                w.bytes(message);
            }
            Self::RadioSegments(list) => {
                w.u8(TAG_RADIO_SEGMENT);
                w.u16(list.len() as u16);
                for s in list {
                    w.bytes(s);
                }
            }
        }
        w.into_bytes()
    }

    /// Decodes a response body, rejecting anything out of its limits. Manifests and chunks inside
    /// are still unverified.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_RESPONSE_BYTES {
            return Err(DecodeError::TooLarge {
                what: "response",
                len: bytes.len(),
                max: MAX_RESPONSE_BYTES,
            });
        }
        let mut r = Reader::new(bytes);
        let out = match header(&mut r, "response")? {
            TAG_MANIFEST => match r.u8("manifest flag")? {
                0 => Self::Manifest(None),
                1 => Self::Manifest(Some(r.bytes("manifest", MAX_MANIFEST_BYTES)?.to_vec())),
                _ => return Err(DecodeError::Invalid("manifest flag")),
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
                Self::Chunks { start, chunks }
            }
            TAG_CATALOG => {
                let more = match r.u8("more")? {
                    0 => false,
                    1 => true,
                    _ => return Err(DecodeError::Invalid("more flag")),
                };
                let n = r.u16("entry count")? as usize;
                if n > MAX_CATALOG_PAGE {
                    return Err(DecodeError::TooLarge {
                        what: "catalog page",
                        len: n,
                        max: MAX_CATALOG_PAGE,
                    });
                }
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = id(&mut r)?;
                    let local = match r.u8("local")? {
                        0 => false,
                        1 => true,
                        _ => return Err(DecodeError::Invalid("local flag")),
                    };
                    entries.push(CatalogEntry { id, local });
                }
                Self::Catalog { entries, more }
            }
            TAG_MANIFESTS => {
                let n = r.u16("manifest count")? as usize;
                if n > MAX_MANIFESTS_PER_REQUEST {
                    return Err(DecodeError::TooLarge {
                        what: "manifests",
                        len: n,
                        max: MAX_MANIFESTS_PER_REQUEST,
                    });
                }
                let mut list = Vec::with_capacity(n);
                for _ in 0..n {
                    list.push(r.bytes("manifest", MAX_MANIFEST_BYTES)?.to_vec());
                }
                Self::Manifests(list)
            }
            TAG_REFUSED => Self::Refused,
            TAG_TASTE => Self::Taste(r.bytes("taste message", MAX_TASTE_BYTES)?.to_vec()),
            TAG_RADIO_SEGMENT => {
                let n = r.u16("segment count")? as usize;
                if n > MAX_RADIO_SEGMENTS {
                    return Err(DecodeError::TooLarge {
                        what: "radio segments",
                        len: n,
                        max: MAX_RADIO_SEGMENTS,
                    });
                }
                let mut list = Vec::with_capacity(n);
                for _ in 0..n {
                    list.push(r.bytes("radio segment", MAX_SEGMENT_BYTES)?.to_vec());
                }
                Self::RadioSegments(list)
            }
            _ => return Err(DecodeError::Invalid("response tag")),
        };
        r.finish()?;
        Ok(out)
    }
}

/// The request-response codec: length-prefixed frames holding [`Request`] and [`Response`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TransferCodec;

async fn read_frame<T>(io: &mut T, max: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            DecodeError::TooLarge {
                what: "frame",
                len,
                max,
            },
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_frame<T>(io: &mut T, body: &[u8]) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    io.write_all(&(body.len() as u32).to_be_bytes()).await?;
    io.write_all(body).await?;
    io.close().await
}

fn invalid(e: DecodeError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl libp2p::request_response::Codec for TransferCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = read_frame(io, MAX_REQUEST_BYTES).await?;
        Request::decode(&body).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = read_frame(io, MAX_RESPONSE_BYTES).await?;
        Response::decode(&body).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req.encode()).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res.encode()).await
    }
}

/// Version byte of a release announcement on the gossip topic.
pub const ANNOUNCE_VERSION: u8 = 1;
/// Largest announcement: a version byte and the largest manifest.
pub const MAX_ANNOUNCE_BYTES: usize = MAX_MANIFEST_BYTES + 1;

/// Encodes a release announcement: the version byte, then the signed manifest.
pub fn encode_announcement(manifest: &crate::model::Manifest) -> Vec<u8> {
    let mut out = Vec::with_capacity(manifest.encoded().len() + 1);
    out.push(ANNOUNCE_VERSION);
    out.extend_from_slice(manifest.encoded());
    out
}

/// Decodes and verifies a release announcement (size, version, manifest signature and limits).
pub fn decode_announcement(bytes: &[u8]) -> Result<crate::model::Manifest, DecodeError> {
    if bytes.len() > MAX_ANNOUNCE_BYTES {
        return Err(DecodeError::TooLarge {
            what: "announcement",
            len: bytes.len(),
            max: MAX_ANNOUNCE_BYTES,
        });
    }
    match bytes.split_first() {
        None => Err(DecodeError::Truncated("announcement")),
        Some((&ANNOUNCE_VERSION, rest)) => crate::model::Manifest::decode(rest),
        Some((&found, _)) => Err(DecodeError::UnsupportedVersion {
            what: "announcement",
            found,
            supported: ANNOUNCE_VERSION,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::request_response::Codec;
    use proptest::prelude::*;

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
            Request::Catalog { after: None },
            Request::Catalog { after: Some(id(3)) },
            Request::Manifests(vec![id(4), id(5)]),
            Request::Taste(vec![7; 40]),
            Request::RadioSegment {
                channel: ChannelId([6; 32]),
                seq: 77,
            },
            Request::RadioRecent {
                channel: ChannelId([7; 32]),
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
            Response::Catalog {
                entries: vec![CatalogEntry {
                    id: id(9),
                    local: true,
                }],
                more: true,
            },
            Response::Manifests(vec![vec![1; 10], vec![]]),
            Response::Refused,
            Response::Taste(vec![6; 12]),
            Response::RadioSegments(vec![vec![1; 30], vec![2; 3]]),
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
        let ids = vec![id(1); MAX_MANIFESTS_PER_REQUEST + 1];
        assert!(Request::decode(&Request::Manifests(ids).encode()).is_err());
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
        let taste = Request::Taste(vec![0; MAX_TASTE_BYTES + 1]).encode();
        assert!(matches!(
            Request::decode(&taste),
            Err(DecodeError::TooLarge { .. })
        ));
        assert!(Response::decode(&Response::Taste(vec![0; MAX_TASTE_BYTES + 1]).encode()).is_err());
        assert!(decode_announcement(&[]).is_err());
        assert!(decode_announcement(&[2, 0, 0]).is_err());
        assert!(decode_announcement(&vec![1; MAX_ANNOUNCE_BYTES + 1]).is_err());
    }

    #[test]
    fn oversized_frames_are_refused_before_reading_them() {
        let mut frame = (u32::MAX).to_be_bytes().to_vec();
        frame.extend_from_slice(&[0; 16]);
        let mut io = futures::io::Cursor::new(frame);
        let err = futures::executor::block_on(TransferCodec.read_response(&PROTOCOL, &mut io))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let mut short = futures::io::Cursor::new(vec![0, 0, 0, 9, 1]);
        assert!(
            futures::executor::block_on(TransferCodec.read_request(&PROTOCOL, &mut short)).is_err()
        );
    }

    #[test]
    fn frames_round_trip_through_the_codec() {
        for req in requests() {
            let mut buf = futures::io::Cursor::new(Vec::new());
            futures::executor::block_on(TransferCodec.write_request(
                &PROTOCOL,
                &mut buf,
                req.clone(),
            ))
            .unwrap();
            let mut rd = futures::io::Cursor::new(buf.into_inner());
            let back = futures::executor::block_on(TransferCodec.read_request(&PROTOCOL, &mut rd))
                .unwrap();
            assert_eq!(back, req);
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            // Whatever decodes is canonical: it encodes back to the same bytes.
            if let Ok(r) = Request::decode(&bytes) {
                prop_assert_eq!(r.encode(), bytes.clone());
            }
            if let Ok(r) = Response::decode(&bytes) {
                prop_assert_eq!(r.encode(), bytes.clone());
            }
            let _ = decode_announcement(&bytes);
        }

        #[test]
        fn mutated_messages_never_panic(which in 0usize..16, pos in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
            let mut bytes = if which < 8 { requests()[which].encode() } else { responses()[which - 8].encode() };
            let i = pos % bytes.len();
            bytes[i] = byte;
            bytes.truncate(cut % (bytes.len() + 1));
            let _ = Request::decode(&bytes);
            let _ = Response::decode(&bytes);
        }
    }
}

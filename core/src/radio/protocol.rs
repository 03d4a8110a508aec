//! The radio protocol `/busker/radio/1`: a listener asks a neighbour on the channel for one
//! segment gossip did not bring in time (repair), or for its most recent ones (tune-in).
//!
//! Bodies are a version byte and a tag (the tags and fields the radio messages had on
//! `/busker/transfer/1`), checked against [`MAX_REQUEST_BYTES`] and [`MAX_RESPONSE_BYTES`]; the
//! segments in an answer are verified by the listener against the channel's owner key like any
//! gossiped segment.

use std::sync::Arc;

use libp2p::{PeerId, StreamProtocol};

use super::hub::RadioHub;
use super::{ChannelId, MAX_SEGMENT_BYTES, TUNE_IN_SEGMENTS};
use crate::error::{Error, Result};
use crate::net::{self, Client, Reply};
use crate::wire::{DecodeError, Reader, Writer};

/// The protocol name negotiated on every radio stream.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/busker/radio/1");
/// Version byte at the start of every request and response body.
pub const PROTOCOL_VERSION: u8 = 1;
/// Most radio segments one response carries.
pub const MAX_RADIO_SEGMENTS: usize = 4;
/// Largest request body.
pub const MAX_REQUEST_BYTES: usize = 1024;
/// Largest response body: the most segments of the largest size, with room for framing.
pub const MAX_RESPONSE_BYTES: usize = MAX_RADIO_SEGMENTS * (MAX_SEGMENT_BYTES + 8) + 1024;

const _: () = assert!(TUNE_IN_SEGMENTS <= MAX_RADIO_SEGMENTS);

/// What a listener asks a neighbour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// One segment (repair of a segment gossip did not bring).
    Segment {
        /// The channel.
        channel: ChannelId,
        /// Its sequence number.
        seq: u64,
    },
    /// The most recent segments of a channel the peer holds (a listener tuning in).
    Recent {
        /// The channel.
        channel: ChannelId,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Encoded segments, oldest first (at most [`MAX_RADIO_SEGMENTS`]), each still to be
    /// verified against the channel's owner key.
    Segments(Vec<Vec<u8>>),
    /// The request was refused (too busy, over the peer's rate).
    Refused,
}

const TAG_REFUSED: u8 = 5;
const TAG_SEGMENT: u8 = 7;
const TAG_RECENT: u8 = 8;

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

impl Request {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        w.u8(PROTOCOL_VERSION);
        match self {
            Self::Segment { channel, seq } => {
                w.u8(TAG_SEGMENT);
                w.raw(channel.as_bytes());
                w.u64(*seq);
            }
            Self::Recent { channel } => {
                w.u8(TAG_RECENT);
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
            TAG_SEGMENT => Self::Segment {
                channel: ChannelId(r.array("channel id")?),
                seq: r.u64("seq")?,
            },
            TAG_RECENT => Self::Recent {
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
            Self::Segments(list) => {
                w.u8(TAG_SEGMENT);
                w.u16(list.len() as u16);
                for s in list {
                    w.bytes(s);
                }
            }
            Self::Refused => w.u8(TAG_REFUSED),
        }
        w.into_bytes()
    }

    /// Decodes a response body, rejecting anything out of its limits. The segments inside are
    /// still unverified.
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
            TAG_SEGMENT => {
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
                Self::Segments(list)
            }
            TAG_REFUSED => Self::Refused,
            _ => return Err(DecodeError::Invalid("response tag")),
        };
        r.finish()?;
        Ok(out)
    }
}

/// Sends `request` to `peer` and decodes the answer. An answer that does not decode is an
/// [`Error::Network`], like a request that failed on the way.
pub async fn request(client: &Client, peer: PeerId, request: Request) -> Result<Response> {
    let bytes = client.request(peer, PROTOCOL, request.encode()).await?;
    Response::decode(&bytes).map_err(|e| Error::Network(format!("request failed: {e}")))
}

/// Where a peer finds the segments it serves: the rings of the channels it takes part in.
pub trait Source: Send + Sync + 'static {
    /// Recent segments of `channel` held here (encoded, signed): the one numbered `seq`, or
    /// with `None` the most recent few, oldest first. A peer not on the channel has none.
    fn segments(&self, channel: &ChannelId, seq: Option<u64>) -> Vec<Vec<u8>>;
}

impl Source for RadioHub {
    fn segments(&self, channel: &ChannelId, seq: Option<u64>) -> Vec<Vec<u8>> {
        RadioHub::segments(self, channel, seq)
    }
}

/// The answer to one request out of `source`: a tune-in gets the newest
/// [`TUNE_IN_SEGMENTS`].
pub fn serve(source: &dyn Source, request: Request) -> Response {
    match request {
        Request::Segment { channel, seq } => {
            Response::Segments(source.segments(&channel, Some(seq)))
        }
        Request::Recent { channel } => {
            let mut list = source.segments(&channel, None);
            let skip = list.len().saturating_sub(TUNE_IN_SEGMENTS);
            Response::Segments(list.split_off(skip))
        }
    }
}

/// The radio protocol serving `source` (a node's radio hub), to register with
/// [`net::Services::protocol`]. A request that does not decode gets no answer.
pub fn offer(source: Arc<dyn Source>) -> net::Protocol {
    net::Protocol {
        name: PROTOCOL,
        max_request: MAX_REQUEST_BYTES,
        max_response: MAX_RESPONSE_BYTES,
        refused: Response::Refused.encode(),
        handler: Arc::new(
            move |_: PeerId, bytes: &[u8]| match Request::decode(bytes) {
                Ok(request) => Reply::Answer(serve(&*source, request).encode()),
                Err(_) => Reply::Drop,
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn requests() -> Vec<Request> {
        vec![
            Request::Segment {
                channel: ChannelId([6; 32]),
                seq: 77,
            },
            Request::Recent {
                channel: ChannelId([7; 32]),
            },
        ]
    }

    fn responses() -> Vec<Response> {
        vec![
            Response::Segments(vec![vec![1; 30], vec![2; 3]]),
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
        let mut recent = vec![1, 8];
        recent.extend_from_slice(&[7; 32]);
        assert_eq!(requests()[1].encode(), recent);
    }

    #[test]
    fn out_of_limit_messages_are_rejected() {
        let many = Response::Segments(vec![vec![1]; MAX_RADIO_SEGMENTS + 1]);
        assert!(matches!(
            Response::decode(&many.encode()),
            Err(DecodeError::TooLarge { .. })
        ));
        let big = Response::Segments(vec![vec![0; MAX_SEGMENT_BYTES + 1]]);
        assert!(Response::decode(&big.encode()).is_err());
        assert!(Request::decode(&vec![1; MAX_REQUEST_BYTES + 1]).is_err());
        let mut trailing = requests()[0].encode();
        trailing.push(0);
        assert_eq!(
            Request::decode(&trailing),
            Err(DecodeError::TrailingBytes(1))
        );
    }

    /// Holds segments 1 to 5 of every channel, each one byte long.
    struct Ring;

    impl Source for Ring {
        fn segments(&self, _: &ChannelId, seq: Option<u64>) -> Vec<Vec<u8>> {
            (1..=5u8)
                .filter(|s| seq.is_none_or(|q| q == u64::from(*s)))
                .map(|s| vec![s])
                .collect()
        }
    }

    #[test]
    fn a_tune_in_gets_the_newest_segments_and_a_repair_the_one_asked_for() {
        let channel = ChannelId([1; 32]);
        let recent = serve(&Ring, Request::Recent { channel });
        let newest = (6 - TUNE_IN_SEGMENTS as u8..=5).map(|s| vec![s]).collect();
        assert_eq!(recent, Response::Segments(newest));
        let one = serve(&Ring, Request::Segment { channel, seq: 3 });
        assert_eq!(one, Response::Segments(vec![vec![3]]));
        let handler = offer(Arc::new(Ring)).handler;
        assert_eq!(handler.handle(PeerId::random(), &[1, 9]), Reply::Drop);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            if let Ok(r) = Request::decode(&bytes) {
                prop_assert_eq!(r.encode(), bytes.clone());
            }
            if let Ok(r) = Response::decode(&bytes) {
                prop_assert_eq!(r.encode(), bytes.clone());
            }
        }

        #[test]
        fn mutated_messages_never_panic(which in 0usize..4, pos in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
            let mut bytes = if which < 2 { requests()[which].encode() } else { responses()[which - 2].encode() };
            let i = pos % bytes.len();
            bytes[i] = byte;
            bytes.truncate(cut % (bytes.len() + 1));
            let _ = Request::decode(&bytes);
            let _ = Response::decode(&bytes);
        }
    }
}

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
use crate::error::Result;
use crate::net::{self, Client, Reply};
use crate::wire::{DecodeError, Envelope};

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

const _: () = assert!(TUNE_IN_SEGMENTS < MAX_RADIO_SEGMENTS);

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

const REQUEST: Envelope = Envelope::new(PROTOCOL_VERSION, MAX_REQUEST_BYTES);
const RESPONSE: Envelope = Envelope::new(PROTOCOL_VERSION, MAX_RESPONSE_BYTES);

impl Request {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Segment { channel, seq } => {
                let mut w = REQUEST.writer(TAG_SEGMENT);
                w.raw(channel.as_bytes());
                w.u64(*seq);
                w.into_bytes()
            }
            Self::Recent { channel } => {
                let mut w = REQUEST.writer(TAG_RECENT);
                w.raw(channel.as_bytes());
                w.into_bytes()
            }
        }
    }

    /// Decodes a request body, rejecting anything out of its limits.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        REQUEST.decode("request", bytes, |tag, r| match tag {
            TAG_SEGMENT => Ok(Self::Segment {
                channel: ChannelId(r.array("channel id")?),
                seq: r.u64("seq")?,
            }),
            TAG_RECENT => Ok(Self::Recent {
                channel: ChannelId(r.array("channel id")?),
            }),
            _ => Err(DecodeError::Invalid("request tag")),
        })
    }
}

impl Response {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Segments(list) => {
                let mut w = RESPONSE.writer(TAG_SEGMENT);
                w.byte_list(list);
                w.into_bytes()
            }
            Self::Refused => RESPONSE.writer(TAG_REFUSED).into_bytes(),
        }
    }

    /// Decodes a response body, rejecting anything out of its limits. The segments inside are
    /// still unverified.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        RESPONSE.decode("response", bytes, |tag, r| match tag {
            TAG_SEGMENT => Ok(Self::Segments(r.byte_list(
                "radio segments",
                MAX_RADIO_SEGMENTS,
                MAX_SEGMENT_BYTES,
            )?)),
            TAG_REFUSED => Ok(Self::Refused),
            _ => Err(DecodeError::Invalid("response tag")),
        })
    }
}

/// Sends `request` to `peer` and decodes the answer (an answer that does not decode is an
/// [`crate::Error::BadAnswer`]).
pub async fn request(client: &Client, peer: PeerId, request: Request) -> Result<Response> {
    client
        .ask(peer, PROTOCOL, request.encode(), Response::decode)
        .await
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
            // The newest (and, from a hub, the one with the codec setup they need first).
            let mut list = source.segments(&channel, None);
            let skip = list.len().saturating_sub(TUNE_IN_SEGMENTS + 1);
            Response::Segments(list.split_off(skip))
        }
    }
}

/// The radio protocol serving `source` (a node's radio hub), to register with
/// [`net::Services::protocol`]. A request that does not decode gets no answer.
pub fn offer(source: Arc<dyn Source>) -> net::Protocol {
    net::Protocol::decoding(
        PROTOCOL,
        MAX_REQUEST_BYTES,
        MAX_RESPONSE_BYTES,
        Response::Refused.encode(),
        Request::decode,
        move |_, request| Reply::Answer(serve(&*source, request).encode()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // A source gives what a tune-in needs (a hub: the newest two, and the segment with
        // their codec setup); the answer keeps at most one more than the newest two.
        let newest = (6 - (TUNE_IN_SEGMENTS as u8 + 1)..=5)
            .map(|s| vec![s])
            .collect();
        assert_eq!(recent, Response::Segments(newest));
        let one = serve(&Ring, Request::Segment { channel, seq: 3 });
        assert_eq!(one, Response::Segments(vec![vec![3]]));
        let handler = offer(Arc::new(Ring)).handler;
        assert_eq!(handler.handle(PeerId::random(), &[1, 9]), Reply::Drop);
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

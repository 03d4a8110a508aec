//! The taste exchange protocol `/busker/taste/1`: one push-pull exchange per stream. The asking
//! peer sends its signed taste message, the answering peer sends its own back, or refuses.
//!
//! Bodies are a version byte and a tag (the tags and fields the exchange had on
//! `/busker/transfer/1`), then the message as a length-prefixed byte string of at most
//! [`MAX_TASTE_BYTES`]; the message itself is decoded and verified by [`super::TasteMessage`].

use std::sync::Arc;

use libp2p::{PeerId, StreamProtocol};

use crate::error::{Error, Result};
use crate::net::{self, Client, Reply};
use crate::wire::{DecodeError, Reader, Writer};

/// The protocol name negotiated on every taste exchange stream.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/busker/taste/1");
/// Version byte at the start of every request and response body.
pub const PROTOCOL_VERSION: u8 = 1;
/// Largest taste exchange message, in a request or a response.
pub const MAX_TASTE_BYTES: usize = 48 * 1024;
/// Largest request or response body: a message with room for framing.
pub const MAX_BODY_BYTES: usize = MAX_TASTE_BYTES + 1024;

/// A taste exchange: the sender's signed taste message (at most [`MAX_TASTE_BYTES`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request(pub Vec<u8>);

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The receiver's own signed taste message.
    Taste(Vec<u8>),
    /// The exchange was refused (no taste exchange here, a malformed message, too many
    /// exchanges lately, or the peer too busy).
    Refused,
}

const TAG_REFUSED: u8 = 5;
const TAG_TASTE: u8 = 6;

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

fn too_large(what: &'static str, len: usize) -> Result<(), DecodeError> {
    if len > MAX_BODY_BYTES {
        return Err(DecodeError::TooLarge {
            what,
            len,
            max: MAX_BODY_BYTES,
        });
    }
    Ok(())
}

impl Request {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(self.0.len() + 8);
        w.u8(PROTOCOL_VERSION);
        w.u8(TAG_TASTE);
        w.bytes(&self.0);
        w.into_bytes()
    }

    /// Decodes a request body, rejecting anything out of its limits.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        too_large("request", bytes.len())?;
        let mut r = Reader::new(bytes);
        let out = match header(&mut r, "request")? {
            TAG_TASTE => Self(r.bytes("taste message", MAX_TASTE_BYTES)?.to_vec()),
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
            Self::Taste(message) => {
                w.u8(TAG_TASTE);
                w.bytes(message);
            }
            Self::Refused => w.u8(TAG_REFUSED),
        }
        w.into_bytes()
    }

    /// Decodes a response body, rejecting anything out of its limits.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        too_large("response", bytes.len())?;
        let mut r = Reader::new(bytes);
        let out = match header(&mut r, "response")? {
            TAG_TASTE => Self::Taste(r.bytes("taste message", MAX_TASTE_BYTES)?.to_vec()),
            TAG_REFUSED => Self::Refused,
            _ => return Err(DecodeError::Invalid("response tag")),
        };
        r.finish()?;
        Ok(out)
    }
}

/// One push-pull exchange with `peer`: sends `message` (this peer's), returns `peer`'s. A
/// refusal is an [`Error::Taste`]; an answer that does not decode an [`Error::Network`].
pub async fn exchange(client: &Client, peer: PeerId, message: Vec<u8>) -> Result<Vec<u8>> {
    let bytes = client
        .request(peer, PROTOCOL, Request(message).encode())
        .await?;
    match Response::decode(&bytes) {
        Ok(Response::Taste(answer)) => Ok(answer),
        Ok(Response::Refused) => Err(Error::Taste(format!("{peer} refused the exchange"))),
        Err(e) => Err(Error::Network(format!("request failed: {e}"))),
    }
}

/// The taste exchange protocol, to register with [`net::Services::protocol`]: `answer` takes
/// the asking peer and its message and returns this peer's own message, or `None` to refuse
/// (see [`super::Taste::answer`]). A request that does not decode gets no answer.
pub fn offer(
    answer: impl Fn(PeerId, &[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
) -> net::Protocol {
    net::Protocol {
        name: PROTOCOL,
        max_request: MAX_BODY_BYTES,
        max_response: MAX_BODY_BYTES,
        refused: Response::Refused.encode(),
        handler: Arc::new(
            move |peer: PeerId, bytes: &[u8]| match Request::decode(bytes) {
                Ok(Request(message)) => match answer(peer, &message) {
                    Some(own) => Reply::Answer(Response::Taste(own).encode()),
                    None => Reply::Refuse,
                },
                Err(_) => Reply::Drop,
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn messages_round_trip_within_their_limit() {
        let request = Request(vec![7; 40]);
        assert_eq!(Request::decode(&request.encode()).unwrap(), request);
        for response in [Response::Taste(vec![6; 12]), Response::Refused] {
            assert_eq!(Response::decode(&response.encode()).unwrap(), response);
        }
        // The bytes of the exchange on `/busker/transfer/1`: version, tag 6, the message.
        assert_eq!(Request(vec![9]).encode(), vec![1, 6, 0, 0, 0, 1, 9]);
        let too_big = Request(vec![0; MAX_TASTE_BYTES + 1]).encode();
        assert!(matches!(
            Request::decode(&too_big),
            Err(DecodeError::TooLarge { .. })
        ));
        assert!(Response::decode(&Response::Taste(vec![0; MAX_TASTE_BYTES + 1]).encode()).is_err());
        assert!(Request::decode(&[1, 5]).is_err(), "a refusal is no request");
    }

    #[test]
    fn the_handler_answers_refuses_or_drops() {
        let handler =
            offer(|_, message: &[u8]| (message != b"no").then(|| b"mine".to_vec())).handler;
        let peer = PeerId::random();
        let ask = |m: &[u8]| handler.handle(peer, &Request(m.to_vec()).encode());
        assert_eq!(
            ask(b"yours"),
            Reply::Answer(Response::Taste(b"mine".to_vec()).encode())
        );
        assert_eq!(ask(b"no"), Reply::Refuse);
        assert_eq!(handler.handle(peer, &[1, 6, 0]), Reply::Drop);
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
    }
}

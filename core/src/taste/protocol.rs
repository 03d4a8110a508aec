//! The taste exchange protocol `/busker/taste/1`: one push-pull exchange per stream. The asking
//! peer sends its signed taste message, the answering peer sends its own back, or refuses.
//!
//! Bodies are a version byte and a tag (the tags and fields the exchange had on
//! `/busker/transfer/1`), then the message as a length-prefixed byte string of at most
//! [`MAX_TASTE_BYTES`]; the message itself is decoded and verified by [`super::TasteMessage`].

use libp2p::{PeerId, StreamProtocol};

use crate::error::{Error, Result};
use crate::net::{self, Client, Reply};
use crate::wire::{DecodeError, Envelope};

/// The protocol name negotiated on every taste exchange stream.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/busker/taste/2");
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

const BODY: Envelope = Envelope::new(PROTOCOL_VERSION, MAX_BODY_BYTES);

impl Request {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = BODY.writer(TAG_TASTE);
        w.bytes(&self.0);
        w.into_bytes()
    }

    /// Decodes a request body, rejecting anything out of its limits.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        BODY.decode("request", bytes, |tag, r| match tag {
            TAG_TASTE => Ok(Self(r.bytes("taste message", MAX_TASTE_BYTES)?.to_vec())),
            _ => Err(DecodeError::Invalid("request tag")),
        })
    }
}

impl Response {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Taste(message) => {
                let mut w = BODY.writer(TAG_TASTE);
                w.bytes(message);
                w.into_bytes()
            }
            Self::Refused => BODY.writer(TAG_REFUSED).into_bytes(),
        }
    }

    /// Decodes a response body, rejecting anything out of its limits.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        BODY.decode("response", bytes, |tag, r| match tag {
            TAG_TASTE => Ok(Self::Taste(
                r.bytes("taste message", MAX_TASTE_BYTES)?.to_vec(),
            )),
            TAG_REFUSED => Ok(Self::Refused),
            _ => Err(DecodeError::Invalid("response tag")),
        })
    }
}

/// One push-pull exchange with `peer`: sends `message` (this peer's), returns `peer`'s. A
/// refusal is an [`Error::Taste`]; an answer that does not decode an [`Error::BadAnswer`].
pub async fn exchange(client: &Client, peer: PeerId, message: Vec<u8>) -> Result<Vec<u8>> {
    let request = Request(message).encode();
    match client
        .ask(peer, PROTOCOL, request, Response::decode)
        .await?
    {
        Response::Taste(answer) => Ok(answer),
        Response::Refused => Err(Error::Taste(format!("{peer} refused the exchange"))),
    }
}

/// The taste exchange protocol, to register with [`net::Services::protocol`]: `answer` takes
/// the asking peer and its message and returns this peer's own message, or `None` to refuse
/// (see [`super::Taste::answer`]). A request that does not decode gets no answer.
pub fn offer(
    answer: impl Fn(PeerId, &[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
) -> net::Protocol {
    net::Protocol::decoding(
        PROTOCOL,
        MAX_BODY_BYTES,
        MAX_BODY_BYTES,
        Response::Refused.encode(),
        Request::decode,
        move |peer, Request(message)| match answer(peer, &message) {
            Some(own) => Reply::Answer(Response::Taste(own).encode()),
            None => Reply::Refuse,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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

    crate::wire::codec_proptests!(
        Request,
        Response,
        vec![
            Request(vec![7; 40]).encode(),
            Response::Taste(vec![6; 12]).encode(),
            Response::Refused.encode(),
        ]
    );
}

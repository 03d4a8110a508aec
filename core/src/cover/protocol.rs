//! `/busker/cover/1`: one cover image by the hash of its bytes.
//!
//! A protocol of its own rather than a new tag on `/busker/transfer/3`, so that a peer of an
//! older build, which does not offer it, refuses the stream at negotiation instead of counting
//! an unknown request against the asker. Bodies are a version byte, a tag and the fields
//! ([`crate::wire::Envelope`]); the network checks each frame's length first. The image in an
//! answer is unverified until [`super::verify`] checks it against the manifest's [`CoverRef`].

use std::sync::Arc;

use libp2p::{PeerId, StreamProtocol};

use crate::error::Result;
use crate::model::{CoverRef, ImageHash, MAX_COVER_BYTES};
use crate::net::{self, Client, Reply};
use crate::store::Store;
use crate::wire::{DecodeError, Envelope};

/// The protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/busker/cover/1");
/// Version byte at the start of every body.
pub const PROTOCOL_VERSION: u8 = 1;
/// Largest request body.
pub const MAX_REQUEST_BYTES: usize = 64;
/// Largest response body: the largest cover and the framing.
pub const MAX_RESPONSE_BYTES: usize = MAX_COVER_BYTES as usize + 64;

/// A request: the image with this hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request(pub ImageHash);

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The image's bytes, or `None` when the peer does not hold it.
    Image(Option<Vec<u8>>),
    /// The request was refused (too busy, over the peer's rate).
    Refused,
}

const TAG_IMAGE: u8 = 1;
const TAG_REFUSED: u8 = 2;

const REQUEST: Envelope = Envelope::new(PROTOCOL_VERSION, MAX_REQUEST_BYTES);
const RESPONSE: Envelope = Envelope::new(PROTOCOL_VERSION, MAX_RESPONSE_BYTES);

impl Request {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = REQUEST.writer(TAG_IMAGE);
        w.raw(self.0.as_bytes());
        w.into_bytes()
    }

    /// Decodes a request body.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        REQUEST.decode("cover request", bytes, |tag, r| match tag {
            TAG_IMAGE => Ok(Self(ImageHash(r.array("image hash")?))),
            _ => Err(DecodeError::Invalid("cover request tag")),
        })
    }
}

impl Response {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Image(image) => {
                let mut w = RESPONSE.writer(TAG_IMAGE);
                match image {
                    None => w.u8(0),
                    Some(bytes) => {
                        w.u8(1);
                        w.bytes(bytes);
                    }
                }
                w.into_bytes()
            }
            Self::Refused => RESPONSE.writer(TAG_REFUSED).into_bytes(),
        }
    }

    /// Decodes a response body; the image inside is still unverified.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        RESPONSE.decode("cover response", bytes, |tag, r| match tag {
            TAG_IMAGE => match r.u8("image flag")? {
                0 => Ok(Self::Image(None)),
                1 => Ok(Self::Image(Some(
                    r.bytes("image", MAX_COVER_BYTES as usize)?.to_vec(),
                ))),
                _ => Err(DecodeError::Invalid("image flag")),
            },
            TAG_REFUSED => Ok(Self::Refused),
            _ => Err(DecodeError::Invalid("cover response tag")),
        })
    }
}

/// Where a peer finds the covers it serves (blocking: the network calls it on the blocking
/// pool). Only images that match their hash may be returned.
pub trait Source: Send + Sync + 'static {
    /// The image with this hash, if held.
    fn cover(&self, hash: &ImageHash) -> Option<Vec<u8>>;
}

impl Source for Store {
    fn cover(&self, hash: &ImageHash) -> Option<Vec<u8>> {
        Store::cover(self, hash).ok().flatten()
    }
}

/// The cover protocol serving `source`, to register with [`net::Services::protocol`].
pub fn offer(source: Arc<dyn Source>) -> net::Protocol {
    net::Protocol::decoding(
        PROTOCOL,
        MAX_REQUEST_BYTES,
        MAX_RESPONSE_BYTES,
        Response::Refused.encode(),
        Request::decode,
        move |_, Request(hash)| {
            let image = source.cover(&hash);
            let len = image.as_ref().map_or(0, Vec::len);
            Reply::Paced {
                answer: Response::Image(image).encode(),
                len,
            }
        },
    )
}

/// How asking one peer for a cover ended.
#[derive(Debug)]
pub enum Asked {
    /// The image, verified against the manifest's reference.
    Verified(Vec<u8>),
    /// The peer does not have it, refused, or could not be asked.
    NotThere,
    /// The peer sent bytes that are not the image the signed manifest names.
    Lied(super::CoverError),
}

/// Asks `peer` for `cover` and verifies the answer against it ([`super::verify`], on the
/// blocking pool: it decodes the image).
pub async fn ask(client: &Client, peer: PeerId, cover: &CoverRef) -> Asked {
    let answer = client
        .ask(
            peer,
            PROTOCOL,
            Request(cover.hash).encode(),
            Response::decode,
        )
        .await;
    match answer {
        Ok(Response::Image(Some(bytes))) => {
            let cover = *cover;
            let checked =
                tokio::task::spawn_blocking(move || super::verify(&cover, &bytes).map(|()| bytes))
                    .await;
            match checked {
                Ok(Ok(bytes)) => Asked::Verified(bytes),
                Ok(Err(e)) => Asked::Lied(e),
                Err(_) => Asked::NotThere,
            }
        }
        Ok(Response::Image(None) | Response::Refused) => Asked::NotThere,
        Err(crate::Error::BadAnswer { .. }) => Asked::Lied(super::CoverError::Mismatch),
        Err(_) => Asked::NotThere,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages() -> Vec<Vec<u8>> {
        vec![
            Request(ImageHash([3; 32])).encode(),
            Response::Image(None).encode(),
            Response::Image(Some(vec![1, 2, 3])).encode(),
            Response::Refused.encode(),
        ]
    }

    #[test]
    fn messages_round_trip_and_oversized_ones_are_refused() {
        let request = Request(ImageHash([3; 32]));
        assert_eq!(Request::decode(&request.encode()).unwrap(), request);
        for response in [
            Response::Image(None),
            Response::Image(Some(vec![7; 1000])),
            Response::Refused,
        ] {
            assert_eq!(Response::decode(&response.encode()).unwrap(), response);
        }
        let big = Response::Image(Some(vec![0; MAX_COVER_BYTES as usize + 1])).encode();
        assert!(matches!(
            Response::decode(&big),
            Err(DecodeError::TooLarge { .. })
        ));
        assert!(Request::decode(&[1, 9]).is_err());
    }

    /// Serves the same bytes for every hash.
    struct Always(Vec<u8>);

    impl Source for Always {
        fn cover(&self, _: &ImageHash) -> Option<Vec<u8>> {
            Some(self.0.clone())
        }
    }

    #[test]
    fn the_handler_answers_what_its_source_holds() {
        let handler = offer(Arc::new(Always(vec![5; 10]))).handler;
        let reply = handler.handle(PeerId::random(), &Request(ImageHash([1; 32])).encode());
        assert_eq!(
            reply,
            Reply::Paced {
                answer: Response::Image(Some(vec![5; 10])).encode(),
                len: 10
            }
        );
        assert_eq!(handler.handle(PeerId::random(), &[1, 77]), Reply::Drop);
    }

    crate::wire::codec_proptests!(Request, Response, messages());
}

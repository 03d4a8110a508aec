//! The catalog protocol `/busker/catalog/1`: pages of a peer's catalog (track ids, and whether
//! the peer holds each whole), and manifests in batches, in the canonical [`crate::wire`]
//! encoding.
//!
//! Every body starts with [`PROTOCOL_VERSION`] and a tag byte (the tags and fields are those the
//! catalog messages had on `/busker/transfer/1`). The network checks each frame's length against
//! [`MAX_REQUEST_BYTES`] or [`MAX_RESPONSE_BYTES`] before reading it; the decoders reject
//! anything out of limits with a [`DecodeError`], never a panic. Manifests inside are unverified
//! until the asking side decodes them.

use std::sync::Arc;

use libp2p::{PeerId, StreamProtocol};

use crate::error::{Error, Result};
use crate::model::{MAX_MANIFEST_BYTES, TrackId};
use crate::net::{self, Client, Reply};
use crate::store::Store;
use crate::wire::{DecodeError, Reader, Writer};

/// The protocol name negotiated on every catalog stream.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/busker/catalog/1");
/// Version byte at the start of every request and response body.
pub const PROTOCOL_VERSION: u8 = 1;
/// Most manifests one request may ask for.
pub const MAX_MANIFESTS_PER_REQUEST: usize = 16;
/// Most ids in one catalog page.
pub const MAX_CATALOG_PAGE: usize = 1024;
/// Largest request body (a full batch of ids is about 520 bytes).
pub const MAX_REQUEST_BYTES: usize = 1024;
/// Largest response body: a full batch of the largest manifests, with room for framing.
pub const MAX_RESPONSE_BYTES: usize = MAX_MANIFESTS_PER_REQUEST * (MAX_MANIFEST_BYTES + 8) + 1024;

const _: () = assert!(2 + 2 + MAX_MANIFESTS_PER_REQUEST * 32 <= MAX_REQUEST_BYTES);
const _: () = assert!(MAX_CATALOG_PAGE * 33 + 8 <= MAX_RESPONSE_BYTES);

/// What one peer asks another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A page of the peer's catalog: ids greater than `after`, in id order.
    Catalog {
        /// Start after this id (`None`: from the beginning).
        after: Option<TrackId>,
    },
    /// Several manifests at once (at most [`MAX_MANIFESTS_PER_REQUEST`]).
    Manifests(Vec<TrackId>),
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
    /// A catalog page.
    Catalog {
        /// Entries in id order.
        entries: Vec<CatalogEntry>,
        /// More entries follow after the last one.
        more: bool,
    },
    /// The manifests that were found, encoded, each to be verified by the receiver.
    Manifests(Vec<Vec<u8>>),
    /// The request was refused (too busy, over the peer's rate).
    Refused,
}

const TAG_CATALOG: u8 = 3;
const TAG_MANIFESTS: u8 = 4;
const TAG_REFUSED: u8 = 5;

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

fn flag(r: &mut Reader<'_>, what: &'static str) -> Result<bool, DecodeError> {
    match r.u8(what)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::Invalid(what)),
    }
}

impl Request {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        w.u8(PROTOCOL_VERSION);
        match self {
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
        }
        w.into_bytes()
    }

    /// Decodes a response body, rejecting anything out of its limits. Manifests inside are
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
            TAG_CATALOG => {
                let more = flag(&mut r, "more flag")?;
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
                    let local = flag(&mut r, "local flag")?;
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

/// What a peer lists and hands out. Methods block (disk reads); the network calls them on the
/// blocking pool. Only verified manifests may be returned: the store never holds anything else.
pub trait Source: Send + Sync + 'static {
    /// Up to `limit` catalog entries after `after`, in id order, and whether more follow.
    fn catalog(&self, after: Option<TrackId>, limit: usize) -> (Vec<CatalogEntry>, bool);
    /// The encoded manifest of `id`, if known.
    fn manifest(&self, id: &TrackId) -> Option<Vec<u8>>;
}

impl Source for Store {
    fn catalog(&self, after: Option<TrackId>, limit: usize) -> (Vec<CatalogEntry>, bool) {
        match self.catalog_page(after.as_ref(), limit) {
            Ok((ids, more)) => (
                ids.into_iter()
                    .map(|(id, local)| CatalogEntry { id, local })
                    .collect(),
                more,
            ),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the catalog");
                (Vec::new(), false)
            }
        }
    }

    fn manifest(&self, id: &TrackId) -> Option<Vec<u8>> {
        Store::manifest(self, id)
            .ok()
            .flatten()
            .map(|m| m.encoded().to_vec())
    }
}

/// The answer to one request out of `source`.
pub fn serve(source: &dyn Source, request: Request) -> Response {
    match request {
        Request::Catalog { after } => {
            let (entries, more) = source.catalog(after, MAX_CATALOG_PAGE);
            Response::Catalog { entries, more }
        }
        Request::Manifests(ids) => Response::Manifests(
            ids.iter()
                .take(MAX_MANIFESTS_PER_REQUEST)
                .filter_map(|id| source.manifest(id))
                .collect(),
        ),
    }
}

/// The catalog protocol serving `source`, to register with [`net::Services::protocol`]. A
/// request that does not decode gets no answer.
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

    fn id(b: u8) -> TrackId {
        TrackId([b; 32])
    }

    fn requests() -> Vec<Request> {
        vec![
            Request::Catalog { after: None },
            Request::Catalog { after: Some(id(3)) },
            Request::Manifests(vec![id(4), id(5)]),
        ]
    }

    fn responses() -> Vec<Response> {
        vec![
            Response::Catalog {
                entries: vec![CatalogEntry {
                    id: id(9),
                    local: true,
                }],
                more: true,
            },
            Response::Manifests(vec![vec![1; 10], vec![]]),
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
        assert_eq!(Request::Catalog { after: None }.encode(), vec![1, 3, 0]);
    }

    #[test]
    fn out_of_limit_messages_are_rejected() {
        let ids = vec![id(1); MAX_MANIFESTS_PER_REQUEST + 1];
        assert!(Request::decode(&Request::Manifests(ids).encode()).is_err());
        let ids = vec![id(1); MAX_MANIFESTS_PER_REQUEST];
        assert!(Request::decode(&Request::Manifests(ids).encode()).is_ok());
        let mut v2 = Request::Catalog { after: None }.encode();
        v2[0] = 2;
        assert!(matches!(
            Request::decode(&v2),
            Err(DecodeError::UnsupportedVersion { found: 2, .. })
        ));
        assert!(Request::decode(&[1, 3, 2]).is_err(), "a bad after flag");
        assert!(Request::decode(&vec![0; MAX_REQUEST_BYTES + 1]).is_err());
        assert!(Response::decode(&vec![1; MAX_RESPONSE_BYTES + 1]).is_err());
        let page = Response::Catalog {
            entries: vec![
                CatalogEntry {
                    id: id(1),
                    local: false
                };
                MAX_CATALOG_PAGE + 1
            ],
            more: false,
        };
        assert!(matches!(
            Response::decode(&page.encode()),
            Err(DecodeError::TooLarge { .. })
        ));
        let mut trailing = Response::Refused.encode();
        trailing.push(0);
        assert_eq!(
            Response::decode(&trailing),
            Err(DecodeError::TrailingBytes(1))
        );
    }

    /// Knows the manifests of tracks with an even first byte, and lists three tracks.
    struct Evens;

    impl Source for Evens {
        fn catalog(&self, after: Option<TrackId>, limit: usize) -> (Vec<CatalogEntry>, bool) {
            let entries: Vec<CatalogEntry> = (1..=3)
                .map(|b| CatalogEntry {
                    id: id(b),
                    local: b == 2,
                })
                .filter(|e| after.is_none_or(|a| e.id > a))
                .collect();
            let more = entries.len() > limit;
            (entries.into_iter().take(limit).collect(), more)
        }
        fn manifest(&self, id: &TrackId) -> Option<Vec<u8>> {
            id.0[0].is_multiple_of(2).then(|| vec![id.0[0]])
        }
    }

    #[test]
    fn pages_and_batches_are_served_from_the_source() {
        let page = serve(&Evens, Request::Catalog { after: Some(id(1)) });
        let Response::Catalog { entries, more } = page else {
            panic!("{page:?}");
        };
        assert!(!more);
        assert_eq!(
            entries.iter().map(|e| e.id).collect::<Vec<_>>(),
            [id(2), id(3)]
        );
        let batch = serve(&Evens, Request::Manifests(vec![id(1), id(2), id(4)]));
        assert_eq!(batch, Response::Manifests(vec![vec![2], vec![4]]));
        let handler = offer(Arc::new(Evens)).handler;
        assert_eq!(handler.handle(PeerId::random(), &[9, 9]), Reply::Drop);
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
        }

        #[test]
        fn mutated_messages_never_panic(which in 0usize..6, pos in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
            let mut bytes = if which < 3 { requests()[which].encode() } else { responses()[which - 3].encode() };
            let i = pos % bytes.len();
            bytes[i] = byte;
            bytes.truncate(cut % (bytes.len() + 1));
            let _ = Request::decode(&bytes);
            let _ = Response::decode(&bytes);
        }
    }
}

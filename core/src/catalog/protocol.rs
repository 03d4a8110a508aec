//! The catalog protocol `/busker/catalog/2`: pages of a peer's catalog (track ids, and whether
//! the peer holds each whole), manifests in batches, and searches of the peer's catalog (for a
//! peer whose own catalog finds too little, see [`super::search`]), in the canonical
//! [`crate::wire`] encoding.
//!
//! Every body starts with [`PROTOCOL_VERSION`] and a tag byte (the tags and fields are those the
//! catalog messages had on `/busker/transfer/1`). The network checks each frame's length against
//! [`MAX_REQUEST_BYTES`] or [`MAX_RESPONSE_BYTES`] before reading it; the decoders reject
//! anything out of limits with a [`DecodeError`], never a panic. Manifests inside are unverified
//! until the asking side decodes them.

use std::sync::Arc;

use libp2p::{PeerId, StreamProtocol};

use crate::error::Result;
use crate::model::{MAX_MANIFEST_BYTES, TrackId};
use crate::net::{self, Client, Reply};
use crate::store::Store;
use crate::wire::{DecodeError, Envelope, Reader};

/// The protocol name negotiated on every catalog stream.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/busker/catalog/2");
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

/// Longest search query, in bytes.
pub const MAX_QUERY_BYTES: usize = 256;
/// Most manifests one search answer holds (a [`Response::Manifests`]).
pub const MAX_SEARCH_RESULTS: usize = MAX_MANIFESTS_PER_REQUEST;
/// Searches one peer may ask per second, on average, and at once.
const SEARCH_RATE: f64 = 2.0;
const SEARCH_BURST: f64 = 8.0;
/// Peers whose search rate is tracked; when more ask, the oldest buckets are forgotten.
const SEARCH_PEERS: usize = 1024;

const _: () = assert!(2 + 2 + MAX_MANIFESTS_PER_REQUEST * 32 <= MAX_REQUEST_BYTES);
const _: () = assert!(2 + 4 + MAX_QUERY_BYTES < MAX_REQUEST_BYTES);
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
    /// The best matches for `query` in the peer's catalog, answered with
    /// [`Response::Manifests`] (at most `limit`, at most [`MAX_SEARCH_RESULTS`]).
    Search {
        /// What the user typed (at most [`MAX_QUERY_BYTES`]).
        query: String,
        /// How many are wanted.
        limit: u8,
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
const TAG_SEARCH: u8 = 6;

const REQUEST: Envelope = Envelope::new(PROTOCOL_VERSION, MAX_REQUEST_BYTES);
const RESPONSE: Envelope = Envelope::new(PROTOCOL_VERSION, MAX_RESPONSE_BYTES);

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
        match self {
            Self::Catalog { after } => {
                let mut w = REQUEST.writer(TAG_CATALOG);
                match after {
                    None => w.u8(0),
                    Some(id) => {
                        w.u8(1);
                        w.raw(id.as_bytes());
                    }
                }
                w.into_bytes()
            }
            Self::Manifests(ids) => {
                let mut w = REQUEST.writer(TAG_MANIFESTS);
                w.u16(ids.len() as u16);
                for id in ids {
                    w.raw(id.as_bytes());
                }
                w.into_bytes()
            }
            Self::Search { query, limit } => {
                let mut w = REQUEST.writer(TAG_SEARCH);
                w.str(query);
                w.u8(*limit);
                w.into_bytes()
            }
        }
    }

    /// Decodes a request body, rejecting anything out of its limits.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        REQUEST.decode("request", bytes, |tag, r| match tag {
            TAG_CATALOG => {
                let after = if flag(r, "after flag")? {
                    Some(TrackId::read(r)?)
                } else {
                    None
                };
                Ok(Self::Catalog { after })
            }
            TAG_MANIFESTS => {
                let n = r.count("manifest ids", MAX_MANIFESTS_PER_REQUEST)?;
                let ids = (0..n).map(|_| TrackId::read(r)).collect::<Result<_, _>>()?;
                Ok(Self::Manifests(ids))
            }
            TAG_SEARCH => {
                let query = r.str("search query", MAX_QUERY_BYTES)?;
                let limit = r.u8("search limit")?;
                if usize::from(limit) > MAX_SEARCH_RESULTS {
                    return Err(DecodeError::Invalid("search limit"));
                }
                Ok(Self::Search { query, limit })
            }
            _ => Err(DecodeError::Invalid("request tag")),
        })
    }
}

impl Response {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Catalog { entries, more } => {
                let mut w = RESPONSE.writer(TAG_CATALOG);
                w.u8(u8::from(*more));
                w.u16(entries.len() as u16);
                for e in entries {
                    w.raw(e.id.as_bytes());
                    w.u8(u8::from(e.local));
                }
                w.into_bytes()
            }
            Self::Manifests(list) => {
                let mut w = RESPONSE.writer(TAG_MANIFESTS);
                w.byte_list(list);
                w.into_bytes()
            }
            Self::Refused => RESPONSE.writer(TAG_REFUSED).into_bytes(),
        }
    }

    /// Decodes a response body, rejecting anything out of its limits. Manifests inside are
    /// still unverified.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        RESPONSE.decode("response", bytes, |tag, r| match tag {
            TAG_CATALOG => {
                let more = flag(r, "more flag")?;
                let n = r.count("catalog page", MAX_CATALOG_PAGE)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = TrackId::read(r)?;
                    let local = flag(r, "local flag")?;
                    entries.push(CatalogEntry { id, local });
                }
                Ok(Self::Catalog { entries, more })
            }
            TAG_MANIFESTS => Ok(Self::Manifests(r.byte_list(
                "manifests",
                MAX_MANIFESTS_PER_REQUEST,
                MAX_MANIFEST_BYTES,
            )?)),
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

/// What a peer lists and hands out. Methods block (disk reads); the network calls them on the
/// blocking pool. Only verified manifests may be returned: the store never holds anything else.
pub trait Source: Send + Sync + 'static {
    /// Up to `limit` catalog entries after `after`, in id order, and whether more follow.
    fn catalog(&self, after: Option<TrackId>, limit: usize) -> (Vec<CatalogEntry>, bool);
    /// The encoded manifest of `id`, if known.
    fn manifest(&self, id: &TrackId) -> Option<Vec<u8>>;
    /// The encoded manifests of the best `limit` matches for `query` (none by default: a
    /// source without a search index).
    fn search(&self, query: &str, limit: usize) -> Vec<Vec<u8>> {
        let _ = (query, limit);
        Vec::new()
    }
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
        Request::Search { query, limit } => {
            let limit = usize::from(limit).min(MAX_SEARCH_RESULTS);
            let mut found = source.search(&query, limit);
            found.truncate(limit);
            Response::Manifests(found)
        }
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

/// How many searches each peer may still ask: a token bucket per peer ([`SEARCH_RATE`] a
/// second, bursts of [`SEARCH_BURST`]). A search runs the index (milliseconds), far more than a
/// page or a manifest costs, so it gets a rate of its own under the network's per-peer one.
#[derive(Default)]
struct SearchRate {
    peers: std::sync::Mutex<std::collections::HashMap<PeerId, (f64, std::time::Instant)>>,
}

impl SearchRate {
    fn allow(&self, peer: PeerId) -> bool {
        let now = std::time::Instant::now();
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if peers.len() >= SEARCH_PEERS && !peers.contains_key(&peer) {
            // Forget the buckets that are full again: they hold nothing to remember.
            peers.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * SEARCH_RATE < SEARCH_BURST
            });
            if peers.len() >= SEARCH_PEERS {
                return false;
            }
        }
        let (tokens, at) = peers.entry(peer).or_insert((SEARCH_BURST, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * SEARCH_RATE).min(SEARCH_BURST);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The catalog protocol serving `source`, to register with [`net::Services::protocol`]. A
/// request that does not decode gets no answer; a search over the asking peer's search rate is
/// [`Response::Refused`].
pub fn offer(source: Arc<dyn Source>) -> net::Protocol {
    let rate = SearchRate::default();
    net::Protocol::decoding(
        PROTOCOL,
        MAX_REQUEST_BYTES,
        MAX_RESPONSE_BYTES,
        Response::Refused.encode(),
        Request::decode,
        move |from, request| {
            if matches!(request, Request::Search { .. }) && !rate.allow(from) {
                return Reply::Answer(Response::Refused.encode());
            }
            Reply::Answer(serve(&*source, request).encode())
        },
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
            Request::Catalog { after: None },
            Request::Catalog { after: Some(id(3)) },
            Request::Manifests(vec![id(4), id(5)]),
            Request::Search {
                query: "spring lov".into(),
                limit: 16,
            },
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
        let search = |query: String, limit| Request::Search { query, limit }.encode();
        assert!(Request::decode(&search("a".repeat(MAX_QUERY_BYTES), 16)).is_ok());
        assert!(
            Request::decode(&search("a".repeat(MAX_QUERY_BYTES + 1), 16)).is_err(),
            "a query over its limit"
        );
        assert!(
            Request::decode(&search("a".into(), MAX_SEARCH_RESULTS as u8 + 1)).is_err(),
            "more results than an answer may hold"
        );
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
        fn search(&self, query: &str, _limit: usize) -> Vec<Vec<u8>> {
            // Too many, to show the answer is cut to the limit.
            vec![query.as_bytes().to_vec(); 40]
        }
    }

    #[test]
    fn searches_are_cut_to_the_limit_and_to_each_peers_rate() {
        let asked = Request::Search {
            query: "x".into(),
            limit: 3,
        };
        assert_eq!(
            serve(&Evens, asked.clone()),
            Response::Manifests(vec![b"x".to_vec(); 3])
        );
        let handler = offer(Arc::new(Evens)).handler;
        let (a, b) = (PeerId::random(), PeerId::random());
        let answer = |peer| match handler.handle(peer, &asked.encode()) {
            Reply::Answer(bytes) => Response::decode(&bytes).unwrap(),
            other => panic!("{other:?}"),
        };
        for _ in 0..SEARCH_BURST as usize {
            assert!(matches!(answer(a), Response::Manifests(_)));
        }
        assert_eq!(answer(a), Response::Refused, "over the burst");
        assert!(matches!(answer(b), Response::Manifests(_)), "another peer");
        // Pages and manifests are not searches: they are not counted.
        let page = handler.handle(a, &Request::Catalog { after: None }.encode());
        assert!(matches!(page, Reply::Answer(_)));
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

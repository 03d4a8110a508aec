//! Search that asks peers: when this peer's own catalog finds fewer tracks than a page wants,
//! up to [`SEARCH_FANOUT`] connected peers are asked at once ([`Request::Search`] on the
//! catalog protocol), each answer within [`SEARCH_TIMEOUT`] and at most
//! [`MAX_SEARCH_RESULTS`] manifests. Every manifest is verified like any other
//! ([`Manifest::decode`]: limits, id, signature); what a peer claims matches is not trusted:
//! the caller runs the query again over the answers (see `Library::rank_remote`).

use std::collections::HashSet;
use std::time::Duration;

use libp2p::PeerId;

use super::protocol::{self, MAX_QUERY_BYTES, MAX_SEARCH_RESULTS, Request, Response};
use crate::model::Manifest;
use crate::net::Client;

/// Most peers one search asks.
pub const SEARCH_FANOUT: usize = 4;
/// How long a search waits for a peer's answer.
pub const SEARCH_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks `peers` (the first [`SEARCH_FANOUT`]) for their best matches for `query` at once, and
/// returns every manifest that verifies, once per track, with the peer that sent it. A peer
/// that refuses, fails, times out or sends something that does not decode adds nothing.
pub async fn ask_peers(
    client: &Client,
    peers: &[PeerId],
    query: &str,
    limit: usize,
) -> Vec<(PeerId, Manifest)> {
    let query = cut(query, MAX_QUERY_BYTES);
    let limit = limit.min(MAX_SEARCH_RESULTS) as u8;
    if query.trim().is_empty() || limit == 0 {
        return Vec::new();
    }
    let asks = peers.iter().take(SEARCH_FANOUT).map(|&peer| {
        let request = Request::Search {
            query: query.to_owned(),
            limit,
        };
        async move {
            let answer =
                tokio::time::timeout(SEARCH_TIMEOUT, protocol::request(client, peer, request))
                    .await;
            (peer, answer)
        }
    });
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (peer, answer) in futures::future::join_all(asks).await {
        let list = match answer {
            Ok(Ok(Response::Manifests(list))) => list,
            Ok(Ok(other)) => {
                tracing::debug!(%peer, ?other, "search not answered");
                continue;
            }
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "search failed");
                continue;
            }
            Err(_) => {
                tracing::debug!(%peer, "search timed out");
                continue;
            }
        };
        for bytes in list.iter().take(usize::from(limit)) {
            match Manifest::decode(bytes) {
                Ok(m) if seen.insert(m.id()) => out.push((peer, m)),
                Ok(_) => {}
                Err(e) => tracing::info!(%peer, error = %e, "peer sent an invalid manifest"),
            }
        }
    }
    out
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_query_is_cut_at_a_character_boundary() {
        assert_eq!(cut("abc", 10), "abc");
        assert_eq!(cut("ééé", 3), "é");
        assert_eq!(
            cut(&"a".repeat(300), MAX_QUERY_BYTES).len(),
            MAX_QUERY_BYTES
        );
    }
}

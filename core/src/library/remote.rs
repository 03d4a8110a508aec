//! Search across peers on the library's side: what this peer answers when a peer asks
//! ([`Library::search_manifests`]), and what it makes of peers' answers
//! ([`Library::rank_remote`]). The asking is the node's (`Node::search`, through
//! [`crate::catalog::search`]).

use std::collections::HashSet;

use super::{Library, TrackSummary};
use crate::error::Result;
use crate::index::SearchIndex;
use crate::model::Manifest;
use crate::release::{self, unix_now};

impl Library {
    /// The encoded manifests of the best `limit` matches for `query` here, blocked keys' left
    /// out: this peer's answer to a peer's search.
    pub fn search_manifests(&self, query: &str, limit: usize) -> Result<Vec<Vec<u8>>> {
        let blocked = self.blocked()?;
        let mut out = Vec::new();
        for hit in self.index.search(query, limit)? {
            if let Some(m) = self.store.manifest(&hit.id)?
                && !blocked.hides(&m)
            {
                out.push(m.encoded().to_vec());
            }
        }
        Ok(out)
    }

    /// Peers' answers to a search for `query` (each manifest verified when decoded), as
    /// results: what this peer would not take from gossip (future dates, the demo key, blocked
    /// keys) and tracks already in its catalog (the local search had its chance) are dropped,
    /// the query is run again over the rest in a throwaway index (a peer's claim that a track
    /// matches is not taken on trust), and the best `limit` are kept in the catalog like any
    /// release from a peer (evictable; a release evicted lately is taken back: the user asked)
    /// and returned marked [`TrackSummary::remote`].
    pub fn rank_remote(
        &self,
        query: &str,
        found: Vec<Manifest>,
        limit: usize,
    ) -> Result<Vec<TrackSummary>> {
        let blocked = self.blocked()?;
        let now = unix_now();
        let mut candidates = Vec::new();
        let mut seen = HashSet::new();
        for m in found {
            if release::admit(&m, now).is_ok()
                && !blocked.hides(&m)
                && seen.insert(m.id())
                && !self.store.has_manifest(&m.id())?
            {
                candidates.push(m);
            }
        }
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let scratch = SearchIndex::scratch()?;
        scratch.add(&candidates)?;
        let mut ranked = Vec::new();
        for hit in scratch.search(query, limit)? {
            if let Some(m) = candidates.iter().find(|m| m.id() == hit.id) {
                ranked.push(m.clone());
            }
        }
        self.accept_wanted(ranked.clone())?;
        let mut out = Vec::with_capacity(ranked.len());
        for m in &ranked {
            let mut summary = self.summary(m)?;
            summary.remote = true;
            out.push(summary);
        }
        Ok(out)
    }
}

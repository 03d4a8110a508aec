//! The links part of [`Node`]: invites to this peer, joining a peer through its invite, and
//! opening a release from a track link (see [`crate::link`]).

use std::time::{Duration, SystemTime};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use libp2p::{Multiaddr, PeerId};

use super::{Node, blocking};
use crate::error::{Error, Result};
use crate::library::TrackSummary;
use crate::link::{Invite, Link, MAX_HINTS, PeerHint, TrackLink};
use crate::model::TrackId;
use crate::net::{self, is_loopback};

/// How long one address of a link may take to connect.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Which of its addresses a peer puts in its links.
#[derive(Debug, Clone, Default)]
pub(super) struct Reach {
    /// The peer keeps to loopback (tests, demos): its loopback addresses are the ones to give.
    pub(super) loopback_only: bool,
    /// Addresses given by the user as reachable from outside (`--external`).
    pub(super) external: Vec<Multiaddr>,
}

impl Reach {
    /// The addresses worth giving out among `listening`: no wildcard, and loopback ones only
    /// when this peer keeps to loopback (then nothing else).
    fn pick(&self, listening: Vec<Multiaddr>) -> Vec<Multiaddr> {
        let mut out: Vec<Multiaddr> = Vec::new();
        for addr in self.external.iter().cloned().chain(listening) {
            let unspecified = addr.iter().any(|p| match p {
                libp2p::multiaddr::Protocol::Ip4(ip) => ip.is_unspecified(),
                libp2p::multiaddr::Protocol::Ip6(ip) => ip.is_unspecified(),
                _ => false,
            });
            if unspecified || is_loopback(&addr) != self.loopback_only || out.contains(&addr) {
                continue;
            }
            out.push(addr);
        }
        // Direct addresses before relayed ones: a dialler tries them in order.
        out.sort_by_key(net::is_relayed);
        out
    }
}

impl Node {
    /// The addresses this peer gives in its links.
    async fn reachable_addrs(&self) -> Result<Vec<Multiaddr>> {
        Ok(self.inner.reach.pick(self.listen_addrs().await?))
    }

    /// An invite to this peer, signed with its network key, good for `lifetime`.
    pub async fn invite(&self, lifetime: Duration) -> Result<Link> {
        let addrs = self.reachable_addrs().await?;
        if addrs.is_empty() {
            return Err(Error::Network(
                "this peer listens on no address another peer could reach".into(),
            ));
        }
        let seed = self.inner.library.dir().key_seed("peer")?;
        let key = net::keypair_from_seed(seed)?;
        Ok(Link::Join(Invite::sign(
            &key,
            addrs,
            SystemTime::now() + lifetime,
        )?))
    }

    /// Connects to the peer of `invite` at one of its addresses (all tried at once) and keeps
    /// it, so that every later start dials it again. Fails with every address's reason when
    /// none answers.
    pub async fn join(&self, invite: &Invite) -> Result<PeerId> {
        if invite.peer.peer == self.peer_id() {
            return Err(Error::Network("this invite is to this peer itself".into()));
        }
        let peer = self.dial_hint(&invite.peer).await?;
        let store = self.inner.library.store().clone();
        let id = peer.to_bytes();
        let addrs: Vec<Vec<u8>> = invite.peer.addrs.iter().map(Multiaddr::to_vec).collect();
        blocking(move || store.put_known_peer(&id, &addrs)).await?;
        Ok(peer)
    }

    /// Dials `hint`'s addresses at once; the first connection wins.
    async fn dial_hint(&self, hint: &PeerHint) -> Result<PeerId> {
        let addrs = hint.dial_addrs();
        if addrs.is_empty() {
            return Err(Error::Network(format!(
                "the link gives no address of {}",
                hint.peer
            )));
        }
        let mut dials: FuturesUnordered<_> = addrs
            .into_iter()
            .map(|addr| async move {
                let result = tokio::time::timeout(DIAL_TIMEOUT, self.connect(addr.clone())).await;
                (addr, result)
            })
            .collect();
        let mut failures = Vec::new();
        while let Some((addr, result)) = dials.next().await {
            match result {
                Ok(Ok(peer)) => return Ok(peer),
                Ok(Err(e)) => failures.push(format!("{addr}: {e}")),
                Err(_) => failures.push(format!("{addr}: no answer in {DIAL_TIMEOUT:?}")),
            }
        }
        Err(Error::Network(format!(
            "could not reach {} at any of the link's addresses ({})",
            hint.peer,
            failures.join("; ")
        )))
    }

    /// Dials the peers kept by [`Node::join`] (not waiting for them). Under loopback-only, only
    /// their loopback addresses.
    pub(super) async fn dial_known_peers(&self) -> Result<()> {
        let store = self.inner.library.store().clone();
        let known = blocking(move || store.known_peers()).await?;
        for (id, addrs) in known {
            let Ok(peer) = PeerId::from_bytes(&id) else {
                continue;
            };
            let addrs = addrs
                .into_iter()
                .filter_map(|a| Multiaddr::try_from(a).ok())
                .filter(|a| !self.inner.reach.loopback_only || is_loopback(a));
            if let Some(hint) = PeerHint::from_peer_id(peer, addrs) {
                let node = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = node.dial_hint(&hint).await {
                        tracing::debug!(error = %e, "a known peer is not reachable now");
                    }
                });
            }
        }
        Ok(())
    }

    /// A link to release `id` (known here), with this peer and up to two connected peers known
    /// to hold it as hints.
    pub async fn share_track(&self, id: TrackId) -> Result<Link> {
        let store = self.inner.library.store().clone();
        if !blocking(move || store.has_manifest(&id)).await? {
            return Err(Error::UnknownTrack(id));
        }
        let holders: Vec<PeerId> = self.inner.providers.holders(&id).into_iter().collect();
        let hints = self.hints(&holders).await?;
        Ok(Link::Track(TrackLink { id, hints }))
    }

    /// Dials the hints of a link that are not connected yet, all at once; how many could not
    /// be reached.
    pub(super) async fn dial_hints(&self, hints: &[PeerHint]) -> Result<usize> {
        let own = self.peer_id();
        let connected: Vec<PeerId> = self.peers().await?.into_iter().map(|(p, _)| p).collect();
        let dials: FuturesUnordered<_> = hints
            .iter()
            .filter(|h| h.peer != own && !connected.contains(&h.peer))
            .map(|h| self.dial_hint(h))
            .collect();
        let mut unreachable = 0;
        for result in dials.collect::<Vec<_>>().await {
            if let Err(e) = result {
                unreachable += 1;
                tracing::debug!(error = %e, "a peer named in a link is not reachable");
            }
        }
        Ok(unreachable)
    }

    /// This peer and up to two connected peers among `holders`, as a link's hints (none when
    /// offline).
    pub(super) async fn hints(&self, holders: &[PeerId]) -> Result<Vec<PeerHint>> {
        let mut hints = Vec::new();
        if self.is_online() {
            let own = self.reachable_addrs().await?;
            hints.extend(PeerHint::from_peer_id(self.peer_id(), own));
            for (peer, addr) in self.peers().await? {
                if hints.len() < MAX_HINTS && holders.contains(&peer) && !net::is_relayed(&addr) {
                    hints.extend(PeerHint::from_peer_id(peer, [addr]));
                }
            }
        }
        Ok(hints)
    }

    /// Opens a track link: dials its hints, asks them (and connected peers, and the DHT's
    /// providers) for the manifest, which is kept only if it hashes to the link's id. The
    /// track, ready to play or fetch.
    pub async fn open_track(&self, link: &TrackLink) -> Result<TrackSummary> {
        let id = link.id;
        let own = self.peer_id();
        let unreachable = self.dial_hints(&link.hints).await?;
        for hint in link.hints.iter().filter(|h| h.peer != own) {
            self.inner.providers.add(id, hint.peer);
        }
        let manifest = match self.find_manifest(id).await {
            Err(Error::UnknownTrack(_)) => {
                let found = self.inner.client.providers(id.as_bytes()).await?;
                for peer in found.into_iter().filter(|p| *p != own) {
                    self.inner.providers.add(id, peer);
                }
                self.find_manifest(id).await.map_err(|e| match e {
                    Error::UnknownTrack(_) => Error::Network(format!(
                        "no peer could describe release {}: {unreachable} of the link's {} \
                         peers could not be reached, and no connected peer or DHT provider \
                         knows it",
                        &id.to_hex()[..12],
                        link.hints.len()
                    )),
                    other => other,
                })?
            }
            other => other?,
        };
        let library = self.inner.library.clone();
        let mut summary = blocking(move || library.summary(&manifest)).await?;
        self.count_providers(&mut summary);
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn links_give_reachable_addresses_direct_first() {
        let listening = vec![
            addr("/ip4/127.0.0.1/tcp/4001"),
            addr("/ip4/0.0.0.0/tcp/4001"),
            addr(
                "/ip4/192.0.2.7/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit",
            ),
            addr("/ip4/192.0.2.9/tcp/4001"),
        ];
        let reach = Reach {
            loopback_only: false,
            external: vec![addr("/ip4/198.51.100.1/tcp/4001")],
        };
        let picked = reach.pick(listening.clone());
        assert_eq!(picked[0], addr("/ip4/198.51.100.1/tcp/4001"));
        assert_eq!(picked[1], addr("/ip4/192.0.2.9/tcp/4001"));
        assert!(net::is_relayed(&picked[2]));
        assert_eq!(picked.len(), 3, "{picked:?}");
        let loopback = Reach {
            loopback_only: true,
            external: Vec::new(),
        };
        assert_eq!(
            loopback.pick(listening),
            vec![addr("/ip4/127.0.0.1/tcp/4001")]
        );
    }
}

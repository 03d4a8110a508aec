//! The taste part of [`Node`]: taste exchanges with peers, and recommendations that fetch the
//! manifests of recommended tracks not known here yet.

use std::time::Duration;

use libp2p::PeerId;

use super::{Node, NodeEvent, blocking};
use crate::error::Result;
use crate::library::Recommended;
use crate::taste;

/// Peers asked at once for their taste when recommending with no neighbours yet.
const MAX_EAGER_EXCHANGES: usize = 8;
/// How long recommending waits for a manifest (or a taste exchange) it does not have yet.
const RECOMMEND_MANIFEST_WAIT: Duration = Duration::from_secs(3);

impl Node {
    pub(super) fn spawn_exchange(&self, peer: PeerId) {
        let Ok(permit) = self.inner.exchanges.clone().try_acquire_owned() else {
            return;
        };
        let node = self.clone();
        tokio::spawn(async move {
            match node.exchange_taste(peer).await {
                Ok(kept) => tracing::debug!(%peer, kept, "taste exchange done"),
                Err(e) => tracing::debug!(%peer, error = %e, "taste exchange failed"),
            }
            drop(permit);
        });
    }

    /// One push-pull taste exchange with `peer`: sends the own message, takes the answer.
    /// Returns how many profiles were kept from it.
    pub async fn exchange_taste(&self, peer: PeerId) -> Result<usize> {
        let library = self.inner.library.clone();
        let message = blocking(move || {
            library.taste().refresh()?;
            Ok(library.taste().message())
        })
        .await?;
        let answer = taste::exchange(&self.inner.client, peer, message).await?;
        let library = self.inner.library.clone();
        let received = blocking(move || {
            let received = library.taste().receive(&peer, &answer)?;
            library.taste().warm();
            Ok(received)
        })
        .await?;
        if received.kept > 0 {
            let _ = self.inner.events.send(NodeEvent::TasteChanged);
        }
        Ok(received.kept)
    }

    /// Recommendations (see [`Library::recommend`]); manifests of recommended tracks not known
    /// here yet are asked from peers first (briefly).
    pub async fn recommend(&self, limit: usize) -> Result<Vec<Recommended>> {
        if self.inner.library.taste().neighbour_count() == 0 {
            // Nobody's taste known yet: ask the peers at hand now rather than at the next round.
            let peers = self.inner.providers.connected(MAX_EAGER_EXCHANGES);
            let exchanges = peers
                .into_iter()
                .map(|p| tokio::time::timeout(RECOMMEND_MANIFEST_WAIT, self.exchange_taste(p)));
            futures::future::join_all(exchanges).await;
        }
        // Score once; look up the manifests of suggested tracks not known here (briefly), then
        // show the suggestions that are known by now, in their order.
        let library = self.inner.library.clone();
        let (suggestions, unknown) = blocking(move || {
            let suggestions = library.suggest(limit)?;
            let mut unknown = Vec::new();
            for s in &suggestions {
                if library.store().manifest(&s.id)?.is_none() {
                    unknown.push(s.id);
                }
            }
            Ok((suggestions, unknown))
        })
        .await?;
        let lookups = unknown
            .into_iter()
            .map(|id| tokio::time::timeout(RECOMMEND_MANIFEST_WAIT, self.find_manifest(id)));
        futures::future::join_all(lookups).await;
        let library = self.inner.library.clone();
        let mut list = blocking(move || library.recommended(suggestions, limit)).await?;
        list.iter_mut()
            .for_each(|r| self.count_providers(&mut r.track));
        Ok(list)
    }
}

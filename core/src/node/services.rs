//! What a node registers with the network: its services' protocols and topics, the check on DHT
//! records, and the store that keeps its bans.

use std::sync::Arc;

use libp2p::PeerId;

use super::warm_taste;
use crate::library::Library;
use crate::net;
use crate::radio::RadioHub;
use crate::store::Store;
use crate::{catalog, taste, transfer};

/// Bans kept in the store, so that a banned peer stays banned after a restart.
struct StoreBans(Arc<Store>);

impl net::BanBook for StoreBans {
    fn load(&self) -> Vec<(PeerId, u64)> {
        match self.0.bans() {
            Ok(bans) => bans
                .into_iter()
                .filter_map(|(peer, until)| Some((PeerId::from_bytes(&peer).ok()?, until)))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "kept bans unreadable");
                Vec::new()
            }
        }
    }

    fn save(&self, peer: &PeerId, until: u64) {
        if let Err(e) = self.0.put_ban(&peer.to_bytes(), until) {
            tracing::warn!(%peer, error = %e, "ban not kept");
        }
    }
}

/// The catalog a node serves: pages and manifests out of its store, searches out of its
/// library's index.
struct CatalogSource(Arc<Library>);

impl catalog::protocol::Source for CatalogSource {
    fn catalog(
        &self,
        after: Option<crate::model::TrackId>,
        limit: usize,
    ) -> (Vec<catalog::CatalogEntry>, bool) {
        self.0.store().catalog(after, limit)
    }

    fn manifest(&self, id: &crate::model::TrackId) -> Option<Vec<u8>> {
        catalog::protocol::Source::manifest(self.0.store(), id)
    }

    fn search(&self, query: &str, limit: usize) -> Vec<Vec<u8>> {
        self.0.search_manifests(query, limit).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot search for a peer");
            Vec::new()
        })
    }
}

/// What this node offers on the network: each service's protocol (answering out of this node's
/// store, taste exchange and radio hub), its topics and the check on DHT records.
pub(super) fn services(library: &Arc<Library>, radio: &Arc<RadioHub>) -> net::Services {
    let store = Arc::new(library.store().clone());
    let taste_library = library.clone();
    let answer_taste = move |from: PeerId, message: &[u8]| {
        let answer = taste_library.taste().answer(&from, message)?;
        // The neighbourhood changed: fit it for the next recommendation after the answer is
        // on its way, not before.
        warm_taste(&taste_library);
        Some(answer)
    };
    let channels = net::Topic {
        name: crate::radio::CHANNELS_TOPIC.to_owned(),
        validator: crate::radio::status_validator(),
        strict: true,
    };
    net::Services::default()
        .ban_book(Arc::new(StoreBans(store.clone())))
        .protocol(transfer::offer(store.clone()))
        .protocol(crate::cover::protocol::offer(store.clone()))
        .protocol(catalog::offer(Arc::new(CatalogSource(library.clone()))))
        .topic(catalog::releases_topic_with({
            let library = library.clone();
            Arc::new(move |key: &crate::model::ArtistKey| library.is_blocked(key))
        }))
        .max_message(catalog::MAX_ANNOUNCE_BYTES)
        .protocol(taste::offer(answer_taste))
        .protocol(crate::radio::offer(radio.clone()))
        .protocol(crate::radio::tree_offer(radio.clone()))
        .topic(channels)
        .max_message(crate::radio::MAX_SEGMENT_BYTES)
        .record_filter(Arc::new(|key: &[u8], value: &[u8], held: Option<&[u8]>| {
            crate::playlist::accepts_record(key, value, held)
                .unwrap_or_else(|| crate::artist::accepts_record(key, value, held))
        }))
}

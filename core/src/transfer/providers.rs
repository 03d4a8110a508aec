//! [`Providers`]: who is known to hold which track, and who is connected: a node's
//! [`ProviderSource`] for its transfers.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use libp2p::PeerId;

use super::{Candidates, ProviderSource, lock};
use crate::model::TrackId;

/// Most peers remembered as providers of one track.
const MAX_PROVIDERS_PER_TRACK: usize = 64;

/// The providers a node heard of (announcements, catalog sync, DHT lookups), at most
/// `MAX_PROVIDERS_PER_TRACK` per track, and its connected peers.
#[derive(Default)]
pub(crate) struct Providers {
    by_track: Mutex<HashMap<TrackId, HashSet<PeerId>>>,
    connected: Mutex<HashSet<PeerId>>,
}

impl Providers {
    /// Notes that `peer` holds `id`.
    pub(crate) fn add(&self, id: TrackId, peer: PeerId) {
        let mut map = lock(&self.by_track);
        let set = map.entry(id).or_default();
        if set.len() < MAX_PROVIDERS_PER_TRACK {
            set.insert(peer);
        }
    }

    /// The peers known to hold `id`, connected or not.
    pub(crate) fn holders(&self, id: &TrackId) -> HashSet<PeerId> {
        lock(&self.by_track).get(id).cloned().unwrap_or_default()
    }

    /// How many connected peers are known to hold `id`.
    pub(crate) fn count(&self, id: &TrackId) -> usize {
        let connected = lock(&self.connected);
        lock(&self.by_track)
            .get(id)
            .map_or(0, |s| s.iter().filter(|p| connected.contains(p)).count())
    }

    /// `peer` connected.
    pub(crate) fn connect(&self, peer: PeerId) {
        lock(&self.connected).insert(peer);
    }

    /// `peer` disconnected.
    pub(crate) fn disconnect(&self, peer: &PeerId) {
        lock(&self.connected).remove(peer);
    }

    /// The connected peers, up to `limit`.
    pub(crate) fn connected(&self, limit: usize) -> Vec<PeerId> {
        lock(&self.connected).iter().take(limit).copied().collect()
    }
}

impl ProviderSource for Providers {
    fn candidates(&self, id: &TrackId) -> Candidates {
        let connected = lock(&self.connected);
        let known = lock(&self.by_track).get(id).cloned().unwrap_or_default();
        // Known providers (connected before not), then every other connected peer: in a small
        // network a neighbour that never said so may still hold the track.
        let mut holders: Vec<PeerId> = known
            .iter()
            .filter(|p| connected.contains(p))
            .copied()
            .collect();
        holders.extend(known.iter().filter(|p| !connected.contains(p)));
        let others = connected
            .iter()
            .filter(|p| !known.contains(p))
            .copied()
            .collect();
        Candidates { holders, others }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connected_holders_come_first_then_the_other_connected_peers() {
        let providers = Providers::default();
        let id = TrackId([1; 32]);
        let [away, here, other] = [PeerId::random(), PeerId::random(), PeerId::random()];
        providers.add(id, away);
        providers.add(id, here);
        providers.connect(here);
        providers.connect(other);
        let Candidates { holders, others } = providers.candidates(&id);
        assert_eq!(holders, vec![here, away]);
        assert_eq!(others, vec![other]);
        assert_eq!(providers.count(&id), 1, "only connected holders count");
        providers.disconnect(&here);
        assert_eq!(providers.count(&id), 0);
        assert_eq!(providers.connected(8), vec![other]);
    }

    #[test]
    fn a_track_remembers_a_bounded_number_of_providers() {
        let providers = Providers::default();
        let id = TrackId([2; 32]);
        for _ in 0..MAX_PROVIDERS_PER_TRACK + 10 {
            let peer = PeerId::random();
            providers.add(id, peer);
            providers.connect(peer);
        }
        assert_eq!(providers.count(&id), MAX_PROVIDERS_PER_TRACK);
    }
}

//! The DHT side of the actor: provider records and lookups, records put and looked up, and the
//! records other peers store here. Keys are plain bytes: the services choose them (a track id,
//! an artist key, a channel id).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::kad::store::RecordStore as _;
use libp2p::{Multiaddr, PeerId, Swarm, kad};
use tokio::sync::oneshot;

use super::RecordFilter;
use super::behaviour::Behaviour;
use crate::error::{Error, Result};

/// How long a provider query goes on after its first providers were found. Peers near the key
/// answer within milliseconds and each knows the records put on it; after churn, waiting for the
/// whole query would wait out a timeout for every dead peer among the closest.
pub(super) const PROVIDERS_GRACE: Duration = Duration::from_millis(750);

/// A routing table this large is taken as a fair view of the network for provider records
/// (Kademlia's replication factor).
const WELL_CONNECTED: usize = 20;

/// Most records one DHT lookup collects.
const MAX_RECORDS_PER_LOOKUP: usize = 16;

/// DHT commands.
pub(crate) enum Command {
    Provide {
        key: Vec<u8>,
        reply: oneshot::Sender<()>,
    },
    Providers {
        key: Vec<u8>,
        reply: oneshot::Sender<HashSet<PeerId>>,
    },
    StoredProviders {
        key: Vec<u8>,
        reply: oneshot::Sender<HashSet<PeerId>>,
    },
    PutRecord {
        key: Vec<u8>,
        value: Vec<u8>,
        reply: oneshot::Sender<Result<()>>,
    },
    GetRecord {
        key: Vec<u8>,
        reply: oneshot::Sender<Vec<Vec<u8>>>,
    },
}

/// A provider query in flight: what it found so far, when it first found any, and who waits.
struct PendingProviders {
    found: HashSet<PeerId>,
    first_found: Option<Instant>,
    reply: oneshot::Sender<HashSet<PeerId>>,
}

/// Records found so far by a DHT lookup, and where the answer goes.
type PendingRecords = (Vec<Vec<u8>>, oneshot::Sender<Vec<Vec<u8>>>);

/// Queries in flight and the provider records to put again.
#[derive(Default)]
pub(super) struct Dht {
    providers: HashMap<kad::QueryId, PendingProviders>,
    records: HashMap<kad::QueryId, PendingRecords>,
    /// Provider records put while the routing table was small, with its size then: they went to
    /// the few peers known at the time, so they are put again as the table grows.
    provided_early: HashMap<kad::RecordKey, usize>,
    /// Checks the records other peers store here.
    filter: Option<RecordFilter>,
}

/// Adds `addr` of `peer` to the routing table, unless `peer`'s bucket is full. Kademlia would
/// put a newcomer to a full bucket on hold and dial the bucket's oldest entry, if disconnected,
/// to see whether it is alive. With the connection manager (`conns.rs`) most entries are
/// disconnected, so every new connection (whose identify lands here) set off one more dial, and
/// each of those more: a storm. A full bucket keeps its entries instead (Kademlia prefers old
/// peers anyway); one whose dial fails loses its address and its place, which makes room.
/// Kademlia's own inserts are off (`BucketInserts::Manual`, `behaviour.rs`) for the same
/// reason. The cost: an entry already in a full bucket does not learn a new address here.
pub(super) fn add_address(swarm: &mut Swarm<Behaviour>, peer: &PeerId, addr: Multiaddr) {
    let kad = &mut swarm.behaviour_mut().kad;
    let full = kad
        .kbucket(*peer)
        .is_some_and(|bucket| bucket.num_entries() >= kad::K_VALUE.get());
    if !full {
        kad.add_address(peer, addr);
    }
}

impl Dht {
    pub(super) fn new(filter: Option<RecordFilter>) -> Self {
        Self {
            filter,
            ..Self::default()
        }
    }

    pub(super) fn on_command(&mut self, swarm: &mut Swarm<Behaviour>, command: Command) {
        let kad = &mut swarm.behaviour_mut().kad;
        match command {
            Command::Provide { key, reply } => {
                let key = kad::RecordKey::new(&key);
                if let Err(e) = kad.start_providing(key.clone()) {
                    tracing::warn!(error = %e, "cannot store provider record");
                }
                let known = routing_table_size(kad);
                tracing::debug!(known, "providing");
                if known < WELL_CONNECTED {
                    self.provided_early.insert(key, known);
                }
                let _ = reply.send(());
            }
            Command::StoredProviders { key, reply } => {
                let held = kad.store_mut().providers(&kad::RecordKey::new(&key));
                let _ = reply.send(held.into_iter().map(|r| r.provider).collect());
            }
            Command::Providers { key, reply } => {
                let query = kad.get_providers(kad::RecordKey::new(&key));
                self.providers.insert(
                    query,
                    PendingProviders {
                        found: HashSet::new(),
                        first_found: None,
                        reply,
                    },
                );
            }
            Command::PutRecord { key, value, reply } => {
                let result = kad
                    .put_record(kad::Record::new(key, value), kad::Quorum::One)
                    .map(|_| ())
                    .map_err(|e| Error::Network(format!("DHT record: {e}")));
                let _ = reply.send(result);
            }
            Command::GetRecord { key, reply } => {
                let key = kad::RecordKey::new(&key);
                let mut found = Vec::new();
                if let Some(local) = kad.store_mut().get(&key) {
                    found.push(local.value.clone());
                }
                let query = kad.get_record(key);
                self.records.insert(query, (found, reply));
            }
        }
    }

    /// Answers the provider queries whose grace after the first providers is over, and ends
    /// them.
    pub(super) fn answer_queries_in_grace(&mut self, swarm: &mut Swarm<Behaviour>) {
        for id in self.due_in_grace(Instant::now()) {
            self.answer_providers(swarm, id);
        }
    }

    fn due_in_grace(&self, now: Instant) -> Vec<kad::QueryId> {
        self.providers
            .iter()
            .filter(|(_, p)| {
                p.first_found
                    .is_some_and(|t| now.saturating_duration_since(t) >= PROVIDERS_GRACE)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    fn answer_providers(&mut self, swarm: &mut Swarm<Behaviour>, id: kad::QueryId) {
        if let Some(pending) = self.providers.remove(&id) {
            let _ = pending.reply.send(pending.found);
        }
        if let Some(mut query) = swarm.behaviour_mut().kad.query_mut(&id) {
            query.finish();
        }
    }

    pub(super) fn on_event(&mut self, swarm: &mut Swarm<Behaviour>, event: kad::Event) {
        match event {
            kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetProviders(result),
                step,
                ..
            } => {
                if let Some(pending) = self.providers.get_mut(&id)
                    && let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = result
                    && !providers.is_empty()
                {
                    pending.found.extend(providers);
                    pending.first_found.get_or_insert_with(Instant::now);
                }
                // The rest is answered by `answer_queries_in_grace`.
                if step.last {
                    self.answer_providers(swarm, id);
                }
            }
            kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetRecord(result),
                step,
                ..
            } => {
                if let Some((found, _)) = self.records.get_mut(&id)
                    && let Ok(kad::GetRecordOk::FoundRecord(peer_record)) = result
                    && found.len() < MAX_RECORDS_PER_LOOKUP
                    && !found.contains(&peer_record.record.value)
                {
                    found.push(peer_record.record.value);
                }
                if step.last
                    && let Some((found, reply)) = self.records.remove(&id)
                {
                    let _ = reply.send(found);
                }
            }
            kad::Event::RoutingUpdated { .. } if !self.provided_early.is_empty() => {
                self.provide_again_as_the_table_grows(swarm);
            }
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::PutRecord {
                        record: Some(record),
                        source,
                        ..
                    },
            } => self.on_inbound_record(swarm, source, record),
            // Record filtering is on (for the services' records), so provider records are
            // stored here by hand; kad has checked that the provider is the peer that sent it.
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::AddProvider {
                        record: Some(record),
                    },
            } => {
                tracing::debug!(provider = %record.provider, "storing a provider record");
                let kad = &mut swarm.behaviour_mut().kad;
                if let Err(e) = kad.store_mut().add_provider(record) {
                    tracing::debug!(error = %e, "cannot store a provider record");
                }
            }
            _ => {}
        }
    }

    /// Puts provider records made while few peers were known again once the routing table has
    /// doubled since (or become well connected): a record stored only on the first few
    /// neighbours would be lost with them.
    fn provide_again_as_the_table_grows(&mut self, swarm: &mut Swarm<Behaviour>) {
        let kad = &mut swarm.behaviour_mut().kad;
        let known = routing_table_size(kad);
        for key in self.due_again(known) {
            tracing::debug!(known, "providing again: the routing table grew");
            if let Err(e) = kad.start_providing(key.clone()) {
                tracing::debug!(error = %e, "cannot store provider record again");
            }
        }
    }

    /// The early provider records due again with `known` peers in the table; each is kept
    /// with the new size, or dropped from the list once the table is well connected.
    fn due_again(&mut self, known: usize) -> Vec<kad::RecordKey> {
        let due: Vec<kad::RecordKey> = self
            .provided_early
            .iter()
            .filter(|&(_, &then)| known >= WELL_CONNECTED || known >= (2 * then).max(then + 1))
            .map(|(k, _)| k.clone())
            .collect();
        for key in &due {
            if known >= WELL_CONNECTED {
                self.provided_early.remove(key);
            } else {
                self.provided_early.insert(key.clone(), known);
            }
        }
        due
    }

    /// A DHT record another peer wants stored here: kept if the filter (the services' check:
    /// an artist profile must verify and be at least as new as the copy held) accepts it.
    fn on_inbound_record(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        source: PeerId,
        record: kad::Record,
    ) {
        let store = swarm.behaviour_mut().kad.store_mut();
        if let Some(filter) = &self.filter {
            let held = store.get(&record.key);
            let held = held.as_ref().map(|r| r.value.as_slice());
            if !filter(record.key.as_ref(), &record.value, held) {
                tracing::info!(%source, "refused a DHT record");
                return;
            }
        }
        if let Err(e) = store.put(record) {
            tracing::debug!(%source, error = %e, "cannot store a DHT record");
        }
    }
}

fn routing_table_size(kad: &mut kad::Behaviour<kad::store::MemoryStore>) -> usize {
    kad.kbuckets().map(|b| b.num_entries()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> kad::RecordKey {
        kad::RecordKey::new(&[b; 32])
    }

    #[test]
    fn early_records_are_put_again_as_the_table_doubles() {
        let mut dht = Dht::default();
        dht.provided_early.insert(key(1), 0);
        dht.provided_early.insert(key(2), 3);
        // One peer: the record put with none known is due, the one put with 3 is not.
        assert_eq!(dht.due_again(1), vec![key(1)]);
        assert_eq!(dht.provided_early[&key(1)], 1);
        assert!(dht.due_again(1).is_empty());
        let mut due = dht.due_again(6);
        due.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
        assert_eq!(due, vec![key(1), key(2)]);
        // Well connected: put once more, then never again.
        assert_eq!(dht.due_again(WELL_CONNECTED).len(), 2);
        assert!(dht.provided_early.is_empty());
    }

    #[test]
    fn provider_queries_are_answered_a_grace_after_their_first_find() {
        let mut dht = Dht::default();
        let t0 = Instant::now();
        let (reply, _rx) = oneshot::channel();
        let id = query_id();
        dht.providers.insert(
            id,
            PendingProviders {
                found: HashSet::new(),
                first_found: None,
                reply,
            },
        );
        assert!(
            dht.due_in_grace(t0 + PROVIDERS_GRACE * 10).is_empty(),
            "nothing found yet"
        );
        dht.providers.get_mut(&id).unwrap().first_found = Some(t0);
        assert!(dht.due_in_grace(t0 + PROVIDERS_GRACE / 2).is_empty());
        assert_eq!(dht.due_in_grace(t0 + PROVIDERS_GRACE), vec![id]);
    }

    /// A query id, as only kad makes them.
    fn query_id() -> kad::QueryId {
        let peer = PeerId::random();
        let store = kad::store::MemoryStore::new(peer);
        let mut kad = kad::Behaviour::new(peer, store);
        kad.get_providers(key(9))
    }
}

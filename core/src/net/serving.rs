//! Serving inbound requests: each goes to the handler of its protocol, on the blocking pool,
//! within the peer's limits (see [`Gate::admit`]) and a cap on requests served at once over
//! every protocol; over either the protocol's refusal goes back at once. Answers that carry bulk
//! content can be paced to [`NetworkConfig::serve_rate`](super::NetworkConfig::serve_rate).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libp2p::request_response::ResponseChannel;
use libp2p::{PeerId, Swarm};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::behaviour::Behaviour;
use super::gate::Gate;
use super::limits::Verdict;
use super::{Handler, Protocol, Reply};

/// Answers on their way back to the actor.
const RESPONSE_QUEUE: usize = 256;

/// An answer ready to go: the protocol's index, the requester, its channel, and the bytes
/// (`None`: no answer, the stream is closed).
pub(super) type Served = (usize, PeerId, ResponseChannel<Vec<u8>>, Option<Vec<u8>>);

/// One protocol's handler and refusal.
struct Entry {
    handler: Arc<dyn Handler>,
    refused: Arc<[u8]>,
}

/// When the rate-limited server may send its next bytes (shared by the answering tasks).
type Pacer = Arc<Mutex<tokio::time::Instant>>;

/// The handlers of the registered protocols, in the router's order, and the caps on serving.
pub(super) struct Serving {
    entries: Vec<Entry>,
    limit: Arc<Semaphore>,
    pacer: Pacer,
    rate: Option<u64>,
    tx: mpsc::Sender<Served>,
    /// Finished answers, for the actor to send.
    pub(super) rx: mpsc::Receiver<Served>,
}

impl Serving {
    /// Serves `protocols` (in the router's order), at most `max_inbound` requests at once,
    /// bulk content at `rate` bytes per second at most.
    pub(super) fn new(protocols: &[Protocol], max_inbound: usize, rate: Option<u64>) -> Self {
        let (tx, rx) = mpsc::channel(RESPONSE_QUEUE);
        Self {
            entries: protocols
                .iter()
                .map(|p| Entry {
                    handler: p.handler.clone(),
                    refused: p.refused.as_slice().into(),
                })
                .collect(),
            limit: Arc::new(Semaphore::new(max_inbound.max(1))),
            pacer: Arc::new(Mutex::new(tokio::time::Instant::now())),
            rate,
            tx,
            rx,
        }
    }

    /// An inbound request of protocol `index` from `peer`: answered from its handler, or
    /// refused (and the peer banned when it ran out of strikes), or dropped when the peer is
    /// shut out.
    pub(super) fn on_request(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        gate: &mut Gate,
        index: usize,
        peer: PeerId,
        request: Vec<u8>,
        channel: ResponseChannel<Vec<u8>>,
    ) {
        if gate.shut_out(&peer) {
            return;
        }
        let Some(entry) = self.entries.get(index) else {
            return;
        };
        let permit = match admit(gate, &self.limit, peer) {
            Ok(permit) => permit,
            Err(verdict) => {
                let refused = entry.refused.to_vec();
                swarm
                    .behaviour_mut()
                    .services
                    .send_response(index, channel, refused);
                if verdict == Verdict::Ban {
                    gate.ban(swarm, peer);
                }
                return;
            }
        };
        let handler = entry.handler.clone();
        let refused = entry.refused.clone();
        let (tx, pacer, rate) = (self.tx.clone(), self.pacer.clone(), self.rate);
        tokio::spawn(async move {
            let answer = answer(handler, &refused, &pacer, rate, peer, request).await;
            let _ = tx.send((index, peer, channel, answer)).await;
            drop(permit);
        });
    }

    /// Sends an answer that is ready (the requester may have gone; nothing to do then).
    pub(super) fn on_served(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        gate: &mut Gate,
        served: Served,
    ) {
        let (index, peer, channel, answer) = served;
        gate.served(&peer);
        match answer {
            Some(bytes) => {
                let _ = swarm
                    .behaviour_mut()
                    .services
                    .send_response(index, channel, bytes);
            }
            // The request did not decode.
            None => gate.malformed(swarm, peer),
        }
    }
}

/// Admits a request of `peer` within its limits and the cap on requests served at once, or
/// says why not: `Refuse` (over the cap or the rate) or `Ban`.
fn admit(
    gate: &mut Gate,
    limit: &Arc<Semaphore>,
    peer: PeerId,
) -> Result<OwnedSemaphorePermit, Verdict> {
    let verdict = gate.admit(peer, Instant::now());
    if verdict != Verdict::Serve {
        return Err(verdict);
    }
    limit.clone().try_acquire_owned().map_err(|_| {
        gate.served(&peer);
        Verdict::Refuse
    })
}

/// Runs the handler on the blocking pool and turns its reply into the bytes to send (a handler
/// that panicked refuses), pacing bulk content.
async fn answer(
    handler: Arc<dyn Handler>,
    refused: &[u8],
    pacer: &Pacer,
    rate: Option<u64>,
    peer: PeerId,
    request: Vec<u8>,
) -> Option<Vec<u8>> {
    let reply = tokio::task::spawn_blocking(move || handler.handle(peer, &request))
        .await
        .unwrap_or(Reply::Refuse);
    match reply {
        Reply::Answer(bytes) => Some(bytes),
        Reply::Paced { answer, len } => {
            if let Some(rate) = rate {
                let ready = {
                    let mut next = pacer.lock().unwrap_or_else(|p| p.into_inner());
                    next_slot(&mut next, tokio::time::Instant::now(), len, rate)
                };
                tokio::time::sleep_until(ready).await;
            }
            Some(answer)
        }
        Reply::Refuse => Some(refused.to_vec()),
        Reply::Drop => None,
    }
}

/// When `len` bulk bytes may go out at `rate` bytes per second, after what went before
/// (`next`, moved on by their cost).
fn next_slot(
    next: &mut tokio::time::Instant,
    now: tokio::time::Instant,
    len: usize,
    rate: u64,
) -> tokio::time::Instant {
    let cost = Duration::from_secs_f64(len as f64 / rate.max(1) as f64);
    let start = (*next).max(now);
    *next = start + cost;
    *next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::PeerLimits;

    fn handler() -> Arc<dyn Handler> {
        Arc::new(|_, request: &[u8]| match request {
            [0] => Reply::Refuse,
            [1] => Reply::Drop,
            [2] => panic!("a handler bug"),
            [3] => Reply::Paced {
                answer: vec![3],
                len: 1000,
            },
            other => Reply::Answer(other.iter().rev().copied().collect()),
        })
    }

    async fn ask(request: &[u8], rate: Option<u64>) -> Option<Vec<u8>> {
        let pacer = Arc::new(Mutex::new(tokio::time::Instant::now()));
        answer(
            handler(),
            b"no",
            &pacer,
            rate,
            PeerId::random(),
            request.to_vec(),
        )
        .await
    }

    #[tokio::test]
    async fn replies_become_answers_refusals_or_silence() {
        assert_eq!(ask(&[7, 8], None).await, Some(vec![8, 7]));
        assert_eq!(ask(&[0], None).await, Some(b"no".to_vec()));
        assert_eq!(ask(&[1], None).await, None);
        assert_eq!(
            ask(&[2], None).await,
            Some(b"no".to_vec()),
            "a panic refuses"
        );
        assert_eq!(ask(&[3], None).await, Some(vec![3]));
    }

    #[tokio::test]
    async fn bulk_answers_wait_their_turn_at_the_serve_rate() {
        let started = tokio::time::Instant::now();
        // 1000 bytes at 20 kB/s: 50 ms.
        assert_eq!(ask(&[3], Some(20_000)).await, Some(vec![3]));
        assert!(started.elapsed() >= Duration::from_millis(50));
        let now = tokio::time::Instant::now();
        let mut next = now;
        let half = Duration::from_millis(500);
        assert_eq!(next_slot(&mut next, now, 500, 1000), now + half);
        // The next one queues behind it; one after a quiet time starts at once.
        assert_eq!(next_slot(&mut next, now, 500, 1000), now + 2 * half);
        let later = now + 10 * half;
        assert_eq!(next_slot(&mut next, later, 0, 1000), later);
    }

    #[test]
    fn requests_over_the_cap_are_refused_without_strikes() {
        let mut gate = Gate::new(PeerLimits::default());
        let limit = Arc::new(Semaphore::new(1));
        let (a, b) = (PeerId::random(), PeerId::random());
        let permit = admit(&mut gate, &limit, a).unwrap();
        assert_eq!(admit(&mut gate, &limit, b).err(), Some(Verdict::Refuse));
        drop(permit);
        gate.served(&a);
        assert!(admit(&mut gate, &limit, b).is_ok());
    }
}

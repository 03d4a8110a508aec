//! This peer's own requests: sent on the protocol they name, through the relays when the peer
//! is not connected, and answered when the response or the failure comes back.

use std::collections::HashMap;

use libp2p::request_response::{self, OutboundFailure, OutboundRequestId};
use libp2p::{PeerId, StreamProtocol, Swarm};
use tokio::sync::oneshot;

use super::behaviour::Behaviour;
use super::gate::Gate;
use super::links::Links;
use super::relay::Relays;
use crate::error::{Error, Result};

/// A request to send.
pub(crate) struct Command {
    pub(crate) peer: PeerId,
    pub(crate) protocol: StreamProtocol,
    pub(crate) request: Vec<u8>,
    pub(crate) reply: oneshot::Sender<Result<Vec<u8>>>,
}

/// Requests waiting for their answers, by protocol index and request id (each protocol's
/// behaviour numbers its own requests).
#[derive(Default)]
pub(super) struct Requests {
    pending: HashMap<(usize, OutboundRequestId), oneshot::Sender<Result<Vec<u8>>>>,
}

impl Requests {
    pub(super) fn send(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        gate: &Gate,
        links: &Links,
        relays: &Relays,
        command: Command,
    ) {
        let Command {
            peer,
            protocol,
            request,
            reply,
        } = command;
        if gate.shut_out(&peer) {
            let _ = reply.send(Err(Error::ShutOut(peer)));
            return;
        }
        let services = &mut swarm.behaviour_mut().services;
        let Some(index) = services.index(&protocol) else {
            let _ = reply.send(Err(Error::Network(format!(
                "protocol {protocol} is not registered here"
            ))));
            return;
        };
        // A peer not connected is dialed at the addresses the behaviours know and, at the same
        // time, through the relays this peer is connected to: if it listens through one of
        // them, that circuit reaches it.
        let routes = if links.is_connected(&peer) {
            Vec::new()
        } else {
            relays.routes(peer)
        };
        if let Some(id) = services.send_request(index, &peer, request, routes) {
            self.pending.insert((index, id), reply);
        }
    }

    /// The outcome of a request: its answer or its failure.
    pub(super) fn on_event(
        &mut self,
        index: usize,
        event: request_response::Event<Vec<u8>, Vec<u8>>,
    ) {
        match event {
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.pending.remove(&(index, request_id)) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(reply) = self.pending.remove(&(index, request_id)) {
                    let _ = reply.send(Err(failure(peer, error)));
                }
            }
            _ => {}
        }
    }
}

/// The error a failed request reports: `Unreachable` when the peer could not be reached (a
/// failed dial, a closed connection), which a caller takes as "try another peer now".
fn failure(peer: PeerId, source: OutboundFailure) -> Error {
    match source {
        OutboundFailure::DialFailure | OutboundFailure::ConnectionClosed => {
            Error::Unreachable { peer, source }
        }
        _ => Error::Request { peer, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_peers_are_told_apart_from_other_failures() {
        let peer = PeerId::random();
        for unreachable in [
            OutboundFailure::DialFailure,
            OutboundFailure::ConnectionClosed,
        ] {
            let e = failure(peer, unreachable);
            assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
        }
        for failed in [
            OutboundFailure::Timeout,
            OutboundFailure::UnsupportedProtocols,
        ] {
            let e = failure(peer, failed);
            assert!(matches!(e, Error::Request { .. }), "{e:?}");
            let cause = std::error::Error::source(&e).map(ToString::to_string);
            assert!(e.to_string().ends_with(&cause.unwrap_or_default()));
        }
    }
}

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
            let _ = reply.send(Err(Error::Unreachable(format!(
                "peer {peer} is banned or cut off"
            ))));
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
                request_id, error, ..
            } => {
                if let Some(reply) = self.pending.remove(&(index, request_id)) {
                    let _ = reply.send(Err(failure(&error)));
                }
            }
            _ => {}
        }
    }
}

/// The error a failed request reports: `Unreachable` when the peer could not be reached (a
/// failed dial, a closed connection), which a caller takes as "try another peer now".
fn failure(error: &OutboundFailure) -> Error {
    match error {
        OutboundFailure::DialFailure | OutboundFailure::ConnectionClosed => {
            Error::Unreachable(format!("request failed: {error}"))
        }
        _ => Error::Network(format!("request failed: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_peers_are_told_apart_from_other_failures() {
        assert!(matches!(
            failure(&OutboundFailure::DialFailure),
            Error::Unreachable(_)
        ));
        assert!(matches!(
            failure(&OutboundFailure::ConnectionClosed),
            Error::Unreachable(_)
        ));
        assert!(matches!(
            failure(&OutboundFailure::Timeout),
            Error::Network(_)
        ));
        assert!(matches!(
            failure(&OutboundFailure::UnsupportedProtocols),
            Error::Network(_)
        ));
    }
}

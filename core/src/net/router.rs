//! The request-response protocols of the services as one behaviour.
//!
//! [`Router`] holds one libp2p `request_response::Behaviour` per registered protocol, each with
//! a [`FrameCodec`] bounded by that protocol's limits, and shows the swarm a single behaviour:
//! every connection gets one handler made of theirs (libp2p's `MultiHandler`), and events are
//! tagged with the index of the protocol they belong to. One behaviour per protocol, because a
//! `request_response::Behaviour` offers all its protocols on every request and lets the remote
//! pick: a request must go out on the protocol of the service that sends it.

use std::io;
use std::task::{Context, Poll};

use futures::prelude::*;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::handler::multi::MultiHandler;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{PeerId, StreamProtocol};

use crate::wire::DecodeError;

/// Length-prefixed frames of raw bytes: a big-endian `u32` length, then the body. The length is
/// checked against the protocol's limit before the body is allocated; what the body means is
/// the service's business.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_request: usize,
    max_response: usize,
}

/// Reads one frame of at most `max` bytes.
pub(super) async fn read_frame<T>(io: &mut T, max: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            DecodeError::TooLarge {
                what: "frame",
                len,
                max,
            },
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Writes one frame and closes the stream.
pub(super) async fn write_frame<T>(io: &mut T, body: &[u8]) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    let len = u32::try_from(body.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame over 4 GiB"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(body).await?;
    io.close().await
}

impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_request).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_response).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res).await
    }
}

type Inner = request_response::Behaviour<FrameCodec>;

/// An event of one protocol: its index among the registered ones, and the event.
pub type RouterEvent = (usize, request_response::Event<Vec<u8>, Vec<u8>>);

/// The request-response behaviours of every registered protocol (see the module docs).
pub struct Router {
    names: Vec<StreamProtocol>,
    inner: Vec<Inner>,
    /// Where the next poll starts, so that a busy protocol cannot starve the others.
    next_poll: usize,
}

/// A protocol the router speaks: its name and its largest request and response bodies.
pub(super) struct Spec {
    pub(super) name: StreamProtocol,
    pub(super) max_request: usize,
    pub(super) max_response: usize,
}

impl Router {
    /// One behaviour per protocol, each with `config` (timeouts, concurrent streams).
    pub(super) fn new(specs: Vec<Spec>, config: &request_response::Config) -> Self {
        let mut names = Vec::with_capacity(specs.len());
        let mut inner = Vec::with_capacity(specs.len());
        for spec in specs {
            let codec = FrameCodec {
                max_request: spec.max_request,
                max_response: spec.max_response,
            };
            inner.push(Inner::with_codec(
                codec,
                [(spec.name.clone(), ProtocolSupport::Full)],
                config.clone(),
            ));
            names.push(spec.name);
        }
        Self {
            names,
            inner,
            next_poll: 0,
        }
    }

    /// The index of protocol `name`, if registered.
    pub(super) fn index(&self, name: &StreamProtocol) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// The name of the protocol at `index`.
    pub(super) fn name(&self, index: usize) -> Option<&StreamProtocol> {
        self.names.get(index)
    }

    /// Sends a request on protocol `index` to `peer`, dialing `addresses` too when the peer is
    /// not connected.
    pub(super) fn send_request(
        &mut self,
        index: usize,
        peer: &PeerId,
        request: Vec<u8>,
        addresses: Vec<Multiaddr>,
    ) -> Option<OutboundRequestId> {
        let inner = self.inner.get_mut(index)?;
        Some(inner.send_request_with_addresses(peer, request, addresses))
    }

    /// Answers an inbound request of protocol `index`. Returns whether the answer could be
    /// handed over (the requester may be gone).
    pub(super) fn send_response(
        &mut self,
        index: usize,
        channel: ResponseChannel<Vec<u8>>,
        response: Vec<u8>,
    ) -> bool {
        self.inner
            .get_mut(index)
            .is_some_and(|inner| inner.send_response(channel, response).is_ok())
    }

    fn handler(
        &mut self,
        make: impl Fn(&mut Inner) -> Result<THandler<Inner>, ConnectionDenied>,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let handlers = self
            .inner
            .iter_mut()
            .enumerate()
            .map(|(i, inner)| make(inner).map(|h| (i, h)))
            .collect::<Result<Vec<_>, _>>()?;
        MultiHandler::try_from_iter(handlers).map_err(ConnectionDenied::new)
    }
}

impl NetworkBehaviour for Router {
    type ConnectionHandler = MultiHandler<usize, THandler<Inner>>;
    type ToSwarm = RouterEvent;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        for inner in &mut self.inner {
            inner.handle_pending_inbound_connection(connection_id, local_addr, remote_addr)?;
        }
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.handler(|inner| {
            inner.handle_established_inbound_connection(
                connection_id,
                peer,
                local_addr,
                remote_addr,
            )
        })
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        // The addresses given with requests to a peer not connected yet, from every protocol.
        let mut out = Vec::new();
        for inner in &mut self.inner {
            for addr in inner.handle_pending_outbound_connection(
                connection_id,
                maybe_peer,
                addresses,
                effective_role,
            )? {
                if !out.contains(&addr) {
                    out.push(addr);
                }
            }
        }
        Ok(out)
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.handler(|inner| {
            inner.handle_established_outbound_connection(
                connection_id,
                peer,
                addr,
                role_override,
                port_use,
            )
        })
    }

    fn on_swarm_event(&mut self, event: FromSwarm<'_>) {
        for inner in &mut self.inner {
            inner.on_swarm_event(event);
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        (index, event): THandlerOutEvent<Self>,
    ) {
        if let Some(inner) = self.inner.get_mut(index) {
            inner.on_connection_handler_event(peer, connection, event);
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<RouterEvent, THandlerInEvent<Self>>> {
        let n = self.inner.len();
        for k in 0..n {
            let index = (self.next_poll + k) % n;
            if let Poll::Ready(event) = self.inner[index].poll(cx) {
                self.next_poll = (index + 1) % n;
                return Poll::Ready(event.map_in(|e| (index, e)).map_out(|e| (index, e)));
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use libp2p::request_response::Codec;

    use super::*;

    const PROTOCOL: StreamProtocol = StreamProtocol::new("/test/1");

    fn codec() -> FrameCodec {
        FrameCodec {
            max_request: 16,
            max_response: 32,
        }
    }

    #[test]
    fn oversized_frames_are_refused_before_reading_them() {
        let mut frame = u32::MAX.to_be_bytes().to_vec();
        frame.extend_from_slice(&[0; 16]);
        let mut io = futures::io::Cursor::new(frame);
        let err =
            futures::executor::block_on(codec().read_response(&PROTOCOL, &mut io)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        // Each direction has its own limit: 17 bytes is over the request limit only.
        let mut seventeen = 17u32.to_be_bytes().to_vec();
        seventeen.extend_from_slice(&[7; 17]);
        let mut io = futures::io::Cursor::new(seventeen.clone());
        assert!(futures::executor::block_on(codec().read_request(&PROTOCOL, &mut io)).is_err());
        let mut io = futures::io::Cursor::new(seventeen);
        let body = futures::executor::block_on(codec().read_response(&PROTOCOL, &mut io)).unwrap();
        assert_eq!(body, vec![7; 17]);
        // A frame shorter than its prefix says is an error, not a short body.
        let mut short = futures::io::Cursor::new(vec![0, 0, 0, 9, 1]);
        assert!(futures::executor::block_on(codec().read_request(&PROTOCOL, &mut short)).is_err());
    }

    #[test]
    fn frames_round_trip_through_the_codec() {
        for body in [Vec::new(), vec![1], vec![9; 16]] {
            let mut buf = futures::io::Cursor::new(Vec::new());
            futures::executor::block_on(codec().write_request(&PROTOCOL, &mut buf, body.clone()))
                .unwrap();
            let bytes = buf.into_inner();
            assert_eq!(bytes[..4], (body.len() as u32).to_be_bytes());
            let mut rd = futures::io::Cursor::new(bytes);
            let back =
                futures::executor::block_on(codec().read_request(&PROTOCOL, &mut rd)).unwrap();
            assert_eq!(back, body);
        }
    }

    #[test]
    fn requests_go_out_on_the_protocol_they_name() {
        let specs = ["/a/1", "/b/1"]
            .map(|name| Spec {
                name: StreamProtocol::new(name),
                max_request: 8,
                max_response: 8,
            })
            .into_iter()
            .collect();
        let mut router = Router::new(specs, &request_response::Config::default());
        assert_eq!(router.index(&StreamProtocol::new("/b/1")), Some(1));
        assert_eq!(router.index(&StreamProtocol::new("/c/1")), None);
        assert_eq!(router.name(0).map(AsRef::as_ref), Some("/a/1"));
        let peer = PeerId::random();
        assert!(router.send_request(0, &peer, vec![1], Vec::new()).is_some());
        assert!(router.send_request(2, &peer, vec![1], Vec::new()).is_none());
    }
}

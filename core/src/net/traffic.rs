//! Bytes this peer sent and received, over all its connections and protocols.
//!
//! libp2p counts them for each connection's substreams (`SwarmBuilder::with_bandwidth_metrics`):
//! what every protocol wrote and read above the multiplexer, after Noise, so Yamux frame headers
//! and Noise tags (a few percent) are not in the figure. The counters live in a Prometheus
//! registry owned by this module; [`Traffic::totals`] reads them back from its text encoding,
//! which is the registry's only public way out.

use std::sync::Arc;

use libp2p::metrics::Registry;

/// Bytes sent and received since the peer started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficCount {
    /// Bytes written to other peers.
    pub sent: u64,
    /// Bytes read from other peers.
    pub received: u64,
}

/// A handle on one peer's byte counters. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    registry: Option<Arc<Registry>>,
}

impl Traffic {
    /// Counters read from `registry`, which the swarm's transport was built with.
    pub(super) fn new(registry: Registry) -> Self {
        Self {
            registry: Some(Arc::new(registry)),
        }
    }

    /// The totals so far over every transport (TCP, QUIC, relayed circuits); zero for a peer
    /// without a network.
    pub fn totals(&self) -> TrafficCount {
        let Some(registry) = &self.registry else {
            return TrafficCount::default();
        };
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, registry).is_err() {
            return TrafficCount::default();
        }
        parse_totals(&text)
    }
}

/// Sums the `libp2p_bandwidth_bytes_total` lines of a text exposition by direction.
fn parse_totals(text: &str) -> TrafficCount {
    let mut count = TrafficCount::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("libp2p_bandwidth_bytes_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Ok(bytes) = value.trim().parse::<u64>() else {
            continue;
        };
        if labels.contains("direction=\"Outbound\"") {
            count.sent += bytes;
        } else if labels.contains("direction=\"Inbound\"") {
            count.received += bytes;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_every_transport_by_direction() {
        let text = "# HELP libp2p_bandwidth_bytes Bandwidth usage.\n\
            # TYPE libp2p_bandwidth_bytes counter\n\
            # UNIT libp2p_bandwidth_bytes bytes\n\
            libp2p_bandwidth_bytes_total{protocols=\"/ip4/tcp\",direction=\"Outbound\"} 1200\n\
            libp2p_bandwidth_bytes_total{protocols=\"/ip4/tcp\",direction=\"Inbound\"} 300\n\
            libp2p_bandwidth_bytes_total{protocols=\"/ip4/udp/quic-v1\",direction=\"Outbound\"} 34\n\
            libp2p_other_total{direction=\"Outbound\"} 999\n\
            # EOF\n";
        assert_eq!(
            parse_totals(text),
            TrafficCount {
                sent: 1234,
                received: 300
            }
        );
    }

    #[test]
    fn a_peer_without_a_network_counts_nothing() {
        assert_eq!(Traffic::default().totals(), TrafficCount::default());
    }
}

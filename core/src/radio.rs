//! Radio channels: a broadcaster cuts audio into short signed segments and pushes them down the
//! channel's tree of listeners ([`tree`]); listeners verify, buffer, repair and play them in step.
//!
//! How the parts fit:
//! - [`ChannelDescriptor`] (owner key, name, description; signed) names a channel; its
//!   [`ChannelId`] is derived from the owner key and the name. Broadcasters put the descriptor in
//!   the DHT under the id and announce a signed [`ChannelStatus`] (with their listener count) on
//!   [`CHANNELS_TOPIC`] every few seconds.
//! - [`Segment`]s (about a second of the track's own MP3 or FLAC packets, or of PCM at the
//!   track's own format for other codecs; sequence number, broadcast time, now-playing track)
//!   go down the channel's push tree, each to each listener once ([`tree`]); heartbeats travel
//!   on the gossip topic `busker/radio/<id hex>/1`. Every peer validates segments
//!   before forwarding ([`validator`]: owner signature, channel, size, a replay window), so a
//!   forged or replayed segment goes no further than the peer that sent it.
//! - Every peer on a channel keeps a small ring of recent segments and answers repair and
//!   tune-in requests from it over the radio [`protocol`] (`/busker/radio/1`, registered with
//!   [`offer`]).
//! - The listener ([`Tuning`], made by [`crate::Node::radio_tune`]) starts at the live point,
//!   plays each segment at its broadcast time plus a fixed latency, asks a neighbour for a segment
//!   that gossip has not brought in time, and reports [`TuneReport`] figures.
//!
//! ```no_run
//! # async fn demo(node: busker_core::Node) -> busker_core::Result<()> {
//! use busker_core::media::NullSink;
//! use busker_core::radio::{RadioQueue, TuneOptions};
//! let channel = node.radio_start("Night Owl", RadioQueue::Personal).await?;
//! let tuning = node
//!     .radio_tune(channel.id(), Box::new(NullSink::unpaced()), TuneOptions::seconds(10.0))
//!     .await?;
//! let report = tuning.finish().await?;
//! println!("continuity {:.3}, lag {:?} ms", report.continuity(), report.lag_ms);
//! # Ok(()) }
//! ```

mod broadcaster;
mod channel;
mod hub;
mod listener;
mod live;
pub mod protocol;
mod relay;
mod segment;
pub mod tree;

pub use broadcaster::{BroadcastOptions, RadioQueue};
pub use channel::{
    CHANNEL_VERSION, ChannelDescriptor, ChannelId, ChannelStatus, MAX_DESCRIPTION,
    MAX_DESCRIPTOR_BYTES, MAX_NAME, MAX_STATUS_BYTES,
};
pub use hub::{ChannelInfo, NowPlaying};
pub use listener::{
    DropPattern, FirstSegment, REPAIR_RETRY, RadioEvent, TuneOptions, TuneReport, Tuning,
};
pub use live::{LiveFeed, LiveInput};
pub use segment::{
    CheckedMessage, MAX_AUDIO_BYTES, MAX_SEGMENT_BYTES, RADIO_VERSION, RadioMessage, Segment,
    SegmentAudio, SegmentDraft, encode_heartbeat,
};

pub use protocol::offer;
pub(crate) use relay::offer as tree_offer;

pub(crate) use broadcaster::{NextTrack, broadcast};
pub(crate) use hub::RadioHub;
pub(crate) use listener::{TuneSession, tune};
pub(crate) use live::{broadcast_live, input as live_input};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use libp2p::PeerId;

use crate::net::{TopicValidator, Validation};

/// How far (ms) a segment's broadcast time or a heartbeat's time may be from this peer's clock
/// before the message is ignored as stale (a replay) or bogus.
pub const CLOCK_WINDOW_MS: u64 = 60_000;
/// A segment this many sequence numbers behind the newest one seen is ignored (a replay).
pub const REPLAY_WINDOW: u64 = 64;

/// How long before its air time (its broadcast time) a broadcaster publishes a segment: the
/// audio is recorded, so it can be sent ahead. A listener plays a segment
/// [`TuneOptions::latency`] after its air time, so each segment has this much longer to
/// arrive or be repaired than the listener lags behind the broadcast. The first segment of a
/// broadcast has no lead (nothing is sent before the broadcast starts): the listeners of a new
/// channel start within the latency, and the lead builds up over its first segments.
pub const SEND_AHEAD: std::time::Duration = std::time::Duration::from_millis(1000);

/// Segments a peer sends in answer to a tune-in ([`protocol::Request::Recent`]): its newest ones. With
/// the broadcaster's [`SEND_AHEAD`] these are the segment on air and the next, so a listener can
/// start at once without a burst of older audio it would not play.
pub const TUNE_IN_SEGMENTS: usize = 2;

/// The gossipsub topic radio channels are announced on (signed [`ChannelStatus`] messages).
pub const CHANNELS_TOPIC: &str = "busker/channels/1";

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The gossip validator of one channel's topic: decodes every message against the descriptor
/// (size, channel, owner signature), ignores segments outside the clock window or far behind
/// the newest sequence number seen, and heartbeats without a signed source.
pub fn validator(descriptor: ChannelDescriptor) -> TopicValidator {
    let newest = Arc::new(AtomicU64::new(0));
    Arc::new(move |data: &[u8], source: Option<&PeerId>| {
        let now = unix_ms();
        match RadioMessage::check(data, &descriptor) {
            Err(_) => Validation::Reject,
            Ok(CheckedMessage::Heartbeat { sent_ms }) => {
                if source.is_none() {
                    Validation::Reject
                } else if sent_ms.abs_diff(now) > CLOCK_WINDOW_MS {
                    Validation::Ignore
                } else {
                    Validation::Accept
                }
            }
            Ok(CheckedMessage::Segment { seq, broadcast_ms }) => {
                if broadcast_ms.abs_diff(now) > CLOCK_WINDOW_MS
                    || seq + REPLAY_WINDOW < newest.load(Ordering::Relaxed)
                {
                    Validation::Ignore
                } else {
                    newest.fetch_max(seq, Ordering::Relaxed);
                    Validation::Accept
                }
            }
        }
    })
}

/// The validator of the channels topic: a [`ChannelStatus`] must decode and verify and be
/// recent.
pub fn status_validator() -> TopicValidator {
    Arc::new(
        |data: &[u8], _: Option<&PeerId>| match ChannelStatus::decode(data) {
            Err(_) => Validation::Reject,
            Ok(s) if s.at_ms.abs_diff(unix_ms()) > CLOCK_WINDOW_MS => Validation::Ignore,
            Ok(_) => Validation::Accept,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ArtistKeypair;

    fn segment(owner: &ArtistKeypair, channel: ChannelId, seq: u64, broadcast_ms: u64) -> Vec<u8> {
        SegmentDraft::silence(channel, seq, broadcast_ms, 800)
            .sign(owner)
            .encoded()
            .to_vec()
    }

    #[test]
    fn the_channel_validator_passes_the_owners_segments_only() {
        let owner = ArtistKeypair::from_seed([1; 32]);
        let descriptor = ChannelDescriptor::sign(&owner, "Valid FM", "", 1);
        let other = ChannelDescriptor::sign(&owner, "Other FM", "", 1);
        let check = validator(descriptor.clone());
        let source = PeerId::random();
        let now = unix_ms();
        let id = descriptor.id();
        assert_eq!(
            check(&segment(&owner, id, 100, now), Some(&source)),
            Validation::Accept
        );
        let thief = ArtistKeypair::from_seed([2; 32]);
        assert_eq!(
            check(&segment(&thief, id, 101, now), Some(&source)),
            Validation::Reject,
            "signed by another key"
        );
        assert_eq!(
            check(&segment(&owner, other.id(), 101, now), Some(&source)),
            Validation::Reject,
            "a segment of another channel"
        );
        assert_eq!(check(&[1, 2, 3], Some(&source)), Validation::Reject);
    }

    #[test]
    fn the_channel_validator_ignores_replays_and_stale_segments() {
        let owner = ArtistKeypair::from_seed([1; 32]);
        let descriptor = ChannelDescriptor::sign(&owner, "Replay FM", "", 1);
        let id = descriptor.id();
        let check = validator(descriptor);
        let now = unix_ms();
        let accept = |seq, at| check(&segment(&owner, id, seq, at), None);
        assert_eq!(accept(1000, now), Validation::Accept);
        assert_eq!(
            accept(1000 - REPLAY_WINDOW, now),
            Validation::Accept,
            "inside the window: a late copy, still useful for repair"
        );
        assert_eq!(
            accept(1000 - REPLAY_WINDOW - 1, now),
            Validation::Ignore,
            "a replay from far behind"
        );
        assert_eq!(
            accept(1001, now - CLOCK_WINDOW_MS - 1000),
            Validation::Ignore,
            "an old segment sent again"
        );
        assert_eq!(
            accept(1002, now + CLOCK_WINDOW_MS + 1000),
            Validation::Ignore,
            "stamped far in the future"
        );
    }

    #[test]
    fn heartbeats_need_a_signed_source_and_a_recent_time() {
        let owner = ArtistKeypair::from_seed([1; 32]);
        let descriptor = ChannelDescriptor::sign(&owner, "Beat FM", "", 1);
        let id = descriptor.id();
        let check = validator(descriptor);
        let source = PeerId::random();
        let now = unix_ms();
        assert_eq!(
            check(&encode_heartbeat(&id, now), Some(&source)),
            Validation::Accept
        );
        assert_eq!(check(&encode_heartbeat(&id, now), None), Validation::Reject);
        assert_eq!(
            check(
                &encode_heartbeat(&id, now - 2 * CLOCK_WINDOW_MS),
                Some(&source)
            ),
            Validation::Ignore
        );
    }
}

//! When segments play: where a listener starts, and the schedule from there.
//!
//! [`choose_start`] picks the first segment from those held (the live point inside one, one on
//! air already, or, after [`ADAPT_AFTER`], the newest of segments too old for the buffer); from
//! then on segment `n` plays at the anchor plus its broadcast-time offset from the first. The
//! jitter buffer holds at most [`MAX_AHEAD`] segments ahead of the next to play.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Listener;
use crate::radio::segment::Segment;
use crate::radio::unix_ms;

/// How long a listener that holds only segments too old for its jitter buffer waits for newer
/// ones before it starts with the newest it holds anyway (and plays that much later).
pub(super) const ADAPT_AFTER: Duration = Duration::from_millis(1000);
/// A listener never starts with a segment older than this (it waits for newer ones).
const MAX_LATE: Duration = Duration::from_secs(10);
/// Segments buffered ahead at most.
const MAX_AHEAD: u64 = 64;

/// Where a listener starts (see [`choose_start`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// At once, inside segment `seq`, leaving out its first `trim` frames: the live point
    /// (broadcast time `point`) falls in it.
    Inside { seq: u64, point: u64, trim: u64 },
    /// No held segment holds the live point, but `seq` (broadcast time `bt`, after the live point)
    /// is on air already: it starts at once, `latency` behind the broadcast (less than asked;
    /// the broadcaster's lead still covers the jitter).
    OnAir {
        seq: u64,
        bt: u64,
        latency: Duration,
    },
    /// Every held segment is too old: the newest, `seq` (broadcast time `bt`), starts at once,
    /// and the jitter buffer grows to `latency`.
    Late {
        seq: u64,
        bt: u64,
        latency: Duration,
    },
    /// Not yet: wait for newer segments, keeping those from `keep_from` on.
    Wait { keep_from: Option<u64> },
}

/// Picks where to start from the held segments, at `now_ms` with the jitter buffer `latency`,
/// `waited` after tuning in. The live point is the broadcast time playing now (now minus the
/// latency): a held segment that contains it (one the neighbours sent at tune-in) starts playing
/// at once, from that point on. Failing that, a newer held segment that is on air already starts
/// at once, a little closer to the broadcast (starting sooner matters more than the exact lag,
/// and the broadcaster's [`crate::radio::SEND_AHEAD`] still covers the jitter). A listener holding only
/// segments not yet on air waits for one to go on air or for an older one to come from a
/// neighbour. When every held segment is too old and the listener has waited [`ADAPT_AFTER`],
/// the newest one starts at once and the buffer grows to its age: a slow network plays late
/// rather than not at all.
fn choose_start(
    held: &BTreeMap<u64, Segment>,
    now_ms: u64,
    latency: Duration,
    waited: Duration,
) -> Start {
    let latency_ms = latency.as_millis() as u64;
    let point = now_ms.saturating_sub(latency_ms);
    let inside = held.iter().find(|(_, s)| {
        s.broadcast_ms() <= point && (point as f64) < s.broadcast_ms() as f64 + s.duration_ms()
    });
    if let Some((&seq, s)) = inside {
        let rate = u64::from(s.fields().spec.sample_rate);
        let trim = ((point - s.broadcast_ms()) * rate / 1000).min(s.frames());
        return Start::Inside { seq, point, trim };
    }
    if let Some((&seq, s)) = held
        .iter()
        .find(|(_, s)| s.broadcast_ms() > point && s.broadcast_ms() <= now_ms)
    {
        let bt = s.broadcast_ms();
        return Start::OnAir {
            seq,
            bt,
            latency: Duration::from_millis(now_ms - bt),
        };
    }
    if held.values().any(|s| s.broadcast_ms() > point) {
        return Start::Wait { keep_from: None };
    }
    let Some((&seq, newest)) = held.iter().next_back() else {
        return Start::Wait { keep_from: None };
    };
    let bt = newest.broadcast_ms();
    let age = Duration::from_millis(now_ms.saturating_sub(bt));
    if age > MAX_LATE {
        return Start::Wait { keep_from: None };
    }
    if waited < ADAPT_AFTER {
        return Start::Wait {
            keep_from: Some(seq),
        };
    }
    Start::Late {
        seq,
        bt,
        latency: age.max(latency),
    }
}

impl Listener {
    pub(super) fn insert(&mut self, segment: Segment) {
        let seq = segment.seq();
        if let Some(next) = self.next
            && (seq < next || seq >= next + MAX_AHEAD)
        {
            return;
        }
        if self.next.is_none() && self.buffer.len() >= MAX_AHEAD as usize {
            self.buffer.pop_first();
        }
        self.buffer.entry(seq).or_insert(segment);
    }

    /// Whether a held segment reaches past the live point: playback can start with it (now or
    /// when it goes on air), so there is nothing more to ask neighbours for.
    pub(super) fn holds_playable(&self) -> bool {
        let point = unix_ms().saturating_sub(self.options.latency.as_millis() as u64) as f64;
        self.buffer
            .values()
            .any(|s| s.broadcast_ms() as f64 + s.duration_ms() > point)
    }

    /// Starts playback if the held segments allow it (see [`choose_start`]).
    pub(super) fn try_start(&mut self, waited: Duration) {
        let now = tokio::time::Instant::now();
        match choose_start(&self.buffer, unix_ms(), self.options.latency, waited) {
            Start::Inside { seq, point, trim } => {
                tracing::debug!(
                    seq,
                    held = self.buffer.len(),
                    waited_ms = waited.as_millis() as u64,
                    "starting inside a held segment"
                );
                self.trim = trim;
                self.start_at(seq, now, point);
            }
            // Closer to the broadcast than asked (on air after the live point) or further
            // (every held segment too old): either way the latency becomes the segment's age.
            Start::OnAir { seq, bt, latency } | Start::Late { seq, bt, latency } => {
                tracing::debug!(
                    seq,
                    latency_ms = latency.as_millis() as u64,
                    waited_ms = waited.as_millis() as u64,
                    "starting at once with a held segment outside the buffer"
                );
                self.latency = latency;
                self.start_at(seq, now, bt);
            }
            Start::Wait { keep_from } => {
                if let Some(seq) = keep_from {
                    self.buffer = self.buffer.split_off(&seq);
                }
            }
        }
    }

    /// Starts the schedule: segment `seq`, whose broadcast time is `bt`, plays at `at`.
    fn start_at(&mut self, seq: u64, at: tokio::time::Instant, bt: u64) {
        self.anchor = Some((at, bt));
        self.next = Some(seq);
        self.expected = at;
        self.buffer = self.buffer.split_off(&seq);
    }

    pub(super) fn play_time(&self, seq: u64) -> tokio::time::Instant {
        match (self.buffer.get(&seq), self.anchor) {
            (Some(s), Some((at, bt))) => {
                at + Duration::from_millis(s.broadcast_ms().saturating_sub(bt))
            }
            _ => self.expected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ArtistKeypair;
    use crate::radio::channel::ChannelDescriptor;
    use crate::radio::segment::SegmentDraft;

    const NOW: u64 = 1_700_000_100_000;
    const LATENCY: Duration = Duration::from_millis(1500);

    /// Held one-second segments (8 kHz mono), numbered from 1, broadcast at these times.
    fn held(broadcast_ms: &[u64]) -> BTreeMap<u64, Segment> {
        let owner = ArtistKeypair::from_seed([5; 32]);
        let descriptor = ChannelDescriptor::sign(&owner, "Start FM", "", 1);
        broadcast_ms
            .iter()
            .enumerate()
            .map(|(i, &bt)| {
                let seq = i as u64 + 1;
                let segment = SegmentDraft {
                    frame: 8000 * i as u64,
                    ..SegmentDraft::silence(descriptor.id(), seq, bt, 8000)
                }
                .sign(&owner);
                (seq, segment)
            })
            .collect()
    }

    #[test]
    fn a_segment_holding_the_live_point_starts_at_once_inside_it() {
        // The live point is NOW - 1500: 700 ms into segment 2.
        let segments = held(&[NOW - 3200, NOW - 2200, NOW - 1200]);
        assert_eq!(
            choose_start(&segments, NOW, LATENCY, Duration::ZERO),
            Start::Inside {
                seq: 2,
                point: NOW - 1500,
                trim: 5600,
            }
        );
    }

    #[test]
    fn a_newer_segment_starts_as_soon_as_it_is_on_air() {
        // Sent ahead by the broadcaster: on air in 600 ms.
        let segments = held(&[NOW + 600]);
        assert_eq!(
            choose_start(&segments, NOW, LATENCY, ADAPT_AFTER),
            Start::Wait { keep_from: None },
            "an older segment may still come"
        );
        assert_eq!(
            choose_start(&segments, NOW + 1000, LATENCY, ADAPT_AFTER),
            Start::OnAir {
                seq: 1,
                bt: NOW + 600,
                latency: Duration::from_millis(400),
            },
            "the live point (NOW - 500) is before it: it starts closer to the broadcast"
        );
        // Once the live point reaches it, it is an ordinary start inside it.
        assert_eq!(
            choose_start(&segments, NOW + 2100, LATENCY, ADAPT_AFTER),
            Start::Inside {
                seq: 1,
                point: NOW + 600,
                trim: 0,
            }
        );
    }

    #[test]
    fn segments_too_old_for_the_buffer_start_late_after_a_wait() {
        let segments = held(&[NOW - 4000, NOW - 3000]);
        assert_eq!(
            choose_start(&segments, NOW, LATENCY, Duration::from_millis(200)),
            Start::Wait { keep_from: Some(2) },
            "newer segments may come"
        );
        assert_eq!(
            choose_start(&segments, NOW, LATENCY, ADAPT_AFTER),
            Start::Late {
                seq: 2,
                bt: NOW - 3000,
                latency: Duration::from_millis(3000),
            }
        );
        let stale = held(&[NOW - 20_000]);
        assert_eq!(
            choose_start(&stale, NOW, LATENCY, ADAPT_AFTER),
            Start::Wait { keep_from: None },
            "never with a segment older than {MAX_LATE:?}"
        );
        assert_eq!(
            choose_start(&BTreeMap::new(), NOW, LATENCY, ADAPT_AFTER),
            Start::Wait { keep_from: None }
        );
    }
}

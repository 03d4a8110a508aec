//! What a peer takes from other peers as a release, and how releases share a list.
//!
//! A manifest's signature proves who published it, not when, nor that it is worth a place in
//! anybody's list: its publish time is written by its publisher, and one key can sign any number
//! of releases. So:
//! - [`admit`] refuses a release dated more than [`MAX_CLOCK_SKEW_SECS`] in the future (it would
//!   sit at the top of every "newest" list) and any release under the demo library's key, whose
//!   secret is public on purpose (every peer seeds the same demo manifests itself; one arriving
//!   from the network can only be somebody publishing as the demo library).
//! - [`fair_newest`] builds a "newest releases" list in rounds over artist keys (the newest
//!   release of each key first, then the second newest of each, ...), each key holding at most
//!   [`artist_share`] of the list, so one key publishing a thousand releases cannot push the
//!   others out of the new-releases list or the promotion slots that are filled from it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::demo;
use crate::model::{ArtistKey, Manifest, TrackId};

/// How far in the future a release's publish time may be (clocks differ between peers).
pub const MAX_CLOCK_SKEW_SECS: u64 = 10 * 60;

/// Why a release from another peer is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Its publish time is further in the future than clocks differ.
    #[error("published {ahead_secs} s in the future")]
    Future {
        /// How far ahead of this peer's clock.
        ahead_secs: u64,
    },
    /// It is signed with the demo library's public key.
    #[error("signed with the demo library's public key")]
    DemoKey,
}

/// Whether a release that came from another peer may be kept, at `now_secs` (Unix seconds).
pub fn admit(manifest: &Manifest, now_secs: u64) -> Result<(), Refusal> {
    let ahead_secs = manifest.published_at().saturating_sub(now_secs);
    if ahead_secs > MAX_CLOCK_SKEW_SECS {
        return Err(Refusal::Future { ahead_secs });
    }
    if manifest.artist_key() == demo::artist_key().public() {
        return Err(Refusal::DemoKey);
    }
    Ok(())
}

/// This machine's clock, in Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The most releases one artist key may hold in a list of `limit`: a tenth, at least one.
pub fn artist_share(limit: usize) -> usize {
    limit.div_ceil(10).max(1)
}

/// One release as [`fair_newest`] sorts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The release.
    pub id: TrackId,
    /// Its artist key.
    pub artist: ArtistKey,
    /// Its publish time (Unix seconds).
    pub published_at: u64,
}

/// Up to `limit` of `releases`, newest first within each round over artist keys: the newest
/// release of every key (newest first), then the second newest of every key, and so on, with
/// at most [`artist_share`]`(limit)` releases of any one key.
pub fn fair_newest(releases: impl IntoIterator<Item = Candidate>, limit: usize) -> Vec<TrackId> {
    let share = artist_share(limit);
    let mut by_artist: HashMap<ArtistKey, Vec<Candidate>> = HashMap::new();
    for c in releases {
        by_artist.entry(c.artist).or_default().push(c);
    }
    // Each key's newest `share`, then every release ranked by (round, newer first, id).
    let mut ranked: Vec<(usize, Candidate)> = Vec::new();
    for mut list in by_artist.into_values() {
        list.sort_by(|a, b| b.published_at.cmp(&a.published_at).then(a.id.cmp(&b.id)));
        ranked.extend(list.into_iter().take(share).enumerate());
    }
    ranked.sort_by(|(ra, a), (rb, b)| {
        ra.cmp(rb)
            .then(b.published_at.cmp(&a.published_at))
            .then(a.id.cmp(&b.id))
    });
    ranked.into_iter().take(limit).map(|(_, c)| c.id).collect()
}

/// [`fair_newest`] with the releases of `followed` keys first (fair among themselves), then the
/// others; at most `limit` in all.
pub fn followed_first(
    releases: impl IntoIterator<Item = Candidate>,
    followed: &std::collections::HashSet<ArtistKey>,
    limit: usize,
) -> Vec<TrackId> {
    let (theirs, others): (Vec<Candidate>, Vec<Candidate>) = releases
        .into_iter()
        .partition(|c| followed.contains(&c.artist));
    let mut out = fair_newest(theirs, limit);
    out.extend(fair_newest(others, limit - out.len()));
    out
}

/// Announcements a peer relays for one artist key at once (an album published in one go).
pub const ANNOUNCE_BURST: u32 = 20;
/// Announcements a peer relays per artist key per minute, once the burst is spent.
pub const ANNOUNCES_PER_MINUTE: u32 = 20;
/// Artist keys whose rate is tracked at once; past this, keys idle for a minute are forgotten.
const MAX_TRACKED_KEYS: usize = 4096;

/// The announcement rate a peer relays per artist key, or per originating peer (so that one
/// peer with many keys gets no more): a token bucket of [`ANNOUNCE_BURST`] refilled at
/// [`ANNOUNCES_PER_MINUTE`]. What is over the rate is not relayed (a key's other releases still
/// reach peers that ask it for its catalog, where [`fair_newest`] bounds them).
#[derive(Debug)]
pub struct AnnounceRate<K = ArtistKey> {
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K> Default for AnnounceRate<K> {
    fn default() -> Self {
        Self {
            buckets: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> AnnounceRate<K> {
    /// Whether one more announcement of `key` may be relayed at `now`; takes a token if so.
    pub fn allow(&self, key: &K, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED_KEYS && !buckets.contains_key(key) {
            let idle = Duration::from_secs(60);
            buckets.retain(|_, (_, at)| now.saturating_duration_since(*at) < idle);
            if buckets.len() >= MAX_TRACKED_KEYS {
                // Every tracked key is busy: a new one waits rather than evict a flooder.
                return false;
            }
        }
        let burst = f64::from(ANNOUNCE_BURST);
        let (tokens, at) = buckets.entry(key.clone()).or_insert((burst, now));
        let refill = now.saturating_duration_since(*at).as_secs_f64()
            * f64::from(ANNOUNCES_PER_MINUTE)
            / 60.0;
        *tokens = (*tokens + refill).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Candidate {
    /// The candidate `manifest` makes.
    pub fn of(manifest: &Manifest) -> Self {
        Self {
            id: manifest.id(),
            artist: manifest.artist_key(),
            published_at: manifest.published_at(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ArtistKeypair;

    fn release(key: &ArtistKeypair, seed: u8, published_at: u64) -> Manifest {
        crate::test_utils::signed_release(key, &[seed; 1000], "Dated", published_at)
    }

    #[test]
    fn future_dates_and_the_demo_key_are_refused() {
        let now = 1_800_000_000;
        let key = ArtistKeypair::generate();
        assert_eq!(admit(&release(&key, 1, now), now), Ok(()));
        assert_eq!(admit(&release(&key, 2, now + 599), now), Ok(()));
        assert_eq!(admit(&release(&key, 3, 0), now), Ok(()));
        assert_eq!(
            admit(&release(&key, 4, now + 3600), now),
            Err(Refusal::Future { ahead_secs: 3600 })
        );
        assert_eq!(
            admit(&release(&demo::artist_key(), 5, now), now),
            Err(Refusal::DemoKey)
        );
    }

    #[test]
    fn a_key_gets_its_burst_then_its_rate_and_other_keys_are_not_held_up() {
        let rate = AnnounceRate::default();
        let (flooder, other) = (ArtistKey([1; 32]), ArtistKey([2; 32]));
        let t0 = Instant::now();
        let relayed = (0..100).filter(|_| rate.allow(&flooder, t0)).count();
        assert_eq!(relayed, ANNOUNCE_BURST as usize);
        assert!(rate.allow(&other, t0), "another key has its own bucket");
        // A minute later the flooder has a minute's worth again, not more.
        let t1 = t0 + Duration::from_secs(60);
        let relayed = (0..100).filter(|_| rate.allow(&flooder, t1)).count();
        assert_eq!(relayed, ANNOUNCES_PER_MINUTE as usize);
    }

    #[test]
    fn one_key_with_a_thousand_releases_leaves_room_for_the_others() {
        let spammer = ArtistKey([1; 32]);
        let mut releases: Vec<Candidate> = (0..1000u32)
            .map(|i| Candidate {
                id: TrackId(*blake3::hash(&i.to_be_bytes()).as_bytes()),
                artist: spammer,
                published_at: 2_000_000 + u64::from(i),
            })
            .collect();
        let others: Vec<Candidate> = (2..5u8)
            .map(|k| Candidate {
                id: TrackId([k; 32]),
                artist: ArtistKey([k; 32]),
                published_at: 1_000_000 + u64::from(k),
            })
            .collect();
        releases.extend(&others);
        let list = fair_newest(releases, 20);
        assert_eq!(
            list.len(),
            5,
            "two of the spammer's (a tenth of 20), three others"
        );
        // The first round holds every key's newest: the others are in the first four slots.
        for o in &others {
            let at = list.iter().position(|id| *id == o.id).expect("listed");
            assert!(at < 4, "{at}");
        }
        // The spammer's newest leads the first round; its share is two.
        assert_eq!(
            list[0],
            TrackId(*blake3::hash(&999u32.to_be_bytes()).as_bytes())
        );
    }
}

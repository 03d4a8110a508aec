//! Per-peer request limits: a token bucket of requests and a fading count of strikes.
//!
//! The event loop keeps one [`PeerLimiter`] per connected peer. Every inbound request takes a
//! token; a request that finds the bucket empty is refused and costs a strike. Invalid gossip
//! messages cost strikes too. Strikes fade at a fixed rate, so an honest peer that bursts now and
//! then never adds up to a ban, while one that keeps flooding does within seconds.
//!
//! Time is passed in, so the arithmetic is tested without clocks.

use std::time::Instant;

use super::PeerLimits;

/// What to do with one inbound request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Serve it.
    Serve,
    /// Refuse it (over the rate); the peer stays.
    Refuse,
    /// Refuse it and ban the peer: it has run out of strikes.
    Ban,
}

/// One peer's bucket and strikes.
#[derive(Debug, Clone)]
pub(super) struct PeerLimiter {
    tokens: f64,
    strikes: f64,
    last: Instant,
    /// Requests of this peer being served now.
    pub(super) inflight: usize,
}

impl PeerLimiter {
    /// A peer that just connected: a full bucket, no strikes.
    pub(super) fn new(limits: &PeerLimits, now: Instant) -> Self {
        Self {
            tokens: limits.request_burst,
            strikes: 0.0,
            last: now,
            inflight: 0,
        }
    }

    fn refill(&mut self, limits: &PeerLimits, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * limits.requests_per_sec).min(limits.request_burst);
        self.strikes = (self.strikes - elapsed * limits.strike_decay_per_sec).max(0.0);
    }

    /// Takes a token for one request.
    pub(super) fn request(&mut self, limits: &PeerLimits, now: Instant) -> Verdict {
        self.refill(limits, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Verdict::Serve
        } else if self.strike(limits, now, 1.0) {
            Verdict::Ban
        } else {
            Verdict::Refuse
        }
    }

    /// Whether strikes are left once those due have faded.
    pub(super) fn has_strikes(&mut self, limits: &PeerLimits, now: Instant) -> bool {
        self.refill(limits, now);
        self.strikes > 0.0
    }

    /// Adds `weight` strikes; returns whether the peer is now over its limit.
    pub(super) fn strike(&mut self, limits: &PeerLimits, now: Instant, weight: f64) -> bool {
        self.refill(limits, now);
        self.strikes += weight;
        self.strikes >= limits.max_strikes
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits() -> PeerLimits {
        PeerLimits {
            requests_per_sec: 10.0,
            request_burst: 20.0,
            max_strikes: 5.0,
            strike_decay_per_sec: 1.0,
            ..PeerLimits::default()
        }
    }

    #[test]
    fn a_burst_is_served_then_refused_then_banned() {
        let l = limits();
        let t0 = Instant::now();
        let mut p = PeerLimiter::new(&l, t0);
        for _ in 0..20 {
            assert_eq!(p.request(&l, t0), Verdict::Serve);
        }
        for _ in 0..4 {
            assert_eq!(p.request(&l, t0), Verdict::Refuse);
        }
        assert_eq!(p.request(&l, t0), Verdict::Ban);
    }

    #[test]
    fn a_peer_within_its_rate_is_always_served() {
        let l = limits();
        let t0 = Instant::now();
        let mut p = PeerLimiter::new(&l, t0);
        // 10 requests a second for a minute: exactly the rate.
        for i in 0..600u64 {
            let now = t0 + Duration::from_millis(i * 100);
            assert_eq!(p.request(&l, now), Verdict::Serve, "request {i}");
        }
    }

    #[test]
    fn strikes_fade_so_occasional_refusals_never_ban() {
        let l = limits();
        let t0 = Instant::now();
        let mut p = PeerLimiter::new(&l, t0);
        for _ in 0..20 {
            p.request(&l, t0);
        }
        // One refused request every 2 s (the bucket refills 20 tokens meanwhile, so take them
        // all again first): strikes never pile up to 5.
        for k in 1..50u64 {
            let now = t0 + Duration::from_secs(2 * k);
            while p.request(&l, now) == Verdict::Serve {}
            assert!(!p.strike(&l, now, 0.0), "banned after {k} rounds");
        }
    }

    #[test]
    fn a_clock_going_backwards_changes_nothing() {
        let l = limits();
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut p = PeerLimiter::new(&l, t0);
        assert_eq!(p.request(&l, t0 - Duration::from_secs(5)), Verdict::Serve);
        assert!(p.tokens <= l.request_burst);
    }
}

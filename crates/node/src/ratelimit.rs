//! Rate limits for warnings about what peers send: a flood of bad frames,
//! or a foreign process that keeps connecting, must not flood the log.
//!
//! Where it sits: the transport asks [`RateLimit::allow`] before a warning
//! about a peer (keyed by peer and reason); at most one line per key per
//! period is written, and the next one carries how many were suppressed in
//! between. Counting is not limited: `hpaxos_rejected_total` counts every
//! rejection. The table is bounded ([`MAX_KEYS`]): when full it is emptied,
//! which at worst lets one more line per key through.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default period: one warning per peer and reason per this long.
pub const PERIOD: Duration = Duration::from_secs(10);
/// Keys kept at most.
pub const MAX_KEYS: usize = 4096;

/// Per (peer, reason): when the last warning was written, and how many
/// were suppressed since.
type Keys = HashMap<(String, &'static str), (Instant, u64)>;

/// See the module doc.
pub struct RateLimit {
    period: Duration,
    keys: Mutex<Keys>,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new(PERIOD)
    }
}

impl RateLimit {
    pub fn new(period: Duration) -> RateLimit {
        RateLimit {
            period,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(suppressed)` when a warning about `peer` for `reason` may be
    /// written at `now` (`suppressed`: how many were not written since the
    /// last one), `None` when it is to be suppressed.
    pub fn allow(&self, peer: &str, reason: &'static str, now: Instant) -> Option<u64> {
        let Ok(mut keys) = self.keys.lock() else {
            return Some(0);
        };
        if let Some((last, suppressed)) = keys.get_mut(&(peer.to_string(), reason)) {
            if now.saturating_duration_since(*last) < self.period {
                *suppressed += 1;
                return None;
            }
            let n = *suppressed;
            *last = now;
            *suppressed = 0;
            return Some(n);
        }
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert((peer.to_string(), reason), (now, 0));
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_peer_and_reason_per_period_with_the_suppressed_count() {
        let r = RateLimit::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(r.allow("10.0.0.1", "malformed", t0), Some(0));
        for i in 1..=999 {
            assert_eq!(
                r.allow("10.0.0.1", "malformed", t0 + Duration::from_millis(i)),
                None
            );
        }
        // Another reason, another peer: their own budget.
        assert_eq!(r.allow("10.0.0.1", "bad_signature", t0), Some(0));
        assert_eq!(r.allow("10.0.0.2", "malformed", t0), Some(0));
        // After the period: one line, with what was suppressed.
        assert_eq!(
            r.allow("10.0.0.1", "malformed", t0 + Duration::from_secs(11)),
            Some(999)
        );
        assert_eq!(
            r.allow("10.0.0.1", "malformed", t0 + Duration::from_secs(12)),
            None
        );
    }

    #[test]
    fn the_table_is_bounded() {
        let r = RateLimit::new(Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..(MAX_KEYS + 10) {
            r.allow(&format!("p{i}"), "x", t0);
        }
        assert!(r.keys.lock().unwrap().len() <= MAX_KEYS);
    }
}

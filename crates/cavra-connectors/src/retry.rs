//! When to try again: exponential backoff with full jitter, `Retry-After`, the attempt and age
//! limits, and a circuit breaker per destination. Time and randomness come in through
//! [`Clock`] and [`Jitter`], so all of it is tested without sleeping.

use crate::config::{BreakerPolicy, RetryPolicy};

/// Milliseconds since the Unix epoch.
pub trait Clock: Send + Sync {
    /// Now.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
    }
}

/// A uniform draw in `0..=max`.
pub trait Jitter: Send {
    /// The draw.
    fn upto(&mut self, max: u64) -> u64;
}

/// SplitMix64 seeded from the operating system: jitter needs spread, not secrecy.
#[derive(Debug, Clone)]
pub struct SystemJitter(u64);

impl SystemJitter {
    /// Seeded from the operating system's randomness (the clock, should that fail).
    pub fn new() -> Self {
        SystemJitter(getrandom::u64().unwrap_or_else(|_| SystemClock.now_ms() as u64))
    }
}

impl Default for SystemJitter {
    fn default() -> Self {
        Self::new()
    }
}

impl Jitter for SystemJitter {
    fn upto(&mut self, max: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        match max.checked_add(1) {
            Some(n) => z % n,
            None => z,
        }
    }
}

/// RFC 3339 (milliseconds, UTC) of a time in milliseconds since the epoch.
pub fn rfc3339(ms: i64) -> String {
    stamp_ms(ms).text()
}

/// `ms` since the epoch as the stores' time (the epoch when the stores cannot hold it).
pub fn stamp_ms(ms: i64) -> cavra_tenant_store::Timestamp {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .map_or(cavra_tenant_store::Timestamp::EPOCH, |t| {
            cavra_tenant_store::Timestamp::at_or_epoch(t)
        })
}

/// How a failed attempt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again at this time (ms).
    RetryAt(i64),
    /// Give up: a dead letter.
    Dead,
}

/// What comes after failed attempt number `attempt` (1 for the first) of a delivery routed
/// at `created_ms`: a dead letter when the failure is permanent, the attempts are used up or
/// the delivery is past its age; else a retry after a backoff drawn uniformly from zero to
/// `min(max_backoff, initial · 2^(attempt-1))` (full jitter), or after what the destination
/// asked for with `Retry-After` (at most `max_backoff`), whichever is later.
pub fn after_failure(
    policy: &RetryPolicy,
    attempt: u32,
    created_ms: i64,
    now_ms: i64,
    permanent: bool,
    retry_after_ms: Option<u64>,
    jitter: &mut dyn Jitter,
) -> Next {
    if permanent || attempt >= policy.max_attempts {
        return Next::Dead;
    }
    let max_age_ms = policy.max_age_seconds.saturating_mul(1000);
    if now_ms.saturating_sub(created_ms) as u64 >= max_age_ms {
        return Next::Dead;
    }
    let ceiling = policy
        .initial_backoff_ms
        .saturating_mul(1u64 << (attempt - 1).min(40))
        .min(policy.max_backoff_ms);
    let mut delay = jitter.upto(ceiling);
    if let Some(asked) = retry_after_ms {
        delay = delay.max(asked.min(policy.max_backoff_ms));
    }
    Next::RetryAt(now_ms.saturating_add(delay.min(i64::MAX as u64) as i64))
}

/// Whether a delivery may be attempted now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Go ahead.
    Pass,
    /// The circuit is open: not before this time (ms).
    Wait(i64),
}

/// The circuit breaker of one destination: closed until `failures` consecutive failures,
/// then open for `open_seconds`, then half open: one trial goes through; its success closes
/// the circuit, its failure opens it again.
#[derive(Debug, Clone, Default)]
pub struct Breaker {
    consecutive: u32,
    open_until: i64,
    trial: bool,
}

/// How long the others wait while a half-open circuit's trial is out.
const TRIAL_WAIT_MS: i64 = 1000;

impl Breaker {
    /// Whether one more attempt may go now.
    pub fn gate(&mut self, policy: &BreakerPolicy, now_ms: i64) -> Gate {
        if self.consecutive < policy.failures {
            return Gate::Pass;
        }
        if now_ms < self.open_until {
            return Gate::Wait(self.open_until);
        }
        if self.trial {
            return Gate::Wait(now_ms + TRIAL_WAIT_MS);
        }
        self.trial = true;
        Gate::Pass
    }

    /// An attempt succeeded.
    pub fn success(&mut self) {
        *self = Breaker::default();
    }

    /// An attempt failed (a permanent refusal says nothing about the destination's health
    /// and is not counted).
    pub fn failure(&mut self, policy: &BreakerPolicy, now_ms: i64) {
        self.trial = false;
        self.consecutive = self.consecutive.saturating_add(1);
        if self.consecutive >= policy.failures {
            self.open_until =
                now_ms.saturating_add(policy.open_seconds.saturating_mul(1000) as i64);
        }
    }

    /// Whether it is open (or half open).
    pub fn is_open(&self, policy: &BreakerPolicy) -> bool {
        self.consecutive >= policy.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws the largest value allowed: the backoff ceiling itself.
    struct Max;
    impl Jitter for Max {
        fn upto(&mut self, max: u64) -> u64 {
            max
        }
    }
    struct Zero;
    impl Jitter for Zero {
        fn upto(&mut self, _: u64) -> u64 {
            0
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            max_age_seconds: 3600,
            initial_backoff_ms: 100,
            max_backoff_ms: 1000,
        }
    }

    #[test]
    fn the_ceiling_doubles_up_to_the_cap_and_jitter_spans_it() {
        let p = policy();
        let at = |n, j: &mut dyn Jitter| after_failure(&p, n, 0, 10_000, false, None, j);
        assert_eq!(at(1, &mut Max), Next::RetryAt(10_100));
        assert_eq!(at(2, &mut Max), Next::RetryAt(10_200));
        assert_eq!(at(3, &mut Max), Next::RetryAt(10_400));
        assert_eq!(at(4, &mut Max), Next::RetryAt(10_800));
        assert_eq!(at(5, &mut Max), Next::RetryAt(11_000), "capped");
        assert_eq!(
            at(5, &mut Zero),
            Next::RetryAt(10_000),
            "full jitter reaches zero"
        );
        let mut j = SystemJitter::new();
        for _ in 0..1000 {
            match at(3, &mut j) {
                Next::RetryAt(t) => assert!((10_000..=10_400).contains(&t)),
                Next::Dead => panic!("not dead"),
            }
        }
    }

    #[test]
    fn retry_after_is_honoured_within_the_cap() {
        let p = policy();
        assert_eq!(
            after_failure(&p, 1, 0, 0, false, Some(700), &mut Zero),
            Next::RetryAt(700)
        );
        assert_eq!(
            after_failure(&p, 1, 0, 0, false, Some(60_000), &mut Zero),
            Next::RetryAt(1000),
            "a destination cannot park a delivery past the cap"
        );
        assert_eq!(
            after_failure(&p, 1, 0, 0, false, Some(10), &mut Max),
            Next::RetryAt(100),
            "the later of the two"
        );
    }

    #[test]
    fn limits_make_dead_letters() {
        let p = policy();
        assert_eq!(
            after_failure(&p, 6, 0, 0, false, None, &mut Zero),
            Next::Dead
        );
        assert_eq!(
            after_failure(&p, 1, 0, 3_600_000, false, None, &mut Zero),
            Next::Dead,
            "too old"
        );
        assert_eq!(
            after_failure(&p, 1, 0, 0, true, None, &mut Zero),
            Next::Dead
        );
    }

    #[test]
    fn the_breaker_opens_then_lets_one_trial_through() {
        let p = BreakerPolicy {
            failures: 3,
            open_seconds: 10,
        };
        let mut b = Breaker::default();
        for t in 0..3 {
            assert_eq!(b.gate(&p, t), Gate::Pass);
            b.failure(&p, t);
        }
        assert!(b.is_open(&p));
        assert_eq!(b.gate(&p, 5_000), Gate::Wait(10_002));
        assert_eq!(b.gate(&p, 10_002), Gate::Pass, "the trial");
        assert_eq!(
            b.gate(&p, 10_003),
            Gate::Wait(11_003),
            "one trial at a time"
        );
        b.failure(&p, 10_500);
        assert_eq!(b.gate(&p, 10_600), Gate::Wait(20_500), "open again");
        assert_eq!(b.gate(&p, 20_500), Gate::Pass);
        b.success();
        assert!(!b.is_open(&p));
        assert_eq!(b.gate(&p, 20_501), Gate::Pass);
    }

    #[test]
    fn times_format_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_767_225_600_123), "2026-01-01T00:00:00.123Z");
    }
}

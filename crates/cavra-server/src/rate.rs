//! Per-credential and per-tenant request rate limits (token buckets), off unless configured.
//! Only authenticated requests are counted, so the keys are bounded by the credentials that
//! exist; buckets idle for a minute are dropped.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Rate limit settings: requests per second, with bursts of up to `burst_seconds` worth.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Requests per second one credential (API token or OIDC subject) may make; off when
    /// absent.
    pub per_token_per_second: Option<f64>,
    /// Requests per second all of one tenant's credentials together may make; off when
    /// absent.
    pub per_tenant_per_second: Option<f64>,
    /// How many seconds' worth of requests a quiet credential or tenant may send at once
    /// (default 1).
    pub burst_seconds: Option<f64>,
}

impl RateLimits {
    /// Checks the settings.
    pub fn check(&self) -> Result<(), String> {
        for (name, v) in [
            ("per_token_per_second", self.per_token_per_second),
            ("per_tenant_per_second", self.per_tenant_per_second),
            ("burst_seconds", self.burst_seconds),
        ] {
            if let Some(v) = v
                && !(v.is_finite() && v > 0.0)
            {
                return Err(format!("rate_limits.{name} must be a positive number"));
            }
        }
        Ok(())
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets by key.
#[derive(Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    /// Takes one request from `key`'s bucket (rate per second, `burst` capacity); `Err` holds
    /// the seconds until one is available.
    pub fn take(&self, key: &str, rate: f64, burst: f64, now: Instant) -> Result<(), u64> {
        let capacity = (rate * burst).max(1.0);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 10_000 {
            buckets.retain(|_, b| now.duration_since(b.last) < Duration::from_secs(60));
        }
        let b = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: capacity,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(capacity);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_refills_and_says_when() {
        let l = Limiter::default();
        let t0 = Instant::now();
        assert!(l.take("k", 2.0, 1.0, t0).is_ok());
        assert!(l.take("k", 2.0, 1.0, t0).is_ok());
        assert_eq!(l.take("k", 2.0, 1.0, t0), Err(1));
        assert!(l.take("other", 2.0, 1.0, t0).is_ok());
        assert!(
            l.take("k", 2.0, 1.0, t0 + Duration::from_millis(500))
                .is_ok()
        );
        assert_eq!(
            l.take("k", 0.1, 1.0, t0 + Duration::from_millis(500)),
            Err(10)
        );
    }
}

//! A small time-bounded cache: what a replica may trust for a moment without asking the
//! database (token records, known tenants, pack assignments). This replica's own changes evict
//! at once; another replica's take effect within the cache's time to live.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; past this the cache starts over (so unknown keys cannot grow it).
const MAX_ENTRIES: usize = 10_000;

/// Values by key, each trusted for `ttl` after it was read.
pub struct TtlCache<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> TtlCache<V> {
    /// An empty cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        TtlCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value of `key` if it was stored less than the time to live ago.
    pub fn get(&self, key: &str) -> Option<V> {
        let map = self.entries.lock().ok()?;
        let (at, value) = map.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    /// Stores `value` under `key` from now.
    pub fn put(&self, key: &str, value: V) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(key.to_string(), (Instant::now(), value));
        }
    }

    /// Forgets `key`.
    pub fn evict(&self, key: &str) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_evicted() {
        let c = TtlCache::new(Duration::from_secs(60));
        c.put("a", 1);
        assert_eq!(c.get("a"), Some(1));
        c.evict("a");
        assert_eq!(c.get("a"), None);
        let expired = TtlCache::new(Duration::ZERO);
        expired.put("a", 1);
        assert_eq!(expired.get("a"), None);
    }
}

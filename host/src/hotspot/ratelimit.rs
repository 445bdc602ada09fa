//! Attempt limits: a fixed one-minute window per key (the client's IP address), counted in memory.
//! Restarting the server resets the counts; proofs are single use and their identifiers carry 65 bits,
//! so the limit is there against floods, not against guessing.

use std::collections::HashMap;
use std::sync::Mutex;

const WINDOW: i64 = 60;
/// Above this many keys, windows that have ended are dropped.
const PRUNE_ABOVE: usize = 10_000;

/// Counts attempts per key and minute.
#[derive(Debug)]
pub struct RateLimiter {
    per_window: u32,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    /// At most `per_minute` attempts per key in each window.
    pub fn new(per_minute: u32) -> Self {
        Self { per_window: per_minute, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts one attempt for `key` at `now`; `Err(seconds)` says how long until the window ends when
    /// the attempt is over the limit.
    pub fn check(&self, key: &str, now: i64) -> Result<(), u64> {
        let mut map = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, (start, _)| now - *start < WINDOW);
        }
        let entry = map.entry(key.to_owned()).or_insert((now, 0));
        if now - entry.0 >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= self.per_window {
            return Err(u64::try_from(entry.0 + WINDOW - now).unwrap_or(1).max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_window() {
        let l = RateLimiter::new(2);
        assert_eq!(l.check("a", 100), Ok(()));
        assert_eq!(l.check("a", 110), Ok(()));
        assert_eq!(l.check("a", 130), Err(30));
        assert_eq!(l.check("b", 130), Ok(()), "another key has its own count");
        assert_eq!(l.check("a", 160), Ok(()), "a new window starts after 60 s");
    }
}

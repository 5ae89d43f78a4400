//! The per-account password throttle: at most `limit` password checks per account name in a
//! window, whatever the client address (attackers rotate addresses; nginx limits each one).
//!
//! An attempt is counted *before* its hash is checked, so concurrent guesses cannot overshoot
//! the limit, and a locked account is refused without hashing: even the right password gets
//! the same 429 until the window ends, so it cannot be found through the throttle. A correct
//! password forgets the account's count; a locked-out user recovers when the window ends.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Most account names tracked at once (memory stays bounded under a flood of new names).
const MAX_TRACKED: usize = 50_000;

/// A refused attempt: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for a `Retry-After` header (at least 1).
    pub fn secs(self) -> u64 {
        self.0.as_secs().max(1) + u64::from(self.0.subsec_nanos() > 0)
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    attempts: u32,
}

/// Attempts per account name in fixed windows.
pub struct Throttle {
    limit: u32,
    window: Duration,
    accounts: Mutex<HashMap<String, Window>>,
}

impl Throttle {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self { limit: limit.max(1), window, accounts: Mutex::new(HashMap::new()) }
    }

    /// Names are case-insensitive (`users.username` is `COLLATE NOCASE`).
    fn key(name: &str) -> String {
        name.to_lowercase()
    }

    /// Counts one attempt for `name`, or refuses it when the account's window is used up.
    pub fn begin(&self, name: &str, now: Instant) -> Result<(), RetryAfter> {
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        let key = Self::key(name);
        if !accounts.contains_key(&key) && accounts.len() >= MAX_TRACKED {
            self.prune(&mut accounts, now);
        }
        let fresh = Window { started: now, attempts: 0 };
        if !accounts.contains_key(&key) && accounts.len() >= MAX_TRACKED {
            // Still full of live windows: this name goes untracked (nginx still limits each
            // address, and the hashing slots bound the cost).
            return Ok(());
        }
        let w = accounts.entry(key).or_insert(fresh);
        if now.duration_since(w.started) >= self.window {
            *w = fresh;
        }
        if w.attempts >= self.limit {
            return Err(RetryAfter(self.window.saturating_sub(now.duration_since(w.started))));
        }
        w.attempts += 1;
        Ok(())
    }

    /// Gives an attempt back when no hash was checked (the service was too busy).
    pub fn cancel(&self, name: &str) {
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(w) = accounts.get_mut(&Self::key(name)) {
            w.attempts = w.attempts.saturating_sub(1);
        }
    }

    /// The right password: the account's count starts again.
    pub fn succeeded(&self, name: &str) {
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        accounts.remove(&Self::key(name));
    }

    /// Drops ended windows, then windows of a single attempt (most likely junk names).
    fn prune(&self, accounts: &mut HashMap<String, Window>, now: Instant) {
        accounts.retain(|_, w| now.duration_since(w.started) < self.window);
        if accounts.len() >= MAX_TRACKED {
            accounts.retain(|_, w| w.attempts > 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_until_the_window_ends() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(t.begin("Jane", t0), Ok(()));
        }
        let refused = t.begin("jane", t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(refused.secs(), 50);
        assert!(t.begin("JANE", t0 + Duration::from_secs(59)).is_err());
        assert_eq!(t.begin("jane", t0 + Duration::from_secs(60)), Ok(()));
        assert_eq!(t.begin("other", t0), Ok(()));
    }

    #[test]
    fn success_resets_and_cancel_gives_back() {
        let t = Throttle::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        t.begin("a", t0).unwrap();
        t.begin("a", t0).unwrap();
        t.cancel("a");
        t.begin("a", t0).unwrap();
        assert!(t.begin("a", t0).is_err());
        t.succeeded("a");
        t.begin("a", t0).unwrap();
    }

    #[test]
    fn memory_stays_bounded() {
        let t = Throttle::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED + 10 {
            t.begin(&format!("u{i}"), t0).unwrap();
        }
        assert!(t.accounts.lock().unwrap().len() <= MAX_TRACKED);
    }
}

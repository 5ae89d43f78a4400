//! The per-user throttle of requests that change the catalog and so trigger a site build
//! (approve, unapprove, PATCH, version delete, soft delete, restore, uploads): one token
//! bucket per user id. A loop of such requests would otherwise keep the builder busy for
//! everyone. A request that turns out to change nothing gets its token back.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use catalog::ids::UserId;

/// Burst and sustained rate of catalog changes per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Changes a user may make at once.
    pub burst: u32,
    /// Changes per minute a user may sustain (at least 1).
    pub per_minute: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self { burst: 30, per_minute: 30 }
    }
}

/// Buckets are dropped once full again; past this many users, full ones are pruned.
const PRUNE_ABOVE: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The throttle of one service.
#[derive(Debug)]
pub struct ChangeThrottle {
    config: ThrottleConfig,
    buckets: Mutex<HashMap<UserId, Bucket>>,
}

/// A refused change: the user's bucket is empty for `retry_after` more seconds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Throttled {
    pub detail: String,
    pub retry_after: u64,
}

/// One taken token; give it back with `ChangeThrottle::refund` when nothing changed.
#[derive(Debug)]
#[must_use]
pub struct Charge {
    user_id: UserId,
}

impl ChangeThrottle {
    pub fn new(config: ThrottleConfig) -> Self {
        let config =
            ThrottleConfig { burst: config.burst.max(1), per_minute: config.per_minute.max(1) };
        Self { config, buckets: Mutex::new(HashMap::new()) }
    }

    fn per_sec(&self) -> f64 {
        f64::from(self.config.per_minute) / 60.0
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let gained = now.saturating_duration_since(b.at).as_secs_f64() * self.per_sec();
        b.tokens = (b.tokens + gained).min(f64::from(self.config.burst));
        b.at = now;
    }

    /// Takes one token of `user_id`'s bucket, or answers 429 with the seconds until one is
    /// back.
    pub fn take(&self, user_id: UserId) -> Result<Charge, Throttled> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > PRUNE_ABOVE {
            let full = f64::from(self.config.burst);
            buckets.retain(|_, b| {
                self.refill(b, now);
                b.tokens < full
            });
        }
        let full = f64::from(self.config.burst);
        let bucket = buckets.entry(user_id).or_insert(Bucket { tokens: full, at: now });
        self.refill(bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(Charge { user_id });
        }
        let retry_after = ((1.0 - bucket.tokens) / self.per_sec()).ceil().max(1.0) as u64;
        Err(Throttled {
            detail: format!(
                "Too many changes: each user may make {} at once, then {} per minute, and every \
                 approval, edit, deletion and upload rebuilds the site. Nothing was changed; try \
                 again in {retry_after} s.",
                self.config.burst, self.config.per_minute
            ),
            retry_after,
        })
    }

    /// Gives a token back: the request changed nothing, so it caused no build.
    pub fn refund(&self, charge: Charge) {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = buckets.get_mut(&charge.user_id) {
            b.tokens = (b.tokens + 1.0).min(f64::from(self.config.burst));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_429_with_retry_after_and_refunds() {
        let t = ChangeThrottle::new(ThrottleConfig { burst: 2, per_minute: 1 });
        let a = t.take(UserId(1)).unwrap();
        let _b = t.take(UserId(1)).unwrap();
        match t.take(UserId(1)) {
            Err(Throttled { retry_after, .. }) => {
                assert!((1..=60).contains(&retry_after), "{retry_after}")
            }
            other => panic!("expected 429, got {other:?}"),
        }
        // Another user has a bucket of their own.
        let _c = t.take(UserId(2)).unwrap();
        // A no-op gives its token back.
        t.refund(a);
        let _d = t.take(UserId(1)).unwrap();
        assert!(t.take(UserId(1)).is_err());
    }
}

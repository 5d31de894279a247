//! How long to wait before trying again: decorrelated jitter under an attempt limit and a
//! deadline, and a store's retry quota. Pure: time and randomness come in as arguments.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The least time worth starting an attempt with: one that cannot be answered in time would
/// only leave a conditional write in doubt, and its abandonment would hide the reply before it.
pub(crate) const SHORTEST_ATTEMPT: Duration = Duration::from_millis(10);

/// Retry settings of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request when the server or the network fails transiently.
    pub max_attempts: u32,
    /// The time an operation may take in all, retries and contention included.
    pub deadline: Duration,
    /// The shortest wait between attempts.
    pub base: Duration,
    /// The longest wait between attempts.
    pub cap: Duration,
}

impl RetryPolicy {
    /// `max_attempts` per request within `deadline`, waiting 20 ms to 1 s between attempts.
    pub(crate) fn new(max_attempts: u32, deadline: Duration) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            deadline,
            base: Duration::from_millis(20),
            cap: Duration::from_secs(1),
        }
    }
}

/// The retries of one operation: how many attempts so far, and the last wait.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    policy: RetryPolicy,
    started: Duration,
    attempts: u32,
    last: Duration,
}

impl Backoff {
    /// An operation that started at `started` (a [`crate::core::clock::Clock::elapsed`] reading).
    pub(crate) fn new(policy: RetryPolicy, started: Duration) -> Backoff {
        Backoff {
            policy,
            started,
            attempts: 1,
            last: policy.base,
        }
    }

    /// Attempts made so far.
    #[cfg(test)]
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The wait before the next attempt of a failed request, or `None` when the attempts or
    /// the deadline are used up. `now` is a clock reading, `random` a uniform draw.
    pub(crate) fn next_attempt(&mut self, now: Duration, random: u64) -> Option<Duration> {
        if self.attempts >= self.policy.max_attempts {
            return None;
        }
        let wait = self.next_wait(now, random)?;
        self.attempts += 1;
        Some(wait)
    }

    /// The wait before another round of a conditional update that lost a race: bounded by the
    /// deadline only, since contention is expected to clear.
    pub(crate) fn next_round(&mut self, now: Duration, random: u64) -> Option<Duration> {
        self.next_wait(now, random)
    }

    /// Decorrelated jitter (a wait drawn between the base and three times the last wait, capped),
    /// which spreads out clients that failed together; none past the deadline.
    fn next_wait(&mut self, now: Duration, random: u64) -> Option<Duration> {
        let base = self.policy.base.as_micros() as u64;
        let high = (self.last.as_micros() as u64)
            .saturating_mul(3)
            .clamp(base + 1, (self.policy.cap.as_micros() as u64).max(base + 1));
        let wait = Duration::from_micros(base + random % (high - base));
        let spent = now.saturating_sub(self.started);
        // Twice the shortest attempt: a sleep that overshoots its wait still leaves one.
        if spent + wait + 2 * SHORTEST_ATTEMPT >= self.policy.deadline {
            return None;
        }
        self.last = wait;
        Some(wait)
    }
}

/// Tokens a store starts with and never holds more of.
const QUOTA_TOKENS: u32 = 500;
/// Tokens a retry after a server error or throttling costs.
const RETRY_COST: u32 = 5;
/// Tokens a retry after a timeout or a lost connection costs: a server that does not answer is
/// likelier to stay that way.
const TIMEOUT_RETRY_COST: u32 = 10;

/// What made an attempt worth retrying, which sets what the retry costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A 5xx, 429 or an S3 error code saying try again.
    ServerError,
    /// No reply in time, or the connection broke.
    Timeout,
}

/// A store's retry budget, shared by all its operations, as the AWS SDKs keep one: a retry
/// spends tokens, a success earns one back. While a server fails everything the tokens run out
/// and each call makes its first attempt only, so an outage costs one request per call, not
/// `max-attempts`.
#[derive(Debug)]
pub(crate) struct RetryQuota {
    tokens: AtomicU32,
}

impl Default for RetryQuota {
    fn default() -> RetryQuota {
        RetryQuota {
            tokens: AtomicU32::new(QUOTA_TOKENS),
        }
    }
}

impl RetryQuota {
    /// Takes the cost of a retry after `failure`; false (and nothing taken) when the quota
    /// cannot pay it.
    pub(crate) fn spend(&self, failure: Failure) -> bool {
        let cost = match failure {
            Failure::ServerError => RETRY_COST,
            Failure::Timeout => TIMEOUT_RETRY_COST,
        };
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tokens| {
                tokens.checked_sub(cost)
            })
            .is_ok()
    }

    /// Earns a token back for a request that succeeded.
    pub(crate) fn earn(&self) {
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tokens| {
                (tokens < QUOTA_TOKENS).then_some(tokens + 1)
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_runs_out_under_failures_and_refills_with_successes() {
        let quota = RetryQuota::default();
        let mut retries = 0;
        while quota.spend(Failure::ServerError) {
            retries += 1;
        }
        assert_eq!(retries, QUOTA_TOKENS / RETRY_COST);
        assert!(!quota.spend(Failure::Timeout));
        for _ in 0..TIMEOUT_RETRY_COST {
            quota.earn();
        }
        assert!(quota.spend(Failure::Timeout) && !quota.spend(Failure::ServerError));
        for _ in 0..2 * QUOTA_TOKENS {
            quota.earn();
        }
        let mut retries = 0;
        while quota.spend(Failure::Timeout) {
            retries += 1;
        }
        assert_eq!(
            retries,
            QUOTA_TOKENS / TIMEOUT_RETRY_COST,
            "never above the start"
        );
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            deadline: Duration::from_secs(2),
            base: Duration::from_millis(10),
            cap: Duration::from_millis(500),
        }
    }

    #[test]
    fn attempts_stop_at_the_limit() {
        let mut backoff = Backoff::new(policy(), Duration::ZERO);
        let mut now = Duration::ZERO;
        let mut waits = 0;
        while let Some(wait) = backoff.next_attempt(now, 12345) {
            now += wait;
            waits += 1;
        }
        assert_eq!(waits, 3, "4 attempts: the first and 3 retries");
        assert_eq!(backoff.attempts(), 4);
    }

    #[test]
    fn waits_are_jittered_within_base_and_cap_and_grow() {
        let mut state = 99u64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut longest = Duration::ZERO;
        let mut distinct = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut backoff = Backoff::new(policy(), Duration::ZERO);
            for _ in 0..20 {
                let Some(wait) = backoff.next_round(Duration::ZERO, random()) else {
                    break;
                };
                assert!(wait >= Duration::from_millis(10) && wait < Duration::from_millis(500));
                longest = longest.max(wait);
                distinct.insert(wait);
            }
        }
        assert!(
            longest > Duration::from_millis(250),
            "waits grow: {longest:?}"
        );
        assert!(distinct.len() > 100, "waits are spread out");
    }

    #[test]
    fn nothing_waits_past_the_deadline() {
        let mut backoff = Backoff::new(policy(), Duration::from_secs(100));
        assert!(backoff.next_round(Duration::from_secs(102), 0).is_none());
        let mut rounds = 0;
        let mut now = Duration::from_secs(100);
        while let Some(wait) = backoff.next_round(now, 7_777_777) {
            now += wait;
            rounds += 1;
            assert!(
                now + 2 * SHORTEST_ATTEMPT < Duration::from_secs(102),
                "an attempt fits after the wait"
            );
        }
        assert!(rounds > 3);
    }
}

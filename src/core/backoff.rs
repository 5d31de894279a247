//! How long to wait before trying again: decorrelated
//! jitter under an attempt limit and a deadline. Pure: time and randomness come in as arguments.

use std::time::Duration;

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
        if spent + wait >= self.policy.deadline {
            return None;
        }
        self.last = wait;
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert!(now < Duration::from_secs(102));
        }
        assert!(rounds > 3);
    }
}

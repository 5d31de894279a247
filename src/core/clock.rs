//! Time and chance, injected: expiry, deadlines, backoff and jitter read them here, so the cache
//! logic is tested with a manual clock and no real sleeps.

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What the cache takes from its surroundings besides HTTP.
pub trait Clock {
    /// Milliseconds since the Unix epoch: the time entries expire by.
    fn now_ms(&self) -> i64;
    /// Time since a fixed point in the past that never goes back: the time deadlines run by.
    fn elapsed(&self) -> Duration;
    /// Waits (between retries).
    fn sleep(&self, duration: Duration);
    /// A uniformly distributed random number (jitter, write ids).
    fn random(&self) -> u64;
}

/// The real clock. On wasm32-wasip2 the standard library reads `wasi:clocks` and
/// `wasi:random` and sleeps on a monotonic-clock pollable, so this serves the component too.
#[derive(Debug)]
pub(crate) struct SystemClock {
    start: Instant,
}

impl SystemClock {
    /// A clock whose `elapsed` counts from now.
    pub(crate) fn new() -> SystemClock {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> SystemClock {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn random(&self) -> u64 {
        // Each RandomState gets fresh keys (seeded from the OS's randomness, then stepped), and
        // SipHash of them is uniform: enough for jitter and ids, with no extra dependency.
        RandomState::new().hash_one(0u8)
    }
}

#[cfg(test)]
pub(crate) mod manual {
    //! A clock for tests: time moves only when told to, or when the code under test sleeps.

    use std::sync::{Arc, Mutex, MutexGuard};
    use std::time::Duration;

    use super::Clock;

    /// Shared by the cache under test and the in-memory S3 (for LastModified).
    #[derive(Debug, Clone)]
    pub(crate) struct ManualClock {
        state: Arc<Mutex<State>>,
    }

    #[derive(Debug)]
    struct State {
        now_ms: i64,
        elapsed: Duration,
        slept: Duration,
        seed: u64,
        /// Milliseconds each reading of the time moves it on: code that reads it twice where
        /// once was meant gets two values.
        tick_ms: i64,
    }

    impl ManualClock {
        /// A clock at `now_ms`, with a deterministic random sequence from `seed`.
        pub(crate) fn at(now_ms: i64, seed: u64) -> ManualClock {
            ManualClock {
                state: Arc::new(Mutex::new(State {
                    now_ms,
                    elapsed: Duration::ZERO,
                    slept: Duration::ZERO,
                    seed: seed | 1,
                    tick_ms: 0,
                })),
            }
        }

        fn state(&self) -> MutexGuard<'_, State> {
            self.state
                .lock()
                .expect("no test panics while holding the clock")
        }

        /// Moves time forward.
        pub(crate) fn advance(&self, by: Duration) {
            let mut state = self.state();
            state.now_ms = state
                .now_ms
                .saturating_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
            state.elapsed += by;
        }

        /// Moves time on by `ms` at every reading of `now_ms` from now on.
        pub(crate) fn tick_on_every_reading(&self, ms: i64) {
            self.state().tick_ms = ms;
        }

        /// How long the code under test has slept in all.
        pub(crate) fn slept(&self) -> Duration {
            self.state().slept
        }
    }

    impl Clock for ManualClock {
        fn now_ms(&self) -> i64 {
            let mut state = self.state();
            let now = state.now_ms;
            state.now_ms = now.saturating_add(state.tick_ms);
            now
        }

        fn elapsed(&self) -> Duration {
            self.state().elapsed
        }

        fn sleep(&self, duration: Duration) {
            self.state().slept += duration;
            self.advance(duration);
        }

        fn random(&self) -> u64 {
            // xorshift64: deterministic, so a failing test replays exactly.
            let mut state = self.state();
            let mut x = state.seed;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            state.seed = x;
            x
        }
    }
}

#[cfg(test)]
mod tests {
    use super::manual::ManualClock;
    use super::*;

    #[test]
    fn the_system_clock_reads_real_time_and_varies_its_randomness() {
        let clock = SystemClock::new();
        assert!(clock.now_ms() > 1_700_000_000_000);
        let draws: std::collections::HashSet<u64> = (0..100).map(|_| clock.random()).collect();
        assert!(draws.len() > 95, "{} distinct of 100", draws.len());
        let before = clock.elapsed();
        clock.sleep(Duration::from_millis(2));
        assert!(clock.elapsed() >= before + Duration::from_millis(2));
    }

    #[test]
    fn the_manual_clock_moves_only_when_told_or_slept() {
        let clock = ManualClock::at(1_000, 7);
        assert_eq!(clock.now_ms(), 1_000);
        clock.sleep(Duration::from_millis(250));
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.now_ms(), 2_250);
        assert_eq!(clock.elapsed(), Duration::from_millis(1_250));
        assert_eq!(clock.slept(), Duration::from_millis(250));
        let replay = ManualClock::at(0, 7);
        assert_eq!(
            (0..5).map(|_| clock.random()).collect::<Vec<_>>(),
            (0..5).map(|_| replay.random()).collect::<Vec<_>>()
        );
    }
}

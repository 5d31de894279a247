//! Culling policy: which entries a sequence of writes removes to honour MAX_ENTRIES.
//!
//! Django culls before each write: when the cache holds `max_entries` or more entries it removes
//! `count / cull_frequency` of them (all of them when `cull_frequency` is 0), then writes. This
//! module replays that rule over a listing, choosing the oldest written entries where Django picks
//! at random, so the counts match Django's exactly.
//!
//! Counting costs a listing, O(entries) requests. `exact` mode counts before every write;
//! `sampled` mode checks one write in [`SAMPLE_ONE_IN`], at random (a store keeps no state
//! between calls), and reads one listing page: entry names are sha1 hex, uniformly spread and
//! listed in order, so the last name of the first page tells how much of the name space the
//! page covers and so the count, within a few percent, at any size. Only when that estimate
//! reaches the limit does it list everything and cull by Django's rule.

use std::collections::HashSet;

/// An entry as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The object name.
    pub name: String,
    /// When it was last written, in ms since the Unix epoch.
    pub last_modified_ms: i64,
    /// Its size in bytes.
    pub size: u64,
}

/// How writes check the entry count, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CullMode {
    /// Exact while max-entries fits one listing page ([`PAGE`] names), sampled above.
    #[default]
    Auto,
    /// Every write lists the location first: Django's counts exactly, O(entries) per write.
    Exact,
    /// One write in [`SAMPLE_ONE_IN`] reads one listing page: about one request per write.
    Sampled,
}

/// Names per listing page (S3's most).
pub(crate) const PAGE: usize = 1000;
/// In sampled mode, one write in this many checks the count: at the limit that costs
/// 1/25 = 0.04 listing requests per write, leaving room under a 0.05 budget for the culls.
pub(crate) const SAMPLE_ONE_IN: u64 = 25;

/// A store's culling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Culling {
    /// No limit: writes never list or cull (S3 lifecycle rules bound the bucket).
    Unlimited,
    /// Every write counts first.
    Exact(CullPolicy),
    /// Writes count now and then, from one page.
    Sampled(CullPolicy),
}

impl Culling {
    /// The culling of `max_entries` (`None`: unlimited) in `mode`.
    pub fn new(max_entries: Option<usize>, cull_frequency: u32, mode: CullMode) -> Culling {
        let Some(max_entries) = max_entries else {
            return Culling::Unlimited;
        };
        let policy = CullPolicy {
            max_entries,
            cull_frequency,
        };
        match mode {
            CullMode::Exact => Culling::Exact(policy),
            CullMode::Sampled => Culling::Sampled(policy),
            CullMode::Auto if max_entries <= PAGE => Culling::Exact(policy),
            CullMode::Auto => Culling::Sampled(policy),
        }
    }

    /// Whether a batch of `writes` new entries checks the count first; `random` is a uniform
    /// draw. In sampled mode a batch is as likely to check as its writes together.
    pub fn checks(self, writes: usize, random: u64) -> bool {
        match self {
            Culling::Unlimited => false,
            Culling::Exact(_) => true,
            Culling::Sampled(_) => random % SAMPLE_ONE_IN < writes as u64,
        }
    }
}

/// The number of entries a location holds, from the entry names of its first listing page (in
/// listing order) and whether more pages follow.
///
/// A location's entry names are sha1 digests, uniform over the name space: with `k` names on a
/// truncated page, the last at fraction `x` of the space, `(k - 1) / x` estimates the count
/// without bias (the k-th smallest of N uniform draws is Beta(k, N - k + 1), whose inverse has
/// mean N / (k - 1)); its relative error is about 1 / sqrt(k), 3% for a full page.
pub(crate) fn estimate_count(digests: &[&str], truncated: bool) -> usize {
    let count = digests.len();
    if !truncated || count < 2 {
        return count;
    }
    match digests.last().and_then(|digest| digest_fraction(digest)) {
        Some(fraction) => estimate_from(count, fraction),
        None => count,
    }
}

/// The count a truncated page of `count` names stands for, its last name at `fraction` of the
/// name space.
fn estimate_from(count: usize, fraction: f64) -> usize {
    let estimate = (count.saturating_sub(1)) as f64 / fraction;
    (estimate.min(usize::MAX as f64) as usize).max(count)
}

/// Where a hex digest falls in the name space, in (0, 1]; its first 13 hex digits (52 bits) fit
/// an f64 exactly.
fn digest_fraction(digest: &str) -> Option<f64> {
    let head = digest.get(..13)?;
    let value = u64::from_str_radix(head, 16).ok()?;
    Some((value as f64 + 1.0) / (1u64 << 52) as f64)
}

/// Django's MAX_ENTRIES and CULL_FREQUENCY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CullPolicy {
    /// Culling starts when this many entries exist; at least 1.
    pub max_entries: usize,
    /// A cull removes 1/cull_frequency of the entries; 0 removes all.
    pub cull_frequency: u32,
}

/// What a batch of writes has to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritePlan {
    /// Existing objects to delete.
    pub delete: Vec<String>,
    /// For each write, in order, whether it must be sent: false when a later cull in the same
    /// batch would remove it, or a later write of the same name replaces it.
    pub send: Vec<bool>,
}

impl CullPolicy {
    /// Replays `writes` (object names, in order) over the `existing` entries.
    pub fn plan(self, existing: &[Listed], writes: &[String]) -> WritePlan {
        let mut by_age: Vec<&Listed> = existing.iter().collect();
        by_age.sort_by(|a, b| (a.last_modified_ms, &a.name).cmp(&(b.last_modified_ms, &b.name)));
        // Oldest first; a write moves its name to the end.
        let mut live: Vec<&str> = by_age.iter().map(|listed| listed.name.as_str()).collect();
        for name in writes {
            if live.len() >= self.max_entries {
                let cull = match self.cull_frequency {
                    0 => live.len(),
                    frequency => live.len() / frequency as usize,
                };
                live.drain(..cull);
            }
            live.retain(|live_name| live_name != name);
            live.push(name);
        }
        let survivors: HashSet<&str> = live.into_iter().collect();
        let delete = existing
            .iter()
            .filter(|listed| !survivors.contains(listed.name.as_str()))
            .map(|listed| listed.name.clone())
            .collect();
        let send = writes
            .iter()
            .zip(last_writes(writes))
            .map(|(name, last)| last && survivors.contains(name.as_str()))
            .collect();
        WritePlan { delete, send }
    }
}

/// What a batch of writes has to do when the entries are counted, not listed whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedPlan {
    /// How many of the existing entries to delete, the oldest first.
    pub delete: usize,
    /// For each write, in order, whether it must be sent (as [`WritePlan::send`]).
    pub send: Vec<bool>,
}

impl CullPolicy {
    /// Replays `writes` over `existing` entries known by their number only (a location too
    /// large to hold its listing in memory), which are older than every write. A write of a
    /// name that already exists counts as a new entry here, so the cull may be larger by one
    /// for each such write.
    pub fn plan_counted(self, existing: usize, writes: &[String]) -> CountedPlan {
        let mut existing_left = existing;
        let mut written: std::collections::VecDeque<&str> = std::collections::VecDeque::new();
        for name in writes {
            let live = existing_left + written.len();
            if live >= self.max_entries {
                let mut cull = match self.cull_frequency {
                    0 => live,
                    frequency => live / frequency as usize,
                };
                let older = cull.min(existing_left);
                existing_left -= older;
                cull -= older;
                written.drain(..cull.min(written.len()));
            }
            written.retain(|live_name| live_name != name);
            written.push_back(name);
        }
        let survivors: HashSet<&str> = written.into_iter().collect();
        let send = writes
            .iter()
            .zip(last_writes(writes))
            .map(|(name, last)| last && survivors.contains(name.as_str()))
            .collect();
        CountedPlan {
            delete: existing - existing_left,
            send,
        }
    }
}

/// Spreads a cull of `total` entries, out of about `expected`, over the pages of a listing:
/// each page gives up its share, so the cull needs one page in memory at a time. Names are
/// sha1 digests, so every page is a fair sample of the entries' ages.
#[derive(Debug, Clone)]
pub(crate) struct PageShares {
    total: usize,
    expected: usize,
    seen: usize,
    taken: usize,
}

impl PageShares {
    /// Shares of a cull of `total` out of about `expected` entries.
    pub(crate) fn new(total: usize, expected: usize) -> PageShares {
        PageShares {
            total,
            expected: expected.max(1),
            seen: 0,
            taken: 0,
        }
    }

    /// The oldest names of the next page (`entries`) that make its share.
    pub(crate) fn take<'e>(&mut self, entries: &'e [Listed]) -> Vec<&'e str> {
        // A cull of everything (cull-frequency 0) takes every page whole, however many more
        // entries there are than estimated.
        if self.total >= self.expected {
            return entries.iter().map(|listed| listed.name.as_str()).collect();
        }
        self.seen += entries.len();
        let due = (self.seen as u128 * self.total as u128).div_ceil(self.expected as u128);
        let due = usize::try_from(due).unwrap_or(usize::MAX).min(self.total);
        let count = due.saturating_sub(self.taken).min(entries.len());
        self.taken += count;
        let mut by_age: Vec<&Listed> = entries.iter().collect();
        by_age.sort_by(|a, b| (a.last_modified_ms, &a.name).cmp(&(b.last_modified_ms, &b.name)));
        by_age
            .into_iter()
            .take(count)
            .map(|listed| listed.name.as_str())
            .collect()
    }
}

/// For each write of a batch, whether it is the last of its name (the earlier ones would only
/// be overwritten, and sent at once they could land in any order).
pub(crate) fn last_writes(names: &[String]) -> Vec<bool> {
    let mut seen = HashSet::new();
    let mut last: Vec<bool> = names
        .iter()
        .rev()
        .map(|name| seen.insert(name.as_str()))
        .collect();
    last.reverse();
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_plans_agree_with_listed_ones_when_names_are_new() {
        for (max_entries, cull_frequency) in [(10, 3), (10, 0), (1, 1), (7, 2), (50, 4)] {
            let policy = CullPolicy {
                max_entries,
                cull_frequency,
            };
            for existing in [0, 5, 9, 10, 11, 40] {
                let existing_names = names("old", existing);
                for writes in [names("new", 1), names("new", 12), names("new", 30)] {
                    let listed = policy.plan(&listed(&existing_names), &writes);
                    let counted = policy.plan_counted(existing, &writes);
                    assert_eq!(counted.send, listed.send, "{max_entries}/{cull_frequency}");
                    assert_eq!(counted.delete, listed.delete.len());
                }
            }
        }
    }

    #[test]
    fn page_shares_add_up_to_the_cull_and_take_the_oldest_of_each_page() {
        let pages: Vec<Vec<Listed>> = (0..5)
            .map(|page| listed(&names(&format!("p{page}-"), 1000)))
            .collect();
        let mut shares = PageShares::new(1666, 5000);
        let taken: Vec<Vec<&str>> = pages.iter().map(|page| shares.take(page)).collect();
        assert_eq!(taken.iter().map(Vec::len).sum::<usize>(), 1666);
        assert!(taken.iter().all(|page| (333..=334).contains(&page.len())));
        assert_eq!(taken[0][0], "p0-001", "the oldest of the page first");
        // More pages than expected never take more than the cull.
        let mut shares = PageShares::new(10, 20);
        let total: usize = pages.iter().map(|page| shares.take(page).len()).sum();
        assert_eq!(total, 10);
        // A cull of everything takes everything, more than expected included.
        let mut shares = PageShares::new(3000, 3000);
        let total: usize = pages.iter().map(|page| shares.take(page).len()).sum();
        assert_eq!(total, 5000);
    }

    fn names(prefix: &str, count: usize) -> Vec<String> {
        (1..=count).map(|i| format!("{prefix}{i:03}")).collect()
    }

    fn listed(names: &[String]) -> Vec<Listed> {
        names
            .iter()
            .enumerate()
            .map(|(age, name)| Listed {
                name: name.clone(),
                last_modified_ms: age as i64,
                size: 1,
            })
            .collect()
    }

    /// Replays one `set` at a time, as Django's test does, carrying the survivors forward.
    fn survivors_after_single_sets(policy: CullPolicy, count: usize) -> usize {
        let mut existing: Vec<Listed> = Vec::new();
        for (clock, name) in names("k", count).into_iter().enumerate() {
            let plan = policy.plan(&existing, std::slice::from_ref(&name));
            existing.retain(|listed| !plan.delete.contains(&listed.name));
            assert_eq!(plan.send, [true]);
            existing.push(Listed {
                name,
                last_modified_ms: clock as i64,
                size: 1,
            });
        }
        existing.len()
    }

    #[test]
    fn django_counts_for_49_sets_with_max_30() {
        let frequent = CullPolicy {
            max_entries: 30,
            cull_frequency: 3,
        };
        let clear = CullPolicy {
            max_entries: 30,
            cull_frequency: 0,
        };
        assert_eq!(survivors_after_single_sets(frequent, 49), 29);
        assert_eq!(survivors_after_single_sets(clear, 49), 19);
    }

    #[test]
    fn one_batch_of_49_matches_49_single_sets() {
        for (frequency, expected) in [(3, 29), (0, 19), (2, 19), (1, 19)] {
            let policy = CullPolicy {
                max_entries: 30,
                cull_frequency: frequency,
            };
            let writes = names("k", 49);
            let plan = policy.plan(&[], &writes);
            assert!(plan.delete.is_empty());
            assert_eq!(plan.send.iter().filter(|send| **send).count(), expected);
            assert_eq!(survivors_after_single_sets(policy, 49), expected);
        }
    }

    #[test]
    fn the_oldest_entries_go_first() {
        let existing = listed(&names("old", 30));
        let policy = CullPolicy {
            max_entries: 30,
            cull_frequency: 3,
        };
        let plan = policy.plan(&existing, &["new".to_owned()]);
        assert_eq!(plan.delete, names("old", 10));
        assert_eq!(plan.send, [true]);
    }

    #[test]
    fn equal_ages_are_ordered_by_name() {
        let mut existing = listed(&["b".to_owned(), "a".to_owned(), "c".to_owned()]);
        for listed in &mut existing {
            listed.last_modified_ms = 7;
        }
        let policy = CullPolicy {
            max_entries: 3,
            cull_frequency: 3,
        };
        assert_eq!(policy.plan(&existing, &["d".to_owned()]).delete, ["a"]);
    }

    #[test]
    fn below_the_limit_nothing_is_culled() {
        let existing = listed(&names("e", 29));
        let policy = CullPolicy {
            max_entries: 30,
            cull_frequency: 3,
        };
        let plan = policy.plan(&existing, &["new".to_owned()]);
        assert!(plan.delete.is_empty());
    }

    #[test]
    fn rewriting_an_old_entry_culls_but_keeps_it() {
        let all = names("e", 30);
        let existing = listed(&all);
        let policy = CullPolicy {
            max_entries: 30,
            cull_frequency: 3,
        };
        let plan = policy.plan(&existing, &[all[0].clone()]);
        assert_eq!(plan.delete, all[1..10].to_vec());
        assert_eq!(plan.send, [true]);
    }

    #[test]
    fn frequency_zero_clears_everything_before_the_write() {
        let existing = listed(&names("e", 5));
        let policy = CullPolicy {
            max_entries: 5,
            cull_frequency: 0,
        };
        let plan = policy.plan(&existing, &["new".to_owned()]);
        assert_eq!(plan.delete, names("e", 5));
        assert_eq!(plan.send, [true]);
    }

    #[test]
    fn repeated_names_in_a_batch_send_only_the_last() {
        let policy = CullPolicy {
            max_entries: 10,
            cull_frequency: 3,
        };
        let writes = ["a", "b", "a"].map(str::to_owned);
        assert_eq!(policy.plan(&[], &writes).send, [false, true, true]);
    }

    /// A deterministic stream of uniform 64-bit draws.
    fn xorshift(seed: u64) -> impl FnMut() -> u64 {
        let mut state = seed | 1;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// A 40-hex entry name whose position in the name space is `value`.
    fn digest(value: u64) -> String {
        format!("{value:016x}{:024x}", 0)
    }

    /// The estimate from the first page of a location holding `names`, through the names.
    fn estimate_of(names: &std::collections::BTreeSet<u64>) -> usize {
        let page: Vec<String> = names.iter().take(PAGE).map(|&v| digest(v)).collect();
        let page: Vec<&str> = page.iter().map(String::as_str).collect();
        estimate_count(&page, names.len() > PAGE)
    }

    /// The same estimate without making the names (for long simulations).
    fn quick_estimate_of(names: &std::collections::BTreeSet<u64>) -> usize {
        match names.iter().nth(PAGE - 1) {
            Some(&last) if names.len() > PAGE => {
                estimate_from(PAGE, ((last >> 12) as f64 + 1.0) / (1u64 << 52) as f64)
            }
            _ => names.len(),
        }
    }

    #[test]
    fn one_page_estimates_the_count_within_a_few_percent_at_any_size() {
        for (count, seeds) in [
            (1_000, 1),
            (1_001, 20),
            (3_000, 20),
            (100_000, 10),
            (1_000_000, 3),
        ] {
            let mut errors = Vec::new();
            for seed in 0..seeds {
                let mut draw = xorshift(count as u64 * 7919 + seed);
                let names: std::collections::BTreeSet<u64> = (0..count).map(|_| draw()).collect();
                let estimate = estimate_of(&names) as f64;
                errors.push((estimate - names.len() as f64) / names.len() as f64);
            }
            let worst = errors.iter().map(|e| e.abs()).fold(0.0, f64::max);
            let mean = errors.iter().sum::<f64>() / errors.len() as f64;
            assert!(worst < 0.12, "{count}: worst error {worst:.3}");
            assert!(mean.abs() < 0.04, "{count}: mean error {mean:.3}, biased");
            if count <= PAGE {
                assert_eq!(worst, 0.0, "a single page is counted exactly");
            }
        }
    }

    #[test]
    fn estimates_survive_odd_pages() {
        assert_eq!(estimate_count(&[], true), 0);
        assert_eq!(estimate_count(&["zz"], true), 1);
        assert_eq!(estimate_count(&["a", "not-hex-at-all"], true), 2);
        let full = digest(u64::MAX);
        assert_eq!(estimate_count(&[&digest(0), &full], true), 2);
        assert!(estimate_count(&[&digest(0), &digest(1)], true) > 1_000_000);
    }

    #[test]
    fn modes_resolve_and_sampled_checks_one_write_in_25() {
        let rule = CullPolicy {
            max_entries: 1000,
            cull_frequency: 3,
        };
        assert_eq!(
            Culling::new(Some(1000), 3, CullMode::Auto),
            Culling::Exact(rule)
        );
        let big = CullPolicy {
            max_entries: 1001,
            ..rule
        };
        assert_eq!(
            Culling::new(Some(1001), 3, CullMode::Auto),
            Culling::Sampled(big)
        );
        assert_eq!(
            Culling::new(Some(5), 3, CullMode::Sampled),
            Culling::Sampled(CullPolicy {
                max_entries: 5,
                ..rule
            })
        );
        assert_eq!(
            Culling::new(Some(5000), 3, CullMode::Exact),
            Culling::Exact(CullPolicy {
                max_entries: 5000,
                ..rule
            })
        );
        assert_eq!(Culling::new(None, 3, CullMode::Exact), Culling::Unlimited);
        let sampled = Culling::new(Some(5000), 3, CullMode::Auto);
        let mut draw = xorshift(5);
        let checks = (0..100_000).filter(|_| sampled.checks(1, draw())).count();
        assert!((3_600..4_400).contains(&checks), "{checks} of 100,000");
        assert!(
            (0..100).all(|_| sampled.checks(25, draw())),
            "a batch of 25 always checks"
        );
        assert!(!Culling::Unlimited.checks(1000, 0));
        assert!(Culling::Exact(rule).checks(1, 7));
    }

    /// Sampled culling over random write sequences: how far the count goes past max-entries.
    /// Returns the worst overshoot of each sequence, as a fraction of max-entries.
    fn sampled_overshoots(max_entries: usize, sequences: u64) -> Vec<f64> {
        let culling = Culling::new(Some(max_entries), 3, CullMode::Sampled);
        (0..sequences)
            .map(|seed| {
                let mut draw = xorshift(seed * 104_729 + max_entries as u64);
                let mut names = std::collections::BTreeSet::new();
                let mut by_age = std::collections::VecDeque::new();
                let mut worst = 0usize;
                for _ in 0..3 * max_entries {
                    if culling.checks(1, draw()) && quick_estimate_of(&names) >= max_entries {
                        // Django's rule on the full listing: a third of the entries, oldest first.
                        for _ in 0..names.len() / 3 {
                            if let Some(old) = by_age.pop_front() {
                                names.remove(&old);
                            }
                        }
                    }
                    // One write in ten rewrites an existing entry rather than adding one.
                    let name = match by_age.get((draw() % 10 * 97) as usize) {
                        Some(&old) if draw().is_multiple_of(10) => old,
                        _ => draw(),
                    };
                    if names.insert(name) {
                        by_age.push_back(name);
                    }
                    worst = worst.max(names.len());
                }
                worst.saturating_sub(max_entries) as f64 / max_entries as f64
            })
            .collect()
    }

    #[test]
    fn sampled_culling_overshoots_little_and_rarely_past_ten_percent() {
        for (max_entries, sequences) in [(2_000, 1_000), (10_000, 100)] {
            let overshoots = sampled_overshoots(max_entries, sequences);
            let mean = overshoots.iter().sum::<f64>() / overshoots.len() as f64;
            let past_ten = overshoots.iter().filter(|&&o| o > 0.10).count();
            let worst = overshoots.iter().copied().fold(0.0, f64::max);
            eprintln!(
                "sampled culling, max-entries {max_entries}: mean worst overshoot {:.2}%, \
                 largest {:.2}%, {past_ten} of {sequences} sequences past 10%",
                mean * 100.0,
                worst * 100.0
            );
            assert!(mean < 0.05, "mean overshoot {mean:.3}");
            assert!(
                past_ten * 100 <= overshoots.len(),
                "{past_ten} sequences past 10%"
            );
        }
    }

    #[test]
    fn a_frequency_above_the_count_culls_nothing() {
        let existing = listed(&names("e", 2));
        let policy = CullPolicy {
            max_entries: 2,
            cull_frequency: 5,
        };
        let plan = policy.plan(&existing, &["new".to_owned()]);
        assert!(plan.delete.is_empty());
    }
}

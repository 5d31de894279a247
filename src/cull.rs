//! Culling policy: which entries a sequence of writes removes to honour MAX_ENTRIES.
//!
//! Django culls before each write: when the cache holds `max_entries` or more entries it removes
//! `count / cull_frequency` of them (all of them when `cull_frequency` is 0), then writes. This
//! module replays that rule over a listing, choosing the oldest written entries where Django picks
//! at random, so the counts match Django's exactly.

use std::collections::HashSet;

/// An entry as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The object name.
    pub name: String,
    /// When it was last written, in ms since the Unix epoch.
    pub last_modified_ms: i64,
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
            .enumerate()
            .map(|(index, name)| {
                survivors.contains(name.as_str()) && !writes[index + 1..].contains(name)
            })
            .collect();
        WritePlan { delete, send }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

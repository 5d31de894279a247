//! The cache logic against the in-memory S3 with a manual clock: Django's semantics, culling,
//! retries, contention and lost replies, in milliseconds and without real sleeps.

use std::time::Duration;

use super::{Cache, KeyValue, Swapped};
use crate::core::clock::Clock;
use crate::core::clock::manual::ManualClock;
use crate::core::entry::{self, Expiry, Ttl};
use crate::core::key::{KeyScheme, object_name};
use crate::error::Error;
use crate::s3::Credentials;
use crate::s3::{EXPIRES_HEADER, WRITES_HEADER};
use crate::settings::{Config, Settings};
use crate::testing::memory_s3::{BUCKET, Buckets, Fault, MemoryS3};

const START_MS: i64 = 1_800_000_000_000;
const LOCATION: &str = "loc";

struct Harness {
    cache: Cache<MemoryS3>,
    s3: MemoryS3,
    clock: ManualClock,
}

fn settings() -> Settings {
    let credentials = Credentials {
        access_key_id: "AKIDEXAMPLE".to_owned(),
        secret_access_key: "secret".to_owned(),
        session_token: None,
    };
    Settings {
        endpoint: Some("http://127.0.0.1:9000".to_owned()),
        location: LOCATION.to_owned(),
        ..Settings::new(BUCKET, credentials)
    }
}

fn harness_with(change: impl FnOnce(&mut Settings)) -> Harness {
    let mut settings = settings();
    change(&mut settings);
    let clock = ManualClock::at(START_MS, 42);
    let s3 = MemoryS3::new(clock.clone());
    let config = Config::new(settings).expect("valid settings");
    let cache = Cache::with_clock(config, s3.clone(), Box::new(clock.clone()));
    Harness { cache, s3, clock }
}

fn harness() -> Harness {
    harness_with(|_| {})
}

fn name(key: &str) -> String {
    object_name(LOCATION, "", 1, key)
}

fn secs(seconds: i64) -> Ttl {
    Ttl::Millis(seconds * 1000)
}

/// The value stored under `key`, whatever its expiry.
fn stored_value(s3: &MemoryS3, key: &str) -> Option<Vec<u8>> {
    let object = s3.object(&name(key))?;
    Some(
        entry::decode(&object.body, usize::MAX)
            .expect("an entry")
            .value,
    )
}

impl Harness {
    fn entries(&self) -> usize {
        self.s3
            .names()
            .iter()
            .filter(|name| name.starts_with("loc/"))
            .count()
    }
}

#[test]
fn values_round_trip_and_misses_are_none() {
    let h = harness();
    assert_eq!(h.cache.get("k").unwrap(), None);
    h.cache.set("k", b"value", Ttl::Default).unwrap();
    assert_eq!(h.cache.get("k").unwrap(), Some(b"value".to_vec()));
    assert!(h.cache.has_key("k").unwrap());
    assert!(h.cache.delete("k").unwrap());
    assert!(!h.cache.delete("k").unwrap());
    assert_eq!(h.cache.get("k").unwrap(), None);
}

#[test]
fn entries_expire_on_the_clock_and_reads_delete_them() {
    let h = harness();
    h.cache.set("short", b"v", secs(2)).unwrap();
    h.cache.set("half", b"v", Ttl::Millis(500)).unwrap();
    h.cache.set("forever", b"v", Ttl::Never).unwrap();
    h.cache.set("default", b"v", Ttl::Default).unwrap();
    h.clock.advance(Duration::from_millis(499));
    assert!(h.cache.has_key("half").unwrap());
    h.clock.advance(Duration::from_millis(1));
    assert_eq!(h.cache.get("half").unwrap(), None);
    assert!(
        h.s3.object(&name("half")).is_none(),
        "deleted when read expired"
    );
    h.clock.advance(Duration::from_millis(1500));
    assert!(h.s3.object(&name("short")).is_some(), "kept until read");
    assert!(!h.cache.has_key("short").unwrap());
    assert!(
        h.s3.object(&name("short")).is_none(),
        "has-key deletes it too"
    );
    h.clock.advance(Duration::from_secs(297));
    assert!(h.cache.has_key("default").unwrap(), "300 s by default");
    h.clock.advance(Duration::from_secs(1));
    assert!(!h.cache.has_key("default").unwrap());
    h.clock.advance(Duration::from_secs(100_000));
    assert_eq!(h.cache.get("forever").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn zero_or_negative_ttls_store_expired_entries() {
    let h = harness();
    for ttl in [Ttl::Millis(0), secs(-5)] {
        h.cache.set("k", b"v", ttl).unwrap();
        assert_eq!(h.cache.get("k").unwrap(), None);
        assert!(
            h.cache.add("k", b"w", ttl).unwrap(),
            "an expired entry does not block add"
        );
        assert!(!h.cache.touch("k", Ttl::Default).unwrap());
    }
}

#[test]
fn add_costs_one_put_for_a_new_key_and_refuses_a_live_one() {
    let h = harness();
    assert!(h.cache.add("k", b"first", Ttl::Default).unwrap());
    assert_eq!(h.s3.requests("PUT"), 1);
    assert_eq!(
        h.s3.requests("GET"),
        0,
        "no read before the conditional write"
    );
    assert!(!h.cache.add("k", b"second", Ttl::Default).unwrap());
    assert_eq!(stored_value(&h.s3, "k").unwrap(), b"first");
    assert_eq!(
        h.clock.slept(),
        Duration::ZERO,
        "an existing key is no contention"
    );
}

#[test]
fn add_replaces_expired_entries_and_foreign_objects() {
    let h = harness();
    h.cache.set("k", b"old", secs(1)).unwrap();
    h.clock.advance(Duration::from_secs(2));
    assert!(h.cache.add("k", b"new", Ttl::Default).unwrap());
    assert_eq!(stored_value(&h.s3, "k").unwrap(), b"new");
    h.s3.put_raw(&name("garbage"), b"not an entry");
    assert_eq!(h.cache.get("garbage").unwrap(), None);
    assert!(h.cache.add("garbage", b"mine", Ttl::Default).unwrap());
    assert_eq!(h.cache.get("garbage").unwrap(), Some(b"mine".to_vec()));
}

#[test]
fn touch_gives_a_new_expiry_and_keeps_the_payload() {
    let h = harness_with(|s| s.compress_above = Some(10));
    let value = vec![b'x'; 1000];
    h.cache.set("k", &value, secs(2)).unwrap();
    let stored = h.s3.object(&name("k")).unwrap().body;
    assert!(h.cache.touch("k", secs(60)).unwrap());
    let touched = h.s3.object(&name("k")).unwrap().body;
    assert_eq!(touched[entry::HEADER_LEN..], stored[entry::HEADER_LEN..]);
    h.clock.advance(Duration::from_secs(30));
    assert_eq!(h.cache.get("k").unwrap(), Some(value));
    assert!(!h.cache.touch("absent", secs(60)).unwrap());
    h.cache.set("brief", b"v", secs(1)).unwrap();
    h.clock.advance(Duration::from_secs(2));
    assert!(!h.cache.touch("brief", secs(60)).unwrap());
}

#[test]
fn incr_keeps_the_expiry_and_names_its_failures() {
    let h = harness();
    h.cache.set("n", b"41", secs(10)).unwrap();
    assert_eq!(h.cache.incr("n", 1).unwrap(), 42);
    assert_eq!(h.cache.decr("n", 50).unwrap(), -8);
    let expiry = entry::decode(&h.s3.object(&name("n")).unwrap().body, usize::MAX)
        .unwrap()
        .expiry;
    assert_eq!(expiry, Expiry::At(START_MS + 10_000));
    assert!(matches!(
        h.cache.incr("absent", 1),
        Err(Error::NoSuchKey(_))
    ));
    h.cache.set("word", b"forty-two", Ttl::Default).unwrap();
    assert!(matches!(
        h.cache.incr("word", 1),
        Err(Error::NotAnInteger(_))
    ));
    h.cache
        .set("max", i64::MAX.to_string().as_bytes(), Ttl::Default)
        .unwrap();
    assert!(matches!(
        h.cache.incr("max", 1),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        h.cache.decr("n", i64::MIN),
        Err(Error::InvalidInput(_))
    ));
    h.clock.advance(Duration::from_secs(11));
    assert!(matches!(h.cache.incr("n", 1), Err(Error::NoSuchKey(_))));
}

fn cull_leaves(frequency: u32) -> usize {
    let h = harness_with(|s| {
        s.max_entries = Some(30);
        s.cull_frequency = frequency;
    });
    for i in 1..50 {
        h.clock.advance(Duration::from_millis(10));
        h.cache
            .set(&format!("cull{i}"), b"value", secs(1000))
            .unwrap();
    }
    (1..50)
        .filter(|i| h.cache.has_key(&format!("cull{i}")).unwrap())
        .count()
}

#[test]
fn culling_keeps_djangos_counts() {
    assert_eq!(cull_leaves(3), 29);
    assert_eq!(cull_leaves(0), 19);
}

#[test]
fn clear_pages_through_the_listing_and_spares_other_objects() {
    let h = harness();
    for i in 0..23 {
        h.cache.set(&format!("k{i}"), b"v", Ttl::Default).unwrap();
    }
    h.s3.put_raw("loc/readme.txt", b"keep");
    h.s3.put_raw(
        "elsewhere/0123456789012345678901234567890123456789",
        b"keep",
    );
    h.cache.clear().unwrap();
    assert_eq!(
        h.s3.names(),
        [
            "elsewhere/0123456789012345678901234567890123456789",
            "loc/readme.txt"
        ]
    );
    assert!(h.s3.requests("LIST") >= 5, "23 entries in pages of 5");
}

#[test]
fn made_keys_are_hashed_as_given() {
    let h = harness_with(|s| {
        s.key_scheme = KeyScheme::Made;
        s.key_prefix = "ignored".to_owned();
    });
    h.cache.set("app:2:foo", b"v", Ttl::Default).unwrap();
    assert!(
        h.s3.object(&object_name(LOCATION, "app", 2, "foo"))
            .is_some()
    );
}

#[test]
fn transient_failures_are_retried_and_persistent_ones_reported() {
    let h = harness();
    h.cache.set("k", b"v", Ttl::Default).unwrap();
    h.s3.fault("GET", Fault::Reply(503, "SlowDown"));
    h.s3.fault("GET", Fault::NotSent);
    assert_eq!(h.cache.get("k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(h.s3.requests("GET"), 3);
    h.s3.fault("GET", Fault::LoseReplyBefore);
    assert_eq!(h.cache.get("k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(h.s3.requests("GET"), 5);
    for _ in 0..3 {
        h.s3.fault("GET", Fault::Reply(500, "InternalError"));
    }
    assert!(matches!(h.cache.get("k"), Err(Error::Unavailable(_))));
    assert_eq!(h.s3.requests("GET"), 8, "3 attempts, then the error");
    // AWS's 400 RequestTimeout is transient too.
    h.s3.fault("HEAD", Fault::Reply(400, "RequestTimeout"));
    assert!(h.cache.has_key("k").unwrap());
    assert!(h.clock.slept() < Duration::from_secs(10));
}

#[test]
fn a_listing_that_is_an_error_in_a_200_is_retried() {
    let h = harness();
    h.s3.fault("LIST", Fault::Reply(200, "InternalError"));
    h.cache.set("k", b"v", Ttl::Default).unwrap();
    assert_eq!(h.s3.requests("LIST"), 2);
    assert_eq!(h.s3.faults_left(), 0);
}

#[test]
fn a_lost_reply_to_an_incr_that_landed_does_not_increment_twice() {
    let h = harness();
    h.cache.set("n", b"5", Ttl::Default).unwrap();
    h.s3.fault("PUT", Fault::LoseReplyAfter);
    assert_eq!(h.cache.incr("n", 1).unwrap(), 6);
    assert_eq!(stored_value(&h.s3, "n").unwrap(), b"6");
}

#[test]
fn a_lost_reply_to_an_incr_that_did_not_land_is_retried() {
    let h = harness();
    h.cache.set("n", b"5", Ttl::Default).unwrap();
    h.s3.fault("PUT", Fault::LoseReplyBefore);
    assert_eq!(h.cache.incr("n", 1).unwrap(), 6);
    assert_eq!(stored_value(&h.s3, "n").unwrap(), b"6");
    h.s3.fault("PUT", Fault::Reply(500, "InternalError"));
    assert_eq!(h.cache.incr("n", 1).unwrap(), 7);
    assert_eq!(stored_value(&h.s3, "n").unwrap(), b"7");
}

#[test]
fn a_lost_reply_to_an_add_that_landed_still_answers_true() {
    let h = harness();
    h.s3.fault("PUT", Fault::LoseReplyAfter);
    assert!(h.cache.add("k", b"mine", Ttl::Default).unwrap());
    assert_eq!(stored_value(&h.s3, "k").unwrap(), b"mine");
    h.s3.fault("PUT", Fault::LoseReplyAfter);
    assert!(h.cache.touch("k", secs(100)).unwrap());
}

#[test]
fn an_incr_that_landed_is_found_after_other_writes_followed_it() {
    let h = harness();
    h.cache.set("n", b"5", Ttl::Default).unwrap();
    h.s3.fault("PUT", Fault::LoseReplyAfter);
    // Two other increments land between the lost reply and the re-read.
    h.s3.fault(
        "GET",
        Fault::Before(Box::new(|buckets: &mut Buckets| {
            let object = buckets
                .get_mut(BUCKET)
                .unwrap()
                .get_mut(&name("n"))
                .unwrap();
            let writes = &mut object
                .metadata
                .iter_mut()
                .find(|(header, _)| header == WRITES_HEADER)
                .unwrap()
                .1;
            *writes = format!("other2 other1 {writes}");
            object.body = entry::encode(b"8", Expiry::Never, None);
        })),
    );
    assert_eq!(
        h.cache.incr("n", 1).unwrap(),
        6,
        "its own result, applied once"
    );
    assert_eq!(stored_value(&h.s3, "n").unwrap(), b"8");
}

#[test]
fn a_write_slipped_in_first_makes_the_update_read_again() {
    let h = harness();
    h.cache.set("n", b"10", Ttl::Default).unwrap();
    let other = entry::encode(b"20", Expiry::Never, None);
    h.s3.fault(
        "PUT",
        Fault::Before(Box::new(move |buckets: &mut Buckets| {
            let object = buckets
                .get_mut(BUCKET)
                .unwrap()
                .get_mut(&name("n"))
                .unwrap();
            object.body = other;
            object.etag = "\"someone-else\"".to_owned();
        })),
    );
    assert_eq!(h.cache.incr("n", 1).unwrap(), 21);
    assert_eq!(h.s3.requests("PUT"), 3, "set, the lost race, the retry");
    assert!(
        h.clock.slept() > Duration::ZERO,
        "contention waits, jittered"
    );
}

#[test]
fn conflicts_409_and_404_mean_read_again() {
    let h = harness();
    h.cache.set("n", b"1", Ttl::Default).unwrap();
    h.s3.fault("PUT", Fault::Reply(409, "ConditionalRequestConflict"));
    assert_eq!(h.cache.incr("n", 1).unwrap(), 2);
    // Deleted between the read and the If-Match write: AWS answers 404, and it is a miss.
    h.s3.fault(
        "PUT",
        Fault::Before(Box::new(|buckets: &mut Buckets| {
            buckets.get_mut(BUCKET).unwrap().remove(&name("n"));
        })),
    );
    assert!(matches!(h.cache.incr("n", 1), Err(Error::NoSuchKey(_))));
}

#[test]
fn endless_contention_ends_in_an_error_at_the_deadline() {
    let h = harness_with(|s| s.deadline_ms = 2_000);
    h.cache.set("n", b"1", Ttl::Default).unwrap();
    for _ in 0..1000 {
        h.s3.fault("PUT", Fault::Reply(412, "PreconditionFailed"));
    }
    let error = h.cache.incr("n", 1).unwrap_err();
    assert!(
        matches!(&error, Error::Unavailable(message) if message.contains("deadline")),
        "{error}"
    );
    assert!(h.clock.slept() <= Duration::from_secs(2));
    assert!(h.clock.slept() >= Duration::from_secs(1), "it kept trying");
    assert_eq!(stored_value(&h.s3, "n").unwrap(), b"1");
}

#[test]
fn writes_remember_the_latest_ids() {
    let h = harness();
    h.cache.set("n", b"0", Ttl::Default).unwrap();
    for _ in 0..12 {
        h.cache.incr("n", 1).unwrap();
    }
    let object = h.s3.object(&name("n")).unwrap();
    let ids = object
        .metadata
        .iter()
        .find(|(header, _)| header == WRITES_HEADER)
        .map(|(_, ids)| ids.split(' ').count());
    assert_eq!(ids, Some(8));
}

#[test]
fn a_missing_bucket_is_created_when_allowed_and_reported_otherwise() {
    let h = harness();
    h.s3.drop_bucket(BUCKET);
    assert!(matches!(
        h.cache.set("k", b"v", Ttl::Default),
        Err(Error::NoSuchBucket(_))
    ));
    let h = harness_with(|s| s.create_bucket = true);
    h.s3.drop_bucket(BUCKET);
    h.cache.set("k", b"v", Ttl::Default).unwrap();
    assert_eq!(h.cache.get("k").unwrap(), Some(b"v".to_vec()));
    h.s3.drop_bucket(BUCKET);
    assert!(h.cache.add("fresh", b"v", Ttl::Default).unwrap());
    h.s3.drop_bucket(BUCKET);
    let pairs = vec![
        ("a".to_owned(), b"1".to_vec()),
        ("b".to_owned(), b"2".to_vec()),
    ];
    assert_eq!(
        h.cache.set_many(&pairs, Ttl::Default).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(h.entries(), 2);
}

#[test]
fn batches_fetch_store_and_delete_many_keys() {
    let h = harness();
    let pairs: Vec<(String, Vec<u8>)> = (0..40)
        .map(|i| (format!("k{i}"), format!("v{i}").into_bytes()))
        .collect();
    assert!(h.cache.set_many(&pairs, Ttl::Default).unwrap().is_empty());
    let keys: Vec<String> = (0..45).map(|i| format!("k{i}")).collect();
    h.s3.fault("GET", Fault::LoseReplyBefore);
    let hits = h.cache.get_many(&keys).unwrap();
    assert_eq!(hits.len(), 40);
    assert_eq!(hits[7], ("k7".to_owned(), b"v7".to_vec()));
    h.cache.delete_many(&keys).unwrap();
    assert_eq!(h.entries(), 0);
    assert_eq!(h.s3.requests("DELETE_OBJECTS"), 1);
}

#[test]
fn values_over_the_limit_are_refused_and_objects_over_it_are_too_large() {
    let h = harness_with(|s| s.max_value_bytes = 100);
    assert!(matches!(
        h.cache.set("k", &[0; 101], Ttl::Default),
        Err(Error::TooLarge(_))
    ));
    assert_eq!(h.s3.total_requests(), 0, "refused before anything is sent");
    h.s3.put_raw(&name("big"), &entry::encode(&[1; 500], Expiry::Never, None));
    assert!(matches!(h.cache.get("big"), Err(Error::TooLarge(_))));
}

#[test]
fn the_write_ids_are_random_per_write() {
    let h = harness();
    let first = h.cache.write_id();
    let second = h.cache.write_id();
    assert_ne!(first, second);
    assert_eq!(first.len(), 16);
    assert!(h.clock.random() != 0);
}

/// A harness whose S3 lists 1000 names a page, as S3 does.
fn harness_paging_like_s3(change: impl FnOnce(&mut Settings)) -> Harness {
    let mut h = harness_with(change);
    h.s3 = h.s3.with_page(1000);
    h
}

#[test]
fn unlimited_writes_cost_one_request_each() {
    let h = harness_paging_like_s3(|s| s.max_entries = None);
    for i in 0..50 {
        h.cache.set(&format!("k{i}"), b"v", Ttl::Default).unwrap();
    }
    assert!(h.cache.add("fresh", b"v", Ttl::Default).unwrap());
    let pairs: Vec<(String, Vec<u8>)> = (0..10).map(|i| (format!("m{i}"), b"v".to_vec())).collect();
    h.cache.set_many(&pairs, Ttl::Default).unwrap();
    assert_eq!(h.s3.requests("LIST"), 0);
    assert_eq!(h.s3.total_requests(), 50 + 1 + 10);
    assert_eq!(h.entries(), 61);
}

#[test]
fn sampled_culling_keeps_near_the_limit_for_about_one_request_per_write() {
    let h = harness_paging_like_s3(|s| {
        s.max_entries = Some(2000);
        s.cull_mode = crate::core::cull::CullMode::Sampled;
    });
    for i in 0..2300 {
        h.clock.advance(Duration::from_millis(1));
        h.cache.set(&format!("k{i}"), b"v", Ttl::Default).unwrap();
        assert!(
            h.entries() <= 2200,
            "{} entries after {i} sets",
            h.entries()
        );
    }
    let per_set = h.s3.total_requests() as f64 / 2300.0;
    assert!(per_set <= 1.10, "{per_set:.3} requests per set");
    assert!(h.s3.requests("DELETE_OBJECTS") >= 1, "it culled");
    assert!(h.entries() < 2000, "{} entries", h.entries());
    // The culled entries are the oldest: the last written survive.
    assert!(h.cache.has_key("k2299").unwrap());
    assert!(!h.cache.has_key("k0").unwrap());
}

#[test]
fn sampled_adds_cost_one_request_too() {
    let h = harness_paging_like_s3(|s| {
        s.max_entries = Some(5000);
    });
    for i in 0..500 {
        assert!(h.cache.add(&format!("k{i}"), b"v", Ttl::Default).unwrap());
    }
    let per_add = h.s3.total_requests() as f64 / 500.0;
    assert!(per_add <= 1.08, "{per_add:.3} requests per add");
}

#[test]
fn a_batch_sends_only_the_last_write_of_each_key() {
    let h = harness_paging_like_s3(|s| s.max_entries = None);
    let pairs: Vec<(String, Vec<u8>)> = ["a", "b", "a"]
        .iter()
        .zip([b"1", b"2", b"3"])
        .map(|(key, value)| (key.to_string(), value.to_vec()))
        .collect();
    h.cache.set_many(&pairs, Ttl::Default).unwrap();
    assert_eq!(h.s3.requests("PUT"), 2);
    assert_eq!(h.cache.get("a").unwrap(), Some(b"3".to_vec()));
}

#[test]
fn clear_costs_about_two_requests_per_thousand_entries() {
    let h = harness_paging_like_s3(|s| s.max_entries = None);
    let pairs: Vec<(String, Vec<u8>)> = (0..2500)
        .map(|i| (format!("k{i}"), b"v".to_vec()))
        .collect();
    h.cache.set_many(&pairs, Ttl::Default).unwrap();
    let before = h.s3.total_requests();
    h.cache.clear().unwrap();
    assert_eq!(h.entries(), 0);
    assert_eq!(
        h.s3.total_requests() - before,
        3 + 3,
        "3 pages, 3 DeleteObjects"
    );
}

#[test]
fn stats_count_or_estimate_the_entries() {
    let h = harness_paging_like_s3(|s| s.max_entries = None);
    let empty = h.cache.stats(false).unwrap();
    assert_eq!((empty.entries, empty.bytes, empty.oldest_ms), (0, 0, None));
    h.cache.set("first", b"v", Ttl::Default).unwrap();
    h.clock.advance(Duration::from_secs(5));
    let pairs: Vec<(String, Vec<u8>)> = (0..2999)
        .map(|i| (format!("k{i}"), b"v".to_vec()))
        .collect();
    h.cache.set_many(&pairs, Ttl::Default).unwrap();
    h.s3.put_raw("loc/readme.txt", b"not counted");
    let counted = h.cache.stats(false).unwrap();
    let one_entry = h.s3.object(&name("first")).unwrap().body.len() as u64;
    assert_eq!(counted.entries, 3000);
    assert_eq!(counted.bytes, 3000 * one_entry);
    assert_eq!(counted.oldest_ms, Some(START_MS));
    assert_eq!(counted.newest_ms, Some(START_MS + 5000));
    assert!(!counted.estimated);
    let before = h.s3.requests("LIST");
    let estimated = h.cache.stats(true).unwrap();
    assert_eq!(h.s3.requests("LIST") - before, 1);
    assert!(estimated.estimated);
    assert!((2700..3300).contains(&estimated.entries), "{estimated:?}");
    assert_eq!(estimated.bytes, estimated.entries * one_entry);
    let small = harness_paging_like_s3(|_| {});
    small.cache.set("only", b"v", Ttl::Default).unwrap();
    let exact = small.cache.stats(true).unwrap();
    assert_eq!((exact.entries, exact.estimated), (1, false));
}

/// A wasi:keyvalue store over the in-memory S3.
struct KeyValueHarness {
    kv: KeyValue<MemoryS3>,
    s3: MemoryS3,
    clock: ManualClock,
}

/// A cache as a wasi:keyvalue store uses it: no culling, S3's page size.
fn keyvalue_harness() -> KeyValueHarness {
    let h = harness_paging_like_s3(|s| s.max_entries = None);
    KeyValueHarness {
        kv: KeyValue::new(h.cache),
        s3: h.s3,
        clock: h.clock,
    }
}

#[test]
fn keyvalue_values_never_expire_and_each_call_is_one_request() {
    let h = keyvalue_harness();
    h.kv.set("k", b"v").unwrap();
    assert_eq!(h.s3.total_requests(), 1, "set: one PUT");
    h.clock.advance(Duration::from_secs(10 * 365 * 24 * 3600));
    assert_eq!(h.kv.get("k").unwrap().as_deref(), Some(&b"v"[..]));
    assert!(h.kv.exists("k").unwrap());
    h.kv.delete("k").unwrap();
    h.kv.delete("k").unwrap();
    assert_eq!(h.kv.get("k").unwrap(), None);
    assert!(!h.kv.exists("k").unwrap());
    assert_eq!(
        (
            h.s3.requests("GET"),
            h.s3.requests("HEAD"),
            h.s3.requests("DELETE")
        ),
        (2, 2, 2)
    );
}

#[test]
fn keyvalue_keys_are_remembered_up_to_1024_bytes() {
    let h = keyvalue_harness();
    let longest = "é".repeat(512);
    h.kv.set(&longest, b"v").unwrap();
    assert_eq!(h.kv.list_keys(None).unwrap().keys, [longest]);
    let too_long = "k".repeat(1025);
    for error in [
        h.kv.set(&too_long, b"v").unwrap_err(),
        h.kv.increment(&too_long, 1).unwrap_err(),
        h.kv.set_many(&[(too_long.clone(), b"v".to_vec())])
            .unwrap_err(),
    ] {
        assert!(
            matches!(&error, Error::InvalidInput(m) if m.contains("at most 1024 bytes")),
            "{error:?}"
        );
    }
}

#[test]
fn list_keys_pages_through_live_keys_in_a_stable_order() {
    let h = keyvalue_harness();
    let keys: Vec<String> = (0..2500).map(|i| format!("key-{i}")).collect();
    let pairs: Vec<(String, Vec<u8>)> = keys.iter().map(|k| (k.clone(), b"v".to_vec())).collect();
    h.kv.set_many(&pairs).unwrap();
    // Skipped: an expired entry, a foreign object, an entry of another version (same key).
    h.kv.cache().set("expired", b"v", secs(1)).unwrap();
    h.s3.put_raw("loc/0000000000000000000000000000000000000000", b"junk");
    let other_version = Config::new(Settings {
        version: 2,
        max_entries: None,
        ..settings()
    })
    .unwrap();
    KeyValue::new(Cache::with_clock(
        other_version,
        h.s3.clone(),
        Box::new(h.clock.clone()),
    ))
    .set("key-0", b"v2")
    .unwrap();
    h.clock.advance(Duration::from_secs(2));
    let before = h.s3.total_requests();
    let mut listed = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = h.kv.list_keys(cursor.as_deref()).unwrap();
        pages += 1;
        listed.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(h.s3.requests("LIST"), 3);
    assert_eq!(
        h.s3.total_requests() - before,
        3 + 2503,
        "a LIST a page, a HEAD an entry"
    );
    let mut by_name = keys.clone();
    by_name.sort_by_key(|key| name(key));
    assert_eq!(listed, by_name, "every live key once, in object-name order");
    let again: Vec<String> = h.kv.list_keys(None).unwrap().keys;
    assert_eq!(again, by_name[..again.len()], "the same order every time");
}

#[test]
fn increment_creates_the_key_and_never_applies_twice() {
    let h = keyvalue_harness();
    assert_eq!(h.kv.increment("n", 5).unwrap(), 5);
    assert_eq!(h.kv.increment("n", -2).unwrap(), 3);
    assert_eq!(stored_value(&h.s3, "n").unwrap(), b"3");
    h.s3.fault("PUT", Fault::LoseReplyAfter);
    assert_eq!(h.kv.increment("n", 1).unwrap(), 4);
    assert_eq!(stored_value(&h.s3, "n").unwrap(), b"4");
    h.kv.cache().set("gone", b"7", secs(1)).unwrap();
    h.clock.advance(Duration::from_secs(2));
    assert_eq!(
        h.kv.increment("gone", 1).unwrap(),
        1,
        "expired: created anew"
    );
    h.kv.set("text", b"abc").unwrap();
    assert!(matches!(
        h.kv.increment("text", 1),
        Err(Error::NotAnInteger(_))
    ));
    assert!(matches!(
        h.kv.cache().incr("missing", 1),
        Err(Error::NoSuchKey(_))
    ));
}

#[test]
fn swap_replaces_only_the_version_read() {
    let h = keyvalue_harness();
    let absent = h.kv.snapshot("k").unwrap();
    assert_eq!(absent.value(), None);
    assert!(matches!(
        h.kv.swap(&absent, b"first").unwrap(),
        Swapped::Done
    ));
    assert!(
        matches!(h.kv.swap(&absent, b"again").unwrap(), Swapped::Stale(v) if v.value() == Some(&b"first"[..])),
        "the key exists now"
    );
    let read = h.kv.snapshot("k").unwrap();
    h.kv.set("k", b"someone else").unwrap();
    let before = h.s3.total_requests();
    let Swapped::Stale(latest) = h.kv.swap(&read, b"mine").unwrap() else {
        panic!("a stale version swapped");
    };
    assert_eq!(
        h.s3.total_requests() - before,
        2,
        "the refused PUT and one GET"
    );
    assert_eq!(latest.value(), Some(&b"someone else"[..]));
    assert_eq!(stored_value(&h.s3, "k").unwrap(), b"someone else");
    let before = h.s3.total_requests();
    assert!(matches!(
        h.kv.swap(&latest, b"mine").unwrap(),
        Swapped::Done
    ));
    assert_eq!(h.s3.total_requests() - before, 1, "one conditional PUT");
    assert_eq!(stored_value(&h.s3, "k").unwrap(), b"mine");
}

#[test]
fn a_swap_whose_reply_was_lost_is_done_once() {
    let h = keyvalue_harness();
    h.kv.set("k", b"old").unwrap();
    let read = h.kv.snapshot("k").unwrap();
    h.s3.fault("PUT", Fault::LoseReplyAfter);
    assert!(matches!(h.kv.swap(&read, b"new").unwrap(), Swapped::Done));
    assert_eq!(stored_value(&h.s3, "k").unwrap(), b"new");
    let read = h.kv.snapshot("k").unwrap();
    h.s3.fault("PUT", Fault::LoseReplyBefore);
    assert!(matches!(h.kv.swap(&read, b"newer").unwrap(), Swapped::Done));
    assert_eq!(stored_value(&h.s3, "k").unwrap(), b"newer");
}

#[test]
fn get_each_answers_every_key_in_order() {
    let h = keyvalue_harness();
    h.kv.set_many(&[
        ("a".to_owned(), b"1".to_vec()),
        ("b".to_owned(), b"2".to_vec()),
    ])
    .unwrap();
    let keys: Vec<String> = ["b", "missing", "a", "b"].map(String::from).to_vec();
    assert_eq!(
        h.kv.get_many(&keys).unwrap(),
        [
            ("b".to_owned(), Some(b"2".to_vec())),
            ("missing".to_owned(), None),
            ("a".to_owned(), Some(b"1".to_vec())),
            ("b".to_owned(), Some(b"2".to_vec())),
        ]
    );
}

/// The cost table the README gives for each wasi:keyvalue function, in requests.
#[test]
fn keyvalue_requests_per_function() {
    let h = keyvalue_harness();
    let cost = |call: &dyn Fn()| {
        let before = h.s3.total_requests();
        call();
        h.s3.total_requests() - before
    };
    let keys: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
    let pairs: Vec<(String, Vec<u8>)> = keys.iter().map(|k| (k.clone(), b"1".to_vec())).collect();
    let version = || h.kv.snapshot("a").unwrap();
    assert_eq!(cost(&|| h.kv.set("a", b"1").unwrap()), 1, "set");
    assert_eq!(
        cost(&|| assert!(h.kv.get("a").unwrap().is_some())),
        1,
        "get"
    );
    assert_eq!(cost(&|| assert!(h.kv.exists("a").unwrap())), 1, "exists");
    assert_eq!(cost(&|| h.kv.delete("a").unwrap()), 1, "delete");
    assert_eq!(
        cost(&|| h.kv.set_many(&pairs).unwrap()),
        100,
        "set-many of 100"
    );
    let get_many = || assert_eq!(h.kv.get_many(&keys).unwrap().len(), 100);
    assert_eq!(cost(&get_many), 100, "get-many of 100");
    let list = || assert_eq!(h.kv.list_keys(None).unwrap().keys.len(), 100);
    assert_eq!(cost(&list), 101, "list-keys, 100 keys");
    assert_eq!(
        cost(&|| assert_eq!(h.kv.increment("n", 1).unwrap(), 1)),
        2,
        "increment, new key"
    );
    assert_eq!(
        cost(&|| assert_eq!(h.kv.increment("n", 1).unwrap(), 2)),
        2,
        "increment"
    );
    let read = version();
    assert_eq!(cost(&|| assert!(version().value().is_none())), 1, "cas.new");
    let swapped = |value: &[u8]| matches!(h.kv.swap(&read, value).unwrap(), Swapped::Done);
    assert_eq!(cost(&|| assert!(swapped(b"2"))), 1, "swap");
    assert_eq!(cost(&|| assert!(!swapped(b"3"))), 2, "swap, stale");
    assert_eq!(
        cost(&|| h.kv.cache().delete_many(&keys).unwrap()),
        1,
        "delete-many of 100"
    );
}

#[test]
fn add_reads_the_clock_once_so_body_and_metadata_agree() {
    let h = harness();
    h.clock.tick_on_every_reading(7);
    assert!(h.cache.add("k", b"v", secs(60)).unwrap());
    let object = h.s3.object(&name("k")).expect("stored");
    let in_body = entry::decode(&object.body, usize::MAX).unwrap().expiry;
    let in_metadata = object
        .metadata
        .iter()
        .find(|(header, _)| header == EXPIRES_HEADER)
        .and_then(|(_, value)| Expiry::from_header(value));
    assert_eq!(Some(in_body), in_metadata);
}

#[test]
fn a_failed_keyvalue_set_many_keeps_its_cause() {
    let h = keyvalue_harness();
    h.s3.fault("PUT", Fault::Reply(403, "AccessDenied"));
    let pairs = vec![("a".to_owned(), b"1".to_vec())];
    match h.kv.set_many(&pairs).unwrap_err() {
        Error::AccessDenied(message) => {
            assert!(
                message.contains("1 of 1 values were not stored"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn without_etags_no_conditional_write_is_sent_and_nothing_is_overwritten() {
    let mut h = harness();
    h.s3 = h.s3.without_etags();
    h.cache.set("n", b"1", secs(60)).unwrap();
    h.cache.set("gone", b"v", secs(1)).unwrap();
    h.clock.advance(Duration::from_secs(2));
    let puts = h.s3.requests("PUT");
    let refusals = [
        h.cache.incr("n", 1).unwrap_err(),
        h.cache.touch("n", secs(10)).unwrap_err(),
        h.cache.add("gone", b"new", secs(10)).unwrap_err(),
    ];
    for error in refusals {
        assert!(
            matches!(&error, Error::Other(m) if m.contains("no ETag")),
            "{error:?}"
        );
    }
    // add's first round is one If-None-Match PUT, which the existing object refuses; no other
    // write is sent.
    assert_eq!(h.s3.requests("PUT"), puts + 1);
    assert_eq!(stored_value(&h.s3, "n").unwrap(), b"1");
    assert_eq!(stored_value(&h.s3, "gone").unwrap(), b"v");
    assert!(
        !h.cache.add("n", b"2", secs(10)).unwrap(),
        "a live key needs no write"
    );
    let kv = KeyValue::new(Cache::with_clock(
        Config::new(settings()).unwrap(),
        h.s3.clone(),
        Box::new(h.clock.clone()),
    ));
    let snapshot = kv.snapshot("n").unwrap();
    assert!(matches!(kv.swap(&snapshot, b"3"), Err(Error::Other(m)) if m.contains("no ETag")));
}

#[test]
fn a_storm_of_server_errors_on_conditional_writes_costs_a_few_requests() {
    let h = harness();
    h.cache.set("n", b"1", Ttl::Default).unwrap();
    for _ in 0..1000 {
        h.s3.fault("PUT", Fault::Reply(500, "InternalError"));
    }
    let before = h.s3.total_requests();
    let error = h.cache.incr("n", 1).unwrap_err();
    assert!(matches!(error, Error::Unavailable(_)), "{error}");
    let sent = h.s3.total_requests() - before;
    // 3 attempts (a read and a write each), then one read to see whether the last landed.
    assert_eq!(sent, 7, "{sent} requests");
    assert_eq!(stored_value(&h.s3, "n").unwrap(), b"1");
    assert!(
        h.clock.slept() > Duration::ZERO,
        "it backed off between attempts"
    );
}

#[test]
fn a_server_that_never_answers_ends_the_call_at_the_deadline() {
    let h = harness_with(|s| s.deadline_ms = 1_500);
    h.cache.set("k", b"v", Ttl::Default).unwrap();
    let started = h.clock.elapsed();
    h.s3.fault("GET", Fault::Hang);
    let error = h.cache.get("k").unwrap_err();
    assert!(
        matches!(&error, Error::Unavailable(m) if m.contains("within the deadline (1.5 s)")),
        "{error}"
    );
    assert_eq!(h.clock.elapsed() - started, Duration::from_millis(1_500));
    assert_eq!(h.s3.requests("GET"), 1, "nothing is sent past the deadline");
}

#[test]
fn the_retry_quota_runs_dry_in_an_outage_and_refills_after_it() {
    let h = harness();
    h.cache.set("k", b"v", secs(1_000_000)).unwrap();
    for _ in 0..10_000 {
        h.s3.fault("GET", Fault::Reply(503, "SlowDown"));
    }
    let mut per_call = Vec::new();
    for _ in 0..100 {
        let before = h.s3.requests("GET");
        assert!(h.cache.get("k").is_err());
        per_call.push(h.s3.requests("GET") - before);
    }
    assert_eq!(per_call[0], 3, "max-attempts while the quota lasts");
    assert_eq!(per_call[99], 1, "one attempt per call once it is spent");
    while h.s3.faults_left() > 0 {
        let _ = h.cache.get("k");
    }
    for _ in 0..10 {
        assert_eq!(h.cache.get("k").unwrap(), Some(b"v".to_vec()));
    }
    h.s3.fault("GET", Fault::Reply(503, "SlowDown"));
    assert_eq!(
        h.cache.get("k").unwrap(),
        Some(b"v".to_vec()),
        "retries come back"
    );
}

#[test]
fn a_cull_that_runs_out_of_its_share_of_the_deadline_lets_the_write_go_ahead() {
    let h = harness_with(|s| {
        s.max_entries = Some(10);
        s.deadline_ms = 2_000;
    });
    h.s3.fault("LIST", Fault::Hang);
    let started = h.clock.elapsed();
    h.cache.set("k", b"v", Ttl::Default).unwrap();
    assert_eq!(
        h.clock.elapsed() - started,
        Duration::from_secs(1),
        "the cull had half the deadline"
    );
    assert_eq!(stored_value(&h.s3, "k").unwrap(), b"v");
}

#[test]
fn a_failed_cull_after_add_does_not_turn_a_stored_value_into_an_error() {
    let h = harness_with(|s| s.max_entries = Some(10));
    h.s3.fault("LIST", Fault::Reply(403, "AccessDenied"));
    assert!(h.cache.add("k", b"v", Ttl::Default).unwrap());
    assert_eq!(stored_value(&h.s3, "k").unwrap(), b"v");
    // A cull before a write still reports what it met.
    h.s3.fault("LIST", Fault::Reply(403, "AccessDenied"));
    assert!(matches!(
        h.cache.set("j", b"v", Ttl::Default),
        Err(Error::AccessDenied(_))
    ));
}

/// A harness whose server keeps the bucket in `region` while the store is configured for
/// us-east-1.
fn harness_in_region(region: &str, change: impl FnOnce(&mut Settings)) -> Harness {
    let mut settings = settings();
    change(&mut settings);
    let clock = ManualClock::at(START_MS, 42);
    let s3 = MemoryS3::new(clock.clone()).in_region(region);
    let config = Config::new(settings).expect("valid settings");
    let cache = Cache::with_clock(config, s3.clone(), Box::new(clock.clone()));
    Harness { cache, s3, clock }
}

#[test]
fn a_region_s3_names_is_learned_once_and_kept() {
    let h = harness_in_region("eu-central-1", |_| {});
    h.cache.set("k", b"v", Ttl::Default).unwrap();
    // The cull's listing is refused once and sent again in the bucket's region; the write goes
    // there at once.
    assert_eq!(h.s3.requests("LIST"), 2);
    assert_eq!(h.s3.requests("PUT"), 1);
    assert_eq!(h.cache.get("k").unwrap(), Some(b"v".to_vec()));
    assert!(h.cache.add("k", b"w", Ttl::Default).is_ok());
    assert_eq!(h.s3.requests("GET"), 1, "later calls go there at once");
    // A server that signs with a name of its own (Garage's "garage") is found the same way.
    let garage = harness_in_region("garage", |_| {});
    assert!(garage.cache.has_key("k").is_ok());
    assert_eq!(garage.s3.requests("HEAD"), 2);
}

#[test]
fn on_aws_a_learned_region_moves_the_endpoint_too() {
    let h = harness_in_region("ap-southeast-2", |s| {
        s.endpoint = None;
        s.path_style = Some(true);
    });
    h.cache.set("k", b"v", Ttl::Default).unwrap();
    assert_eq!(h.cache.get("k").unwrap(), Some(b"v".to_vec()));
    // LIST refused, LIST, PUT, GET.
    assert_eq!(
        h.s3.total_requests(),
        4,
        "one refusal, then every request where it belongs"
    );
}

//! Django's cache semantics, end to end through the real component, on every S3 server the
//! harness can start (s3s-fs in process and moto, both verifying SigV4), with the objects
//! checked through an independent S3 client: expiry, culling, big and odd values and keys,
//! foreign objects, clear. The unit tests of `src/cache` cover the same rules against an
//! in-memory S3 with a manual clock; these prove them on real servers.

mod common;

use std::thread::sleep;
use std::time::Duration;

use common::{S3, noise};

fn entry_name(location: &str, key: &str) -> String {
    s3cache::object_name(location, "", 1, key)
}

#[test]
fn the_pinned_name_layout_holds_end_to_end() {
    for s3 in S3::all() {
        s3.cli("").run(&["set", "foo", "bar"]).expect(0);
        assert!(
            s3.exists("41abad59de56c461effa1ae72941fbf2598ff6a2"),
            "{}",
            s3.kind
        );
        s3.cli("some/where").run(&["set", "foo", "bar"]).expect(0);
        assert!(s3.exists("some/where/41abad59de56c461effa1ae72941fbf2598ff6a2"));
    }
}

/// One sleep for every expiry rule: entries are set up, time passes, then each is checked.
#[test]
fn entries_expire_and_reads_writes_and_touches_follow_django() {
    for s3 in S3::all() {
        let cli = s3.cli("x");
        let short_default = s3.cli("x").arg("--default-timeout").arg("2");
        cli.run(&["set", "short", "v", "--ttl", "2"]).expect(0);
        cli.run(&["set", "long", "v", "--ttl", "30"]).expect(0);
        cli.run(&["set", "forever", "v", "--ttl", "never"])
            .expect(0);
        cli.run(&["set", "probe", "v", "--ttl", "2"]).expect(0);
        cli.run(&["set", "taken", "old", "--ttl", "2"]).expect(0);
        cli.run(&["set", "kept", "v", "--ttl", "2"]).expect(0);
        cli.run(&["set", "lost", "v", "--ttl", "2"]).expect(0);
        cli.run(&["set", "n", "5", "--ttl", "2"]).expect(0);
        short_default.run(&["set", "by-default", "v"]).expect(0);
        short_default
            .run(&["set", "pinned", "v", "--ttl", "never"])
            .expect(0);
        s3.cli("x")
            .env("S3CACHE_TIMEOUT", "never")
            .run(&["set", "endless", "v"])
            .expect(0);
        cli.run(&["add", "taken", "blocked"]).expect(1);
        cli.run(&["touch", "kept", "--ttl", "30"]).expect(0);
        assert_eq!(cli.run(&["incr", "n"]).expect(0).text(), "6\n");
        sleep(Duration::from_millis(2500));

        assert!(
            s3.exists(&entry_name("x", "short")),
            "{}: stored until read",
            s3.kind
        );
        cli.run(&["get", "short"]).expect(1);
        assert!(
            !s3.exists(&entry_name("x", "short")),
            "{}: deleted when read",
            s3.kind
        );
        cli.run(&["has", "probe"]).expect(1);
        assert!(
            !s3.exists(&entry_name("x", "probe")),
            "has-key deletes it too"
        );
        cli.run(&["add", "taken", "new"]).expect(0);
        assert_eq!(cli.run(&["get", "taken"]).expect(0).stdout, b"new");
        assert_eq!(cli.run(&["get", "kept"]).expect(0).stdout, b"v");
        cli.run(&["touch", "lost", "--ttl", "30"]).expect(1);
        cli.run(&["get", "lost"]).expect(1);
        cli.run(&["incr", "n"]).fails_with("no such key");
        for key in ["long", "forever", "pinned", "endless"] {
            cli.run(&["get", key]).expect(0);
        }
        cli.run(&["get", "by-default"]).expect(1);
        cli.run(&["touch", "kept", "--ttl", "0"]).expect(0);
        cli.run(&["get", "kept"]).expect(1);
    }
}

#[test]
fn zero_or_negative_ttl_stores_an_entry_that_is_already_expired() {
    for s3 in S3::all() {
        let cli = s3.cli("x");
        for ttl in ["0", "-5"] {
            cli.run(&["set", "k", "v", "--ttl", ttl]).expect(0);
            cli.run(&["get", "k"]).expect(1);
            cli.run(&["has", "k"]).expect(1);
            cli.run(&["add", "k", "w", "--ttl", ttl]).expect(0);
            cli.run(&["touch", "k"]).expect(1);
        }
    }
}

/// Django's cull test: with MAX_ENTRIES 30, 49 sets of distinct keys leave `expected` entries.
fn cull_leaves(frequency: &str, expected: usize) {
    for s3 in S3::all() {
        let s3 = &s3;
        let cli = s3
            .cli("cull")
            .arg("--max-entries")
            .arg("30")
            .arg("--cull-frequency")
            .arg(frequency);
        for i in 1..50 {
            cli.run(&["set", &format!("cull{i}"), "value", "--ttl", "1000"])
                .expect(0);
        }
        let present = (1..50)
            .filter(|i| cli.run(&["has", &format!("cull{i}")]).code == 0)
            .count();
        assert_eq!(present, expected);
        assert_eq!(s3.entry_count("cull"), expected);
        // The newest entries survive: culling removes the oldest written first.
        cli.run(&["has", "cull49"]).expect(0);
    }
}

#[test]
fn culling_with_frequency_3_leaves_29_of_49() {
    cull_leaves("3", 29);
}

#[test]
fn culling_with_frequency_0_clears_and_leaves_19_of_49() {
    cull_leaves("0", 19);
}

#[test]
fn set_many_culls_as_the_same_sets_would() {
    for s3 in S3::all() {
        let s3 = &s3;
        let cli = s3.cli("cull").arg("--max-entries").arg("30");
        let pairs: Vec<String> = (1..50).map(|i| format!("cull{i}=v")).collect();
        let mut args = vec!["set-many"];
        args.extend(pairs.iter().map(String::as_str));
        cli.run(&args).expect(0);
        assert_eq!(s3.entry_count("cull"), 29);
        let frequency_0 = s3
            .cli("cull0")
            .arg("--max-entries")
            .arg("30")
            .arg("--cull-frequency")
            .arg("0");
        frequency_0.run(&args).expect(0);
        assert_eq!(s3.entry_count("cull0"), 19);
    }
}

#[test]
fn culling_counts_only_this_location() {
    for s3 in S3::all() {
        let s3 = &s3;
        let other = s3.cli("other");
        for i in 0..5 {
            other.run(&["set", &format!("o{i}"), "v"]).expect(0);
        }
        s3.put_raw("mine/not-an-entry.txt", b"left alone");
        let mine = s3
            .cli("mine")
            .arg("--max-entries")
            .arg("3")
            .arg("--cull-frequency")
            .arg("3");
        for i in 0..3 {
            mine.run(&["set", &format!("m{i}"), "v"]).expect(0);
        }
        assert_eq!(s3.entry_count("mine"), 3);
        mine.run(&["set", "m3", "v"]).expect(0);
        assert_eq!(s3.entry_count("mine"), 3, "one culled, one written");
        assert_eq!(s3.entry_count("other"), 5);
        assert!(s3.exists("mine/not-an-entry.txt"));
    }
}

#[test]
fn binary_values_round_trip_exactly() {
    for s3 in S3::all() {
        let s3 = &s3;
        let cli = s3.cli("x");
        let mut value: Vec<u8> = (0..=255).collect();
        value.extend_from_slice(b"\0\0\r\n\xff");
        cli.run_with_stdin(&["set", "bin"], &value).expect(0);
        assert_eq!(cli.run(&["get", "bin"]).expect(0).stdout, value);
        cli.run_with_stdin(&["set", "empty"], b"").expect(0);
        let empty = cli.run(&["get", "empty"]).expect(0);
        assert!(empty.stdout.is_empty());
    }
}

#[test]
fn unicode_and_5000_character_keys_work() {
    for s3 in S3::all() {
        let s3 = &s3;
        let cli = s3.cli("x");
        let long = "k".repeat(4999) + "é";
        assert_eq!(long.chars().count(), 5000);
        for key in [
            "ключ",
            "🦀 crab key",
            "spaces and / slashes",
            "",
            long.as_str(),
        ] {
            cli.run(&["set", key, "v"]).expect(0);
            assert_eq!(cli.run(&["get", key]).expect(0).stdout, b"v", "{key:.20}");
            cli.run(&["has", key]).expect(0);
            assert!(s3.exists(&entry_name("x", key)), "{key:.20}");
            cli.run(&["delete", key]).expect(0);
            cli.run(&["get", key]).expect(1);
        }
    }
}

#[test]
fn one_mib_values_round_trip_compressed_when_it_pays() {
    for s3 in S3::all() {
        let s3 = &s3;
        let cli = s3.cli("x");
        let random = noise(1 << 20, 7);
        let text: Vec<u8> = b"the quick brown fox jumps over the lazy dog. "
            .iter()
            .copied()
            .cycle()
            .take(1 << 20)
            .collect();
        cli.run_with_stdin(&["set", "random"], &random).expect(0);
        cli.run_with_stdin(&["set", "text"], &text).expect(0);
        assert_eq!(cli.run(&["get", "random"]).expect(0).stdout, random);
        assert_eq!(cli.run(&["get", "text"]).expect(0).stdout, text);
        let stored = |key| s3.size(&entry_name("x", key)).expect("stored");
        assert_eq!(
            stored("random"),
            (1 << 20) + 14,
            "incompressible values are stored raw"
        );
        assert!(
            stored("text") < (1 << 20) / 50,
            "text deflates: {} bytes",
            stored("text")
        );
        let raw = s3.cli("raw").arg("--compress-above").arg("off");
        raw.run_with_stdin(&["set", "text"], &text).expect(0);
        assert_eq!(
            s3.size(&entry_name("raw", "text")).expect("stored"),
            (1 << 20) + 14
        );
        assert_eq!(raw.run(&["get", "text"]).expect(0).stdout, text);
        let json = cli.run(&["get-many", "text"]).expect(0).text();
        assert!(json.len() > 1 << 20);
    }
}

#[test]
fn values_over_the_limit_are_refused_before_anything_is_sent() {
    for s3 in S3::all() {
        let s3 = &s3;
        let cli = s3.cli("x").arg("--max-value-bytes").arg("1000");
        cli.run_with_stdin(&["set", "big"], &[b'a'; 1001])
            .fails_with("too large");
        let arg = "a".repeat(1001);
        cli.run(&["set", "big", &arg]).fails_with("too large");
        cli.run(&["has", "big"]).expect(1);
        cli.run_with_stdin(&["set", "fits"], &[b'a'; 1000])
            .expect(0);
        // An object larger than the limit (written by a client with a higher one) is refused on read.
        let generous = s3.cli("x");
        generous
            .run_with_stdin(&["set", "huge"], &noise(5000, 3))
            .expect(0);
        cli.run(&["get", "huge"]).fails_with("too large");
        // The same when the stored object is small but inflates past the limit.
        generous
            .run_with_stdin(&["set", "inflates"], &[b'z'; 5000])
            .expect(0);
        assert!(s3.size(&entry_name("x", "inflates")).expect("stored") < 1000);
        for args in [
            &["get", "inflates"][..],
            &["touch", "inflates"],
            &["get-many", "inflates"],
        ] {
            cli.run(args).fails_with("over max-value-bytes");
        }
    }
}

#[test]
fn garbage_objects_under_entry_names_read_as_misses() {
    for s3 in S3::all() {
        let s3 = &s3;
        let cli = s3.cli("g");
        let garbage: [(&str, &[u8]); 5] = [
            ("empty", b""),
            ("html", b"<html>not a cache entry</html>"),
            ("truncated", b"S3CE\x01\x00\x00\x00"),
            (
                "future-format",
                b"S3CE\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00payload",
            ),
            (
                "bad-deflate",
                b"S3CE\x01\x03\x00\x00\x00\x00\x00\x00\x00\x00not deflate",
            ),
        ];
        for (key, bytes) in garbage {
            s3.put_raw(&entry_name("g", key), bytes);
            cli.run(&["get", key]).expect(1);
            cli.run(&["has", key]).expect(1);
            cli.run(&["touch", key]).expect(1);
            cli.run(&["incr", key]).expect(2);
            cli.run(&["get-many", key]).expect(0);
            assert!(s3.exists(&entry_name("g", key)), "{key}: reads leave it");
            cli.run(&["add", key, "fresh"]).expect(0);
            assert_eq!(cli.run(&["get", key]).expect(0).stdout, b"fresh", "{key}");
        }
    }
}

#[test]
fn clear_removes_only_cache_entries_under_the_location() {
    for s3 in S3::all() {
        let s3 = &s3;
        let cli = s3.cli("loc");
        cli.run(&["set-many", "a=1", "b=2", "c=3"]).expect(0);
        s3.cli("elsewhere").run(&["set", "a", "1"]).expect(0);
        s3.cli("loc/nested").run(&["set", "a", "1"]).expect(0);
        s3.put_raw("loc/readme.txt", b"not a cache entry");
        s3.put_raw(
            "loc/41ABAD59DE56C461EFFA1AE72941FBF2598FF6A2",
            b"uppercase: not ours",
        );
        s3.put_raw("top-level.txt", b"bucket root");
        cli.run(&["clear"]).expect(0);
        assert_eq!(s3.entry_count("loc"), 0);
        assert_eq!(
            s3.objects_in("loc"),
            ["41ABAD59DE56C461EFFA1AE72941FBF2598FF6A2", "readme.txt"]
        );
        assert_eq!(s3.entry_count("elsewhere"), 1);
        assert_eq!(s3.entry_count("loc/nested"), 1);
        assert!(s3.exists("top-level.txt"));
    }
}

#[test]
fn clear_pages_through_more_than_a_thousand_entries() {
    for s3 in S3::all() {
        let s3 = &s3;
        // 1500 writes in one call take longer than the default deadline on moto.
        let cli = s3
            .cli("many")
            .arg("--max-entries")
            .arg("5000")
            .arg("--deadline")
            .arg("30");
        let pairs: Vec<String> = (0..1500).map(|i| format!("k{i}=v")).collect();
        let mut args = vec!["set-many"];
        args.extend(pairs.iter().map(String::as_str));
        cli.run(&args).expect(0);
        assert_eq!(s3.entry_count("many"), 1500);
        let keys: Vec<String> = (0..1500).map(|i| format!("k{i}")).collect();
        let mut get_many = vec!["get-many"];
        get_many.extend(keys.iter().map(String::as_str));
        let json = cli.run(&get_many).expect(0).text();
        assert_eq!(json.matches(":\"v\"").count(), 1500);
        cli.run(&["clear"]).expect(0);
        assert_eq!(s3.entry_count("many"), 0);
    }
}

#[test]
fn key_prefix_and_version_separate_entries() {
    for s3 in S3::all() {
        let s3 = &s3;
        let v1 = s3.cli("x");
        let v2 = s3.cli("x").arg("--key-version").arg("2");
        let app = s3.cli("x").arg("--key-prefix").arg("app");
        v1.run(&["set", "k", "one"]).expect(0);
        v2.run(&["get", "k"]).expect(1);
        app.run(&["get", "k"]).expect(1);
        v2.run(&["set", "k", "two"]).expect(0);
        assert_eq!(v1.run(&["get", "k"]).expect(0).stdout, b"one");
        assert_eq!(v2.run(&["get", "k"]).expect(0).stdout, b"two");
    }
}

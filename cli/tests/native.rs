//! The native library (`s3cache::native`: the same core over reqwest) on every server the
//! harness can start: Django's semantics, batches, and the same objects as the component's, so
//! a Rust program and the CLI (or Spin, or Django) share one cache.

mod common;

use common::{S3, noise};
use s3cache::Error;
use s3cache::Ttl;

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

#[test]
fn the_native_cache_follows_django_on_real_servers() {
    for s3 in S3::all() {
        let cache = s3.native("native").build().expect("a valid builder");
        let big = noise(3 << 20, 7);
        cache.set("big", &big, Ttl::Default).unwrap();
        assert_eq!(
            cache.get("big").unwrap().as_deref(),
            Some(&big[..]),
            "{}",
            s3.kind
        );
        assert_eq!(cache.get("absent").unwrap(), None);

        assert!(cache.add("once", b"first", Ttl::Default).unwrap());
        assert!(!cache.add("once", b"second", Ttl::Default).unwrap());
        assert_eq!(cache.get("once").unwrap(), Some(b"first".to_vec()));

        cache.set("n", b"41", Ttl::Default).unwrap();
        assert_eq!(cache.incr("n", 1).unwrap(), 42);
        assert_eq!(cache.decr("n", 2).unwrap(), 40);
        assert!(matches!(cache.incr("missing", 1), Err(Error::NoSuchKey(_))));
        assert!(matches!(cache.incr("once", 1), Err(Error::NotAnInteger(_))));

        assert!(cache.touch("once", Ttl::Never).unwrap());
        assert!(!cache.touch("absent", Ttl::Never).unwrap());
        assert!(cache.has_key("once").unwrap());
        assert!(cache.delete("once").unwrap());
        assert!(!cache.delete("once").unwrap());

        cache.set("gone", b"v", Ttl::Millis(0)).unwrap();
        assert_eq!(
            cache.get("gone").unwrap(),
            None,
            "a ttl of 0 expires at once"
        );

        let entries: Vec<(String, Vec<u8>)> = (0..30)
            .map(|i| (format!("k{i}"), format!("v{i}").into_bytes()))
            .collect();
        assert!(cache.set_many(&entries, Ttl::Default).unwrap().is_empty());
        let wanted: Vec<String> = (0..35).map(|i| format!("k{i}")).collect();
        let mut hits = cache.get_many(&wanted).unwrap();
        hits.sort();
        let mut expected = entries.clone();
        expected.sort();
        assert_eq!(hits, expected, "{}: 30 hits of 35 keys", s3.kind);
        cache.delete_many(&keys(&["k0", "k1", "k2"])).unwrap();
        assert_eq!(
            cache
                .get_many(&keys(&["k0", "k1", "k2", "k3"]))
                .unwrap()
                .len(),
            1
        );

        cache.clear().unwrap();
        assert_eq!(s3.entry_count("native"), 0, "{}", s3.kind);
    }
}

#[test]
fn native_and_component_share_entries() {
    for s3 in S3::all() {
        let cache = s3.native("shared").build().unwrap();
        let cli = s3.cli("shared");
        cache.set("from-rust", b"native", Ttl::Default).unwrap();
        assert_eq!(cli.run(&["get", "from-rust"]).expect(0).text(), "native");
        assert!(s3.exists(&s3cache::object_name("shared", "", 1, "from-rust")));

        cli.run(&["set", "from-wasm", "component"]).expect(0);
        assert_eq!(
            cache.get("from-wasm").unwrap(),
            Some(b"component".to_vec()),
            "{}",
            s3.kind
        );
        cli.run(&["set", "counter", "9"]).expect(0);
        assert_eq!(cache.incr("counter", 1).unwrap(), 10);
        assert_eq!(cli.run(&["incr", "counter"]).expect(0).text(), "11\n");
    }
}

#[test]
fn bad_settings_wrong_credentials_and_a_dead_endpoint_are_clear_errors() {
    let s3 = S3::start();
    let invalid = s3
        .native("x")
        .with_settings(|settings| settings.bucket = "Not_A_Bucket".to_owned())
        .build();
    assert!(matches!(invalid, Err(Error::InvalidSetting { setting, .. }) if setting == "bucket"));

    let canary = "canary-secret-4f1d";
    let wrong = s3
        .native("x")
        .with_settings(|settings| settings.credentials.secret_access_key = canary.to_owned())
        .build()
        .unwrap();
    let error = wrong.get("k").unwrap_err();
    assert!(matches!(error, Error::AccessDenied(_)), "{error:?}");
    assert!(!format!("{error:?} {error}").contains(canary), "{error}");

    let dead = s3
        .native("x")
        .with_endpoint("http://127.0.0.1:9")
        .with("max-attempts", "1")
        .build()
        .unwrap();
    let error = dead.get("k").unwrap_err();
    assert!(matches!(error, Error::Unavailable(_)), "{error:?}");
}

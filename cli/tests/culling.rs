//! Culling at scale, through the real component in the host runtime against s3s-fs (SigV4
//! checked), with requests counted in the host's wasi:http send hook: exact mode keeps Django's
//! counts, sampled mode keeps near max-entries for about one request per write, unlimited
//! never lists, and clear removes thousands of entries (and nothing else) a page at a time.

mod common;

use common::{ACCESS_KEY, S3, SECRET_KEY};
use s3cache_runtime::{CacheStore, Config, Credentials, EMBEDDED_COMPONENT, Runtime, Ttl, answer};

/// A store under `location` with `max-entries` and `cull-mode` as the table writes them.
fn config(s3: &S3, location: &str, max_entries: &str, cull_mode: &str) -> Config {
    let credentials = Credentials {
        access_key_id: ACCESS_KEY.to_owned(),
        secret_access_key: SECRET_KEY.to_owned(),
        session_token: None,
    };
    Config::new(s3.bucket(), credentials)
        .with("endpoint", s3.endpoint())
        .with("location", location)
        .with("default-timeout", "never")
        .with("max-entries", max_entries)
        .with("cull-frequency", 3)
        .with("cull-mode", cull_mode)
        .with("create-bucket", true)
        // Batches of a thousand writes and clears of thousands of entries take longer than the
        // default deadline.
        .with("deadline", 60)
}

struct Bench {
    runtime: Runtime,
    tokio: tokio::runtime::Runtime,
}

impl Bench {
    fn new() -> Bench {
        Bench {
            runtime: Runtime::new(EMBEDDED_COMPONENT).expect("the component compiles"),
            tokio: tokio::runtime::Runtime::new().expect("tokio"),
        }
    }

    fn open(&self, config: &Config) -> CacheStore {
        self.tokio
            .block_on(async { answer(self.runtime.open(config).await.unwrap()) })
            .expect("the store opens")
    }

    /// Sets `keys` one at a time; the requests they cost, and the highest entry count seen
    /// (every `check_every` sets, by the independent client).
    fn set_each(
        &self,
        store: &mut CacheStore,
        keys: &[String],
        s3: &S3,
        location: &str,
        check_every: usize,
    ) -> (u64, usize) {
        let before = self.runtime.requests_sent();
        let mut highest = 0;
        for (n, key) in keys.iter().enumerate() {
            self.tokio
                .block_on(store.set(key, b"v", Ttl::Default))
                .unwrap()
                .unwrap_or_else(|e| panic!("set {key}: {e:?}"));
            if n % check_every == check_every - 1 {
                highest = highest.max(s3.entry_count(location));
            }
        }
        (self.runtime.requests_sent() - before, highest)
    }
}

fn keys(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}{i}")).collect()
}

#[test]
fn exact_mode_keeps_djangos_counts() {
    let s3 = S3::start();
    let bench = Bench::new();
    for (frequency, expected) in [(3, 29), (0, 19)] {
        let location = format!("exact{frequency}");
        let config = config(&s3, &location, "30", "exact").with("cull-frequency", frequency);
        let mut store = bench.open(&config);
        let (requests, _) = bench.set_each(&mut store, &keys("cull", 49), &s3, &location, 1000);
        assert_eq!(s3.entry_count(&location), expected);
        // One LIST and one PUT per set, plus a DeleteObjects per cull.
        assert!((98..=104).contains(&requests), "{requests} requests");
    }
}

#[test]
fn sampled_mode_stays_near_the_limit_for_about_one_request_per_set() {
    let s3 = S3::start();
    let bench = Bench::new();
    let mut store = bench.open(&config(&s3, "sampled", "2000", "sampled"));
    let (requests, highest) = bench.set_each(&mut store, &keys("k", 2300), &s3, "sampled", 50);
    let per_set = requests as f64 / 2300.0;
    let count = s3.entry_count("sampled");
    eprintln!("sampled: {per_set:.3} requests per set, highest count seen {highest}, {count} left");
    assert!(per_set <= 1.10, "{per_set:.3} requests per set");
    assert!(
        highest <= 2200 && count <= 2200,
        "highest {highest}, now {count}"
    );
    assert!(count < 2000, "it culled: {count} entries");
}

#[test]
fn unlimited_sets_cost_exactly_one_request() {
    let s3 = S3::start();
    let bench = Bench::new();
    let mut store = bench.open(&config(&s3, "unlimited", "unlimited", "auto"));
    let (requests, _) = bench.set_each(&mut store, &keys("k", 300), &s3, "unlimited", 1000);
    assert_eq!(requests, 300);
    assert_eq!(s3.entry_count("unlimited"), 300);
}

#[test]
fn clear_removes_thousands_of_entries_and_only_entries() {
    let s3 = S3::start();
    let bench = Bench::new();
    let mut store = bench.open(&config(&s3, "many", "unlimited", "auto"));
    for chunk in keys("k", 5000).chunks(1000) {
        let batch: Vec<(String, Vec<u8>)> =
            chunk.iter().map(|k| (k.clone(), b"v".to_vec())).collect();
        let failed = bench
            .tokio
            .block_on(store.set_many(&batch, Ttl::Default))
            .unwrap()
            .unwrap();
        assert!(failed.is_empty());
    }
    s3.put_raw("many/readme.txt", b"not an entry");
    s3.put_raw(
        "many/nested/0123456789abcdef0123456789abcdef01234567",
        b"deeper",
    );
    assert_eq!(s3.entry_count("many"), 5000);
    let stats = bench.tokio.block_on(store.stats(false)).unwrap().unwrap();
    assert_eq!(stats.entries, 5000);
    let estimate = bench.tokio.block_on(store.stats(true)).unwrap().unwrap();
    assert!(
        estimate.estimated && (4000..6000).contains(&estimate.entries),
        "{estimate:?}"
    );
    let before = bench.runtime.requests_sent();
    bench.tokio.block_on(store.clear()).unwrap().unwrap();
    let requests = bench.runtime.requests_sent() - before;
    assert_eq!(s3.entry_count("many"), 0);
    assert_eq!(s3.objects_in("many"), ["readme.txt"]);
    assert!(s3.exists("many/nested/0123456789abcdef0123456789abcdef01234567"));
    assert!(
        (10..=11).contains(&requests),
        "{requests} requests for 5 pages"
    );
}

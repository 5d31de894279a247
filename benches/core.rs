//! The pure hot paths of every call, natively: naming a key, encoding and decoding an entry
//! (1 KiB and 1 MiB, compressible and not), signing a request. `cargo bench -p s3cache --features internals`.

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use s3cache::internals::entry::{self, Expiry};
use s3cache::internals::sign::{Payload, Signer};
use s3cache::internals::{Condition, Endpoint, PutOptions, RequestBuilder};
use s3cache::{Credentials, object_name};

/// Bytes that deflate well (repeated text) or not at all (a xorshift stream).
fn values(len: usize) -> [(&'static str, Vec<u8>); 2] {
    let text: Vec<u8> = b"the quick brown fox jumps over the lazy dog. "
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    [("compressible", text), ("random", noise)]
}

fn naming(c: &mut Criterion) {
    c.bench_function("name a key", |b| {
        b.iter(|| object_name(black_box("myapp"), "site", 2, black_box("user:42:profile")))
    });
}

fn entries(c: &mut Criterion) {
    let mut group = c.benchmark_group("entry");
    for len in [1 << 10, 1 << 20] {
        for (kind, value) in values(len) {
            let label = format!("{kind} {}", if len == 1 << 10 { "1KiB" } else { "1MiB" });
            group.throughput(Throughput::Bytes(len as u64));
            group.bench_with_input(BenchmarkId::new("encode", &label), &value, |b, value| {
                b.iter(|| entry::encode(black_box(value), Expiry::Never, Some(1024)))
            });
            let encoded = entry::encode(&value, Expiry::Never, Some(1024));
            group.bench_with_input(BenchmarkId::new("decode", &label), &encoded, |b, bytes| {
                b.iter(|| entry::decode(black_box(bytes), 64 << 20))
            });
        }
    }
    group.finish();
}

/// Deflate at the levels worth considering, on values a cache holds: prints each level's ratio,
/// and times it.
fn deflate_levels(c: &mut Criterion) {
    let json: Vec<u8> = (0..)
        .flat_map(|i: u32| {
            format!(
                "{{\"id\":{i},\"name\":\"user-{i}\",\"active\":{},\"score\":{}}},",
                i.is_multiple_of(3),
                i * 7 % 1000
            )
            .into_bytes()
        })
        .take(1 << 20)
        .collect();
    let [(_, text), (_, noise)] = values(1 << 20);
    let mut group = c.benchmark_group("deflate");
    for (kind, data) in [("json", &json), ("text", &text), ("random", &noise)] {
        for len in [4 << 10, 64 << 10, 1 << 20] {
            let value = &data[..len];
            for level in [1u8, 3, 6] {
                let ratio =
                    miniz_oxide::deflate::compress_to_vec(value, level).len() as f64 / len as f64;
                eprintln!(
                    "deflate level {level}, {kind} {} KiB: ratio {ratio:.3}",
                    len >> 10
                );
                group.throughput(Throughput::Bytes(len as u64));
                group.bench_function(format!("level {level} {kind} {}KiB", len >> 10), |b| {
                    b.iter(|| miniz_oxide::deflate::compress_to_vec(black_box(value), level))
                });
            }
        }
    }
    group.finish();
}

fn signing(c: &mut Criterion) {
    let credentials = Credentials {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".to_owned(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
        session_token: None,
    };
    let signer = Signer::new(&credentials, "us-east-1");
    let endpoint = Endpoint::resolve(None, "us-east-1", "bucket", None).expect("AWS's endpoint");
    let bucket = RequestBuilder {
        endpoint: &endpoint,
    };
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let get = bucket.get_object("loc/41abad59de56c461effa1ae72941fbf2598ff6a2", 1 << 20);
    c.bench_function("sign a GET", |b| {
        b.iter(|| {
            let mut request = get.clone();
            signer
                .sign(&mut request, now, Payload::Unsigned)
                .expect("signed");
            request
        })
    });
    let options = PutOptions {
        acl: None,
        storage_class: None,
        sse: None,
        sse_kms_key_id: None,
        expires: "never",
        writes: "0123456789abcdef",
        key: Some("a2V5"),
    };
    let put = bucket.put_object(
        "loc/41ab",
        vec![7; 1 << 20].into(),
        &Condition::None,
        options,
    );
    let mut group = c.benchmark_group("sign a 1MiB PUT");
    group.throughput(Throughput::Bytes(1 << 20));
    for (label, payload) in [
        ("unsigned payload (HTTPS)", Payload::Unsigned),
        ("payload hashed (HTTP)", Payload::Signed),
    ] {
        group.bench_function(label, |b| {
            b.iter(|| {
                let mut request = put.clone();
                signer.sign(&mut request, now, payload).expect("signed");
                request
            })
        });
    }
    group.finish();
}

criterion_group!(benches, naming, entries, deflate_levels, signing);
criterion_main!(benches);

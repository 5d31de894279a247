//! Randomized no-panic tests (property tests with proptest) for everything that reads bytes
//! from outside: the entry decoder, the S3 XML parsers, endpoint parsing, expiry headers. A
//! panic in the component is a trap that kills its caller's instance, so no input may cause one.
//!
//! Each target runs `S3CACHE_FUZZ_CASES` inputs (20,000 by default, as CI runs them) and prints
//! how many it ran: `S3CACHE_FUZZ_CASES=1000000 cargo test --release -p s3cache --lib fuzz --
//! --nocapture` is the long run.

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::core::entry::{self, Expiry};
use crate::s3::Endpoint;
use crate::s3::xml::{parse_delete_failures, parse_error, parse_list};

/// Runs `check` on `cases` inputs from `strategy`, then says how many ran.
fn fuzz<S: Strategy>(name: &str, strategy: S, check: impl Fn(S::Value)) {
    let cases = std::env::var("S3CACHE_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(20_000);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let ran = AtomicU64::new(0);
    runner
        .run(&strategy, |input| {
            ran.fetch_add(1, Ordering::Relaxed);
            check(input);
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{name}: {failure}"));
    eprintln!(
        "fuzz {name}: {} inputs, no panic",
        ran.load(Ordering::Relaxed)
    );
}

const MAX: usize = 1 << 16;

/// Entries as this code writes them, then damaged: flipped bytes and a cut.
fn damaged_entries() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        (1usize..3000).prop_map(|len| b"abcabc".iter().copied().cycle().take(len).collect()),
    ];
    let expiry = prop_oneof![Just(Expiry::Never), any::<i64>().prop_map(Expiry::At)];
    (
        value,
        expiry,
        proptest::option::of(0usize..2000),
        proptest::collection::vec((any::<usize>(), 1u8..), 0..4),
        any::<usize>(),
    )
        .prop_map(|(value, expiry, compress, flips, cut)| {
            let mut bytes = entry::encode(&value, expiry, compress);
            let len = bytes.len();
            for (at, mask) in flips {
                bytes[at % len] ^= mask;
            }
            bytes.truncate(cut % (len + 1));
            bytes
        })
}

#[test]
fn fuzz_the_entry_decoder() {
    let inputs = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        damaged_entries(),
    ];
    fuzz("entry decoder", (inputs, 0..MAX), |(bytes, limit)| {
        if let Ok(decoded) = entry::decode(&bytes, limit) {
            assert!(
                decoded.value.len() <= limit,
                "a value over the limit got through"
            );
        }
        let _ = entry::with_expiry(&bytes, Expiry::Never);
    });
}

#[test]
fn fuzz_entry_round_trips() {
    let value = proptest::collection::vec(any::<u8>(), 0..3000);
    let expiry = prop_oneof![Just(Expiry::Never), any::<i64>().prop_map(Expiry::At)];
    let compress = proptest::option::of(0usize..2000);
    fuzz(
        "entry round trip",
        (value, expiry, compress),
        |(value, expiry, compress)| {
            let decoded = entry::decode(&entry::encode(&value, expiry, compress), MAX).unwrap();
            assert_eq!(decoded.value, value);
            assert_eq!(decoded.expiry, expiry);
        },
    );
}

const XML_PIECES: &[&str] = &[
    "<ListBucketResult>",
    "</ListBucketResult>",
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
    "<Contents>",
    "</Contents>",
    "<Key>",
    "</Key>",
    "<LastModified>",
    "2024-01-01T00:00:00.000Z",
    "</LastModified>",
    "<IsTruncated>",
    "true",
    "false",
    "</IsTruncated>",
    "<NextContinuationToken>",
    "</NextContinuationToken>",
    "<Error>",
    "</Error>",
    "<Code>",
    "</Code>",
    "<Message>",
    "</Message>",
    "<DeleteResult>",
    "</DeleteResult>",
    "<Deleted/>",
    "&amp;",
    "&#x0;",
    "&bogus;",
    "<![CDATA[",
    "]]>",
    "<?xml version=\"1.0\"?>",
    "<!-- -->",
    "<!DOCTYPE x>",
    "\u{0}",
    "\u{fffd}",
    "<",
    ">",
    "/>",
    "=\"",
    "x",
    " ",
];

fn xml_soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(XML_PIECES), 0..24)
        .prop_map(|pieces| pieces.concat())
}

#[test]
fn fuzz_the_xml_parsers() {
    let inputs = prop_oneof![
        xml_soup().prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..128),
        any::<String>().prop_map(String::into_bytes),
    ];
    fuzz("S3 XML parsers", inputs, |bytes| {
        let _ = parse_list(&bytes);
        let _ = parse_error(&bytes);
        let _ = parse_delete_failures(&bytes);
    });
}

#[test]
fn fuzz_listings_parse_back_what_they_say() {
    let key = "[a-z0-9/&<>\"' .-]{1,40}";
    let entries = proptest::collection::vec((key, 0i64..4_102_444_800_000), 0..20);
    let token = proptest::option::of("[A-Za-z0-9+/=&<>]{1,30}");
    fuzz(
        "listing round trip",
        (entries, token),
        |(entries, token)| {
            let escape = |text: &str| {
                text.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
                    .replace('"', "&quot;")
            };
            let mut xml = String::from("<ListBucketResult>");
            for (key, millis) in &entries {
                let time = aws_smithy_types::DateTime::from_millis(*millis)
                    .fmt(aws_smithy_types::date_time::Format::DateTime)
                    .unwrap();
                xml.push_str(&format!(
                    "<Contents><Key>{}</Key><LastModified>{time}</LastModified></Contents>",
                    escape(key)
                ));
            }
            xml.push_str(&format!("<IsTruncated>{}</IsTruncated>", token.is_some()));
            if let Some(token) = &token {
                xml.push_str(&format!(
                    "<NextContinuationToken>{}</NextContinuationToken>",
                    escape(token)
                ));
            }
            xml.push_str("</ListBucketResult>");
            let page = parse_list(xml.as_bytes()).unwrap();
            assert_eq!(page.continuation, token);
            let parsed: Vec<(String, i64)> = page
                .objects
                .into_iter()
                .map(|listed| (listed.name, listed.last_modified_ms))
                .collect();
            assert_eq!(parsed, entries);
        },
    );
}

#[test]
fn fuzz_endpoint_parsing() {
    let scheme = proptest::sample::select(&["http://", "https://", "ftp://", "", "HTTP://"][..]);
    let host = proptest::sample::select(
        &[
            "localhost",
            "127.0.0.1",
            "[::1]",
            "s3.example.com",
            "",
            "user:pw@host",
            "bücket.example",
            "a..b",
            "[::1",
        ][..],
    );
    let port = proptest::option::of(any::<u32>());
    let path = "[a-z/?#%. ]{0,12}";
    let structured = (scheme, host, port, path).prop_map(|(scheme, host, port, path)| {
        let port = port.map(|port| format!(":{port}")).unwrap_or_default();
        format!("{scheme}{host}{port}{path}")
    });
    let url = prop_oneof![structured, any::<String>()];
    let bucket = proptest::sample::select(&["bucket", "my.bucket", "b-1"][..]);
    let style = proptest::option::of(any::<bool>());
    fuzz(
        "endpoint parsing",
        (url, bucket, style),
        |(url, bucket, style)| {
            if let Ok(endpoint) = Endpoint::resolve(Some(&url), "us-east-1", bucket, style) {
                assert!(!endpoint.authority.contains('@'));
                let object = endpoint.url("a/b%20c", "x-id=1");
                object
                    .parse::<http::Uri>()
                    .unwrap_or_else(|_| panic!("{url:?} gave the URL {object:?}"));
            }
        },
    );
}

#[test]
fn fuzz_expiry_headers() {
    let header = prop_oneof![any::<String>(), any::<i64>().prop_map(|n| n.to_string())];
    fuzz("expiry headers", header, |text| {
        if let Some(expiry) = Expiry::from_header(&text) {
            assert_eq!(Expiry::from_header(&expiry.to_header()), Some(expiry));
        }
    });
}

/// The size arithmetic at every setting: any max-value-bytes a caller can write either is
/// refused as a setting or gives limits whose sums and checks cannot overflow, whatever a
/// reply declares.
#[test]
fn fuzz_the_size_limits() {
    use crate::s3::Request;
    use crate::settings::{Config as StoreConfig, Settings};
    use crate::transports::{reply_limit, too_large};
    fuzz(
        "size limits",
        (any::<u32>(), any::<u64>(), any::<u16>()),
        |(max_value, declared, status)| {
            let credentials = crate::s3::Credentials {
                access_key_id: "id".to_owned(),
                secret_access_key: "secret".to_owned(),
                session_token: None,
            };
            let mut settings = Settings::new("bucket", credentials);
            if settings
                .set("max-value-bytes", &max_value.to_string())
                .is_err()
            {
                assert!(max_value == 0 || max_value > 512 << 20);
                return;
            }
            let config = StoreConfig::new(settings).expect("valid");
            let object = config
                .max_value_bytes
                .saturating_add(crate::core::entry::HEADER_LEN);
            let request = Request {
                method: "GET",
                url: "http://127.0.0.1/b/k".to_owned(),
                headers: Vec::new(),
                body: Default::default(),
                max_response_body: object,
                xml_reply: false,
            };
            let limit = reply_limit(&request, status);
            if (200..300).contains(&status) {
                assert_eq!(limit, object);
            } else {
                assert!(limit <= 64 << 10, "error replies are small");
            }
            if declared > limit as u64 {
                let refused = too_large(declared, limit);
                assert!(
                    matches!(&refused, crate::client::transport::TransportError::TooLarge(m)
                        if m.contains(&declared.to_string())),
                    "{refused:?}"
                );
            }
            assert!(object <= (512 << 20) + crate::core::entry::HEADER_LEN);
            assert!(u32::try_from(object).is_ok(), "fits a wasm32 usize");
        },
    );
}

//! Faults between the component and a real S3 server (s3s-fs behind a scripted proxy), through
//! the `s3cache` binary: throttling storms, resets, replies lost after the server applied a
//! write, replies sent before the request body was read, stalls mid-body, broken XML. Transient
//! faults end in success, persistent ones in a clear error within the deadline; nothing traps,
//! no entry is corrupted, no increment applies twice.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::faults::{Action, Deliver, FaultServer, Head, Reply};
use common::{ACCESS_KEY, Cli, S3, SECRET_KEY};

/// A CLI whose requests go through `proxy` to `s3`'s bucket.
fn through(proxy: &FaultServer, s3: &S3) -> Cli {
    s3.cli("f").env("AWS_ENDPOINT_URL_S3", &proxy.endpoint())
}

/// Every operation the fault table covers, with its arguments and the exit code of success.
const OPERATIONS: [(&str, &[&str], i32); 7] = [
    ("get", &["get", "k"], 0),
    ("set", &["set", "k", "v2"], 0),
    ("add", &["add", "fresh", "v"], 0),
    ("touch", &["touch", "k", "--ttl", "600"], 0),
    ("incr", &["incr", "n"], 0),
    ("get-many", &["get-many", "k", "n"], 0),
    ("clear", &["clear"], 0),
];

/// Seeds the entries the operations work on, directly.
fn seeded() -> S3 {
    let s3 = S3::start();
    s3.cli("f").run(&["set", "k", "v"]).expect(0);
    s3.cli("f").run(&["set", "n", "10"]).expect(0);
    s3
}

/// A script that applies `fault` to the first `times` requests matching `matches`, and
/// forwards everything else.
fn first(
    times: usize,
    matches: impl Fn(&Head) -> bool + Send + 'static,
    fault: Action,
) -> impl FnMut(&Head, usize) -> Action + Send + 'static {
    let mut left = times;
    move |head, _| {
        if left > 0 && matches(head) {
            left -= 1;
            fault.clone()
        } else {
            Action::Forward(Deliver::Whole)
        }
    }
}

#[test]
fn throttling_and_resets_are_retried_to_success_for_every_operation() {
    for fault in [
        Action::Reply(Reply::error(503, "SlowDown")),
        Action::Reply(Reply::error(500, "InternalError")),
        Action::Reply(Reply::error(400, "RequestTimeout")),
        Action::Reset,
    ] {
        for (name, args, code) in OPERATIONS {
            let s3 = seeded();
            let proxy = FaultServer::proxy(&s3.endpoint(), first(2, |_| true, fault.clone()));
            let run = through(&proxy, &s3).run(args);
            assert_eq!(run.code, code, "{name} after 2 x {fault:?}: {}", run.stderr);
            assert!(proxy.requests() > 2, "{name}: the faults were met");
        }
    }
}

#[test]
fn a_throttling_storm_ends_in_unavailable_within_the_deadline() {
    let s3 = seeded();
    let proxy = FaultServer::proxy(&s3.endpoint(), |_, _| {
        Action::Reply(Reply::error(503, "SlowDown"))
    });
    let cli = through(&proxy, &s3)
        .arg("--deadline")
        .arg("1.5")
        .arg("--max-attempts")
        .arg("100");
    for (name, args, _) in OPERATIONS {
        let started = Instant::now();
        let run = cli.run(args).fails_with("unavailable");
        assert!(run.stderr.contains("SlowDown"), "{name}: {}", run.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{name} gave up after {:?}",
            started.elapsed()
        );
    }
    let before = proxy.requests();
    let default_attempts = through(&proxy, &s3);
    default_attempts.run(&["get", "k"]).fails_with("SlowDown");
    assert_eq!(proxy.requests() - before, 3, "one request and two retries");
}

/// The first PUT reaches the server and lands; its reply never comes back.
fn losing_the_first_put_reply(s3: &S3) -> FaultServer {
    FaultServer::proxy(
        &s3.endpoint(),
        first(
            1,
            |head| head.method == "PUT",
            Action::Forward(Deliver::Nothing),
        ),
    )
}

#[test]
fn a_lost_reply_after_the_write_landed_applies_it_once() {
    let s3 = seeded();
    let proxy = losing_the_first_put_reply(&s3);
    assert_eq!(
        through(&proxy, &s3).run(&["incr", "n"]).expect(0).text(),
        "11\n"
    );
    assert_eq!(s3.cli("f").run(&["get", "n"]).expect(0).stdout, b"11");

    let proxy = losing_the_first_put_reply(&s3);
    through(&proxy, &s3).run(&["add", "new", "mine"]).expect(0);
    assert_eq!(s3.cli("f").run(&["get", "new"]).expect(0).stdout, b"mine");

    let proxy = losing_the_first_put_reply(&s3);
    through(&proxy, &s3)
        .run(&["touch", "k", "--ttl", "never"])
        .expect(0);

    let proxy = losing_the_first_put_reply(&s3);
    through(&proxy, &s3).run(&["set", "k", "v3"]).expect(0);
    assert_eq!(s3.cli("f").run(&["get", "k"]).expect(0).stdout, b"v3");
}

#[test]
fn a_reply_sent_before_the_body_was_read_is_the_answer() {
    // "S3" where the key exists: PUTs are refused at once, with the body unread (a 24 MiB body,
    // more than loopback's socket buffers hold, is still being written when the reply and the
    // reset arrive); GETs return the live entry.
    let entry =
        s3cache::internals::entry::encode(b"there", s3cache::internals::entry::Expiry::Never, None);
    let server = FaultServer::start(None, move |head, _| match head.method.as_str() {
        "PUT" => Action::ReplyEarly(Reply::error(412, "PreconditionFailed")),
        "GET" if head.is_list() => Action::Reply(Reply {
            status: 200,
            headers: vec![],
            body: b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>".to_vec(),
        }),
        _ => Action::Reply(Reply {
            status: 200,
            headers: vec![
                ("etag".into(), "\"e1\"".into()),
                ("x-amz-meta-s3cache-expires".into(), "never".into()),
            ],
            body: entry.clone(),
        }),
    });
    let cli = Cli::new()
        .env("AWS_ENDPOINT_URL_S3", &server.endpoint())
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .arg("--compress-above")
        .arg("off");
    let big = common::noise(24 << 20, 7);
    for _ in 0..5 {
        cli.run_with_stdin(&["add", "k", "-"], &big).expect(1);
        cli.run(&["add", "k", "small"]).expect(1);
    }
    let denied = FaultServer::start(None, |head, _| {
        if head.method == "PUT" {
            Action::ReplyEarly(Reply::error(403, "AccessDenied"))
        } else {
            Action::Reply(Reply {
                status: 200,
                headers: vec![],
                body: b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"
                    .to_vec(),
            })
        }
    });
    let cli = cli.env("AWS_ENDPOINT_URL_S3", &denied.endpoint());
    let run = cli
        .run_with_stdin(&["set", "k", "-"], &big)
        .fails_with("access denied");
    assert!(!run.stderr.contains("cannot reach"), "{}", run.stderr);
}

#[test]
fn a_reply_that_stalls_mid_body_times_out_and_is_retried() {
    let s3 = seeded();
    let value = common::noise(256 << 10, 3);
    s3.cli("f")
        .run_with_stdin(&["set", "big", "-"], &value)
        .expect(0);
    let is_object_get = |head: &Head| head.method == "GET" && !head.is_list();
    let once = FaultServer::proxy(
        &s3.endpoint(),
        first(1, is_object_get, Action::Forward(Deliver::Stalled(1000))),
    );
    let cli = through(&once, &s3)
        .arg("--between-bytes-timeout")
        .arg("0.5");
    let started = Instant::now();
    assert_eq!(cli.run(&["get", "big"]).expect(0).stdout, value);
    assert!(started.elapsed() < Duration::from_secs(10));

    let always = FaultServer::proxy(&s3.endpoint(), move |head, _| {
        if is_object_get(head) {
            Action::Forward(Deliver::Stalled(1000))
        } else {
            Action::Forward(Deliver::Whole)
        }
    });
    let cli = through(&always, &s3)
        .arg("--between-bytes-timeout")
        .arg("0.3")
        .arg("--deadline")
        .arg("2");
    let started = Instant::now();
    cli.run(&["get", "big"]).fails_with("unavailable");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn truncated_and_malformed_listings_are_errors_and_change_nothing() {
    let s3 = seeded();
    let truncated = FaultServer::proxy(&s3.endpoint(), |head, _| {
        if head.is_list() {
            Action::Forward(Deliver::Truncated(60))
        } else {
            Action::Forward(Deliver::Whole)
        }
    });
    for args in [&["set", "k", "other"][..], &["clear"]] {
        let run = through(&truncated, &s3).run(args).fails_with("list");
        assert!(!run.stderr.contains("trap"), "{}", run.stderr);
    }
    let malformed = FaultServer::proxy(&s3.endpoint(), |head, _| {
        if head.is_list() {
            Action::Reply(Reply {
                status: 200,
                headers: vec![],
                body: b"<ListBucketResult><Contents><Key>f/x</Key><LastModified>yesterday".to_vec(),
            })
        } else {
            Action::Forward(Deliver::Whole)
        }
    });
    through(&malformed, &s3).run(&["clear"]).fails_with("list");
    assert_eq!(s3.cli("f").run(&["get", "k"]).expect(0).stdout, b"v");
    assert_eq!(s3.entry_count("f"), 2);
}

#[test]
fn garbage_replies_are_errors_or_misses_never_traps() {
    let garbage = FaultServer::replying(Reply {
        status: 200,
        headers: vec![],
        body: b"<html>gateway</html>\n".to_vec(),
    });
    let cli = Cli::new()
        .env("AWS_ENDPOINT_URL_S3", &garbage.endpoint())
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    // A GET body that is not an entry is a miss; a listing that is not XML is an error.
    cli.run(&["get", "k"]).expect(1);
    cli.run(&["clear"]).fails_with("<ListBucketResult>");
    cli.run(&["get-many", "a", "b"]).expect(0);
    let reset = FaultServer::start(None, |_, _| Action::Reset);
    let cli = cli.env("AWS_ENDPOINT_URL_S3", &reset.endpoint());
    for (_, args, _) in OPERATIONS {
        let run = cli.run(args).fails_with("unavailable");
        assert!(
            !run.stderr.contains("trap") && !run.stderr.contains("panicked"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn every_request_of_a_batch_survives_its_own_fault() {
    let s3 = seeded();
    let reset = Arc::new(Mutex::new(HashSet::new()));
    let record = Arc::clone(&reset);
    // Half the GETs of a get-many are reset, each once: every request retries on its own.
    let proxy = FaultServer::proxy(&s3.endpoint(), move |head, number| {
        if head.method == "GET" && !head.is_list() && number % 2 == 1 {
            let mut reset = record.lock().unwrap();
            if reset.insert(head.target.clone()) {
                return Action::Reset;
            }
        }
        Action::Forward(Deliver::Whole)
    });
    let pairs: Vec<String> = (0..20).map(|i| format!("b{i}={i}")).collect();
    let mut args = vec!["set-many"];
    args.extend(pairs.iter().map(String::as_str));
    s3.cli("f").run(&args).expect(0);
    let keys: Vec<String> = (0..20).map(|i| format!("b{i}")).collect();
    let mut args = vec!["get-many"];
    args.extend(keys.iter().map(String::as_str));
    let hits = through(&proxy, &s3).run(&args).expect(0).text();
    let hits: serde_json::Value = serde_json::from_str(&hits).unwrap();
    assert_eq!(hits.as_object().unwrap().len(), 20);
    assert!(reset.lock().unwrap().len() >= 5, "faults were met");
}

//! Broken servers on loopback, through the `s3cache` binary: every call ends within its deadline
//! (plus slack), sends a handful of requests, holds bounded memory, never traps, sends nothing
//! to another host, and says what happened in one clean line with no secret in it.

mod common;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::faults::{Action, Deliver, FaultServer, Head, Reply};
use common::{ACCESS_KEY, Cli, S3, SECRET_KEY};

/// What a call may take past its deadline: starting the process and the component, and the
/// last attempt's cancellation.
const SLACK: Duration = Duration::from_millis(1500);
/// The session token given to every call: it must never reach another host.
const SESSION_TOKEN: &str = "session-token-never-sent-elsewhere";

/// A CLI against `server` alone, in bucket `bounds`, location `f`.
fn against(server: &FaultServer) -> Cli {
    Cli::new()
        .env("AWS_ENDPOINT_URL_S3", &server.endpoint())
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .env("S3CACHE_BUCKET", "bounds")
        .env("S3CACHE_LOCATION", "f")
}

/// A CLI whose requests go through `proxy` to `s3`'s bucket, in location `f`.
fn through(proxy: &FaultServer, s3: &S3) -> Cli {
    s3.cli("f")
        .env("AWS_ENDPOINT_URL_S3", &proxy.endpoint())
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
}

/// How a run ended, how long it took, and the most memory the process held.
struct Measured {
    args: String,
    code: i32,
    stderr: String,
    took: Duration,
    peak_rss_mib: f64,
}

impl Measured {
    /// Checks the error says `needle` in one line and shows no secret.
    fn fails_with(&self, needle: &str) -> &Measured {
        // A row of the table in the notes (`--nocapture` shows it).
        eprintln!(
            "| `{}` | {:.2} s | {:.0} MiB | {} |",
            self.args,
            self.took.as_secs_f64(),
            self.peak_rss_mib,
            self.stderr.trim_end()
        );
        assert_eq!(self.code, 2, "it fails: {}", self.stderr);
        assert!(
            self.stderr.contains(needle),
            "{needle:?} in {}",
            self.stderr
        );
        assert_eq!(self.stderr.trim_end().lines().count(), 1, "{}", self.stderr);
        assert!(!self.stderr.chars().any(|c| c.is_control() && c != '\n'));
        for secret in [SECRET_KEY, SESSION_TOKEN] {
            assert!(!self.stderr.contains(secret), "{}", self.stderr);
        }
        self
    }

    /// Checks it ended within `deadline` plus the slack.
    fn within(&self, deadline: Duration) -> &Measured {
        assert!(
            self.took <= deadline + SLACK,
            "took {:?}, deadline {deadline:?}: {}",
            self.took,
            self.stderr
        );
        self
    }
}

/// Runs `cli` with `args`, measuring the process's peak resident memory (from wait4's rusage).
fn measure(cli: &Cli, args: &[&str]) -> Measured {
    let mut command = cli.command(args);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    #[expect(
        clippy::zombie_processes,
        reason = "wait4 reaps it, and gives its rusage"
    )]
    let mut child = command.spawn().expect("s3cache starts");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let pid = i32::try_from(child.id()).expect("pid");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value, and wait4 writes only into the two locals.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    let took = started.elapsed();
    let status = std::process::ExitStatus::from_raw(status);
    Measured {
        args: args.join(" "),
        code: status.code().unwrap_or(-1),
        stderr: reader.join().expect("stderr reader"),
        took,
        peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
    }
}

fn is_conditional_put(head: &Head) -> bool {
    head.method == "PUT"
        && (head.header("if-match").is_some() || head.header("if-none-match").is_some())
}

#[test]
fn storms_of_server_errors_cost_a_handful_of_requests_per_call() {
    let s3 = S3::start();
    s3.cli("f").run(&["set", "n", "10"]).expect(0);
    let proxy = FaultServer::proxy(&s3.endpoint(), |head, _| {
        if is_conditional_put(head) {
            Action::Reply(Reply::error(500, "InternalError"))
        } else {
            Action::Forward(Deliver::Whole)
        }
    });
    let cli = through(&proxy, &s3);
    for args in [
        &["incr", "n"][..],
        &["add", "fresh", "v"],
        &["touch", "n", "--ttl", "60"],
    ] {
        let before = proxy.requests();
        measure(&cli, args)
            .fails_with("InternalError")
            .within(Duration::from_secs(2));
        let sent = proxy.requests() - before;
        eprintln!("{args:?} through a 500 storm on conditional writes: {sent} requests");
        // Three attempts of a read and a conditional write, and a last read.
        assert!(sent <= 7, "{args:?} sent {sent} requests");
    }
    assert_eq!(s3.cli("f").run(&["get", "n"]).expect(0).stdout, b"10");

    let storm = FaultServer::replying(Reply::error(500, "InternalError"));
    let cli = against(&storm);
    for args in [&["set", "k", "v"][..], &["get", "k"], &["stats"]] {
        let before = storm.requests();
        measure(&cli, args).fails_with("InternalError");
        let sent = storm.requests() - before;
        eprintln!("{args:?} in a 500 storm: {sent} requests");
        assert_eq!(sent, 3, "{args:?}: max-attempts");
    }
}

#[test]
fn servers_that_never_answer_or_trickle_end_the_call_at_its_deadline() {
    let silent = FaultServer::start(None, |_, _| Action::Silent);
    let run = measure(&against(&silent), &["get", "k"]);
    run.fails_with("within the deadline (2 s)")
        .within(Duration::from_secs(2));
    assert!(run.took >= Duration::from_secs(2), "{:?}", run.took);
    let run = measure(
        &against(&silent).arg("--deadline").arg("0.5"),
        &["set", "k", "v"],
    );
    run.fails_with("within the deadline (0.5 s)")
        .within(Duration::from_millis(500));

    let trickle = FaultServer::start(None, |_, _| {
        Action::Trickle(Reply::ok(vec![b'x'; 1000]), Duration::from_millis(100))
    });
    measure(&against(&trickle), &["get", "k"])
        .fails_with("within the deadline (2 s)")
        .within(Duration::from_secs(2));
}

#[test]
fn redirects_are_not_followed_to_another_host_or_scheme() {
    let elsewhere = FaultServer::replying(Reply::ok(b"stolen".to_vec()));
    let other = elsewhere.endpoint();
    for (status, location) in [
        (307, format!("{other}/bounds/x")),
        (301, format!("{other}/bounds/x")),
        (302, other.replace("http://", "https://")),
    ] {
        let redirecting = FaultServer::replying(Reply {
            status,
            headers: vec![("location".into(), location.clone())],
            body: Vec::new(),
        });
        let cli = against(&redirecting);
        for args in [&["get", "k"][..], &["has", "k"], &["stats"]] {
            measure(&cli, args)
                .fails_with(&format!("the server points to {location}, not followed"));
        }
    }
    assert_eq!(
        elsewhere.requests(),
        0,
        "nothing, so no token, reached the other host"
    );
}

/// A ListObjectsV2 page of entry names `first..first + count` (as 40-digit hex digests).
fn page(first: u64, count: u64, next: Option<&str>) -> Vec<u8> {
    let contents: String = (first..first + count)
        .map(|n| {
            format!(
                "<Contents><Key>f/{n:040x}</Key><LastModified>2026-01-01T00:00:00.000Z\
                 </LastModified><Size>100</Size></Contents>"
            )
        })
        .collect();
    let token = next
        .map(|token| format!("<NextContinuationToken>{token}</NextContinuationToken>"))
        .unwrap_or_default();
    format!(
        "<ListBucketResult><Name>bounds</Name><Prefix>f/</Prefix><IsTruncated>{}</IsTruncated>\
         {contents}{token}</ListBucketResult>",
        next.is_some()
    )
    .into_bytes()
}

/// The continuation token a LIST request carries.
fn token(head: &Head) -> Option<String> {
    head.target
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("continuation-token="))
        .map(str::to_owned)
}

#[test]
fn listings_that_go_round_in_circles_are_stopped_at_once() {
    // The same names under tokens A, B, A, ...
    let cycling = FaultServer::start(None, |head, _| {
        if head.method == "POST" {
            return Action::Reply(Reply::ok(b"<DeleteResult></DeleteResult>".to_vec()));
        }
        let next = if token(head).as_deref() == Some("A") {
            "B"
        } else {
            "A"
        };
        Action::Reply(Reply::ok(page(0, 10, Some(next))))
    });
    // Two pages for stats; clear deletes the first page's entries before it reads the second.
    for (args, requests) in [(&["stats"][..], 2), (&["clear"], 3)] {
        let before = cycling.requests();
        measure(&against(&cycling), args).fails_with("went back to names it had listed");
        assert_eq!(cycling.requests() - before, requests, "{args:?}");
    }
    // Empty pages whose tokens cycle.
    let empty = FaultServer::start(None, |head, _| {
        let next = if token(head).as_deref() == Some("A") {
            "B"
        } else {
            "A"
        };
        Action::Reply(Reply::ok(page(0, 0, Some(next))))
    });
    measure(&against(&empty), &["stats"]).fails_with("repeated a continuation token");
    assert_eq!(empty.requests(), 3);
}

#[test]
fn an_endless_listing_ends_at_the_deadline_in_bounded_memory() {
    let endless = FaultServer::start(None, |head, _| {
        if head.method == "POST" {
            return Action::Reply(Reply::ok(b"<DeleteResult></DeleteResult>".to_vec()));
        }
        let at: u64 = token(head).and_then(|t| t.parse().ok()).unwrap_or(0);
        Action::Reply(Reply::ok(page(
            at * 1000,
            1000,
            Some(&(at + 1).to_string()),
        )))
    });
    let baseline = measure(&against(&endless), &["get", "k"]);
    let cull = [
        "--max-entries",
        "10",
        "--cull-mode",
        "exact",
        "set",
        "k",
        "v",
    ];
    for args in [&["stats"][..], &["clear"], &cull] {
        let run = measure(&against(&endless).arg("--deadline").arg("3"), args);
        if args == cull {
            // The cull stops at half the deadline; the write goes ahead (and this server
            // answers every PUT with a 200).
            eprintln!(
                "| `{}` | {:.2} s | {:.0} MiB | exit 0 |",
                run.args,
                run.took.as_secs_f64(),
                run.peak_rss_mib
            );
            assert_eq!(run.code, 0, "{}", run.stderr);
            run.within(Duration::from_secs(3));
        } else {
            run.fails_with("within the deadline (3 s)")
                .within(Duration::from_secs(3));
        }
        let pages = endless.requests();
        eprintln!("{args:?} on an endless listing: {pages} requests so far");
        assert!(
            run.peak_rss_mib < baseline.peak_rss_mib + 64.0,
            "{args:?}: {:.0} MiB at peak after {pages} requests, {:.0} MiB for a get",
            run.peak_rss_mib,
            baseline.peak_rss_mib
        );
    }
}

#[test]
fn xml_nested_deeper_than_s3s_is_refused_at_once() {
    let deep = format!(
        "<ListBucketResult>{}{}</ListBucketResult>",
        "<a>".repeat(1_000_000),
        "</a>".repeat(1_000_000)
    );
    let server = FaultServer::replying(Reply::ok(deep.into_bytes()));
    measure(&against(&server), &["stats"])
        .fails_with("nests elements deeper than S3's replies do")
        .within(Duration::ZERO);
}

#[test]
fn huge_lengths_and_deflate_bombs_are_too_large_at_the_largest_settings() {
    let unused = FaultServer::replying(Reply::ok(Vec::new()));
    measure(
        &against(&unused).arg("--max-value-bytes").arg("2147483648"),
        &["get", "k"],
    )
    .fails_with("at most 536870912");
    assert_eq!(unused.requests(), 0);

    let huge = FaultServer::start(None, |_, _| {
        Action::Raw(b"HTTP/1.1 200 OK\r\ncontent-length: 4000000000\r\n\r\nxyz".to_vec())
    });
    measure(
        &against(&huge).arg("--max-value-bytes").arg("536870912"),
        &["get", "k"],
    )
    .fails_with("too large");

    // Entries whose zeros deflate a thousandfold: over the default limit, and over the largest.
    for (zeros, max_value_bytes) in [(100 << 20, "67108864"), (600 << 20, "536870912")] {
        let bomb = s3cache::internals::entry::encode(
            &vec![0; zeros],
            s3cache::internals::entry::Expiry::Never,
            Some(0),
        );
        assert!(bomb.len() < zeros / 100, "{} bytes", bomb.len());
        let bombing = FaultServer::replying(Reply::ok(bomb));
        let cli = against(&bombing)
            .arg("--max-value-bytes")
            .arg(max_value_bytes);
        measure(&cli, &["get", "k"]).fails_with("holds a value over max-value-bytes");
    }
}

#[test]
fn a_servers_message_reaches_stderr_as_one_clean_line() {
    let hostile = FaultServer::replying(Reply {
        status: 403,
        headers: Vec::new(),
        body: "<Error><Code>AccessDenied</Code><Message>line one\nline two \u{1b}[31mred\u{1b}[0m\
               </Message></Error>"
            .as_bytes()
            .to_vec(),
    });
    let run = measure(&against(&hostile), &["get", "k"]);
    run.fails_with("AccessDenied: line one line two [31mred [0m");
    assert!(!run.stderr.contains('\u{1b}'));
}

/// Runs openssl with `args` in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let status = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs (Debian's openssl package)");
    assert!(status.success(), "openssl {args:?}");
}

/// A TLS server (openssl's own) with a certificate for `localhost` issued by a CA of its own;
/// its port and the CA's certificate.
fn tls_server(dir: &std::path::Path) -> (std::process::Child, u16, std::path::PathBuf) {
    std::fs::write(dir.join("san.cnf"), "subjectAltName=DNS:localhost\n").expect("write");
    let key = ["-newkey", "rsa:2048", "-nodes", "-days", "1"];
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &key,
            &[
                "-subj",
                "/CN=test-ca",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &["req"][..],
            &key[..3],
            &[
                "-subj",
                "/CN=localhost",
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
            ],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "san.cnf",
            "-out",
            "leaf.pem",
        ],
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let server = Command::new("openssl")
        .current_dir(dir)
        .args([
            "s_server", "-quiet", "-www", "-cert", "leaf.pem", "-key", "leaf.key", "-accept",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server starts");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "s_server listens"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, port, dir.join("ca.pem"))
}

#[test]
fn tls_failures_say_tls_and_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut server, port, ca) = tls_server(dir.path());
    let endpoint = format!("https://127.0.0.1:{port}");
    let plain = FaultServer::replying(Reply::ok(Vec::new()));
    let cli = against(&plain).env("AWS_ENDPOINT_URL_S3", &endpoint);
    measure(&cli, &["get", "k"])
        .fails_with("TLS: the server's certificate is issued by an unknown authority");
    let trusted = cli.env("AWS_CA_BUNDLE", ca.to_str().expect("utf-8 path"));
    measure(&trusted, &["get", "k"])
        .fails_with("TLS: the server's certificate is not valid for this host name");
    let _ = server.kill();
    let _ = server.wait();

    let not_tls = against(&plain).env(
        "AWS_ENDPOINT_URL_S3",
        &plain.endpoint().replace("http://", "https://"),
    );
    measure(&not_tls, &["get", "k"]).fails_with("TLS: ");
    let run = measure(&not_tls, &["get", "k"]);
    run.fails_with("(is the endpoint http://, not https://?)");
}

#[test]
fn the_native_core_keeps_the_same_deadline() {
    let silent = FaultServer::start(None, |_, _| Action::Silent);
    let credentials = s3cache::Credentials {
        access_key_id: ACCESS_KEY.to_owned(),
        secret_access_key: SECRET_KEY.to_owned(),
        session_token: Some(SESSION_TOKEN.to_owned()),
    };
    let cache = s3cache::Builder::new("bounds", credentials)
        .with_endpoint(&silent.endpoint())
        .with("deadline", "1")
        .build()
        .expect("valid settings");
    let started = Instant::now();
    let error = cache.get("k").expect_err("no reply");
    let took = started.elapsed();
    assert!(
        matches!(&error, s3cache::Error::Unavailable(m) if m.contains("within the deadline (1 s)")),
        "{error}"
    );
    assert!(
        (Duration::from_secs(1)..Duration::from_millis(1200)).contains(&took),
        "{took:?}"
    );
}

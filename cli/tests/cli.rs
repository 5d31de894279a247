//! The CLI contract, end to end: the `s3cache` binary runs the real component against s3s-fs
//! (in process, verifying SigV4) and, where no endpoint is set, its embedded server.

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ACCESS_KEY, Cli, S3, SECRET_KEY};

#[test]
fn set_then_get_prints_the_value_and_a_miss_prints_nothing() {
    let s3 = S3::start();
    let cli = s3.cli("c");
    cli.run(&["set", "greeting", "hello world"]).expect(0);
    let hit = cli.run(&["get", "greeting"]).expect(0);
    assert_eq!(hit.stdout, b"hello world");
    let miss = cli.run(&["get", "nothing-here"]).expect(1);
    assert!(miss.stdout.is_empty());
    assert!(miss.stderr.is_empty(), "{}", miss.stderr);
}

#[test]
fn set_reads_stdin_when_the_value_is_absent_or_a_dash() {
    let s3 = S3::start();
    let cli = s3.cli("c");
    cli.run_with_stdin(&["set", "absent"], b"from stdin\n")
        .expect(0);
    cli.run_with_stdin(&["set", "dash", "-"], b"dash value")
        .expect(0);
    assert_eq!(
        cli.run(&["get", "absent"]).expect(0).stdout,
        b"from stdin\n"
    );
    assert_eq!(cli.run(&["get", "dash"]).expect(0).stdout, b"dash value");
}

#[test]
fn add_stores_only_when_no_live_entry_exists() {
    let s3 = S3::start();
    let cli = s3.cli("c");
    cli.run(&["add", "k", "first"]).expect(0);
    cli.run(&["add", "k", "second"]).expect(1);
    assert_eq!(cli.run(&["get", "k"]).expect(0).stdout, b"first");
    cli.run_with_stdin(&["add", "piped"], b"from stdin")
        .expect(0);
    assert_eq!(cli.run(&["get", "piped"]).expect(0).stdout, b"from stdin");
}

#[test]
fn touch_delete_and_has_report_through_exit_codes() {
    let s3 = S3::start();
    let cli = s3.cli("c");
    cli.run(&["touch", "k"]).expect(1);
    cli.run(&["has", "k"]).expect(1);
    cli.run(&["delete", "k"]).expect(1);
    cli.run(&["set", "k", "v"]).expect(0);
    cli.run(&["has", "k"]).expect(0);
    cli.run(&["touch", "k", "--ttl", "100"]).expect(0);
    cli.run(&["delete", "k"]).expect(0);
    cli.run(&["has", "k"]).expect(1);
    cli.run(&["delete", "k"]).expect(1);
}

#[test]
fn incr_and_decr_print_the_new_value() {
    let s3 = S3::start();
    let cli = s3.cli("c");
    cli.run(&["set", "n", "41"]).expect(0);
    assert_eq!(cli.run(&["incr", "n"]).expect(0).text(), "42\n");
    assert_eq!(
        cli.run(&["incr", "n", "--by", "8"]).expect(0).text(),
        "50\n"
    );
    assert_eq!(
        cli.run(&["decr", "n", "--by", "60"]).expect(0).text(),
        "-10\n"
    );
    assert_eq!(cli.run(&["decr", "n"]).expect(0).text(), "-11\n");
    assert_eq!(
        cli.run(&["incr", "n", "--by", "-4"]).expect(0).text(),
        "-15\n"
    );
    assert_eq!(cli.run(&["get", "n"]).expect(0).stdout, b"-15");
}

#[test]
fn incr_on_a_missing_non_integer_or_overflowing_value_exits_2() {
    let s3 = S3::start();
    let cli = s3.cli("c");
    let missing = cli.run(&["incr", "nope"]).expect(2);
    assert!(
        missing.stderr.contains("no such key") && missing.stderr.contains("no entry"),
        "{}",
        missing.stderr
    );
    cli.run(&["set", "word", "forty-two"]).expect(0);
    let word = cli
        .run(&["decr", "word"])
        .fails_with("not an integer: the value of key \"word\" is not a 64-bit decimal integer");
    cli.run(&["set", "big", &i64::MAX.to_string()]).expect(0);
    let overflow = cli.run(&["incr", "big"]).fails_with("overflows");
    assert_eq!(
        cli.run(&["get", "big"]).expect(0).text(),
        i64::MAX.to_string()
    );
    cli.run(&["set", "small", &i64::MIN.to_string()]).expect(0);
    cli.run(&["decr", "small"]).expect(2);
    for run in [missing, word, overflow] {
        assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn get_many_prints_one_json_object_of_the_hits() {
    let s3 = S3::start();
    let cli = s3.cli("c");
    cli.run(&["set-many", "a=1", "b=two", "ключ=значение", "eq=x=y"])
        .expect(0);
    let run = cli
        .run(&["get-many", "a", "b", "missing", "ключ", "eq"])
        .expect(0);
    let json = run.text();
    assert_eq!(json.lines().count(), 1, "{json}");
    for pair in [
        r#""a":"1""#,
        r#""b":"two""#,
        r#""ключ":"значение""#,
        r#""eq":"x=y""#,
    ] {
        assert!(json.contains(pair), "{pair} in {json}");
    }
    assert!(!json.contains("missing"));
    let none = cli.run(&["get-many", "missing"]).expect(0);
    assert_eq!(none.text(), "{}\n");
}

#[test]
fn get_many_refuses_values_that_are_not_utf8_naming_the_key() {
    let s3 = S3::start();
    let cli = s3.cli("c");
    cli.run_with_stdin(&["set", "binary"], &[0xff, 0xfe, 0x00])
        .expect(0);
    let run = cli.run(&["get-many", "binary"]).expect(2);
    assert!(
        run.stderr.contains("\"binary\"") && run.stderr.contains("UTF-8"),
        "{}",
        run.stderr
    );
}

#[test]
fn set_many_prints_nothing_when_all_were_stored_and_rejects_malformed_pairs() {
    let s3 = S3::start();
    let cli = s3.cli("c");
    let run = cli
        .run(&["set-many", "x=1", "y=2", "--ttl", "never"])
        .expect(0);
    assert!(run.stdout.is_empty(), "{}", run.text());
    assert_eq!(cli.run(&["get", "y"]).expect(0).stdout, b"2");
    cli.run(&["set-many", "no-equals-sign"])
        .fails_with("KEY=VALUE");
}

#[test]
fn set_many_lists_the_keys_it_could_not_store() {
    let s3 = S3::start();
    let cli = s3.cli("c").arg("--max-value-bytes").arg("4");
    let run = cli
        .run(&["set-many", "ok=1234", "long=12345", "fine=1"])
        .expect(1);
    assert_eq!(run.text(), "long\n");
    assert_eq!(cli.run(&["get", "ok"]).expect(0).stdout, b"1234");
    cli.run(&["get", "long"]).expect(1);
}

#[test]
fn delete_many_and_clear_remove_entries() {
    let s3 = S3::start();
    let cli = s3.cli("c");
    cli.run(&["set-many", "a=1", "b=2", "c=3", "d=4"]).expect(0);
    cli.run(&["delete-many", "a", "b", "never-existed"])
        .expect(0);
    cli.run(&["has", "a"]).expect(1);
    cli.run(&["has", "c"]).expect(0);
    cli.run(&["clear"]).expect(0);
    cli.run(&["has", "c"]).expect(1);
    cli.run(&["has", "d"]).expect(1);
    assert_eq!(s3.entry_count("c"), 0);
}

#[test]
fn options_come_from_the_environment_and_flags() {
    let s3 = S3::start();
    let from_env = s3
        .cli("env-loc")
        .env("S3CACHE_KEY_PREFIX", "app")
        .env("S3CACHE_VERSION", "2");
    from_env.run(&["set", "foo", "v"]).expect(0);
    // sha1("app:2:foo"), as the component's unit tests pin it.
    assert!(s3.exists("env-loc/0e901c4a409f382f8523c5ac7920f8fa973f7054"));
    let from_flags = s3
        .cli("ignored")
        .arg("--location")
        .arg("flag-loc")
        .arg("--key-prefix")
        .arg("app")
        .arg("--key-version")
        .arg("2");
    assert_eq!(from_flags.run(&["get", "foo"]).expect(1).stdout, b"");
    from_flags.run(&["set", "foo", "w"]).expect(0);
    assert!(s3.exists("flag-loc/0e901c4a409f382f8523c5ac7920f8fa973f7054"));
    // Flags may also come after the command.
    let after = s3.cli("c").run(&[
        "get",
        "foo",
        "--location",
        "flag-loc",
        "--key-prefix",
        "app",
        "--key-version",
        "2",
    ]);
    assert_eq!(after.expect(0).stdout, b"w");
}

#[test]
fn the_endpoint_falls_back_to_aws_endpoint_url() {
    let s3 = S3::start();
    let cli = Cli::new()
        .env("AWS_ENDPOINT_URL", &s3.endpoint())
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("S3CACHE_BUCKET", s3.bucket())
        .arg("--create-bucket");
    cli.run(&["set", "k", "v"]).expect(0);
    assert_eq!(cli.run(&["get", "k"]).expect(0).stdout, b"v");
    assert_eq!(s3.entry_count(""), 1);
}

#[test]
fn a_wrong_secret_is_access_denied_and_never_printed() {
    let s3 = S3::start();
    let wrong = "definitely-wrong-secret-value";
    let cli = s3.cli("c").env("AWS_SECRET_ACCESS_KEY", wrong);
    for args in [
        &["get", "k"][..],
        &["set", "k", "v"],
        &["has", "k"],
        &["clear"],
    ] {
        let run = cli.run(args).fails_with("access denied");
        assert!(
            !run.stderr.contains(wrong) && !run.stderr.contains(SECRET_KEY),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
    s3.cli("c")
        .env("AWS_ACCESS_KEY_ID", "nobody")
        .run(&["get", "k"])
        .fails_with("access denied");
}

#[test]
fn a_dead_endpoint_is_unavailable_quickly() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let cli = Cli::new()
        .env("AWS_ENDPOINT_URL_S3", &format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    let start = Instant::now();
    let run = cli.run(&["get", "k"]).expect(2);
    assert!(
        run.stderr.contains("unavailable") && run.stderr.contains("cannot reach"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("connection refused"), "{}", run.stderr);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn missing_credentials_and_bad_config_exit_2_with_one_line() {
    let s3 = S3::start();
    let no_credentials = Cli::new()
        .env("AWS_ENDPOINT_URL_S3", &s3.endpoint())
        .run(&["get", "k"])
        .fails_with("AWS_ACCESS_KEY_ID");
    let bad_bucket = s3
        .cli("c")
        .env("S3CACHE_BUCKET", "Not_A_Bucket")
        .run(&["get", "k"])
        .fails_with("invalid config");
    let bad_endpoint = s3
        .cli("c")
        .env("AWS_ENDPOINT_URL_S3", "ftp://example")
        .run(&["get", "k"])
        .fails_with("http://");
    let zero = s3
        .cli("c")
        .arg("--max-attempts")
        .arg("0")
        .run(&["set", "k", "v"])
        .fails_with("max-attempts");
    s3.cli("c")
        .run(&["set", "k", "v", "--ttl", "soon"])
        .fails_with("soon");
    for run in [no_credentials, bad_bucket, bad_endpoint, zero] {
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
}

#[test]
fn fractional_seconds_give_sub_second_lifetimes() {
    let s3 = S3::start();
    let cli = s3.cli("c");
    cli.run(&["set", "brief", "v", "--ttl", "0.6"]).expect(0);
    cli.run(&["set", "lasting", "v", "--ttl", "30.5"]).expect(0);
    let short_default = cli.clone().arg("--default-timeout").arg("0.6");
    short_default.run(&["set", "by-default", "v"]).expect(0);
    std::thread::sleep(std::time::Duration::from_millis(700));
    cli.run(&["get", "brief"]).expect(1);
    cli.run(&["get", "by-default"]).expect(1);
    cli.run(&["get", "lasting"]).expect(0);
    cli.run(&["set", "k", "v", "--ttl", "NaN"])
        .fails_with("NaN");
}

#[test]
fn a_missing_bucket_is_reported_unless_it_may_be_created() {
    let s3 = S3::start();
    let cli = Cli::new()
        .env("AWS_ENDPOINT_URL_S3", &s3.endpoint())
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("S3CACHE_BUCKET", "no-such-bucket");
    cli.run(&["clear"]).fails_with("no such bucket");
    let create = cli.clone().arg("--create-bucket");
    create.run(&["get", "k"]).expect(1);
    create.run(&["set", "k", "v"]).expect(0);
    assert_eq!(cli.run(&["get", "k"]).expect(0).stdout, b"v");
}

#[test]
fn with_no_endpoint_the_embedded_server_keeps_entries_between_runs() {
    let data = tempfile::tempdir().expect("temp dir");
    let cli = Cli::new().env(
        "S3CACHE_DATA_DIR",
        data.path().to_str().expect("utf-8 path"),
    );
    // Credentials in the environment are for real endpoints; the embedded server has its own.
    let cli = cli
        .env("AWS_ACCESS_KEY_ID", "ignored")
        .env("AWS_SECRET_ACCESS_KEY", "ignored");
    cli.run(&["set", "persisted", "across runs", "--ttl", "never"])
        .expect(0);
    assert_eq!(
        cli.run(&["get", "persisted"]).expect(0).stdout,
        b"across runs"
    );
    assert!(
        data.path().join("s3cache").is_dir(),
        "the default bucket is a folder of the data dir"
    );
}

#[test]
fn the_demo_tours_the_api() {
    let data = tempfile::tempdir().expect("temp dir");
    let run = Cli::new()
        .env(
            "S3CACHE_DATA_DIR",
            data.path().to_str().expect("utf-8 path"),
        )
        .run(&["demo"])
        .expect(0);
    let out = run.text();
    for line in [
        "get greeting                           -> \"hello from S3\"",
        "add greeting \"again\"                   -> false",
        "incr visitors --by 10                  -> 11",
        "get fleeting                           -> miss",
        "get-many a b c nope                    -> {c=3}",
        "has visitors                           -> false",
    ] {
        assert!(out.contains(line), "{line:?} in\n{out}");
    }
    assert!(
        !out.contains("error: access") && !out.contains("unavailable"),
        "{out}"
    );
}

#[test]
fn the_server_command_serves_other_clients_with_signature_checks() {
    let data = tempfile::tempdir().expect("temp dir");
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let addr = format!("127.0.0.1:{port}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_s3cache"))
        .args([
            "server",
            "--addr",
            &addr,
            "--data-dir",
            data.path().to_str().expect("utf-8"),
        ])
        .env("AWS_ACCESS_KEY_ID", "server-key")
        .env("AWS_SECRET_ACCESS_KEY", "server-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "the server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let client = Cli::new()
        .env("AWS_ENDPOINT_URL_S3", &format!("http://{addr}"))
        .env("AWS_ACCESS_KEY_ID", "server-key")
        .env("AWS_SECRET_ACCESS_KEY", "server-secret")
        .arg("--create-bucket");
    client.run(&["set", "k", "served"]).expect(0);
    assert_eq!(client.run(&["get", "k"]).expect(0).stdout, b"served");
    client
        .clone()
        .env("AWS_SECRET_ACCESS_KEY", "forged")
        .run(&["get", "k"])
        .fails_with("access denied");
    server.kill().expect("kill server");
    let _ = server.wait();
}

#[test]
fn the_server_command_needs_credentials() {
    Cli::new()
        .run(&["server", "--addr", "127.0.0.1:0"])
        .fails_with("AWS_ACCESS_KEY_ID");
}

#[test]
fn another_component_build_can_be_run() {
    let s3 = S3::start();
    let path = common::component_path().to_str().expect("utf-8 path");
    let cli = s3.cli("c").arg("--component").arg(path);
    cli.run(&["set", "k", "v"]).expect(0);
    assert_eq!(cli.run(&["get", "k"]).expect(0).stdout, b"v");
    let junk = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(junk.path(), b"\0asm but not really").expect("write");
    s3.cli("c")
        .arg("--component")
        .arg(junk.path().to_str().expect("utf-8"))
        .run(&["get", "k"])
        .fails_with("cannot compile the component");
}

#[test]
fn values_may_be_negative_numbers_and_ttl_may_follow_a_stdin_value() {
    let s3 = S3::start();
    let cli = s3.cli("c");
    cli.run(&["set", "n", "-5"]).expect(0);
    assert_eq!(cli.run(&["incr", "n"]).expect(0).text(), "-4\n");
    cli.run_with_stdin(&["set", "piped", "--ttl", "never"], b"stdin value")
        .expect(0);
    assert_eq!(cli.run(&["get", "piped"]).expect(0).stdout, b"stdin value");
}

#[test]
fn acl_and_storage_class_are_sent_and_accepted() {
    let s3 = S3::start();
    let cli = s3
        .cli("c")
        .arg("--acl")
        .arg("private")
        .arg("--storage-class")
        .arg("REDUCED_REDUNDANCY");
    cli.run(&["set", "k", "v"]).expect(0);
    assert_eq!(cli.run(&["get", "k"]).expect(0).stdout, b"v");
    // s3s-fs checks storage classes: an unknown one is refused with the server's reason.
    s3.cli("c")
        .env("S3CACHE_STORAGE_CLASS", "NO_SUCH_CLASS")
        .run(&["set", "k", "v"])
        .fails_with(&format!("put s3://{}/c/", s3.bucket()));
}

#[test]
fn incr_accepts_a_value_piped_with_a_trailing_newline() {
    let s3 = S3::start();
    let cli = s3.cli("c");
    cli.run_with_stdin(&["set", "n"], b"5\n").expect(0);
    assert_eq!(cli.run(&["incr", "n"]).expect(0).text(), "6\n");
    assert_eq!(cli.run(&["get", "n"]).expect(0).stdout, b"6");
}

#[test]
fn stats_count_entries_and_cull_modes_parse() {
    let s3 = S3::start();
    let cli = s3.cli("c").arg("--max-entries").arg("unlimited");
    cli.run(&["set-many", "a=1", "b=22", "c=333"]).expect(0);
    s3.put_raw("c/not-an-entry.txt", b"ignored");
    let text = cli.run(&["stats"]).expect(0).text();
    assert!(text.starts_with("entries  3\nbytes    "), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&cli.run(&["stats", "--json"]).expect(0).text()).unwrap();
    assert_eq!(json["entries"], 3);
    assert_eq!(json["estimated"], false);
    assert!(json["oldest_ms"].as_i64().unwrap() <= json["newest_ms"].as_i64().unwrap());
    let estimate: serde_json::Value =
        serde_json::from_str(&cli.run(&["stats", "--estimate", "--json"]).expect(0).text())
            .unwrap();
    assert_eq!(estimate["entries"], 3, "one page is counted exactly");
    for mode in ["auto", "exact", "sampled"] {
        cli.clone()
            .arg("--cull-mode")
            .arg(mode)
            .run(&["set", "k", "v"])
            .expect(0);
    }
    s3.cli("c")
        .arg("--cull-mode")
        .arg("sometimes")
        .run(&["get", "k"])
        .fails_with("sometimes");
    s3.cli("c")
        .arg("--max-entries")
        .arg("lots")
        .run(&["get", "k"])
        .fails_with("unlimited");
}

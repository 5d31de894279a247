//! No secret in any output: every failing run of the CLI (wrong credentials, a dead endpoint,
//! refused configurations, a throttling storm, a broken component), with backtraces on, prints
//! no trace of a canary secret key or session token, and neither does the Debug form of the
//! host's config.

mod common;

use common::faults::{FaultServer, Reply};
use common::{Cli, S3};
use s3cache_runtime::{Config, Credentials};

const CANARY_SECRET: &str = "canary-secret-5f3a9c";
const CANARY_TOKEN: &str = "canary-token-81be20";

fn leaks(run: &common::Run) -> bool {
    let out = String::from_utf8_lossy(&run.stdout);
    [CANARY_SECRET, CANARY_TOKEN]
        .iter()
        .any(|canary| run.stderr.contains(canary) || out.contains(canary))
}

fn with_canaries(cli: Cli) -> Cli {
    cli.env("AWS_SECRET_ACCESS_KEY", CANARY_SECRET)
        .env("AWS_SESSION_TOKEN", CANARY_TOKEN)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LOG", "trace")
}

#[test]
fn no_failing_run_prints_a_secret() {
    let s3 = S3::start();
    let storm = FaultServer::replying(Reply::error(503, "SlowDown"));
    let wrong_secret = with_canaries(s3.cli("c"));
    let dead = with_canaries(s3.cli("c")).env("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9");
    let stormy = with_canaries(s3.cli("c"))
        .env("AWS_ENDPOINT_URL_S3", &storm.endpoint())
        .arg("--deadline")
        .arg("0.5");
    let not_wasm = std::env::temp_dir().join("s3cache-not-a-component.wasm");
    std::fs::write(&not_wasm, b"not wasm").expect("write a broken component");
    let broken = with_canaries(s3.cli("c"))
        .arg("--component")
        .arg(&not_wasm.to_string_lossy());
    let runs = [
        wrong_secret.run(&["get", "k"]),
        wrong_secret.run(&["set", "k", "v"]),
        wrong_secret.run(&["incr", "k"]),
        wrong_secret.run(&["clear"]),
        wrong_secret.run(&["demo"]),
        wrong_secret.run(&["bench", "--ops", "2"]),
        dead.run(&["get", "k"]),
        stormy.run(&["set", "k", "v"]),
        wrong_secret
            .clone()
            .arg("--region")
            .arg("Not A Region")
            .run(&["get", "k"]),
        wrong_secret
            .clone()
            .arg("--sse")
            .arg("rot13")
            .run(&["set", "k", "v"]),
        with_canaries(s3.cli("c"))
            .env(
                "AWS_ENDPOINT_URL_S3",
                &format!("http://id:{CANARY_SECRET}@127.0.0.1:9"),
            )
            .run(&["get", "k"]),
        broken.run(&["get", "k"]),
    ];
    for run in &runs {
        // The demo reports each failing step on its own line and goes on.
        if !run.args.iter().any(|arg| arg == "demo") {
            assert_ne!(run.code, 0, "{:?} should fail", run.args);
        }
        assert!(
            !leaks(run),
            "{:?} printed a secret: {}",
            run.args,
            run.stderr
        );
    }
    // The canary is really what the runs used: a right secret with the same harness works.
    let right = s3.cli("c").env("RUST_BACKTRACE", "1");
    right.run(&["set", "k", "v"]).expect(0);
}

#[test]
fn the_server_command_never_prints_its_secret() {
    // A port already taken: the server reads its credentials, then fails to bind.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = taken.local_addr().expect("its address").to_string();
    let server = Cli::new()
        .env("AWS_ACCESS_KEY_ID", "id")
        .env("AWS_SECRET_ACCESS_KEY", CANARY_SECRET)
        .run(&["server", "--addr", &addr]);
    assert_ne!(server.code, 0);
    assert!(
        server.stderr.contains(&addr),
        "it failed binding, after reading its secret: {}",
        server.stderr
    );
    assert!(!leaks(&server), "{}", server.stderr);
}

#[test]
fn the_hosts_config_debug_form_hides_the_secrets() {
    let credentials = Credentials {
        access_key_id: "AKIDVISIBLE".into(),
        secret_access_key: CANARY_SECRET.into(),
        session_token: Some(CANARY_TOKEN.into()),
    };
    let config = Config::new("b", credentials).with("region", "us-east-1");
    let debug = format!("{config:?} {config:#?}");
    assert!(debug.contains("AKIDVISIBLE"));
    assert!(
        !debug.contains(CANARY_SECRET) && !debug.contains(CANARY_TOKEN),
        "{debug}"
    );
}

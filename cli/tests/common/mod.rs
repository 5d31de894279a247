//! Shared harness: real S3 servers (s3s-fs in process and moto with SigV4 checks, both
//! verifying signatures), an independent S3 client (object_store) to look at the objects they
//! hold, runs of the built `s3cache` binary (which runs the real component), and fault servers.

#![allow(
    dead_code,
    reason = "each test binary uses its own part of the harness"
)]

pub mod faults;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use s3cache_cli::s3_server::S3Server;

pub const ACCESS_KEY: &str = "test-access-key";
pub const SECRET_KEY: &str = "test-secret-key-never-printed";

/// An S3 server with a bucket of the test's own.
pub struct S3 {
    /// "s3s-fs" or "moto", for messages.
    pub kind: &'static str,
    endpoint: String,
    access_key: String,
    secret_key: String,
    bucket: String,
    store: AmazonS3,
    // Dropped in this order: the server stops before its runtime goes.
    server: Option<S3Server>,
    runtime: tokio::runtime::Runtime,
    dir: Option<tempfile::TempDir>,
}

/// moto, started once per test binary through the Python helper, stopped when the binary exits
/// (the helper stops it when its standard input closes).
struct Moto {
    endpoint: String,
    access_key: String,
    secret_key: String,
    _stdin: Mutex<ChildStdin>,
    _child: Child,
}

impl S3 {
    /// s3s-fs in process over a temporary directory, accepting only [`ACCESS_KEY`] signatures.
    pub fn start() -> S3 {
        let runtime = runtime();
        let dir = tempfile::tempdir().expect("temp dir");
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let server = runtime
            .block_on(S3Server::bind(loopback, dir.path(), ACCESS_KEY, SECRET_KEY))
            .expect("s3s-fs starts");
        let endpoint = server.endpoint();
        S3::new(
            "s3s-fs",
            endpoint,
            ACCESS_KEY,
            SECRET_KEY,
            Some(server),
            runtime,
            Some(dir),
        )
    }

    /// moto (shared by the binary's tests) with a new bucket, or `None` when no Python with
    /// moto is at hand (and `S3CACHE_REQUIRE_MOTO` is not set, as CI sets it).
    pub fn moto() -> Option<S3> {
        let moto = moto()?;
        let s3 = S3::new(
            "moto",
            moto.endpoint.clone(),
            &moto.access_key,
            &moto.secret_key,
            None,
            runtime(),
            None,
        );
        // moto has no bucket until one is made; the CLI makes it on its first write.
        s3.cli(".harness").run(&["set", "k", "v"]).expect(0);
        s3.cli(".harness").run(&["delete", "k"]).expect(0);
        Some(s3)
    }

    /// Every server the harness can start: s3s-fs, and moto when available.
    pub fn all() -> Vec<S3> {
        std::iter::once(S3::start()).chain(S3::moto()).collect()
    }

    fn new(
        kind: &'static str,
        endpoint: String,
        access_key: &str,
        secret_key: &str,
        server: Option<S3Server>,
        runtime: tokio::runtime::Runtime,
        dir: Option<tempfile::TempDir>,
    ) -> S3 {
        static BUCKETS: AtomicUsize = AtomicUsize::new(0);
        let bucket = format!(
            "test-{}-{}",
            std::process::id(),
            BUCKETS.fetch_add(1, Ordering::SeqCst)
        );
        // The process-wide TLS provider object_store's client insists on (ring, as the host's).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = AmazonS3Builder::new()
            .with_endpoint(&endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(&bucket)
            .with_access_key_id(access_key)
            .with_secret_access_key(secret_key)
            .with_virtual_hosted_style_request(false)
            .build()
            .expect("object_store client");
        S3 {
            kind,
            endpoint,
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            bucket,
            store,
            server,
            runtime,
            dir,
        }
    }

    /// The server's URL.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// The test's bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// A CLI pointed at this server and bucket, in `location`, creating the bucket on demand.
    pub fn cli(&self, location: &str) -> Cli {
        Cli::new()
            .env("AWS_ENDPOINT_URL_S3", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("S3CACHE_BUCKET", &self.bucket)
            .env("S3CACHE_LOCATION", location)
            .arg("--create-bucket")
    }

    /// The native library (the same core over reqwest) pointed at this server and bucket, in
    /// `location`, creating the bucket on demand.
    pub fn native(&self, location: &str) -> s3cache::Builder {
        let credentials = s3cache::Credentials {
            access_key_id: self.access_key.clone(),
            secret_access_key: self.secret_key.clone(),
            session_token: None,
        };
        s3cache::Builder::new(&self.bucket, credentials)
            .with_endpoint(&self.endpoint)
            .with_location(location)
            .with("create-bucket", "true")
    }

    /// Writes an object behind the cache's back, as any other client of the bucket could.
    pub fn put_raw(&self, name: &str, bytes: &[u8]) {
        let payload = PutPayload::from(bytes.to_vec());
        self.runtime
            .block_on(self.store.put(&ObjectPath::from(name), payload))
            .unwrap_or_else(|e| panic!("{}: put {name}: {e}", self.kind));
    }

    /// The size of the object `name`, or `None` when there is none.
    pub fn size(&self, name: &str) -> Option<u64> {
        match self
            .runtime
            .block_on(self.store.head(&ObjectPath::from(name)))
        {
            Ok(meta) => Some(meta.size),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("{}: head {name}: {e}", self.kind),
        }
    }

    /// Whether an object named `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        self.size(name).is_some()
    }

    /// The names of the objects directly under `location` (not in "subfolders").
    pub fn objects_in(&self, location: &str) -> Vec<String> {
        let prefix = (!location.is_empty()).then(|| ObjectPath::from(location));
        let listing = self
            .runtime
            .block_on(self.store.list_with_delimiter(prefix.as_ref()))
            .unwrap_or_else(|e| panic!("{}: list {location}: {e}", self.kind));
        let mut names: Vec<String> = listing
            .objects
            .into_iter()
            .filter_map(|meta| meta.location.filename().map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    /// How many cache entries (40-hex names) sit directly under `location`.
    pub fn entry_count(&self, location: &str) -> usize {
        self.objects_in(location)
            .iter()
            .filter(|name| {
                name.len() == 40 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            })
            .count()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The Python that has moto: `S3CACHE_TEST_PYTHON`, else the virtualenv `python/run-tests`
/// and `python/setup-venv` make.
fn python_with_moto() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("S3CACHE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/python-venv/bin/python"));
    let has_moto = Command::new(&python)
        .args(["-c", "import moto.server, boto3"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    has_moto.then_some(python)
}

fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| {
        let required = std::env::var_os("S3CACHE_REQUIRE_MOTO").is_some();
        let Some(python) = python_with_moto() else {
            assert!(
                !required,
                "S3CACHE_REQUIRE_MOTO is set but no Python with moto was found: run \
                 `bash python/setup-venv` or set S3CACHE_TEST_PYTHON"
            );
            eprintln!("moto not found (bash python/setup-venv adds it): s3s-fs only");
            return None;
        };
        let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/tests/servers.py");
        let mut child = Command::new(python)
            .arg(helper)
            .args(["serve", "moto"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the moto helper starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the moto helper answers");
        let info: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("moto helper said {line:?}"));
        let field = |name: &str| info[name].as_str().expect("a string field").to_owned();
        Some(Moto {
            endpoint: field("endpoint"),
            access_key: field("access_key_id"),
            secret_key: field("secret_access_key"),
            _stdin: Mutex::new(child.stdin.take().expect("stdin")),
            _child: child,
        })
    })
    .as_ref()
}

/// An invocation of the `s3cache` binary, with a clean AWS/S3CACHE environment.
#[derive(Clone)]
pub struct Cli {
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// What a run printed and returned.
#[derive(Debug)]
pub struct Run {
    /// The arguments it ran with, for failure messages.
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    /// Stdout as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            code,
            "exit code of {:?}; stdout: {:?}; stderr: {}",
            self.args,
            self.text(),
            self.stderr
        );
        self
    }

    /// Asserts an error exit (2) whose stderr mentions `needle`.
    #[track_caller]
    pub fn fails_with(self, needle: &str) -> Run {
        let run = self.expect(2);
        assert!(
            run.stderr.contains(needle),
            "{needle:?} in stderr: {}",
            run.stderr
        );
        run
    }
}

impl Cli {
    /// No endpoint, no credentials: the embedded server.
    pub fn new() -> Cli {
        Cli {
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Adds a global argument.
    pub fn arg(mut self, arg: &str) -> Cli {
        self.args.push(arg.to_owned());
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, name: &str, value: &str) -> Cli {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Runs `s3cache <global args> <args>`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, b"")
    }

    /// The command that runs the binary with `args`, in this environment only (the test
    /// process's own AWS_ and S3CACHE_ variables removed).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_s3cache"));
        for (name, _) in std::env::vars() {
            if name.starts_with("AWS_") || name.starts_with("S3CACHE_") {
                command.env_remove(name);
            }
        }
        command
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .args(&self.args)
            .args(args);
        command
    }

    /// Runs with `stdin` as standard input.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        let mut command = self.command(args);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("s3cache starts");
        let mut input = child.stdin.take().expect("stdin");
        let stdin = stdin.to_vec();
        // A writer thread, so a large value cannot deadlock against a full stdout pipe.
        let writer = thread::spawn(move || {
            let _ = input.write_all(&stdin);
        });
        let output = child.wait_with_output().expect("s3cache runs");
        writer.join().expect("stdin writer");
        Run {
            args: self
                .args
                .iter()
                .map(String::as_str)
                .chain(args.iter().copied())
                .map(str::to_owned)
                .collect(),
            code: output.status.code().unwrap_or(-1),
            stdout: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift), for values that do not compress.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Path of the component the binary embeds.
pub fn component_path() -> &'static Path {
    Path::new(s3cache_runtime::COMPONENT_PATH)
}

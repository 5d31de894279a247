//! Shared harness: an in-process S3 server (s3s-fs, verifying SigV4) and runs of the built
//! `s3cache` binary, which runs the real component.

#![allow(
    dead_code,
    reason = "each test binary uses its own part of the harness"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use s3cache_host::server::S3Server;

/// The bucket every test uses.
pub const BUCKET: &str = "test-bucket";
pub const ACCESS_KEY: &str = "test-access-key";
pub const SECRET_KEY: &str = "test-secret-key-never-printed";

/// An s3s-fs server on loopback over a temporary directory.
pub struct S3 {
    // Dropped in this order: the server stops before its runtime goes.
    server: S3Server,
    runtime: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
}

impl S3 {
    /// Starts a server that accepts only [`ACCESS_KEY`]/[`SECRET_KEY`] signatures.
    pub fn start() -> S3 {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let server = runtime
            .block_on(S3Server::bind(loopback, dir.path(), ACCESS_KEY, SECRET_KEY))
            .expect("s3s-fs starts");
        S3 {
            server,
            runtime,
            dir,
        }
    }

    /// The server's URL.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// A CLI pointed at this server, in `location`, creating the bucket on demand.
    pub fn cli(&self, location: &str) -> Cli {
        Cli::new()
            .env("AWS_ENDPOINT_URL_S3", &self.endpoint())
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("S3CACHE_BUCKET", BUCKET)
            .env("S3CACHE_LOCATION", location)
            .arg("--create-bucket")
    }

    /// Where s3s-fs keeps the object `name` of the test bucket.
    pub fn object_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(BUCKET).join(name)
    }

    /// Writes an object behind the cache's back, as any other client of the bucket could.
    pub fn put_raw(&self, name: &str, bytes: &[u8]) {
        let path = self.object_path(name);
        std::fs::create_dir_all(path.parent().expect("object has a parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write object");
    }

    /// The names of the objects directly under `location` (files, not subfolders).
    pub fn objects_in(&self, location: &str) -> Vec<String> {
        let dir = self.object_path(location);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|entry| entry.path().is_file())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
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

    /// Runs with `stdin` as standard input.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_s3cache"));
        for (name, _) in std::env::vars() {
            if name.starts_with("AWS_") || name.starts_with("S3CACHE_") {
                command.env_remove(name);
            }
        }
        command
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .args(&self.args)
            .args(args)
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

/// A loopback HTTP server that answers every request with the same reply, or drops the
/// connection when there is none; it counts requests. For fault tests.
pub struct FaultServer {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
}

impl FaultServer {
    /// Answers every request with `status` (e.g. "503 Slow Down") and `body`.
    pub fn replying(status: &str, body: &str) -> FaultServer {
        FaultServer::start(Some(format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )))
    }

    /// Reads each request, then closes the connection without a reply.
    pub fn dropping() -> FaultServer {
        FaultServer::start(None)
    }

    fn start(reply: Option<String>) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        let reply: Option<Arc<str>> = reply.map(Into::into);
        // The thread ends with the test process.
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = Arc::clone(&counter);
                let reply = reply.clone();
                thread::spawn(move || serve_faults(stream, reply.as_deref(), &counter));
            }
        });
        FaultServer { addr, requests }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve_faults(stream: TcpStream, reply: Option<&str>, counter: &AtomicUsize) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(clone) => clone,
        Err(_) => return,
    });
    let mut stream = stream;
    loop {
        let mut content_length = 0usize;
        let mut first = true;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if first {
                counter.fetch_add(1, Ordering::SeqCst);
                first = false;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                content_length = value.trim().parse().unwrap_or(0);
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        match reply {
            Some(reply) => {
                if stream.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
            None => return,
        }
    }
}

/// Path of the component the binary embeds.
pub fn component_path() -> &'static Path {
    Path::new(env!("S3CACHE_COMPONENT_PATH"))
}

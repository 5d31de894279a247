//! Fault servers on loopback: a scripted HTTP server that can sit in front of a real S3 server
//! as a proxy. A script decides, per request, to forward it (and deliver the reply whole, cut
//! short, stalled, or not at all after the server applied it), to answer it itself (before
//! reading its body, if need be), or to reset the connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A request's head, as the fault server read it.
#[derive(Debug, Clone)]
pub struct Head {
    /// GET, PUT, ...
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether it is a ListObjectsV2.
    pub fn is_list(&self) -> bool {
        self.method == "GET" && self.target.contains("list-type=2")
    }

    fn content_length(&self) -> usize {
        self.header("content-length")
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    }
}

/// A reply the fault server makes up.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// A 200 reply with this body.
    pub fn ok(body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/xml".into())],
            body,
        }
    }

    /// A reply with an S3 error document.
    pub fn error(status: u16, code: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/xml".into())],
            body: format!("<Error><Code>{code}</Code><Message>scripted</Message></Error>")
                .into_bytes(),
        }
    }
}

/// What happens to the reply of a forwarded request.
#[derive(Debug, Clone, Copy)]
pub enum Deliver {
    /// Relayed as it came.
    Whole,
    /// Never relayed: the connection closes after the server applied the request.
    Nothing,
    /// The body cut to this many bytes (Content-Length matching the cut body).
    Truncated(usize),
    /// This many body bytes, then silence on an open connection.
    Stalled(usize),
}

/// What the fault server does with one request.
#[derive(Debug, Clone)]
pub enum Action {
    /// Forward it to the upstream server.
    Forward(Deliver),
    /// Answer it after reading its body.
    Reply(Reply),
    /// Answer it before reading its body, then close (HTTP allows it; S3 does it for 412s).
    ReplyEarly(Reply),
    /// Close the connection without forwarding: nothing applied.
    Reset,
    /// Read the request and never answer, keeping the connection open.
    Silent,
    /// Answer with this reply's head at once and its body one byte at a time, `Duration`
    /// apart: never a long enough gap for a between-bytes timeout.
    Trickle(Reply, Duration),
    /// Write these bytes as the reply, as they are (a malformed or oversized head), then close.
    Raw(Vec<u8>),
}

type Script = dyn FnMut(&Head, usize) -> Action + Send;

/// A running fault server; its threads end with the test process.
pub struct FaultServer {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
}

impl FaultServer {
    /// Serves with `script`, which gets each request's head and its number (from 1); `upstream`
    /// is where forwarded requests go.
    pub fn start(
        upstream: Option<String>,
        script: impl FnMut(&Head, usize) -> Action + Send + 'static,
    ) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(AtomicUsize::new(0));
        let script: Arc<Mutex<Box<Script>>> = Arc::new(Mutex::new(Box::new(script)));
        let upstream: Option<Arc<str>> =
            upstream.map(|url| url.trim_start_matches("http://").into());
        let counter = Arc::clone(&requests);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (counter, script, upstream) =
                    (Arc::clone(&counter), Arc::clone(&script), upstream.clone());
                thread::spawn(move || serve(stream, &counter, &script, upstream.as_deref()));
            }
        });
        FaultServer { addr, requests }
    }

    /// Answers every request with the same reply.
    pub fn replying(reply: Reply) -> FaultServer {
        FaultServer::start(None, move |_, _| Action::Reply(reply.clone()))
    }

    /// A proxy to `upstream` whose script sees every request.
    pub fn proxy(
        upstream: &str,
        script: impl FnMut(&Head, usize) -> Action + Send + 'static,
    ) -> FaultServer {
        FaultServer::start(Some(upstream.to_owned()), script)
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests seen so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(
    stream: TcpStream,
    counter: &AtomicUsize,
    script: &Mutex<Box<Script>>,
    upstream: Option<&str>,
) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut stream = stream;
    loop {
        let Some((head, raw_head)) = read_head(&mut reader) else {
            return;
        };
        let number = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let action = (script.lock().expect("script lock"))(&head, number);
        if let Action::ReplyEarly(reply) = &action {
            // Reply, give the client a moment to read it, then close with the body unread
            // (which resets the connection under the client's body writes).
            let _ = stream.write_all(&render(reply, true));
            thread::sleep(Duration::from_millis(100));
            return;
        }
        let mut body = vec![0; head.content_length()];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        match action {
            Action::ReplyEarly(_) => unreachable!("handled above"),
            Action::Reset => {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Action::Silent => {
                thread::sleep(Duration::from_secs(60));
                return;
            }
            Action::Trickle(reply, gap) => {
                let whole = render(&reply, false);
                let head_len = whole.len() - reply.body.len();
                if stream.write_all(&whole[..head_len]).is_err() {
                    return;
                }
                for byte in &reply.body {
                    thread::sleep(gap);
                    if stream.write_all(&[*byte]).is_err() {
                        return;
                    }
                }
            }
            Action::Raw(bytes) => {
                let _ = stream.write_all(&bytes);
                thread::sleep(Duration::from_millis(100));
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Action::Reply(reply) => {
                if stream.write_all(&render(&reply, false)).is_err() {
                    return;
                }
            }
            Action::Forward(deliver) => {
                let upstream = upstream.expect("forwarding needs an upstream");
                let Some(reply) = forward(upstream, &head, &raw_head, &body) else {
                    return;
                };
                let done = match deliver {
                    Deliver::Whole => stream.write_all(&render(&reply, false)).is_err(),
                    Deliver::Nothing => true,
                    Deliver::Truncated(len) => {
                        let cut = Reply {
                            body: reply.body[..len.min(reply.body.len())].to_vec(),
                            ..reply
                        };
                        stream.write_all(&render(&cut, false)).is_err()
                    }
                    Deliver::Stalled(len) => {
                        let whole = render(&reply, false);
                        let head_len = whole.len() - reply.body.len();
                        let _ = stream.write_all(&whole[..head_len + len.min(reply.body.len())]);
                        thread::sleep(Duration::from_secs(60));
                        true
                    }
                };
                if done {
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
    }
}

/// Reads a request head; `None` at the end of the connection.
fn read_head(reader: &mut BufReader<TcpStream>) -> Option<(Head, Vec<u8>)> {
    let mut raw = Vec::new();
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        raw.extend_from_slice(line.as_bytes());
        if line == "\r\n" {
            break;
        }
        lines.push(line.trim_end().to_owned());
    }
    let mut request_line = lines.first()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers = lines[1..]
        .iter()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Some((
        Head {
            method,
            target,
            headers,
        },
        raw,
    ))
}

fn render(reply: &Reply, close: bool) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {} Fault\r\n", reply.status);
    for (name, value) in &reply.headers {
        if name != "content-length" && name != "connection" && name != "transfer-encoding" {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    out.push_str(&format!("content-length: {}\r\n", reply.body.len()));
    if close {
        out.push_str("connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&reply.body);
    bytes
}

/// Sends the request to the upstream on a connection of its own and reads the whole reply.
fn forward(upstream: &str, head: &Head, raw_head: &[u8], body: &[u8]) -> Option<Reply> {
    let mut connection = TcpStream::connect(upstream).ok()?;
    connection.write_all(raw_head).ok()?;
    connection.write_all(body).ok()?;
    let mut reader = BufReader::new(connection);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).ok()?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    assert!(
        !headers.iter().any(|(name, _)| name == "transfer-encoding"),
        "the fault proxy reads only Content-Length bodies"
    );
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let no_body = head.method == "HEAD" || status == 204 || status == 304;
    let mut body = vec![0; if no_body { 0 } else { length }];
    reader.read_exact(&mut body).ok()?;
    Some(Reply {
        status,
        headers,
        body,
    })
}

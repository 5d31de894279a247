//! An S3 server in memory behind [`Transport`], for unit tests of the cache logic: objects with
//! ETags and metadata, If-None-Match / If-Match (412, and 404 for If-Match on a missing key, as
//! AWS answers), paginated ListObjectsV2, DeleteObjects, CreateBucket, and scripted faults (an
//! error reply, a reply lost after or before the request applied, a write by someone else
//! slipped in first). Requests are counted per method.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use md5::{Digest, Md5};

use crate::client::transport::{Transport, TransportError};
use crate::core::clock::Clock;
use crate::core::clock::manual::ManualClock;
use crate::s3::{Request, Response};

/// A stored object.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    /// Its bytes.
    pub body: Vec<u8>,
    /// Quoted MD5 of the bytes, as S3 makes it.
    pub etag: String,
    /// `x-amz-meta-*` headers, lowercase.
    pub metadata: Vec<(String, String)>,
    /// When it was written.
    pub last_modified_ms: i64,
}

/// What a scripted fault does to the request it matches.
pub(crate) enum Fault {
    /// Answers with this status and S3 error code, applying nothing.
    Reply(u16, &'static str),
    /// Applies the request, then loses the reply.
    LoseReplyAfter,
    /// Loses the request before it applies.
    LoseReplyBefore,
    /// The connection could not be made.
    NotSent,
    /// No reply ever comes: the attempt waits out the time it was given.
    Hang,
    /// Runs this change of the store first (another client's write), then serves the request.
    Before(Box<dyn FnOnce(&mut Buckets) + Send>),
}

/// Buckets by name, objects by name.
pub(crate) type Buckets = HashMap<String, BTreeMap<String, Object>>;

struct State {
    buckets: Buckets,
    faults: VecDeque<(&'static str, Fault)>,
    requests: HashMap<String, usize>,
    page: usize,
    /// Whether reads carry the object's ETag (some S3-compatible servers send none).
    etags: bool,
    /// The region the bucket lives in, when requests signed for another are refused.
    region: Option<String>,
}

/// The server; clones share it.
#[derive(Clone)]
pub(crate) struct MemoryS3 {
    state: Arc<Mutex<State>>,
    clock: ManualClock,
}

/// The bucket the unit tests use.
pub(crate) const BUCKET: &str = "unit";
/// Listing pages are this long by default, so tests page through them with few objects.
const SHORT_PAGE: usize = 5;

impl MemoryS3 {
    /// A server with one empty bucket, [`BUCKET`], timestamping writes by `clock`.
    pub(crate) fn new(clock: ManualClock) -> MemoryS3 {
        let mut buckets = Buckets::new();
        buckets.insert(BUCKET.to_owned(), BTreeMap::new());
        MemoryS3 {
            state: Arc::new(Mutex::new(State {
                buckets,
                faults: VecDeque::new(),
                requests: HashMap::new(),
                page: SHORT_PAGE,
                etags: true,
                region: None,
            })),
            clock,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("no test panics while holding the server")
    }

    /// Lists this many names per page (S3 lists 1000).
    pub(crate) fn with_page(self, page: usize) -> MemoryS3 {
        self.state().page = page;
        self
    }

    /// Answers reads without an ETag, as some S3-compatible servers do.
    pub(crate) fn without_etags(self) -> MemoryS3 {
        self.state().etags = false;
        self
    }

    /// Refuses requests signed for another region than `region` (or sent to another region's
    /// AWS endpoint) as S3 does: 400 AuthorizationHeaderMalformed naming `region`.
    pub(crate) fn in_region(self, region: &str) -> MemoryS3 {
        self.state().region = Some(region.to_owned());
        self
    }

    /// Scripts a fault for the next request with `method` (faults apply in order).
    pub(crate) fn fault(&self, method: &'static str, fault: Fault) {
        self.state().faults.push_back((method, fault));
    }

    /// Faults not yet used.
    pub(crate) fn faults_left(&self) -> usize {
        self.state().faults.len()
    }

    /// Requests served so far with `method` ("LIST" for listings).
    pub(crate) fn requests(&self, method: &str) -> usize {
        self.state().requests.get(method).copied().unwrap_or(0)
    }

    /// All requests served so far.
    pub(crate) fn total_requests(&self) -> usize {
        self.state().requests.values().sum()
    }

    /// The object `name` in [`BUCKET`].
    pub(crate) fn object(&self, name: &str) -> Option<Object> {
        self.state().buckets.get(BUCKET)?.get(name).cloned()
    }

    /// The object names in [`BUCKET`].
    pub(crate) fn names(&self) -> Vec<String> {
        self.state()
            .buckets
            .get(BUCKET)
            .map(|objects| objects.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Writes an object behind the cache's back.
    pub(crate) fn put_raw(&self, name: &str, body: &[u8]) {
        let object = new_object(body.to_vec(), Vec::new(), self.clock.now_ms());
        let mut state = self.state();
        let bucket = state.buckets.entry(BUCKET.to_owned()).or_default();
        bucket.insert(name.to_owned(), object);
    }

    /// Removes a bucket, objects and all.
    pub(crate) fn drop_bucket(&self, bucket: &str) {
        self.state().buckets.remove(bucket);
    }

    fn serve(&self, request: &Request, within: Duration) -> Result<Response, TransportError> {
        assert!(
            request
                .headers
                .iter()
                .any(|(name, _)| name == "authorization"),
            "every request is signed"
        );
        let (path, query) = request
            .url
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('/'))
            .map(|(_, path)| path.split_once('?').unwrap_or((path, "")))
            .expect("an absolute URL");
        let (bucket, name) = path.split_once('/').unwrap_or((path, ""));
        let bucket = percent_decode(bucket);
        let name = percent_decode(name);
        let query: HashMap<String, String> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k.to_owned(), percent_decode(v))
            })
            .collect();
        let kind = match (request.method, name.is_empty()) {
            ("GET", true) if query.contains_key("list-type") => "LIST",
            ("POST", true) if query.contains_key("delete") => "DELETE_OBJECTS",
            ("PUT", true) => "CREATE_BUCKET",
            (method, _) => method,
        };
        let mut state = self.state();
        *state.requests.entry(kind.to_owned()).or_default() += 1;
        if let Some(region) = &state.region {
            let scope = format!("/{region}/s3/aws4_request");
            let signed_there = request
                .headers
                .iter()
                .any(|(name, value)| name == "authorization" && value.contains(&scope));
            let host = request.url.split('/').nth(2).unwrap_or_default();
            let sent_there = !host.ends_with("amazonaws.com") || host.contains(region.as_str());
            if !(signed_there && sent_there) {
                // As AWS answers: the region in a header, and for all but HEAD in the body.
                let body = format!(
                    "<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region is \
                     wrong</Message><Region>{region}</Region></Error>"
                );
                let body = if request.method == "HEAD" {
                    Vec::new()
                } else {
                    body.into_bytes()
                };
                let header = vec![("x-amz-bucket-region".to_owned(), region.clone())];
                return Ok(reply(400, header, body));
            }
        }
        let fault = match state.faults.front() {
            Some((method, _)) if *method == request.method || *method == kind => {
                state.faults.pop_front().map(|(_, fault)| fault)
            }
            _ => None,
        };
        let mut lose_after = false;
        match fault {
            None => {}
            Some(Fault::Reply(status, code)) => return Ok(error(status, code)),
            Some(Fault::LoseReplyBefore) => {
                return Err(TransportError::ReplyLost("connection reset".to_owned()));
            }
            Some(Fault::NotSent) => {
                return Err(TransportError::NotSent("connection refused".to_owned()));
            }
            Some(Fault::Hang) => {
                self.clock.advance(within);
                return Err(TransportError::Abandoned);
            }
            Some(Fault::LoseReplyAfter) => lose_after = true,
            Some(Fault::Before(change)) => change(&mut state.buckets),
        }
        let now = self.clock.now_ms();
        let page = state.page;
        let etags = state.etags;
        let response = if kind == "CREATE_BUCKET" {
            match state.buckets.entry(bucket) {
                Entry::Occupied(_) => error(409, "BucketAlreadyOwnedByYou"),
                Entry::Vacant(vacant) => {
                    vacant.insert(BTreeMap::new());
                    reply(200, Vec::new(), Vec::new())
                }
            }
        } else {
            match state.buckets.get_mut(&bucket) {
                None => error(404, "NoSuchBucket"),
                Some(objects) => match kind {
                    "LIST" => list(objects, &query, page),
                    "DELETE_OBJECTS" => delete_objects(objects, &request.body),
                    "GET" | "HEAD" => match objects.get(&name) {
                        None => error(404, "NoSuchKey"),
                        Some(object) => {
                            let mut headers = object.metadata.clone();
                            if etags {
                                headers.push(("etag".to_owned(), object.etag.clone()));
                            }
                            let body = if kind == "GET" {
                                object.body.clone()
                            } else {
                                Vec::new()
                            };
                            reply(200, headers, body)
                        }
                    },
                    "DELETE" => {
                        objects.remove(&name);
                        reply(204, Vec::new(), Vec::new())
                    }
                    "PUT" => put(objects, &name, request, now),
                    other => panic!("the memory S3 has no {other}"),
                },
            }
        };
        if lose_after {
            return Err(TransportError::ReplyLost("connection reset".to_owned()));
        }
        Ok(response)
    }
}

impl Transport for MemoryS3 {
    fn send_all(
        &self,
        requests: &[Request],
        within: Duration,
    ) -> Vec<Result<Response, TransportError>> {
        requests
            .iter()
            .map(|request| self.serve(request, within))
            .collect()
    }
}

fn new_object(body: Vec<u8>, metadata: Vec<(String, String)>, now_ms: i64) -> Object {
    Object {
        etag: format!("\"{}\"", hex::encode(Md5::digest(&body))),
        body,
        metadata,
        last_modified_ms: now_ms,
    }
}

fn put(
    objects: &mut BTreeMap<String, Object>,
    name: &str,
    request: &Request,
    now_ms: i64,
) -> Response {
    let header = |wanted: &str| {
        request
            .headers
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.as_str())
    };
    let existing = objects.get(name);
    if header("if-none-match") == Some("*") && existing.is_some() {
        return error(412, "PreconditionFailed");
    }
    if let Some(etag) = header("if-match") {
        match existing {
            None => return error(404, "NoSuchKey"),
            Some(object) if object.etag != etag => return error(412, "PreconditionFailed"),
            Some(_) => {}
        }
    }
    let metadata = request
        .headers
        .iter()
        .filter(|(name, _)| name.starts_with("x-amz-meta-"))
        .cloned()
        .collect();
    let object = new_object(request.body.to_vec(), metadata, now_ms);
    let etag = object.etag.clone();
    objects.insert(name.to_owned(), object);
    reply(200, vec![("etag".to_owned(), etag)], Vec::new())
}

fn list(
    objects: &BTreeMap<String, Object>,
    query: &HashMap<String, String>,
    page_len: usize,
) -> Response {
    let prefix = query.get("prefix").map(String::as_str).unwrap_or("");
    let after = query
        .get("continuation-token")
        .or_else(|| query.get("start-after"))
        .cloned()
        .unwrap_or_default();
    let delimited = query.get("delimiter").is_some_and(|d| d == "/");
    let matching: Vec<(&String, &Object)> = objects
        .iter()
        .filter(|(name, _)| name.starts_with(prefix) && name.as_str() > after.as_str())
        .filter(|(name, _)| !delimited || !name[prefix.len()..].contains('/'))
        .collect();
    let page = &matching[..matching.len().min(page_len)];
    let truncated = matching.len() > page_len;
    let mut xml = String::from("<ListBucketResult>");
    for (name, object) in page {
        let modified = DateTime::from_millis(object.last_modified_ms)
            .fmt(Format::DateTime)
            .expect("a valid time");
        xml.push_str(&format!(
            "<Contents><Key>{}</Key><LastModified>{modified}</LastModified>\
             <ETag>{}</ETag><Size>{}</Size></Contents>",
            escape(name),
            escape(&object.etag),
            object.body.len()
        ));
    }
    xml.push_str(&format!("<IsTruncated>{truncated}</IsTruncated>"));
    if let (true, Some((last, _))) = (truncated, page.last()) {
        xml.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            escape(last)
        ));
    }
    xml.push_str("</ListBucketResult>");
    reply(200, Vec::new(), xml.into_bytes())
}

fn delete_objects(objects: &mut BTreeMap<String, Object>, body: &[u8]) -> Response {
    let text = std::str::from_utf8(body).expect("a UTF-8 request");
    let keys: Vec<String> = text
        .split("<Key>")
        .skip(1)
        .map(|rest| {
            let escaped = rest.split("</Key>").next().expect("a closed Key");
            quick_xml::escape::unescape(escaped)
                .expect("escaped keys")
                .into_owned()
        })
        .collect();
    assert!(keys.len() <= 1000, "at most 1000 keys per request");
    for key in keys {
        objects.remove(&key);
    }
    reply(200, Vec::new(), b"<DeleteResult></DeleteResult>".to_vec())
}

fn reply(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Response {
    Response {
        status,
        headers,
        body,
    }
}

fn error(status: u16, code: &str) -> Response {
    let body = format!("<Error><Code>{code}</Code><Message>scripted</Message></Error>");
    reply(status, Vec::new(), body.into_bytes())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

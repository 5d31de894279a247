//! S3 REST requests and responses as plain data: building, signing, and reading them.

mod credentials;
mod endpoint;
pub(crate) mod retryable;
pub mod sign;
pub(crate) mod xml;

pub use credentials::Credentials;
pub use endpoint::Endpoint;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use md5::{Digest, Md5};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::Error;
use crate::s3::retryable::{is_transient_code, is_transient_status};

/// Characters left as they are in a URI component, per SigV4's canonical encoding.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// The same, keeping `/` so object names keep their "directories".
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// The most keys one DeleteObjects request may name.
pub(crate) const DELETE_BATCH: usize = 1000;
/// The metadata header that carries an entry's expiry, so HEAD can answer has-key.
pub(crate) const EXPIRES_HEADER: &str = "x-amz-meta-s3cache-expires";
/// The metadata header that carries the ids of the latest writes of an object, newest first,
/// so a writer whose reply was lost can tell whether its write landed.
pub(crate) const WRITES_HEADER: &str = "x-amz-meta-s3cache-writes";
/// The metadata header that keeps an entry's key (see [`crate::core::key::remembered_key`]), so a
/// listing can give keys back.
pub(crate) const KEY_HEADER: &str = "x-amz-meta-s3cache-key";
/// Room for S3 XML replies (listings of 1000 keys are about 300 KB).
const XML_REPLY_LIMIT: usize = 8 << 20;

/// An HTTP request to S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// GET, PUT, HEAD, DELETE or POST.
    pub method: &'static str,
    /// Absolute URL, percent-encoded.
    pub url: String,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    /// The body; empty for most requests. Shared, so resending or re-signing a request never
    /// copies a large value.
    pub body: Bytes,
    /// The largest response body the caller accepts.
    pub max_response_body: usize,
    /// A success reply is an XML document (a listing, a batch delete result), so an S3 error
    /// document in a 200 reply can be told apart.
    pub xml_reply: bool,
}

/// An HTTP response from S3 (any status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A precondition on a PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Write unconditionally.
    None,
    /// Write only if no object exists (`If-None-Match: *`).
    Absent,
    /// Write only if the object still has this ETag (`If-Match`).
    Matches(String),
}

/// Options and metadata of an object write.
#[derive(Debug, Clone, Copy)]
pub struct PutOptions<'a> {
    /// Canned ACL.
    pub acl: Option<&'a str>,
    /// Storage class.
    pub storage_class: Option<&'a str>,
    /// Server-side encryption algorithm.
    pub sse: Option<&'a str>,
    /// Its KMS key.
    pub sse_kms_key_id: Option<&'a str>,
    /// The entry's expiry, as [`crate::core::entry::Expiry::to_header`] writes it.
    pub expires: &'a str,
    /// The ids of this write and the ones before it, newest first, space-separated.
    pub writes: &'a str,
    /// The entry's key, as [`crate::core::key::remembered_key`] keeps it.
    pub key: Option<&'a str>,
}

/// Builds requests for one bucket.
#[derive(Debug, Clone)]
pub struct RequestBuilder<'a> {
    /// Where the bucket is.
    pub endpoint: &'a Endpoint,
}

impl RequestBuilder<'_> {
    /// GetObject.
    pub fn get_object(&self, name: &str, max_response_body: usize) -> Request {
        self.request("GET", self.object_url(name), max_response_body)
    }

    /// HeadObject.
    pub fn head_object(&self, name: &str) -> Request {
        self.request("HEAD", self.object_url(name), 0)
    }

    /// DeleteObject.
    pub fn delete_object(&self, name: &str) -> Request {
        self.request("DELETE", self.object_url(name), XML_REPLY_LIMIT)
    }

    /// PutObject of an encoded entry, with its expiry and write ids as metadata.
    pub fn put_object(
        &self,
        name: &str,
        body: Bytes,
        condition: &Condition,
        options: PutOptions<'_>,
    ) -> Request {
        let mut request = self.request("PUT", self.object_url(name), XML_REPLY_LIMIT);
        request.header("content-type", "application/octet-stream");
        request.header(EXPIRES_HEADER, options.expires);
        request.header(WRITES_HEADER, options.writes);
        if let Some(key) = options.key {
            request.header(KEY_HEADER, key);
        }
        match condition {
            Condition::None => {}
            Condition::Absent => request.header("if-none-match", "*"),
            Condition::Matches(etag) => request.header("if-match", etag),
        }
        if let Some(acl) = options.acl {
            request.header("x-amz-acl", acl);
        }
        if let Some(class) = options.storage_class {
            request.header("x-amz-storage-class", class);
        }
        if let Some(sse) = options.sse {
            request.header("x-amz-server-side-encryption", sse);
        }
        if let Some(key) = options.sse_kms_key_id {
            request.header("x-amz-server-side-encryption-aws-kms-key-id", key);
        }
        request.set_body(body);
        request
    }

    /// ListObjectsV2 of one page of names directly under `prefix`.
    pub fn list_objects(&self, prefix: &str, continuation: Option<&str>) -> Request {
        let mut query = vec![
            ("delimiter", "/"),
            ("list-type", "2"),
            ("max-keys", "1000"),
            ("prefix", prefix),
        ];
        if let Some(token) = continuation {
            query.push(("continuation-token", token));
        }
        query.sort();
        let query = query
            .iter()
            .map(|(name, value)| format!("{name}={}", utf8_percent_encode(value, UNRESERVED)))
            .collect::<Vec<_>>()
            .join("&");
        let mut request = self.request("GET", self.endpoint.url("", &query), XML_REPLY_LIMIT);
        request.xml_reply = true;
        request
    }

    /// DeleteObjects of up to [`DELETE_BATCH`] names, in quiet mode (only failures reported).
    pub fn delete_objects(&self, names: &[&str]) -> Request {
        let body = xml::delete_request(names).into_bytes();
        let mut request = self.request("POST", self.endpoint.url("", "delete="), XML_REPLY_LIMIT);
        request.header("content-md5", &BASE64.encode(Md5::digest(&body)));
        request.header("content-type", "application/xml");
        request.set_body(body.into());
        request.xml_reply = true;
        request
    }

    /// CreateBucket with a location constraint outside us-east-1; private (S3's default) unless
    /// `acl` names a canned ACL.
    pub fn create_bucket(&self, region: &str, acl: Option<&str>) -> Request {
        let mut request = self.request("PUT", self.endpoint.url("", ""), XML_REPLY_LIMIT);
        if let Some(acl) = acl {
            request.header("x-amz-acl", acl);
        }
        let body = if region == "us-east-1" {
            Bytes::new()
        } else {
            xml::create_bucket_configuration(region).into()
        };
        request.set_body(body);
        request
    }

    fn object_url(&self, name: &str) -> String {
        self.endpoint
            .url(&utf8_percent_encode(name, PATH).to_string(), "")
    }

    fn request(&self, method: &'static str, url: String, max_response_body: usize) -> Request {
        Request {
            method,
            url,
            headers: Vec::new(),
            body: Bytes::new(),
            max_response_body,
            xml_reply: false,
        }
    }
}

impl Request {
    /// Adds a header.
    pub fn header(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    fn set_body(&mut self, body: Bytes) {
        self.header("content-length", &body.len().to_string());
        self.body = body;
    }
}

/// Whether a reply is a transient failure worth sending the request again for: throttling,
/// timeouts, server errors, by status or by S3 error code (also inside a 200 reply to a request
/// whose success is an XML document).
pub(crate) fn is_transient(request: &Request, response: &Response) -> bool {
    if is_transient_status(response.status) {
        return true;
    }
    let may_carry_error = !response.is_success() || request.xml_reply;
    may_carry_error
        && xml::parse_error(&response.body).is_some_and(|reply| is_transient_code(&reply.code))
}

/// The error a non-success response means; `action` says what was attempted.
pub(crate) fn error_for(action: &str, response: &Response) -> Error {
    let reply = xml::parse_error(&response.body);
    let (code, message) = match &reply {
        Some(reply) => (clean_text(&reply.code), clean_text(&reply.message)),
        None => (String::new(), String::new()),
    };
    let detail = match (code.as_str(), message.as_str()) {
        ("", "") => format!("HTTP {}", response.status),
        (code, "") => format!("HTTP {} {code}", response.status),
        (code, message) => format!("HTTP {} {code}: {message}", response.status),
    };
    let what = format!("{action}: {detail}");
    let header = |name: &str| response.header(name).map(clean_text);
    // Redirects are never followed (they would carry the signed request elsewhere): say where
    // the server pointed.
    let location = header("location")
        .map(|location| format!("; the server points to {location}, not followed"))
        .unwrap_or_default();
    match (response.status, code.as_str()) {
        (_, "NoSuchBucket") => Error::NoSuchBucket(what),
        (
            301 | 307 | 400,
            "PermanentRedirect"
            | "AuthorizationHeaderMalformed"
            | "IllegalLocationConstraintException",
        )
        | (301, _) => {
            let region = header("x-amz-bucket-region")
                .map(|region| format!(" (the bucket is in {region})"))
                .unwrap_or_default();
            Error::InvalidConfig(format!(
                "{what}: wrong region or endpoint{region}{location}"
            ))
        }
        (300..=399, _) => Error::InvalidConfig(format!(
            "{what}: the server redirects this request{location}"
        )),
        (_, "AccessControlListNotSupported") => Error::InvalidConfig(format!(
            "{what}: the bucket has ACLs disabled; configure no ACL"
        )),
        (401 | 403, _) => Error::AccessDenied(what),
        (_, "EntityTooLarge") | (413, _) => Error::TooLarge(what),
        (status, code) if is_transient_status(status) || is_transient_code(code) => {
            Error::Unavailable(what)
        }
        _ => Error::Other(what),
    }
}

/// The region S3 says a request belongs in, when the reply is a wrong-region error: a 301 or a
/// 400 with `x-amz-bucket-region`, or an `AuthorizationHeaderMalformed` naming its `<Region>`.
/// Only text that looks like a region name counts: it goes into a host name and a signature.
pub(crate) fn region_hint(response: &Response) -> Option<String> {
    if !matches!(response.status, 301 | 307 | 400) {
        return None;
    }
    let named = response
        .header("x-amz-bucket-region")
        .map(str::to_owned)
        .or_else(|| {
            xml::parse_error(&response.body)
                .filter(|reply| reply.code == "AuthorizationHeaderMalformed")
                .and_then(|reply| reply.region)
        })?;
    let region = named.trim();
    let plausible = !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    plausible.then(|| region.to_owned())
}

/// The most characters of a server's text an error quotes.
const QUOTED_TEXT_LIMIT: usize = 200;

/// Text a server sent, made fit for a one-line message: control characters (newlines, terminal
/// escapes) become spaces, runs of spaces one, and it is cut to [`QUOTED_TEXT_LIMIT`]
/// characters.
pub(crate) fn clean_text(text: &str) -> String {
    let mut clean = String::with_capacity(text.len().min(QUOTED_TEXT_LIMIT + 3));
    let mut chars = 0;
    for char in text.chars() {
        // Line and paragraph separators and the bidirectional controls reorder or break a
        // line as surely as a newline does.
        let breaks_the_line = char.is_control()
            || matches!(char, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}')
            || ('\u{202a}'..='\u{202e}').contains(&char)
            || ('\u{2066}'..='\u{2069}').contains(&char);
        let char = if breaks_the_line { ' ' } else { char };
        if char == ' ' && (clean.is_empty() || clean.ends_with(' ')) {
            continue;
        }
        if chars == QUOTED_TEXT_LIMIT {
            clean.push_str("...");
            return clean;
        }
        clean.push(char);
        chars += 1;
    }
    clean.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint::resolve(Some("http://127.0.0.1:9000"), "us-east-1", "cache", None).unwrap()
    }

    #[test]
    fn object_names_are_percent_encoded_but_keep_slashes() {
        let endpoint = endpoint();
        let bucket = RequestBuilder {
            endpoint: &endpoint,
        };
        let request = bucket.get_object("dir with space/ü/41ab", 10);
        assert_eq!(
            request.url,
            "http://127.0.0.1:9000/cache/dir%20with%20space/%C3%BC/41ab"
        );
        assert_eq!(request.method, "GET");
        assert_eq!(request.max_response_body, 10);
    }

    #[test]
    fn listing_query_is_sorted_and_encoded() {
        let endpoint = endpoint();
        let bucket = RequestBuilder {
            endpoint: &endpoint,
        };
        let request = bucket.list_objects("a b/", Some("tok/en="));
        assert_eq!(
            request.url,
            "http://127.0.0.1:9000/cache/?continuation-token=tok%2Fen%3D&delimiter=%2F&list-type=2&max-keys=1000&prefix=a%20b%2F"
        );
    }

    #[test]
    fn puts_carry_conditions_acl_class_and_expiry() {
        let endpoint = endpoint();
        let bucket = RequestBuilder {
            endpoint: &endpoint,
        };
        let options = PutOptions {
            acl: Some("private"),
            storage_class: Some("REDUCED_REDUNDANCY"),
            sse: Some("aws:kms"),
            sse_kms_key_id: Some("key-1"),
            expires: "never",
            writes: "w2 w1",
            key: Some("a2V5"),
        };
        let request = bucket.put_object(
            "k",
            Bytes::from_static(b"abc"),
            &Condition::Matches("\"e\"".into()),
            options,
        );
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            headers,
            [
                ("content-type", "application/octet-stream"),
                ("x-amz-meta-s3cache-expires", "never"),
                ("x-amz-meta-s3cache-writes", "w2 w1"),
                ("x-amz-meta-s3cache-key", "a2V5"),
                ("if-match", "\"e\""),
                ("x-amz-acl", "private"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-server-side-encryption", "aws:kms"),
                ("x-amz-server-side-encryption-aws-kms-key-id", "key-1"),
                ("content-length", "3"),
            ]
        );
        let absent = bucket.put_object(
            "k",
            Bytes::new(),
            &Condition::Absent,
            PutOptions {
                acl: None,
                storage_class: None,
                sse: None,
                sse_kms_key_id: None,
                expires: "1",
                writes: "w",
                key: None,
            },
        );
        assert!(
            absent
                .headers
                .contains(&("if-none-match".into(), "*".into()))
        );
        assert!(
            absent
                .headers
                .contains(&("content-length".into(), "0".into()))
        );
    }

    #[test]
    fn delete_objects_has_md5_of_its_body() {
        let endpoint = endpoint();
        let bucket = RequestBuilder {
            endpoint: &endpoint,
        };
        let request = bucket.delete_objects(&["a", "b&c"]);
        assert_eq!(request.method, "POST");
        assert_eq!(request.url, "http://127.0.0.1:9000/cache/?delete=");
        let md5 = BASE64.encode(Md5::digest(&request.body));
        assert!(request.headers.contains(&("content-md5".into(), md5)));
        assert!(
            String::from_utf8(request.body.to_vec())
                .unwrap()
                .contains("<Key>b&amp;c</Key>")
        );
    }

    #[test]
    fn create_bucket_names_its_region_outside_us_east_1() {
        let endpoint = endpoint();
        let bucket = RequestBuilder {
            endpoint: &endpoint,
        };
        let plain = bucket.create_bucket("us-east-1", None);
        assert!(plain.body.is_empty());
        assert!(!plain.headers.iter().any(|(name, _)| name == "x-amz-acl"));
        let shared = bucket.create_bucket("us-east-1", Some("public-read"));
        assert!(
            shared
                .headers
                .contains(&("x-amz-acl".to_owned(), "public-read".to_owned()))
        );
        let body =
            String::from_utf8(bucket.create_bucket("eu-west-1", None).body.to_vec()).unwrap();
        assert!(
            body.contains("<LocationConstraint>eu-west-1</LocationConstraint>"),
            "{body}"
        );
    }

    fn reply(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn transient_replies_are_found_by_status_and_by_code() {
        let endpoint = endpoint();
        let bucket = RequestBuilder {
            endpoint: &endpoint,
        };
        let get = bucket.get_object("k", 10);
        let list = bucket.list_objects("", None);
        let error = |code: &str| format!("<Error><Code>{code}</Code></Error>");
        assert!(is_transient(&get, &reply(503, "")));
        assert!(is_transient(&get, &reply(400, &error("RequestTimeout"))));
        assert!(!is_transient(&get, &reply(400, &error("InvalidArgument"))));
        assert!(!is_transient(&get, &reply(404, &error("NoSuchKey"))));
        // A 200 whose body is an error document: only where success is XML.
        assert!(is_transient(&list, &reply(200, &error("InternalError"))));
        assert!(!is_transient(&get, &reply(200, &error("InternalError"))));
        assert!(!is_transient(&list, &reply(200, "<ListBucketResult/>")));
    }

    #[test]
    fn error_replies_map_to_actionable_variants() {
        let xml = |code: &str| format!("<Error><Code>{code}</Code><Message>msg</Message></Error>");
        assert_eq!(
            error_for("get k", &reply(403, &xml("SignatureDoesNotMatch"))),
            Error::AccessDenied("get k: HTTP 403 SignatureDoesNotMatch: msg".into())
        );
        assert!(matches!(
            error_for("x", &reply(404, &xml("NoSuchBucket"))),
            Error::NoSuchBucket(_)
        ));
        assert!(matches!(
            error_for("x", &reply(503, &xml("SlowDown"))),
            Error::Unavailable(_)
        ));
        assert!(matches!(
            error_for("x", &reply(500, "")),
            Error::Unavailable(_)
        ));
        assert!(matches!(
            error_for("x", &reply(400, &xml("EntityTooLarge"))),
            Error::TooLarge(_)
        ));
        assert!(matches!(
            error_for("x", &reply(400, &xml("InvalidArgument"))),
            Error::Other(_)
        ));
        assert!(matches!(
            error_for("x", &reply(400, &xml("RequestTimeout"))),
            Error::Unavailable(_)
        ));
        assert_eq!(
            error_for("x", &reply(418, "<html>")),
            Error::Other("x: HTTP 418".into())
        );
        let mut moved = reply(301, "");
        moved
            .headers
            .push(("x-amz-bucket-region".into(), "eu-west-2".into()));
        assert_eq!(
            error_for("x", &moved),
            Error::InvalidConfig(
                "x: HTTP 301: wrong region or endpoint (the bucket is in eu-west-2)".into()
            )
        );
        let mut elsewhere = reply(307, "");
        elsewhere
            .headers
            .push(("location".into(), "http://other.example/b/k".into()));
        assert_eq!(
            error_for("get k", &elsewhere),
            Error::InvalidConfig(
                "get k: HTTP 307: the server redirects this request; the server points to \
                 http://other.example/b/k, not followed"
                    .into()
            )
        );
    }

    #[test]
    fn wrong_region_replies_name_the_region_and_nothing_else_does() {
        let mut moved = reply(301, "");
        moved
            .headers
            .push(("x-amz-bucket-region".into(), "eu-west-2".into()));
        assert_eq!(region_hint(&moved).as_deref(), Some("eu-west-2"));
        let malformed = reply(
            400,
            "<Error><Code>AuthorizationHeaderMalformed</Code><Message>m</Message>\
             <Region>garage</Region></Error>",
        );
        assert_eq!(region_hint(&malformed).as_deref(), Some("garage"));
        let mut ok = reply(200, "");
        ok.headers
            .push(("x-amz-bucket-region".into(), "eu-west-2".into()));
        assert_eq!(region_hint(&ok), None, "a success is not a redirect");
        let mut hostile = reply(301, "");
        hostile
            .headers
            .push(("x-amz-bucket-region".into(), "evil.example/x".into()));
        assert_eq!(region_hint(&hostile), None);
    }

    #[test]
    fn a_servers_text_reaches_an_error_as_one_short_clean_line() {
        let hostile = "<Error><Code>Slow\nDown</Code><Message>line one\r\nline two \
                       \u{1b}[31mred\u{1b}[0m\t&#27;[2J</Message></Error>";
        let error = error_for("get k", &reply(500, hostile)).to_string();
        assert_eq!(
            error,
            "unavailable: get k: HTTP 500 Slow Down: line one line two [31mred [0m [2J"
        );
        let long = format!(
            "<Error><Code>X</Code><Message>{}</Message></Error>",
            "a".repeat(5000)
        );
        let error = error_for("get k", &reply(400, &long)).to_string();
        assert!(error.len() < 300 && error.ends_with("..."), "{error}");
        assert_eq!(clean_text("  spaced \n\n out  "), "spaced out");
        assert_eq!(clean_text("a\u{2028}b\u{202e}c\u{2066}d"), "a b c d");
    }
}

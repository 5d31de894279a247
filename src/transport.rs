//! The seam between the cache and the network: the wasi:http module implements it, the native
//! reqwest module, and the in-memory S3 of the unit tests.

use std::time::Duration;

use crate::s3::{Request, Response};

/// How long a request may wait on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To open a connection.
    pub connect: Duration,
    /// From the request to the first byte of the reply.
    pub first_byte: Duration,
    /// Between two bytes of the reply.
    pub between_bytes: Duration,
}

impl Default for Timeouts {
    /// Seconds, not minutes: a cache that waits longer is worse than a miss.
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(10),
            between_bytes: Duration::from_secs(10),
        }
    }
}

/// Why a request got no response. The variants say whether the server may have seen it, which
/// decides whether sending it again is safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// It never reached the server (connection refused, DNS failure, connect timeout): sending
    /// it again cannot apply it twice.
    NotSent(String),
    /// It was sent and no reply came (reset, reply timeout, a body cut short): the server may
    /// have applied it.
    ReplyLost(String),
    /// The response body is longer than the request allowed.
    TooLarge(String),
    /// The host refused to send it (an outbound-HTTP policy, a bad header): retrying will not
    /// help; the message says what to change.
    Refused(String),
}

/// Sends HTTP requests. A response with any status is a response, not an error.
pub trait Transport {
    /// Sends the requests concurrently; one result per request, in order.
    fn send_all(&self, requests: &[Request]) -> Vec<Result<Response, TransportError>>;
}

/// The most bytes read of a non-2xx reply.
const ERROR_REPLY_LIMIT: usize = 64 * 1024;

/// The most bytes a transport reads of a reply with `status`: what the request allows for its
/// object, but error replies are small XML documents whatever the request allowed.
pub fn reply_limit(request: &Request, status: u16) -> usize {
    if (200..300).contains(&status) {
        request.max_response_body
    } else {
        ERROR_REPLY_LIMIT
    }
}

/// The error for a reply of `len` bytes when at most `limit` are accepted.
pub fn too_large(len: u64, limit: usize) -> TransportError {
    TransportError::TooLarge(format!(
        "the response has {len} bytes; at most {limit} are accepted"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_replies_are_bounded_whatever_the_request_allows() {
        let request = Request {
            method: "GET",
            url: "http://127.0.0.1/b/k".to_owned(),
            headers: Vec::new(),
            body: Default::default(),
            max_response_body: 64 << 20,
            xml_reply: false,
        };
        assert_eq!(reply_limit(&request, 200), 64 << 20);
        assert_eq!(reply_limit(&request, 206), 64 << 20);
        assert_eq!(reply_limit(&request, 404), ERROR_REPLY_LIMIT);
        assert_eq!(reply_limit(&request, 503), ERROR_REPLY_LIMIT);
        assert!(matches!(too_large(10, 5), TransportError::TooLarge(m) if m.contains("10 bytes")));
    }
}

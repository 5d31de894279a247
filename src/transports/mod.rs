//! The transports at the edges: wasi:http inside the component, reqwest natively, and the
//! reply bounds both keep.
#![cfg_attr(
    not(any(feature = "native", target_arch = "wasm32")),
    allow(
        dead_code,
        reason = "used by the transports, none of which this build has"
    )
)]

use crate::client::transport::TransportError;
use crate::s3::Request;

#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
pub(crate) mod http_failure;
#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
pub(crate) mod reqwest;
#[cfg(target_arch = "wasm32")]
pub mod wasi_http;

/// The most bytes read of a non-2xx reply.
const ERROR_REPLY_LIMIT: usize = 64 * 1024;

/// The most bytes a transport reads of a reply with `status`: what the request allows for its
/// object, but error replies are small XML documents whatever the request allowed.
pub(crate) fn reply_limit(request: &Request, status: u16) -> usize {
    if (200..300).contains(&status) {
        request.max_response_body
    } else {
        ERROR_REPLY_LIMIT
    }
}

/// The error for a reply of `len` bytes when at most `limit` are accepted.
pub(crate) fn too_large(len: u64, limit: usize) -> TransportError {
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

//! The seam between the cache and the network: the wasi:http module implements it.

use std::time::Duration;

use crate::s3::{Request, Response};

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// No response: connection refused or reset, DNS failure, timeout. Worth retrying.
    Unreachable(String),
    /// The response body is longer than the request allowed.
    TooLarge(String),
    /// The request itself was refused before it was sent (a host policy, a bad header).
    Refused(String),
}

/// Sends HTTP requests. A response with any status is a response, not an error.
pub trait Transport {
    /// Sends the requests concurrently; one result per request, in order.
    fn send_all(&self, requests: &[Request]) -> Vec<Result<Response, TransportError>>;

    /// Waits, between retries.
    fn sleep(&self, duration: Duration);
}

//! The seam between the cache and the network: the wasi:http module implements it, the native
//! reqwest module, and the in-memory S3 of the unit tests.

use std::time::Duration;

use crate::s3::{Request, Response};

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
    /// Still unanswered at the operation's deadline, and abandoned: the server may have
    /// applied it.
    Abandoned,
    /// The response body is longer than the request allowed.
    TooLarge(String),
    /// The host refused to send it (an outbound-HTTP policy, a bad header): retrying will not
    /// help; the message says what to change.
    Refused(String),
}

/// Sends HTTP requests. A response with any status is a response, not an error.
pub trait Transport {
    /// Sends the requests concurrently; one result per request, in order. A request still
    /// unanswered `within` from now is abandoned (cancelled, not left running) as
    /// [`TransportError::Abandoned`]: the operation's deadline bounds the attempt in flight.
    fn send_all(
        &self,
        requests: &[Request],
        within: Duration,
    ) -> Vec<Result<Response, TransportError>>;
}

//! Which S3 failures are transient, and which may have been applied anyway.

/// HTTP statuses worth sending again: throttling, timeouts, server errors.
pub(crate) fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// S3 error codes worth sending again whatever the status says (AWS answers a slow upload with
/// 400 RequestTimeout, and may put InternalError in the body of a 200).
pub(crate) fn is_transient_code(code: &str) -> bool {
    matches!(
        code,
        "SlowDown" | "RequestTimeout" | "InternalError" | "ServiceUnavailable" | "Throttling"
    )
}

/// Whether a failed attempt may nonetheless have been applied by the server: a 503 or 429 is a
/// refusal before any work, other server errors are not.
pub(crate) fn may_have_applied(status: u16) -> bool {
    matches!(status, 408 | 500 | 502 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_are_throttling_timeouts_and_server_errors() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(is_transient_status(status), "{status}");
        }
        for status in [200, 301, 400, 403, 404, 409, 412, 501] {
            assert!(!is_transient_status(status), "{status}");
        }
        assert!(is_transient_code("SlowDown") && is_transient_code("RequestTimeout"));
        assert!(!is_transient_code("AccessDenied") && !is_transient_code("NoSuchKey"));
        assert!(!may_have_applied(503) && !may_have_applied(429));
        assert!(may_have_applied(500) && may_have_applied(504));
    }
}

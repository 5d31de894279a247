//! The wasi:http hook: the component's requests sent over one pooled keep-alive client, with
//! the component's timeouts, and counted.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::Result;
use http_body_util::BodyExt;
use s3cache::{HttpFailure, Timeouts};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The longest connect, first-byte and between-bytes timeouts, for components that set none.
const LONGEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The keep-alive client that sends the components' requests.
pub(crate) fn pooled_client() -> Result<reqwest::Client> {
    s3cache::http_client(Timeouts {
        connect: LONGEST_TIMEOUT,
        first_byte: LONGEST_TIMEOUT,
        between_bytes: LONGEST_TIMEOUT,
    })
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Sends the component's requests over keep-alive connections (the stock hook opens a new
/// connection, and TLS session, per request) and counts them.
pub(crate) struct PooledHooks {
    client: reqwest::Client,
    requests: Arc<AtomicU64>,
}

impl PooledHooks {
    /// Hooks sending through `client`, counting requests in `requests`.
    pub(crate) fn new(client: &reqwest::Client, requests: &Arc<AtomicU64>) -> PooledHooks {
        PooledHooks {
            client: client.clone(),
            requests: Arc::clone(requests),
        }
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for PooledHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_done: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let client = self.client.clone();
        let timeout = |pick: fn(&RequestOptions) -> Option<Duration>| {
            options.as_ref().and_then(pick).unwrap_or(LONGEST_TIMEOUT)
        };
        // A pooled request may or may not open a connection, so the connect and first-byte
        // timeouts bound it together.
        let first_byte = timeout(|o| o.connect_timeout) + timeout(|o| o.first_byte_timeout);
        let between_bytes = timeout(|o| o.between_bytes_timeout);
        Box::new(async move {
            let request = reqwest::Request::try_from(
                request.map(|body| reqwest::Body::wrap(SyncBody(std::sync::Mutex::new(body)))),
            )
            .map_err(|e| HttpError::InternalError(Some(format!("{e}"))))?;
            let response = tokio::time::timeout(first_byte, client.execute(request))
                .await
                .map_err(|_| HttpError::ConnectionReadTimeout)?
                .map_err(|error| client_error(&error))?;
            let response = http::Response::<reqwest::Body>::from(response)
                .map(|body| IdleTimeoutBody::new(body, between_bytes).boxed_unsync());
            let done: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

/// The wasi:http error for a failed request, as precise as wasi:http's codes allow. Its codes
/// carry no reason for a TLS failure, so the component gets that as an internal error whose
/// text starts with "TLS: ", which it reads as a failure that sending again will not fix.
fn client_error(error: &reqwest::Error) -> HttpError {
    match HttpFailure::of(error) {
        HttpFailure::Dns(_) => HttpError::DnsError {
            rcode: None,
            info_code: None,
        },
        HttpFailure::ConnectionRefused => HttpError::ConnectionRefused,
        HttpFailure::ConnectTimeout => HttpError::ConnectionTimeout,
        failure @ (HttpFailure::TlsCertificate(_) | HttpFailure::NotTls | HttpFailure::Tls(_)) => {
            HttpError::InternalError(Some(failure.to_string()))
        }
        HttpFailure::HeadersTooLarge => HttpError::HttpResponseHeaderSectionSize(None),
        HttpFailure::ConnectionClosed => HttpError::ConnectionTerminated,
        HttpFailure::ReplyTimeout => HttpError::ConnectionReadTimeout,
        HttpFailure::Other(why) => HttpError::InternalError(Some(why)),
    }
}

/// The component's request body, made `Sync` for reqwest: it is only ever polled through
/// `&mut`, so the mutex is never locked (`get_mut`).
struct SyncBody(std::sync::Mutex<WasiBody>);

impl http_body::Body for SyncBody {
    type Data = bytes::Bytes;
    type Error = HttpError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let body = self
            .get_mut()
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        Pin::new(body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0
            .lock()
            .map(|body| body.is_end_stream())
            .unwrap_or(false)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.0
            .lock()
            .map(|body| body.size_hint())
            .unwrap_or_default()
    }
}

/// A response body that fails when no data arrives for `timeout`, so a server that stalls
/// mid-body cannot hang the component.
struct IdleTimeoutBody {
    inner: reqwest::Body,
    timeout: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl IdleTimeoutBody {
    fn new(inner: reqwest::Body, timeout: Duration) -> IdleTimeoutBody {
        IdleTimeoutBody {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl http_body::Body for IdleTimeoutBody {
    type Data = bytes::Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = tokio::time::Instant::now() + this.timeout;
                this.deadline.as_mut().reset(next);
                Poll::Ready(frame.map(|frame| frame.map_err(|_| HttpError::ConnectionTerminated)))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

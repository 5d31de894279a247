//! The wasi:http transport: the only code that touches the host's HTTP.

use std::time::Duration;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingResponse, Method, OutgoingBody,
    OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::poll;
use wasip2::io::streams::StreamError;

use super::{reply_limit, too_large};
use crate::client::transport::{Transport, TransportError};
use crate::s3::{Request, Response};
use crate::settings::Timeouts;

/// Bytes asked of the host per read of a response body.
const READ_CHUNK: u64 = 256 * 1024;

/// Sends requests through `wasi:http/outgoing-handler`.
pub struct WasiHttp {
    timeouts: Timeouts,
}

impl WasiHttp {
    /// A transport asking the host for these timeouts.
    pub fn new(timeouts: Timeouts) -> WasiHttp {
        WasiHttp { timeouts }
    }
}

impl Transport for WasiHttp {
    fn send_all(&self, requests: &[Request]) -> Vec<Result<Response, TransportError>> {
        let started: Vec<Result<FutureIncomingResponse, TransportError>> = requests
            .iter()
            .map(|request| start(request, self.timeouts))
            .collect();
        let mut results: Vec<Option<Result<Response, TransportError>>> = started
            .iter()
            .map(|future| future.as_ref().err().map(|error| Err(error.clone())))
            .collect();
        loop {
            let pending: Vec<usize> = (0..requests.len())
                .filter(|&index| results[index].is_none())
                .collect();
            if pending.is_empty() {
                break;
            }
            let pollables: Vec<_> = pending
                .iter()
                .filter_map(|&index| {
                    started[index]
                        .as_ref()
                        .ok()
                        .map(|future| future.subscribe())
                })
                .collect();
            let ready: Vec<&_> = pollables.iter().collect();
            for position in poll::poll(&ready) {
                // An index out of range would be a host bug; skipping it beats trapping.
                let Some(&index) = pending.get(position as usize) else {
                    continue;
                };
                if let Ok(future) = &started[index]
                    && let Some(outcome) = future.get()
                {
                    results[index] = Some(receive(outcome, &requests[index]));
                }
            }
        }
        results.into_iter().flatten().collect()
    }
}

/// Hands a request to the host and writes its body. A server may answer before it has read
/// the body (a 412 to `If-None-Match`, a 403), which cuts the body short: that answer, waiting
/// in the future, is the outcome, so a body that cannot be finished is not an error here.
fn start(request: &Request, timeouts: Timeouts) -> Result<FutureIncomingResponse, TransportError> {
    let uri: http::Uri = request
        .url
        .parse()
        .map_err(|_| refused(format!("not a URL: {}", request.url)))?;
    let scheme = match uri.scheme_str() {
        Some("https") => Scheme::Https,
        _ => Scheme::Http,
    };
    let entries: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.clone().into_bytes()))
        .collect();
    let headers = Fields::from_list(&entries)
        .map_err(|e| refused(format!("headers rejected by wasi-http: {e:?}")))?;
    let outgoing = OutgoingRequest::new(headers);
    let method = match request.method {
        "GET" => Method::Get,
        "PUT" => Method::Put,
        "HEAD" => Method::Head,
        "DELETE" => Method::Delete,
        "POST" => Method::Post,
        other => Method::Other(other.to_owned()),
    };
    outgoing
        .set_method(&method)
        .map_err(|()| refused(format!("method rejected by wasi-http: {}", request.method)))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| refused(format!("scheme rejected by wasi-http: {scheme:?}")))?;
    let authority = uri.authority().map(|authority| authority.as_str());
    outgoing
        .set_authority(authority)
        .map_err(|()| refused(format!("authority rejected by wasi-http: {authority:?}")))?;
    let path = uri.path_and_query().map(|path| path.as_str());
    outgoing
        .set_path_with_query(path)
        .map_err(|()| refused(format!("path rejected by wasi-http: {path:?}")))?;
    let body = if request.body.is_empty() {
        None
    } else {
        Some(
            outgoing
                .body()
                .map_err(|()| refused("the request body was already taken".to_owned()))?,
        )
    };
    let future =
        outgoing_handler::handle(outgoing, Some(options(timeouts))).map_err(from_error_code)?;
    if let Some(body) = body {
        write_body(body, &request.body);
    }
    Ok(future)
}

/// Timeouts where the host supports them (some hosts refuse to set them; theirs apply).
fn options(timeouts: Timeouts) -> RequestOptions {
    let options = RequestOptions::new();
    let nanos = |duration: Duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    let _ = options.set_connect_timeout(Some(nanos(timeouts.connect)));
    let _ = options.set_first_byte_timeout(Some(nanos(timeouts.first_byte)));
    let _ = options.set_between_bytes_timeout(Some(nanos(timeouts.between_bytes)));
    options
}

/// Writes the body until it is all written or the host stops taking it. Hosts close the stream
/// once they have Content-Length bytes, or when the server has answered or gone; either way
/// the response future says what happened, so failures here are not reported.
fn write_body(body: OutgoingBody, bytes: &[u8]) {
    let Ok(stream) = body.write() else {
        return;
    };
    let mut rest = bytes;
    while !rest.is_empty() {
        match stream.check_write() {
            Ok(0) => stream.subscribe().block(),
            Ok(permitted) => {
                let len = rest
                    .len()
                    .min(usize::try_from(permitted).unwrap_or(usize::MAX));
                if stream.write(&rest[..len]).is_err() {
                    return;
                }
                rest = &rest[len..];
            }
            Err(_) => return,
        }
    }
    if stream.blocking_flush().is_err() {
        return;
    }
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

fn receive(
    outcome: Result<Result<IncomingResponse, ErrorCode>, ()>,
    request: &Request,
) -> Result<Response, TransportError> {
    let incoming = outcome
        .map_err(|()| refused("the response was already taken".to_owned()))?
        .map_err(from_error_code)?;
    let status = incoming.status();
    let max_body = reply_limit(request, status);
    let headers: Vec<(String, String)> = incoming
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(&value).into_owned(),
            )
        })
        .collect();
    // A HEAD reply's Content-Length is the object's, not the reply's.
    let declared = headers
        .iter()
        .find(|(name, _)| name == "content-length" && request.method != "HEAD")
        .and_then(|(_, value)| value.parse::<u64>().ok());
    if let Some(len) = declared
        && len > max_body as u64
    {
        return Err(too_large(len, max_body));
    }
    let body = incoming
        .consume()
        .map_err(|()| refused("the response body was already taken".to_owned()))?;
    let stream = body
        .stream()
        .map_err(|()| refused("the response body stream was already taken".to_owned()))?;
    let mut bytes = Vec::with_capacity(declared.map_or(0, |len| len as usize));
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > max_body {
                    return Err(too_large(bytes.len() as u64, max_body));
                }
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(TransportError::ReplyLost(format!(
                    "the response body broke off: {}",
                    e.to_debug_string()
                )));
            }
        }
    }
    drop(stream);
    drop(wasip2::http::types::IncomingBody::finish(body));
    Ok(Response {
        status,
        headers,
        body: bytes,
    })
}

/// Whether the request may have reached the server decides whether it is safe to send again.
fn from_error_code(code: ErrorCode) -> TransportError {
    match code {
        ErrorCode::HttpRequestDenied => refused(
            "the host denied the request: add the endpoint to the component's allowed outbound \
             hosts"
                .to_owned(),
        ),
        // Spin's answer when a dependency has not been granted outgoing HTTP at all.
        ErrorCode::InternalError(Some(message)) if message.contains("not permitted") => {
            refused(format!(
                "the host does not permit outgoing HTTP from this component ({message}); in \
                 Spin, give the dependency `inherit_configuration = [\"allowed_outbound_hosts\"]` \
                 (Spin 4) or the app `dependencies_inherit_configuration = true`"
            ))
        }
        ErrorCode::HttpRequestUriInvalid
        | ErrorCode::HttpRequestUriTooLong
        | ErrorCode::HttpRequestMethodInvalid
        | ErrorCode::HttpRequestHeaderSectionSize(_)
        | ErrorCode::HttpRequestHeaderSize(_)
        | ErrorCode::ConfigurationError => {
            refused(format!("the host rejected the request: {code:?}"))
        }
        ErrorCode::ConnectionRefused => not_sent("connection refused"),
        ErrorCode::ConnectionTimeout => not_sent("connection timed out"),
        ErrorCode::ConnectionLimitReached => not_sent("the host's connection limit was reached"),
        ErrorCode::DnsError(_) | ErrorCode::DnsTimeout | ErrorCode::DestinationNotFound => {
            not_sent("the host name did not resolve")
        }
        ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpProhibited
        | ErrorCode::DestinationIpUnroutable => not_sent("the destination cannot be reached"),
        ErrorCode::TlsCertificateError => not_sent("the server's TLS certificate was rejected"),
        ErrorCode::TlsProtocolError | ErrorCode::TlsAlertReceived(_) => {
            not_sent("the TLS handshake failed")
        }
        ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
            TransportError::ReplyLost("no reply within the timeout".to_owned())
        }
        other => TransportError::ReplyLost(format!("{other:?}")),
    }
}

fn refused(message: String) -> TransportError {
    TransportError::Refused(message)
}

fn not_sent(message: &str) -> TransportError {
    TransportError::NotSent(message.to_owned())
}

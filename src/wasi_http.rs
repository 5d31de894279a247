//! The wasi:http transport: the only code that touches the host's HTTP.

use std::time::Duration;

use wasip2::clocks::monotonic_clock;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingResponse, Method, OutgoingBody,
    OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::poll;
use wasip2::io::streams::StreamError;

use crate::s3::{Request, Response};
use crate::transport::{Transport, TransportError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);
const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(30);
/// The most bytes read of a non-2xx reply.
const ERROR_REPLY_LIMIT: usize = 64 * 1024;
/// Bytes asked of the host per read of a response body.
const READ_CHUNK: u64 = 256 * 1024;

/// Sends requests through `wasi:http/outgoing-handler`.
pub struct WasiHttp;

impl Transport for WasiHttp {
    fn send_all(&self, requests: &[Request]) -> Vec<Result<Response, TransportError>> {
        let started: Vec<Result<FutureIncomingResponse, TransportError>> =
            requests.iter().map(start).collect();
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

    fn sleep(&self, duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        monotonic_clock::subscribe_duration(nanos).block();
    }
}

/// Hands a request to the host and writes its body.
fn start(request: &Request) -> Result<FutureIncomingResponse, TransportError> {
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
    let future = outgoing_handler::handle(outgoing, Some(options())).map_err(from_error_code)?;
    if let Some(body) = body {
        write_body(body, &request.body)?;
    }
    Ok(future)
}

/// Timeouts where the host supports them (some hosts refuse to set them; the defaults apply).
fn options() -> RequestOptions {
    let options = RequestOptions::new();
    let nanos = |duration: Duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    let _ = options.set_connect_timeout(Some(nanos(CONNECT_TIMEOUT)));
    let _ = options.set_first_byte_timeout(Some(nanos(FIRST_BYTE_TIMEOUT)));
    let _ = options.set_between_bytes_timeout(Some(nanos(BETWEEN_BYTES_TIMEOUT)));
    options
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), TransportError> {
    let stream = body
        .write()
        .map_err(|()| refused("the request body stream was already taken".to_owned()))?;
    let mut rest = bytes;
    // Hosts close the stream once they have Content-Length bytes, so `Closed` ends the body;
    // a real failure arrives through the response future.
    while !rest.is_empty() {
        match stream.check_write() {
            Ok(0) => stream.subscribe().block(),
            Ok(permitted) => {
                let len = rest
                    .len()
                    .min(usize::try_from(permitted).unwrap_or(usize::MAX));
                match stream.write(&rest[..len]) {
                    Ok(()) => rest = &rest[len..],
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => {
                        return Err(unreachable(e.to_debug_string()));
                    }
                }
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(unreachable(e.to_debug_string()));
            }
        }
    }
    if let Err(StreamError::LastOperationFailed(e)) = stream.blocking_flush() {
        return Err(unreachable(e.to_debug_string()));
    }
    drop(stream);
    OutgoingBody::finish(body, None).map_err(from_error_code)
}

fn receive(
    outcome: Result<Result<IncomingResponse, ErrorCode>, ()>,
    request: &Request,
) -> Result<Response, TransportError> {
    let incoming = outcome
        .map_err(|()| refused("the response was already taken".to_owned()))?
        .map_err(from_error_code)?;
    let status = incoming.status();
    // Error replies are small XML documents whatever the request allowed for its object.
    let max_body = if (200..300).contains(&status) {
        request.max_response_body
    } else {
        ERROR_REPLY_LIMIT
    };
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
    let too_large = |len: u64| {
        TransportError::TooLarge(format!(
            "the response has {len} bytes; at most {max_body} are accepted"
        ))
    };
    if let Some(len) = declared
        && len > max_body as u64
    {
        return Err(too_large(len));
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
                    return Err(too_large(bytes.len() as u64));
                }
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(unreachable(format!(
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

fn from_error_code(code: ErrorCode) -> TransportError {
    match code {
        ErrorCode::HttpRequestDenied => refused(
            "the host denied the request (is the endpoint among the allowed outbound hosts?)"
                .to_owned(),
        ),
        ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpRequestMethodInvalid => {
            refused(format!("the host rejected the request: {code:?}"))
        }
        ErrorCode::ConnectionRefused => unreachable("connection refused".to_owned()),
        ErrorCode::ConnectionTimeout => unreachable("connection timed out".to_owned()),
        ErrorCode::DnsError(_) | ErrorCode::DnsTimeout => {
            unreachable("the host name did not resolve".to_owned())
        }
        ErrorCode::TlsCertificateError => {
            unreachable("the server's TLS certificate was rejected".to_owned())
        }
        other => unreachable(format!("{other:?}")),
    }
}

fn refused(message: String) -> TransportError {
    TransportError::Refused(message)
}

fn unreachable(message: String) -> TransportError {
    TransportError::Unreachable(message)
}

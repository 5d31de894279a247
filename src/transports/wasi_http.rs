//! The wasi:http transport: the only code that touches the host's HTTP.

use std::time::Duration;

use wasip2::clocks::monotonic_clock;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingResponse, Method, OutgoingBody,
    OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::poll::{self, Pollable};
use wasip2::io::streams::StreamError;

use super::{reply_limit, too_large};
use crate::client::transport::{Transport, TransportError};
use crate::s3::{Request, Response, clean_text};
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
    fn send_all(
        &self,
        requests: &[Request],
        within: Duration,
    ) -> Vec<Result<Response, TransportError>> {
        // One timer for the whole batch: whatever is unanswered when it fires is abandoned,
        // and dropping its future makes the host cancel it.
        let timer = monotonic_clock::subscribe_duration(nanos(within));
        let timeouts = self.timeouts.within(within);
        // A request is not handed over once the timer has fired (an earlier body may have
        // taken the time): it could not be answered, only left in doubt.
        let started: Vec<Result<FutureIncomingResponse, TransportError>> = requests
            .iter()
            .map(|request| {
                if timer.ready() {
                    Err(TransportError::Abandoned)
                } else {
                    start(request, timeouts, &timer)
                }
            })
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
            if timer.ready() {
                for index in pending {
                    results[index] = Some(Err(TransportError::Abandoned));
                }
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
            let mut ready: Vec<&_> = pollables.iter().collect();
            ready.push(&timer);
            for position in poll::poll(&ready) {
                // An index out of range (the timer's, or a host bug) is skipped, not a trap.
                let Some(&index) = pending.get(position as usize) else {
                    continue;
                };
                if let Ok(future) = &started[index]
                    && let Some(outcome) = future.get()
                {
                    results[index] = Some(receive(outcome, &requests[index], &timer));
                }
            }
        }
        results.into_iter().flatten().collect()
    }
}

/// Waits until `pollable` is ready; false when the timer fired first.
fn wait(pollable: &Pollable, timer: &Pollable) -> bool {
    poll::poll(&[pollable, timer]);
    pollable.ready()
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Hands a request to the host and writes its body. A server may answer before it has read
/// the body (a 412 to `If-None-Match`, a 403), which cuts the body short: that answer, waiting
/// in the future, is the outcome, so a body that cannot be finished is not an error here.
fn start(
    request: &Request,
    timeouts: Timeouts,
    timer: &Pollable,
) -> Result<FutureIncomingResponse, TransportError> {
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
        write_body(body, &request.body, timer);
    }
    Ok(future)
}

/// Timeouts where the host supports them (some hosts refuse to set them; theirs apply).
fn options(timeouts: Timeouts) -> RequestOptions {
    let options = RequestOptions::new();
    let _ = options.set_connect_timeout(Some(nanos(timeouts.connect)));
    let _ = options.set_first_byte_timeout(Some(nanos(timeouts.first_byte)));
    let _ = options.set_between_bytes_timeout(Some(nanos(timeouts.between_bytes)));
    options
}

/// Writes the body until it is all written, the host stops taking it, or the timer fires.
/// Hosts close the stream once they have Content-Length bytes, or when the server has answered
/// or gone; either way the response future says what happened, so failures here are not
/// reported.
fn write_body(body: OutgoingBody, bytes: &[u8], timer: &Pollable) {
    let Ok(stream) = body.write() else {
        return;
    };
    let mut rest = bytes;
    while !rest.is_empty() {
        match stream.check_write() {
            Ok(0) => {
                if !wait(&stream.subscribe(), timer) {
                    return;
                }
            }
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
    if stream.flush().is_err() {
        return;
    }
    // A flush is done when the stream can be written again.
    loop {
        match stream.check_write() {
            Ok(0) => {
                if !wait(&stream.subscribe(), timer) {
                    return;
                }
            }
            Ok(_) => break,
            Err(_) => return,
        }
    }
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

/// Reads a reply whole, within the request's limit and before the timer fires.
fn receive(
    outcome: Result<Result<IncomingResponse, ErrorCode>, ()>,
    request: &Request,
    timer: &Pollable,
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
    let mut bytes = Vec::new();
    // The declared length is within the limit; an allocation that fails is an error, not a trap.
    if let Some(len) = declared {
        bytes
            .try_reserve_exact(usize::try_from(len).unwrap_or(usize::MAX))
            .map_err(|_| too_large(len, max_body))?;
    }
    loop {
        match stream.read(READ_CHUNK) {
            Ok(chunk) if chunk.is_empty() => {
                if !wait(&stream.subscribe(), timer) {
                    return Err(TransportError::Abandoned);
                }
            }
            Ok(chunk) => {
                if bytes.len() + chunk.len() > max_body {
                    return Err(too_large((bytes.len() + chunk.len()) as u64, max_body));
                }
                bytes
                    .try_reserve(chunk.len())
                    .map_err(|_| too_large((bytes.len() + chunk.len()) as u64, max_body))?;
                bytes.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(TransportError::ReplyLost(format!(
                    "reply: the body broke off: {}",
                    clean_text(&e.to_debug_string())
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
        // The s3cache runtime names the TLS failure this way (wasi:http's codes carry no
        // reason for it).
        ErrorCode::InternalError(Some(message)) if message.starts_with("TLS: ") => {
            refused(clean_text(&message))
        }
        ErrorCode::HttpRequestUriInvalid
        | ErrorCode::HttpRequestUriTooLong
        | ErrorCode::HttpRequestMethodInvalid
        | ErrorCode::HttpRequestHeaderSectionSize(_)
        | ErrorCode::HttpRequestHeaderSize(_)
        | ErrorCode::ConfigurationError => {
            refused(format!("the host rejected the request: {code:?}"))
        }
        ErrorCode::ConnectionRefused => not_sent("connect: connection refused"),
        ErrorCode::ConnectionTimeout => not_sent("connect: timed out"),
        ErrorCode::ConnectionLimitReached => {
            not_sent("connect: the host's connection limit was reached")
        }
        ErrorCode::DnsError(_) | ErrorCode::DnsTimeout | ErrorCode::DestinationNotFound => {
            not_sent("the host name did not resolve")
        }
        ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpProhibited
        | ErrorCode::DestinationIpUnroutable => {
            not_sent("connect: the destination cannot be reached")
        }
        // Sending again will not fix a TLS failure: it is reported, not retried.
        ErrorCode::TlsCertificateError => refused(
            "TLS: the server's certificate was rejected (an unknown authority, another host \
             name, or expired)"
                .to_owned(),
        ),
        ErrorCode::TlsProtocolError => {
            refused("TLS: the handshake failed (is the endpoint http://, not https://?)".to_owned())
        }
        ErrorCode::TlsAlertReceived(alert) => refused(format!(
            "TLS: the server refused the handshake ({})",
            clean_text(alert.alert_message.as_deref().unwrap_or("no reason given"))
        )),
        ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
            TransportError::ReplyLost("reply: none within the timeout".to_owned())
        }
        ErrorCode::ConnectionTerminated | ErrorCode::HttpResponseIncomplete => {
            TransportError::ReplyLost(
                "reply: the connection closed before the reply was complete".to_owned(),
            )
        }
        ErrorCode::HttpResponseHeaderSectionSize(_) | ErrorCode::HttpResponseHeaderSize(_) => {
            TransportError::ReplyLost("reply: its headers are too large".to_owned())
        }
        ErrorCode::InternalError(Some(message)) => TransportError::ReplyLost(clean_text(&message)),
        other => TransportError::ReplyLost(clean_text(&format!("{other:?}"))),
    }
}

fn refused(message: String) -> TransportError {
    TransportError::Refused(message)
}

fn not_sent(message: &str) -> TransportError {
    TransportError::NotSent(message.to_owned())
}

//! Why a request of the native HTTP client failed, found in its error chain and put in the
//! words a user needs: the phase it failed in, and for TLS the reason. The native transport and
//! the runtime's wasi:http host share it.

use std::error::Error as StdError;

/// A failed request, by phase and cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFailure {
    /// The host name did not resolve.
    Dns(String),
    /// Nothing listens at the address.
    ConnectionRefused,
    /// The connection was not made in time.
    ConnectTimeout,
    /// The server's certificate was rejected; the reason in words.
    TlsCertificate(String),
    /// The server answered the TLS handshake with something that is not TLS.
    NotTls,
    /// The TLS handshake failed for another reason.
    Tls(String),
    /// The reply's headers were larger than the client accepts.
    HeadersTooLarge,
    /// The connection closed or reset before the reply was complete.
    ConnectionClosed,
    /// No reply within the timeout.
    ReplyTimeout,
    /// Anything else, as the client put it.
    Other(String),
}

impl HttpFailure {
    /// Reads `error`'s chain.
    pub fn of(error: &reqwest::Error) -> HttpFailure {
        let chain = || chain(error);
        if let Some(dns) = chain().find_map(find::<super::reqwest::DnsFailure>) {
            return HttpFailure::Dns(dns.to_string());
        }
        // TLS fails while connecting; a TLS error on a connection already carrying the request
        // (a pooled one) is a connection that broke.
        if let Some(tls) = chain().find_map(find::<rustls::Error>) {
            return if error.is_connect() {
                from_rustls(tls)
            } else {
                HttpFailure::ConnectionClosed
            };
        }
        if let Some(hyper) = chain().find_map(find::<hyper::Error>) {
            // `is_parse_too_large` needs hyper's server side; the kind shows in the text.
            if hyper.is_parse() && hyper.to_string().contains("too large") {
                return HttpFailure::HeadersTooLarge;
            }
            if hyper.is_incomplete_message() || hyper.is_closed() || hyper.is_canceled() {
                return HttpFailure::ConnectionClosed;
            }
        }
        if let Some(io) = chain().find_map(innermost_io) {
            match io.kind() {
                // Only a TLS handshake reads during connect.
                std::io::ErrorKind::UnexpectedEof if error.is_connect() => {
                    return HttpFailure::Tls(
                        "the server closed the connection (is the endpoint http://, not \
                         https://?)"
                            .to_owned(),
                    );
                }
                std::io::ErrorKind::ConnectionRefused => return HttpFailure::ConnectionRefused,
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof => return HttpFailure::ConnectionClosed,
                _ => {}
            }
        }
        if error.is_timeout() {
            return if error.is_connect() {
                HttpFailure::ConnectTimeout
            } else {
                HttpFailure::ReplyTimeout
            };
        }
        HttpFailure::Other(chain().last().map_or_else(String::new, ToString::to_string))
    }

    /// Whether it is the TLS handshake's, which sending again will not fix (a certificate not
    /// trusted, an endpoint that does not speak TLS).
    pub fn is_tls(&self) -> bool {
        matches!(
            self,
            HttpFailure::TlsCertificate(_) | HttpFailure::NotTls | HttpFailure::Tls(_)
        )
    }

    /// Whether the request may have reached the server: only then can sending it again apply
    /// it twice.
    pub fn may_have_reached_the_server(&self) -> bool {
        matches!(
            self,
            HttpFailure::HeadersTooLarge
                | HttpFailure::ConnectionClosed
                | HttpFailure::ReplyTimeout
                | HttpFailure::Other(_)
        )
    }
}

impl std::fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpFailure::Dns(why) => write!(f, "{why}"),
            HttpFailure::ConnectionRefused => write!(f, "connect: connection refused"),
            HttpFailure::ConnectTimeout => write!(f, "connect: timed out"),
            HttpFailure::TlsCertificate(why) => write!(f, "TLS: the server's certificate {why}"),
            HttpFailure::NotTls => write!(
                f,
                "TLS: the server did not answer in TLS (is the endpoint http://, not https://?)"
            ),
            HttpFailure::Tls(why) => write!(f, "TLS: the handshake failed: {why}"),
            HttpFailure::HeadersTooLarge => write!(f, "reply: its headers are too large"),
            HttpFailure::ConnectionClosed => {
                write!(
                    f,
                    "reply: the connection closed before the reply was complete"
                )
            }
            HttpFailure::ReplyTimeout => write!(f, "reply: none within the timeout"),
            HttpFailure::Other(why) => write!(f, "{why}"),
        }
    }
}

/// The innermost `io::Error` wrapped in `error`, if it is one.
fn innermost_io<'e>(error: &'e (dyn StdError + 'static)) -> Option<&'e std::io::Error> {
    let mut io = error.downcast_ref::<std::io::Error>()?;
    while let Some(inner) = io
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<std::io::Error>())
    {
        io = inner;
    }
    Some(io)
}

/// `error` and the errors under it.
fn chain<'e>(
    error: &'e (dyn StdError + 'static),
) -> impl Iterator<Item = &'e (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |error| StdError::source(*error))
}

/// `error` as a `T`, looking inside `io::Error`s too (their `source` skips what they wrap, and
/// TLS errors come wrapped twice).
fn find<'e, T: StdError + 'static>(error: &'e (dyn StdError + 'static)) -> Option<&'e T> {
    let mut error = error;
    loop {
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        let inner = error.downcast_ref::<std::io::Error>()?.get_ref()?;
        error = inner;
    }
}

fn from_rustls(error: &rustls::Error) -> HttpFailure {
    use rustls::CertificateError as Cert;
    match error {
        rustls::Error::InvalidCertificate(certificate) => {
            HttpFailure::TlsCertificate(match certificate {
                Cert::UnknownIssuer => "is issued by an unknown authority (AWS_CA_BUNDLE names \
                                        a bundle of CAs to trust)"
                    .to_owned(),
                Cert::NotValidForName | Cert::NotValidForNameContext { .. } => {
                    "is not valid for this host name".to_owned()
                }
                Cert::Expired | Cert::ExpiredContext { .. } => "has expired".to_owned(),
                Cert::NotValidYet | Cert::NotValidYetContext { .. } => {
                    "is not valid yet".to_owned()
                }
                other => format!("was rejected: {other:?}"),
            })
        }
        rustls::Error::InvalidMessage(_) => HttpFailure::NotTls,
        other => HttpFailure::Tls(other.to_string()),
    }
}

//! The cache without wasm: the same core over a native HTTP transport (reqwest), for Rust
//! programs, and as the baseline the component is measured against.
//!
//! Calls block, as the component's do: from async code, run them with `spawn_blocking`.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;

use super::http_failure::HttpFailure;
use super::{reply_limit, too_large};
use crate::cache::Cache;
use crate::client::transport::{Transport, TransportError};
use crate::core::cull::CullMode;
use crate::core::key::KeyScheme;
use crate::error::{Error, Result};
use crate::s3::{Credentials, clean_text};
use crate::s3::{Request, Response};
use crate::settings::Timeouts;
use crate::settings::{Config, SETTINGS, Setting, Settings};

/// Sends requests with a pooled keep-alive reqwest client, several at once for batches. It
/// honours HTTPS_PROXY / HTTP_PROXY / NO_PROXY and AWS_CA_BUNDLE, and resolves `*.localhost` to
/// loopback.
pub struct ReqwestTransport {
    client: reqwest::Client,
    // Taken on drop (see below); there until then.
    runtime: Option<tokio::runtime::Runtime>,
    requests: AtomicU64,
}

impl ReqwestTransport {
    /// A transport with these timeouts.
    pub fn new(timeouts: Timeouts) -> Result<ReqwestTransport> {
        Ok(ReqwestTransport {
            client: http_client(timeouts)?,
            runtime: Some(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?,
            ),
            requests: AtomicU64::new(0),
        })
    }

    /// Requests sent so far.
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| TransportError::Refused(format!("bad method {}", request.method)))?;
        let mut builder = self.client.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if !request.body.is_empty() {
            builder = builder.body(request.body.clone());
        }
        let response = builder.send().await.map_err(|error| from_reqwest(&error))?;
        let status = response.status().as_u16();
        let max_body = reply_limit(request, status);
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let declared = response
            .content_length()
            .filter(|_| request.method != "HEAD");
        if let Some(len) = declared
            && len > max_body as u64
        {
            return Err(too_large(len, max_body));
        }
        let mut body = Vec::new();
        // The declared length is within the limit; an allocation that fails is an error.
        if let Some(len) = declared {
            body.try_reserve_exact(usize::try_from(len).unwrap_or(usize::MAX))
                .map_err(|_| too_large(len, max_body))?;
        }
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| {
                TransportError::ReplyLost(format!(
                    "reply: the body broke off: {}",
                    clean_text(&error.to_string())
                ))
            })?;
            let len = body.len() + chunk.len();
            if len > max_body {
                return Err(too_large(len as u64, max_body));
            }
            body.try_reserve(chunk.len())
                .map_err(|_| too_large(len as u64, max_body))?;
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

impl Transport for ReqwestTransport {
    fn send_all(
        &self,
        requests: &[Request],
        within: Duration,
    ) -> Vec<Result<Response, TransportError>> {
        let Some(runtime) = &self.runtime else {
            let gone = || TransportError::NotSent("the transport has shut down".to_owned());
            return requests.iter().map(|_| Err(gone())).collect();
        };
        // Dropping a request's future at the deadline cancels it, connection and all.
        let bounded = requests.iter().map(|request| async move {
            tokio::time::timeout(within, self.send(request))
                .await
                .unwrap_or(Err(TransportError::Abandoned))
        });
        runtime.block_on(join_all(bounded))
    }
}

impl Drop for ReqwestTransport {
    fn drop(&mut self) {
        // A runtime dropped the ordinary way waits for its tasks, which tokio forbids inside
        // another runtime (a cache dropped in async code): let it go in the background.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Idle keep-alive connections kept per host.
const POOL_IDLE_PER_HOST: usize = 64;

/// The reqwest client the native transport and the runtime's outgoing HTTP share: keep-alive, no Nagle,
/// the proxy variables, AWS_CA_BUNDLE, `*.localhost` on loopback.
pub fn http_client(timeouts: Timeouts) -> Result<reqwest::Client> {
    // rustls needs a process-wide crypto provider; ring is the one this build carries.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .read_timeout(timeouts.first_byte.max(timeouts.between_bytes))
        .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
        .tcp_nodelay(true)
        // A redirect would carry the signed request, security token and all, to wherever the
        // server points; S3 answers a wrong region with one. The client reports it instead.
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(LocalhostResolver));
    if let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|path| !path.is_empty()) {
        let pem = std::fs::read(&path).map_err(|e| {
            Error::InvalidConfig(format!(
                "AWS_CA_BUNDLE: cannot read {}: {e}",
                std::path::Path::new(&path).display()
            ))
        })?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| Error::InvalidConfig(format!("AWS_CA_BUNDLE: not a PEM bundle: {e}")))?;
        builder = builder.tls_certs_merge(certificates);
    }
    builder
        .build()
        .map_err(|e| Error::Other(format!("cannot build the HTTP client: {e}")))
}

/// The system resolver, except that `localhost` and every `*.localhost` name are loopback (RFC
/// 6761, as curl and browsers have it), so virtual-hosted addressing reaches a local server.
struct LocalhostResolver;

impl reqwest::dns::Resolve for LocalhostResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = if host == "localhost" || host.ends_with(".localhost") {
                vec![
                    SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                    SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
                ]
            } else {
                tokio::net::lookup_host((host.as_str(), 0))
                    .await
                    .map_err(|source| DnsFailure {
                        host: host.clone(),
                        source,
                    })?
                    .collect()
            };
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A host name that did not resolve: a type of its own, so that callers tell a DNS failure
/// from other connect errors by the error chain rather than by its text.
#[derive(Debug)]
pub(crate) struct DnsFailure {
    host: String,
    source: std::io::Error,
}

impl std::fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot resolve {}: {}", self.host, self.source)
    }
}

impl std::error::Error for DnsFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Whether a failed request may have reached the server decides whether resending is safe.
fn from_reqwest(error: &reqwest::Error) -> TransportError {
    if error.is_builder() {
        return TransportError::Refused(format!("the request could not be made: {error}"));
    }
    let failure = HttpFailure::of(error);
    if failure.is_tls() {
        TransportError::Refused(failure.to_string())
    } else if failure.may_have_reached_the_server() {
        TransportError::ReplyLost(failure.to_string())
    } else {
        TransportError::NotSent(failure.to_string())
    }
}

/// Builds a native [`Cache`]: any setting of the table by name with [`Builder::with`], the
/// common ones typed; `build` validates them as the component's `open` does.
#[derive(Debug, Clone)]
pub struct Builder {
    settings: Settings,
    /// The first setting refused, reported by `build`.
    refused: Option<Error>,
}

impl Builder {
    /// A cache in `bucket` with these credentials, every other setting at its default.
    pub fn new(bucket: &str, credentials: Credentials) -> Builder {
        Builder {
            settings: Settings::new(bucket, credentials),
            refused: None,
        }
    }

    /// A builder starting from complete settings.
    pub fn from_settings(settings: Settings) -> Builder {
        Builder {
            settings,
            refused: None,
        }
    }

    /// A cache in `bucket`, with the credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
    /// and AWS_SESSION_TOKEN and every other setting from its environment variables, as the
    /// CLI reads them (AWS_REGION, AWS_ENDPOINT_URL, S3CACHE_MAX_ENTRIES, ...). Missing
    /// credentials and malformed values fail at `build`.
    pub fn from_env(bucket: &str) -> Builder {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let first = |row: &Setting| row.env.iter().find_map(|name| var(name));
        let credentials = Credentials {
            access_key_id: var("AWS_ACCESS_KEY_ID").unwrap_or_default(),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY").unwrap_or_default(),
            session_token: var("AWS_SESSION_TOKEN"),
        };
        SETTINGS
            .iter()
            .filter(|row| !row.secret && row.name != "bucket")
            .fold(
                Builder::new(bucket, credentials),
                |builder, row| match first(row) {
                    Some(value) => builder.with(row.name, &value),
                    None => builder,
                },
            )
    }

    /// The setting `name` (a row of [`SETTINGS`]) as text, as every surface writes it:
    /// `with("max-entries", "unlimited")`, `with("deadline", "2.5")`.
    pub fn with(mut self, name: &str, value: &str) -> Builder {
        if let Err(error) = self.settings.set(name, value) {
            self.refused.get_or_insert(error);
        }
        self
    }

    /// The bucket's region.
    pub fn with_region(mut self, region: &str) -> Builder {
        self.settings.region = region.to_owned();
        self
    }

    /// An S3-compatible endpoint, `http(s)://host[:port][/base-path]`.
    pub fn with_endpoint(mut self, endpoint: &str) -> Builder {
        self.settings.endpoint = Some(endpoint.to_owned());
        self
    }

    /// The prefix under which entries live.
    pub fn with_location(self, location: &str) -> Builder {
        self.with("location", location)
    }

    /// Keys arrive made (hashed as given) rather than prefixed here.
    pub fn with_key_scheme(mut self, scheme: KeyScheme) -> Builder {
        self.settings.key_scheme = scheme;
        self
    }

    /// Django's MAX_ENTRIES (`None`: unlimited) and CULL_FREQUENCY, and how writes count.
    pub fn with_culling(
        mut self,
        max_entries: Option<u32>,
        cull_frequency: u32,
        mode: CullMode,
    ) -> Builder {
        self.settings.max_entries = max_entries;
        self.settings.cull_frequency = cull_frequency;
        self.settings.cull_mode = mode;
        self
    }

    /// Any setting, on the settings themselves.
    pub fn with_settings(mut self, change: impl FnOnce(&mut Settings)) -> Builder {
        change(&mut self.settings);
        self
    }

    /// Validates the settings and makes the cache; it sends no request.
    pub fn build(self) -> Result<Cache<ReqwestTransport>> {
        if let Some(refused) = self.refused {
            return Err(refused);
        }
        let config = Config::new(self.settings)?;
        let transport = ReqwestTransport::new(config.timeouts)?;
        Ok(Cache::new(config, transport))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_names_resolve_to_loopback() {
        use reqwest::dns::Resolve;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for name in ["localhost", "bucket.localhost", "a.b.LOCALHOST."] {
            let addrs: Vec<SocketAddr> = runtime
                .block_on(LocalhostResolver.resolve(name.parse().unwrap()))
                .unwrap()
                .collect();
            assert!(addrs.iter().all(|addr| addr.ip().is_loopback()), "{name}");
        }
    }

    /// How a GET of `url` fails, through the client the transports use.
    fn failure_of(url: &str) -> HttpFailure {
        let timeouts = Timeouts {
            connect: Duration::from_secs(2),
            first_byte: Duration::from_secs(2),
            between_bytes: Duration::from_secs(2),
        };
        let client = http_client(timeouts).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let error = runtime
            .block_on(async { client.get(url).send().await })
            .unwrap_err();
        HttpFailure::of(&error)
    }

    #[test]
    fn failures_are_told_by_phase_and_cause() {
        assert!(matches!(
            failure_of("http://nowhere.invalid/"),
            HttpFailure::Dns(why) if why.contains("nowhere.invalid")
        ));
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        assert_eq!(
            failure_of(&format!("http://127.0.0.1:{port}/")),
            HttpFailure::ConnectionRefused
        );
        // A plain-HTTP server asked for TLS answers with text, not a handshake.
        let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = plain.local_addr().unwrap().port();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for mut stream in plain.incoming().flatten().take(2) {
                let _ = stream.read(&mut [0; 1024]);
                let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
            }
        });
        let not_tls = failure_of(&format!("https://127.0.0.1:{port}/"));
        assert_eq!(not_tls, HttpFailure::NotTls);
        assert!(not_tls.to_string().starts_with("TLS: "));
        assert!(!not_tls.may_have_reached_the_server());
    }

    #[test]
    fn the_builder_validates_as_open_does() {
        let credentials = Credentials {
            access_key_id: "id".to_owned(),
            secret_access_key: "secret".to_owned(),
            session_token: None,
        };
        let built = Builder::new("Bad_Bucket", credentials.clone()).build();
        assert!(matches!(built, Err(Error::InvalidSetting { setting, .. }) if setting == "bucket"));
        let refused = Builder::new("good-bucket", credentials.clone())
            .with("max-entries", "lots")
            .build();
        assert!(
            matches!(refused, Err(Error::InvalidSetting { setting, .. }) if setting == "max-entries")
        );
        let cache = Builder::new("good-bucket", credentials)
            .with_endpoint("http://127.0.0.1:1")
            .with_location("x")
            .build();
        assert!(cache.is_ok());
    }

    #[test]
    fn a_dead_endpoint_is_unavailable_not_a_panic() {
        let credentials = Credentials {
            access_key_id: "id".to_owned(),
            secret_access_key: "secret".to_owned(),
            session_token: None,
        };
        let cache = Builder::new("bucket", credentials)
            .with_endpoint("http://127.0.0.1:1")
            .with("max-attempts", "1")
            .build()
            .unwrap();
        assert!(matches!(cache.get("k"), Err(Error::Unavailable(_))));
    }
}

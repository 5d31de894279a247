//! Runs the s3cache component under wasmtime: compilation (cached on disk), instantiation,
//! and the wasi:http hook that sends the component's requests over a pooled client.

use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{Context, Result};
use http_body_util::BodyExt;
use s3cache::transport::Timeouts;
use wasmtime::component::{Component, Linker, ResourceAny, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
    WasiHttpView,
};

use crate::wasi_config::ConfigValues;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "component",
        exports: { default: async },
    });
}

use bindings::exports::s3cache::cache::cache::Config as WitConfig;
pub use bindings::exports::s3cache::cache::cache::{
    Compression, CullMode, Error as CacheError, KeyScheme, Stats, Ttl,
};

/// S3 credentials as the host holds them, until the runtime hands them to the component as
/// its `credentials` resource: the component's own type, whose `Debug` shows only the key id.
pub use s3cache::config::Credentials;

/// The WIT `config` record as the host fills it in (each field is documented in
/// `wit/cache.wit`), with plain credentials in place of the resource.
#[derive(Debug, Clone)]
#[allow(missing_docs, reason = "the WIT documents each field")]
pub struct Config {
    pub bucket: String,
    pub region: String,
    pub endpoint: Option<String>,
    pub path_style: Option<bool>,
    pub credentials: Credentials,
    pub location: String,
    pub key_prefix: String,
    pub version: i64,
    pub key_scheme: Option<KeyScheme>,
    pub default_ttl: Ttl,
    pub max_entries: Option<u32>,
    pub cull_frequency: Option<u32>,
    pub cull_mode: Option<CullMode>,
    pub compression: Option<Compression>,
    pub max_value_bytes: Option<u32>,
    pub acl: Option<String>,
    pub bucket_acl: Option<String>,
    pub storage_class: Option<String>,
    pub reduced_redundancy: bool,
    pub sse: Option<String>,
    pub sse_kms_key_id: Option<String>,
    pub create_bucket: bool,
    pub max_attempts: Option<u32>,
    pub deadline_ms: Option<u32>,
    pub connect_timeout_ms: Option<u32>,
    pub first_byte_timeout_ms: Option<u32>,
    pub between_bytes_timeout_ms: Option<u32>,
}

impl Config {
    /// A config for `bucket` in `region` with every optional field at its default: AWS S3's
    /// endpoint, the root location, Django's naming, timeout and culling.
    pub fn new(bucket: &str, region: &str, credentials: Credentials) -> Config {
        Config {
            bucket: bucket.to_owned(),
            region: region.to_owned(),
            endpoint: None,
            path_style: None,
            credentials,
            location: String::new(),
            key_prefix: String::new(),
            version: 1,
            key_scheme: None,
            default_ttl: Ttl::Default,
            max_entries: None,
            cull_frequency: None,
            cull_mode: None,
            compression: None,
            max_value_bytes: None,
            acl: None,
            bucket_acl: None,
            storage_class: None,
            reduced_redundancy: false,
            sse: None,
            sse_kms_key_id: None,
            create_bucket: false,
            max_attempts: None,
            deadline_ms: None,
            connect_timeout_ms: None,
            first_byte_timeout_ms: None,
            between_bytes_timeout_ms: None,
        }
    }

    /// The same settings for the natively compiled core (the benchmark's baseline).
    pub fn to_settings(&self) -> s3cache::config::Settings {
        let millis = |ttl: Ttl| match ttl {
            Ttl::Default => None,
            Ttl::Never => Some(None),
            Ttl::Seconds(seconds) => Some(Some(seconds.saturating_mul(1000))),
            Ttl::Milliseconds(millis) => Some(Some(millis)),
        };
        s3cache::config::Settings {
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            path_style: self.path_style,
            credentials: self.credentials.clone(),
            location: self.location.clone(),
            key_prefix: self.key_prefix.clone(),
            version: self.version,
            key_scheme: match self.key_scheme {
                Some(KeyScheme::Made) => s3cache::key::KeyScheme::Made,
                _ => s3cache::key::KeyScheme::Prefixed,
            },
            default_lifetime: millis(self.default_ttl),
            max_entries: self.max_entries,
            cull_frequency: self.cull_frequency,
            cull_mode: match self.cull_mode {
                Some(CullMode::Exact) => s3cache::cull::CullMode::Exact,
                Some(CullMode::Sampled) => s3cache::cull::CullMode::Sampled,
                _ => s3cache::cull::CullMode::Auto,
            },
            compress_above: self.compression.map(|compression| match compression {
                Compression::Off => None,
                Compression::Above(bytes) => Some(bytes),
            }),
            max_value_bytes: self.max_value_bytes,
            acl: self.acl.clone(),
            bucket_acl: self.bucket_acl.clone(),
            storage_class: self.storage_class.clone(),
            reduced_redundancy: self.reduced_redundancy,
            sse: self.sse.clone(),
            sse_kms_key_id: self.sse_kms_key_id.clone(),
            create_bucket: self.create_bucket,
            max_attempts: self.max_attempts,
            deadline_ms: self.deadline_ms,
            connect_timeout_ms: self.connect_timeout_ms,
            first_byte_timeout_ms: self.first_byte_timeout_ms,
            between_bytes_timeout_ms: self.between_bytes_timeout_ms,
        }
    }

    /// The record, with `credentials` (a resource made in the store's instance).
    fn to_wit(&self, credentials: ResourceAny) -> WitConfig {
        WitConfig {
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            path_style: self.path_style,
            credentials,
            location: self.location.clone(),
            key_prefix: self.key_prefix.clone(),
            version: self.version,
            key_scheme: self.key_scheme,
            default_ttl: self.default_ttl,
            max_entries: self.max_entries,
            cull_frequency: self.cull_frequency,
            cull_mode: self.cull_mode,
            compression: self.compression,
            max_value_bytes: self.max_value_bytes,
            acl: self.acl.clone(),
            bucket_acl: self.bucket_acl.clone(),
            storage_class: self.storage_class.clone(),
            reduced_redundancy: self.reduced_redundancy,
            sse: self.sse.clone(),
            sse_kms_key_id: self.sse_kms_key_id.clone(),
            create_bucket: self.create_bucket,
            max_attempts: self.max_attempts,
            deadline_ms: self.deadline_ms,
            connect_timeout_ms: self.connect_timeout_ms,
            first_byte_timeout_ms: self.first_byte_timeout_ms,
            between_bytes_timeout_ms: self.between_bytes_timeout_ms,
        }
    }
}

/// The component built from this repository, embedded at compile time.
pub const EMBEDDED_COMPONENT: &[u8] = include_bytes!(env!("S3CACHE_COMPONENT_PATH"));

/// The keyvalue component (the `keyvalue-component` world), embedded at compile time.
pub const EMBEDDED_KEYVALUE_COMPONENT: &[u8] =
    include_bytes!(env!("S3CACHE_KEYVALUE_COMPONENT_PATH"));

/// The longest connect, first-byte and between-bytes timeouts, for components that set none.
const LONGEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A compiled component, ready to instantiate many times.
pub struct Runtime {
    engine: Engine,
    pre: bindings::ComponentPre<State>,
    client: reqwest::Client,
    requests: Arc<AtomicU64>,
}

impl Runtime {
    /// Compiles `wasm` (or loads it from wasmtime's on-disk cache) and links the WASI imports.
    pub fn new(wasm: &[u8]) -> Result<Runtime> {
        let engine = engine()?;
        let component = Component::new(&engine, wasm)
            .map_err(anyhow::Error::from)
            .context("cannot compile the component")?;
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(bindings::ComponentPre::new)
            .map_err(anyhow::Error::from)
            .context("the component does not fit: it must export s3cache:cache/cache@0.1.0 and import only wasi:*")?;
        Ok(Runtime {
            engine,
            pre,
            client: pooled_client()?,
            requests: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Reads a component from a file and prepares it.
    pub fn from_file(path: &Path) -> Result<Runtime> {
        let wasm =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Runtime::new(&wasm)
    }

    /// The counter of the requests sent, for watching it while a call runs.
    pub fn request_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.requests)
    }

    /// HTTP requests the component has sent through this runtime so far.
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Instantiates the component and opens a store, its refusal as an error.
    pub async fn open_store(&self, config: &Config) -> Result<CacheStore> {
        answer(self.open(config).await?)
    }

    /// Instantiates the component and opens a store with `config`.
    pub async fn open(&self, config: &Config) -> Result<Result<CacheStore, CacheError>> {
        let state = State::new(
            WasiCtxBuilder::new().inherit_stderr().build(),
            &self.client,
            &self.requests,
            ConfigValues::default(),
        );
        let mut store = Store::new(&self.engine, state);
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(anyhow::Error::from)
            .context("cannot instantiate the component")?;
        let exports = instance.s3cache_cache_cache();
        let credentials = &config.credentials;
        let credentials = exports
            .credentials()
            .call_constructor(
                &mut store,
                &credentials.access_key_id,
                &credentials.secret_access_key,
                credentials.session_token.as_deref(),
            )
            .await
            .map_err(anyhow::Error::from)
            .context("the component trapped making credentials")?;
        let opened = exports
            .store()
            .call_open(&mut store, &config.to_wit(credentials))
            .await
            .map_err(anyhow::Error::from)
            .context("the component trapped in open")?;
        Ok(opened.map(|handle| CacheStore {
            store,
            instance,
            handle,
        }))
    }
}

/// An open `store` resource in its own instance.
pub struct CacheStore {
    store: Store<State>,
    instance: bindings::Component,
    handle: ResourceAny,
}

/// A call's outcome: the outer error is a trap, the inner one the component's answer.
pub type Outcome<T> = Result<Result<T, CacheError>>;

macro_rules! forward {
    ($(#[$doc:meta] $name:ident => $call:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        impl CacheStore {
            $(
                #[$doc]
                pub async fn $name(&mut self, $($arg: $ty),*) -> Outcome<$out> {
                    self.instance
                        .s3cache_cache_cache()
                        .store()
                        .$call(&mut self.store, self.handle, $($arg),*)
                        .await
                        .map_err(anyhow::Error::from)
                        .context(concat!("the component trapped in ", stringify!($name)))
                }
            )*
        }
    };
}

forward! {
    /// `store.get`.
    get => call_get(key: &str) -> Option<Vec<u8>>;
    /// `store.set`.
    set => call_set(key: &str, value: &[u8], ttl: Ttl) -> ();
    /// `store.add`.
    add => call_add(key: &str, value: &[u8], ttl: Ttl) -> bool;
    /// `store.touch`.
    touch => call_touch(key: &str, ttl: Ttl) -> bool;
    /// `store.delete`.
    delete => call_delete(key: &str) -> bool;
    /// `store.has-key`.
    has_key => call_has_key(key: &str) -> bool;
    /// `store.incr`.
    incr => call_incr(key: &str, delta: i64) -> i64;
    /// `store.decr`.
    decr => call_decr(key: &str, delta: i64) -> i64;
    /// `store.get-many`.
    get_many => call_get_many(keys: &[String]) -> Vec<(String, Vec<u8>)>;
    /// `store.set-many`.
    set_many => call_set_many(entries: &[(String, Vec<u8>)], ttl: Ttl) -> Vec<String>;
    /// `store.delete-many`.
    delete_many => call_delete_many(keys: &[String]) -> ();
    /// `store.clear`.
    clear => call_clear() -> ();
    /// `store.stats`.
    stats => call_stats(estimate: bool) -> Stats;
}

/// The WIT case of a cache error (`no-such-key`) and its message.
pub fn case(error: &CacheError) -> (&'static str, &str) {
    match error {
        CacheError::InvalidConfig(m) => ("invalid-config", m),
        CacheError::InvalidInput(m) => ("invalid-input", m),
        CacheError::NoSuchKey(m) => ("no-such-key", m),
        CacheError::NotAnInteger(m) => ("not-an-integer", m),
        CacheError::AccessDenied(m) => ("access-denied", m),
        CacheError::NoSuchBucket(m) => ("no-such-bucket", m),
        CacheError::Unavailable(m) => ("unavailable", m),
        CacheError::TooLarge(m) => ("too-large", m),
        CacheError::Other(m) => ("other", m),
    }
}

/// A cache error as one line: what kind, then the component's message.
pub fn describe(error: &CacheError) -> String {
    match case(error) {
        ("other", message) => format!("error: {message}"),
        (kind, message) => format!("{}: {message}", kind.replace('-', " ")),
    }
}

/// The component's answer, with its error as an [`anyhow::Error`] carrying [`describe`]'s line.
pub fn answer<T>(result: Result<T, CacheError>) -> Result<T> {
    result.map_err(|error| anyhow::anyhow!(describe(&error)))
}

/// An engine that keeps compiled code between runs, so a CLI call does not recompile.
pub(crate) fn engine() -> Result<Engine> {
    let mut config = wasmtime::Config::new();
    if let Some(cache) = compilation_cache() {
        config.cache(Some(cache));
    }
    Engine::new(&config).map_err(anyhow::Error::from)
}

/// The keep-alive client that sends the components' requests.
pub(crate) fn pooled_client() -> Result<reqwest::Client> {
    s3cache::native::http_client(Timeouts {
        connect: LONGEST_TIMEOUT,
        first_byte: LONGEST_TIMEOUT,
        between_bytes: LONGEST_TIMEOUT,
    })
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Where compiled code is kept between runs.
fn compilation_cache() -> Option<wasmtime::Cache> {
    let directory = dirs::cache_dir()?.join("s3cache").join("wasmtime");
    let mut config = wasmtime::CacheConfig::new();
    config.with_directory(directory);
    wasmtime::Cache::new(config).ok()
}

/// What an instance of a component this host runs can reach: WASI, outgoing HTTP through the
/// pooled client, and wasi:config values.
pub(crate) struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: PooledHooks,
    config: ConfigValues,
}

impl State {
    /// The state of a new instance, counting its requests in `requests`.
    pub(crate) fn new(
        wasi: WasiCtx,
        client: &reqwest::Client,
        requests: &Arc<AtomicU64>,
        config: ConfigValues,
    ) -> State {
        State {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: PooledHooks {
                client: client.clone(),
                requests: Arc::clone(requests),
            },
            config,
        }
    }

    /// Its wasi:config values.
    pub(crate) fn config(&mut self) -> &ConfigValues {
        &self.config
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Sends the component's requests over keep-alive connections (the stock hook opens a new
/// connection, and TLS session, per request) and counts them.
struct PooledHooks {
    client: reqwest::Client,
    requests: Arc<AtomicU64>,
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

/// The wasi:http error for a failed request, as precise as the client's error allows.
fn client_error(error: &reqwest::Error) -> HttpError {
    let detail = format!("{error:?}");
    if detail.contains("dns error") {
        HttpError::DnsError {
            rcode: None,
            info_code: None,
        }
    } else if error.is_connect() && error.is_timeout() {
        HttpError::ConnectionTimeout
    } else if error.is_connect() {
        HttpError::ConnectionRefused
    } else if error.is_timeout() {
        HttpError::ConnectionReadTimeout
    } else {
        HttpError::ConnectionTerminated
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

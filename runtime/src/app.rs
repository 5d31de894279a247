//! Serves a wasi:http app component, each request in a new instance as Spin and `wasmtime
//! serve` do, with outgoing HTTP over the pooled client and wasi:config values. An app that
//! imports wasi:keyvalue gets the s3cache keyvalue component plugged in first, so its data
//! lands in S3.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use anyhow::{Context, Result, anyhow};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wasmtime::Store;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::EMBEDDED_KEYVALUE_COMPONENT;
use crate::compiled_code;
use crate::compose;
use crate::outgoing_http::pooled_client;
use crate::state::State;
use crate::wasi_config::{self, ConfigValues};

/// A wasi:http app, compiled and linked, ready to serve.
pub struct App {
    pre: ProxyPre<State>,
    client: reqwest::Client,
    requests: Arc<AtomicU64>,
    config: ConfigValues,
    /// Whether the keyvalue component was plugged into it.
    pub plugged: bool,
}

impl App {
    /// Compiles `wasm` (plugging the keyvalue component into its wasi:keyvalue imports) and
    /// links WASI, wasi:http and wasi:config with `config`.
    pub fn new(wasm: &[u8], config: ConfigValues) -> Result<App> {
        // A server compiles once per start: a cache it cannot write costs only that, so there
        // is nothing to warn about.
        let (engine, _) = compiled_code::engine()?;
        let composed = compose::plug_keyvalue(wasm, EMBEDDED_KEYVALUE_COMPONENT)?;
        let plugged = composed.is_some();
        let component = Component::new(&engine, composed.as_deref().unwrap_or(wasm))
            .map_err(anyhow::Error::from)
            .context("cannot compile the app")?;
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)?;
        wasi_config::add_to_linker(&mut linker, State::config)?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(ProxyPre::new)
            .map_err(anyhow::Error::from)
            .context(
                "the app does not fit: it must export wasi:http/incoming-handler and import only \
                 WASI, wasi:http, wasi:config and wasi:keyvalue",
            )?;
        Ok(App {
            pre,
            client: pooled_client()?,
            requests: Arc::new(AtomicU64::new(0)),
            config,
            plugged,
        })
    }

    /// Serves requests on `listener` until the task is dropped.
    pub async fn serve(self, listener: TcpListener) {
        let app = Arc::new(self);
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                // Out of file descriptors, say: back off rather than stop serving.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            let _ = socket.set_nodelay(true);
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let app = Arc::clone(&app);
                    async move { Ok::<_, Infallible>(app.handle(request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    }

    /// One request in a new instance; a trap or a missing response is a 500 that says so.
    async fn handle(
        &self,
        request: hyper::Request<Incoming>,
    ) -> hyper::Response<HyperOutgoingBody> {
        match self.run(request).await {
            Ok(response) => response,
            Err(error) => {
                eprintln!("s3cache: the app failed: {error:#}");
                let body = Full::new(bytes::Bytes::from(format!("the app failed: {error:#}\n")))
                    .map_err(|never| match never {})
                    .boxed_unsync();
                let mut response = hyper::Response::new(body);
                *response.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
                response
            }
        }
    }

    async fn run(
        &self,
        request: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        let wasi = WasiCtxBuilder::new()
            .inherit_stdout()
            .inherit_stderr()
            .build();
        let state = State::new(wasi, &self.client, &self.requests, self.config.clone());
        let mut store = Store::new(self.pre.engine(), state);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(anyhow::Error::from)?;
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(anyhow::Error::from)?;
        let pre = self.pre.clone();
        // The handler may go on streaming the body after it has set the response.
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(store, incoming, outparam)
                .await
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(anyhow!("the app answered with an error: {code:?}")),
            Err(_) => match task.await {
                Ok(Ok(())) => Err(anyhow!("the app set no response")),
                Ok(Err(trap)) => Err(anyhow::Error::from(trap).context("the app trapped")),
                Err(join) => Err(anyhow!("the app's task failed: {join}")),
            },
        }
    }
}

/// Binds `addr`, for [`App::serve`].
pub async fn listen(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

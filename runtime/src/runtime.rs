//! A compiled component, ready to instantiate: the engine, its on-disk cache of compiled code,
//! and opening a store in a new instance.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use wasmtime::component::Linker;
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtxBuilder;

use crate::CacheError;
use crate::bindings;
use crate::compiled_code::{self, CodeOrigin};
use crate::config::Config;
use crate::errors::answer;
use crate::outgoing_http::pooled_client;
use crate::state::State;
use crate::store::CacheStore;
use crate::wasi_config::ConfigValues;

/// A compiled component, ready to instantiate many times.
pub struct Runtime {
    engine: Engine,
    pre: bindings::ComponentPre<State>,
    client: reqwest::Client,
    requests: Arc<AtomicU64>,
    origin: CodeOrigin,
    warnings: Vec<String>,
}

impl Runtime {
    /// Compiles `wasm` (or loads it from wasmtime's on-disk cache) and links the WASI imports.
    pub fn new(wasm: &[u8]) -> Result<Runtime> {
        Runtime::with_precompiled(wasm, None)
    }

    /// Like [`Runtime::new`], but takes the machine code from `precompiled` (made by
    /// [`crate::precompile`] from the same sources) when this engine can use it, so nothing is
    /// compiled; else compiles `wasm`.
    pub fn with_precompiled(wasm: &[u8], precompiled: Option<&[u8]>) -> Result<Runtime> {
        let (engine, cache_warning) = compiled_code::engine()?;
        let (component, origin, load_warning) =
            compiled_code::component(&engine, wasm, precompiled)?;
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(bindings::ComponentPre::new)
            .map_err(anyhow::Error::from)
            .context("the component does not fit: it must export s3cache:cache/cache@0.1.0 and import only wasi:*")?;
        // A precompiled component needs no cache, so only a compile warns about one.
        let cache_warning = cache_warning.filter(|_| origin == CodeOrigin::Compiled);
        Ok(Runtime {
            engine,
            pre,
            client: pooled_client()?,
            requests: Arc::new(AtomicU64::new(0)),
            origin,
            warnings: load_warning.into_iter().chain(cache_warning).collect(),
        })
    }

    /// How this runtime got the component's machine code.
    pub fn code_origin(&self) -> CodeOrigin {
        self.origin
    }

    /// What a user should know about how the component was loaded (a compiled-code cache that
    /// cannot be written, a precompiled artifact that did not fit), to say once.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
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

//! What an instance can reach: WASI, outgoing HTTP through the pooled client, wasi:config.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::outgoing_http::PooledHooks;
use crate::wasi_config::ConfigValues;

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
            hooks: PooledHooks::new(client, requests),
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

//! `wasi:config/store@0.2.0-draft-2024-09-27` for the components this host runs: the version
//! Spin links and the keyvalue component imports (wasmtime's wasi-config crate implements
//! `0.2.0-rc.1`, the same interface under another version).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;
use wasmtime::component::{HasData, Linker};

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "wasi:config/imports@0.2.0-draft-2024-09-27",
        imports: { default: trappable },
    });
}

use generated::wasi::config::store;

/// Configuration values by name, shared by every instance of an app.
#[derive(Clone, Default)]
pub struct ConfigValues(Arc<BTreeMap<String, String>>);

impl ConfigValues {
    /// The values given.
    pub fn new(values: BTreeMap<String, String>) -> ConfigValues {
        ConfigValues(Arc::new(values))
    }
}

/// Names only: values include credentials.
impl std::fmt::Debug for ConfigValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl store::Host for &ConfigValues {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, store::Error>> {
        Ok(Ok(self.0.get(&key).cloned()))
    }

    fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, store::Error>> {
        Ok(Ok(self
            .0
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()))
    }
}

struct HasConfig;

impl HasData for HasConfig {
    type Data<'a> = &'a ConfigValues;
}

/// Links wasi:config to the values `values` finds in a store's state.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    values: fn(&mut T) -> &ConfigValues,
) -> Result<()> {
    store::add_to_linker::<T, HasConfig>(linker, values).map_err(anyhow::Error::from)
}

//! An open `store` resource in its own instance, and its calls.

use anyhow::{Context, Result};
use wasmtime::Store;
use wasmtime::component::ResourceAny;

use crate::bindings;
use crate::state::State;
use crate::{CacheError, Stats, Ttl};

/// An open `store` resource in its own instance.
pub struct CacheStore {
    pub(crate) store: Store<State>,
    pub(crate) instance: bindings::Component,
    pub(crate) handle: ResourceAny,
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

//! The s3cache runtime: runs the s3cache component under wasmtime. It compiles the component
//! (keeping compiled code on disk), instantiates it per store, forwards calls, sends its HTTP
//! through a pooled client, serves wasi:config, and composes and serves wasi:http apps that
//! import wasi:keyvalue. The CLI and the Python extension are built on it.

pub mod app;
mod compiled_code;
pub mod compose;
mod config;
mod errors;
mod outgoing_http;
mod runtime;
mod state;
mod store;
pub mod wasi_config;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "component",
        exports: { default: async },
    });
}

pub use bindings::exports::s3cache::cache::cache::{
    Error as CacheError, InvalidSetting, Stats, Ttl,
};
pub use compiled_code::{CODE_CACHE_VARIABLE, CodeOrigin, precompile};
pub use config::{Config, Credentials};
pub use errors::{answer, case, describe};
pub use runtime::Runtime;
pub use store::{CacheStore, Outcome};

/// The component built from this repository, embedded at compile time.
pub const EMBEDDED_COMPONENT: &[u8] = include_bytes!(env!("S3CACHE_COMPONENT_PATH"));

/// The keyvalue component (the `keyvalue-component` world), embedded at compile time.
pub const EMBEDDED_KEYVALUE_COMPONENT: &[u8] =
    include_bytes!(env!("S3CACHE_KEYVALUE_COMPONENT_PATH"));

/// Where the build left the component, for tools that read the file.
pub const COMPONENT_PATH: &str = env!("S3CACHE_COMPONENT_PATH");

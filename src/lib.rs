//! s3cache: a key/value cache whose entries live in Amazon S3 (or any S3-compatible store),
//! with the semantics of Django's cache API, built as a WebAssembly component.
//!
//! The pure modules (key naming, the entry codec, culling, S3 request building, signing and
//! response parsing, configuration) compile and test natively. [`cache`] runs the operations
//! over a [`transport::Transport`]; on wasm32 the `wasi_http` module implements it over
//! `wasi:http/outgoing-handler` and `glue` exports the `s3cache:cache` WIT interface.
//!
//! With the `native` feature the same [`Cache`] runs without wasm, over reqwest: a
//! `Builder` makes one (the example is in the `native` module's documentation).

#![deny(unsafe_code)]

pub mod cache;
pub mod client;
pub mod clock;
pub mod config;
pub mod cull;
pub mod entry;
pub mod error;
pub mod key;
pub mod keyvalue_settings;
#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
pub mod native;
pub mod objects;
pub mod retry;
pub mod s3;
pub mod transport;

#[cfg(test)]
mod fuzzing;
#[cfg(test)]
mod memory_s3;

pub use cache::Cache;
#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
pub use native::Builder;

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code, reason = "wit-bindgen's generated exports")]
mod glue;
#[cfg(all(target_arch = "wasm32", feature = "keyvalue"))]
mod keyvalue_glue;
#[cfg(target_arch = "wasm32")]
mod wasi_http;

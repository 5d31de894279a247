//! s3cache: a key/value cache whose entries live in Amazon S3 (or any S3-compatible store),
//! with the semantics of Django's cache API, built as a WebAssembly component.
//!
//! The crate is layered, each folder importing only the ones before it: `core` (pure logic:
//! key naming, the entry codec, culling, clock, backoff), `s3` (the protocol: requests,
//! endpoints, credentials, signing, XML), `settings`, `client` (the transport trait, sending
//! with retries, object operations), `cache` (Django's semantics, the wasi:keyvalue view), and
//! at the edges `transports` (wasi:http, reqwest) and `bindings` (the WIT worlds).
//!
//! With the `native` feature the same [`Cache`] runs without wasm, over reqwest: a
//! [`Builder`] makes one.
//!
//! ```no_run
//! # #[cfg(feature = "native")]
//! # fn main() -> Result<(), s3cache::Error> {
//! use s3cache::{Builder, Ttl};
//!
//! // Credentials, region and endpoint from the standard AWS_* variables.
//! let cache = Builder::from_env("my-cache-bucket")
//!     .with_location("myapp")
//!     .build()?;
//! cache.set("greeting", b"hello", Ttl::Millis(60_000))?;
//! assert_eq!(cache.get("greeting")?, Some(b"hello".to_vec()));
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "native"))]
//! # fn main() {}
//! ```

#![deny(unsafe_code)]
// Items the `internals` feature re-exports are `pub`; every other item inside the private
// modules is `pub(crate)`, which the lint checks whenever those items are reachable.
#![cfg_attr(feature = "internals", warn(unreachable_pub))]

mod bindings;
mod cache;
mod client;
mod core;
mod error;
mod s3;
mod settings;
mod transports;

#[cfg(test)]
mod testing;

pub use cache::{Cache, KeyPage, KeyValue, Snapshot, Stats, Swapped};
pub use core::cull::CullMode;
pub use core::entry::Ttl;
pub use core::key::{KeyScheme, object_name};
pub use error::{Error, Result};
pub use s3::Credentials;
pub use settings::{SETTINGS, Setting, Settings, Timeouts, setting};
#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
pub use transports::http_failure::HttpFailure;
#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
pub use transports::reqwest::{Builder, ReqwestTransport, http_client};

/// Internals the criterion benches and the end-to-end tests reach for: not a stable API.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    pub use crate::core::entry;
    pub use crate::s3::sign;
    pub use crate::s3::{Condition, Endpoint, PutOptions, RequestBuilder};
}

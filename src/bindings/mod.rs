//! The component's WIT worlds: `s3cache:cache` always, wasi:keyvalue with the `keyvalue`
//! feature, and the wasi:config names a keyvalue store is configured by.

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code, reason = "wit-bindgen's generated exports")]
mod cache;
#[cfg(all(target_arch = "wasm32", feature = "keyvalue"))]
#[allow(unsafe_code, reason = "wit-bindgen's generated exports")]
mod keyvalue;
#[cfg_attr(
    not(all(target_arch = "wasm32", feature = "keyvalue")),
    allow(dead_code, reason = "read by the keyvalue world; unit-tested natively")
)]
pub(crate) mod wasi_config;

//! The `s3cache` host: runs the s3cache component under wasmtime, with an embedded
//! S3-compatible server for use without an account.

pub mod app;
pub mod cli;
pub mod commands;
pub mod compose;
pub mod locked_fs;
pub mod progress;
pub mod runtime;
pub mod server;
pub mod store_args;
pub mod wasi_config;

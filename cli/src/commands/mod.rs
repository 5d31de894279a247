//! The commands of the `s3cache` CLI, a file each (`ops` holds the cache operations).

pub mod bench;
pub mod demo;
pub mod ops;
pub mod plug;
pub mod precompile;
pub mod serve_app;
pub mod server;

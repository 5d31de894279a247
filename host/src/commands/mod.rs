//! The commands of the `s3cache` CLI, a file each.

pub mod app;
pub mod bench;
pub mod demo;
pub mod ops;
pub mod serve;

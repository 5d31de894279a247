//! The `s3cache` command: the s3cache component under its runtime, one file per command, and
//! an embedded S3-compatible server for use without an account.

pub mod cli;
pub mod commands;
pub mod locked_fs;
pub mod progress;
pub mod s3_server;
pub mod store_args;

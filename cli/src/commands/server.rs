//! `s3cache server`: the embedded S3 server in the foreground, for other clients.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::s3_server::S3Server;
use crate::store_args::env_credentials;

/// Serves `data_dir` on `addr` until Ctrl-C, verifying signatures made with AWS_ACCESS_KEY_ID
/// and AWS_SECRET_ACCESS_KEY.
pub async fn serve(addr: SocketAddr, data_dir: &Path) -> Result<ExitCode> {
    let (access_key_id, secret_access_key) = env_credentials()
        .context("`server` verifies signatures made with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: set both")?;
    let server = S3Server::bind(addr, data_dir, &access_key_id, &secret_access_key).await?;
    eprintln!(
        "s3cache: serving {} at {} (Ctrl-C stops)",
        data_dir.display(),
        server.endpoint()
    );
    tokio::signal::ctrl_c().await?;
    Ok(ExitCode::SUCCESS)
}

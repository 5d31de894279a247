//! `s3cache server`: the embedded S3 server in the foreground, for other clients.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::s3_server::S3Server;
use crate::store_args::env_credentials;

/// Serves `data_dir` on `addr` until Ctrl-C, verifying signatures made with the credentials of
/// the environment.
pub async fn serve(addr: SocketAddr, data_dir: &Path) -> Result<ExitCode> {
    let credentials =
        env_credentials().context("`server` verifies signatures made with these credentials")?;
    let server = S3Server::bind(
        addr,
        data_dir,
        &credentials.access_key_id,
        &credentials.secret_access_key,
    )
    .await?;
    eprintln!(
        "s3cache: serving {} at {} (Ctrl-C stops)",
        data_dir.display(),
        server.endpoint()
    );
    tokio::signal::ctrl_c().await?;
    Ok(ExitCode::SUCCESS)
}

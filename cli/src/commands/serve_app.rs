//! `s3cache serve-app`: serves a wasi:http app whose wasi:keyvalue imports are an S3 store.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use crate::store_args::parse_pair;
use s3cache::setting;
use s3cache_runtime::Config;
use s3cache_runtime::app::{App, listen};
use s3cache_runtime::wasi_config::ConfigValues;

/// `serve-app`.
#[derive(Debug, Args)]
pub struct ServeAppArgs {
    /// The app: a component exporting wasi:http/incoming-handler.
    app: PathBuf,

    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,

    /// A wasi:config value for the app, NAME=VALUE (repeatable); overrides the value the store
    /// options give (s3cache_bucket, s3cache_endpoint, ...: docs/reference/configuration.md).
    #[arg(long = "config", value_name = "NAME=VALUE", value_parser = parse_pair)]
    values: Vec<(String, String)>,
}

/// Serves the app until Ctrl-C.
pub async fn serve(args: &ServeAppArgs, config: &Config) -> Result<ExitCode> {
    let wasm =
        std::fs::read(&args.app).with_context(|| format!("cannot read {}", args.app.display()))?;
    let mut values = config_values(config);
    values.extend(args.values.iter().cloned());
    let app = App::new(&wasm, ConfigValues::new(values))?;
    let listener = listen(args.listen).await?;
    eprintln!(
        "s3cache: serving {} at http://{}{} (Ctrl-C stops)",
        args.app.display(),
        listener.local_addr()?,
        if app.plugged {
            ", its wasi:keyvalue in S3"
        } else {
            ""
        }
    );
    tokio::select! {
        () = app.serve(listener) => Ok(ExitCode::SUCCESS),
        stop = tokio::signal::ctrl_c() => stop.map(|()| ExitCode::SUCCESS).map_err(Into::into),
    }
}

/// The keyvalue component's wasi:config values: the bucket, the credentials and every setting
/// the CLI was given, each under its wasi:config name. Culling stays off (wasi:keyvalue values
/// are kept) unless `--max-entries` or `--config s3cache_max_entries=N` asks for it.
fn config_values(config: &Config) -> BTreeMap<String, String> {
    let credentials = &config.credentials;
    let named = [
        ("bucket", Some(&config.bucket)),
        ("access-key-id", Some(&credentials.access_key_id)),
        ("secret-access-key", Some(&credentials.secret_access_key)),
        ("session-token", credentials.session_token.as_ref()),
    ];
    named
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .chain(
            config
                .settings
                .iter()
                .map(|(name, value)| (name.as_str(), value)),
        )
        .filter_map(|(name, value)| Some((setting(name)?.wasi_config_name(), value.clone())))
        .collect()
}

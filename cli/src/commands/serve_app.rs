//! `s3cache serve-app`: serves a wasi:http app whose wasi:keyvalue imports are an S3 store.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use crate::store_args::parse_pair;
use s3cache_runtime::app::{App, listen};
use s3cache_runtime::wasi_config::ConfigValues;
use s3cache_runtime::{Compression, Config};

/// `serve-app`.
#[derive(Debug, Args)]
pub struct ServeAppArgs {
    /// The app: a component exporting wasi:http/incoming-handler.
    app: PathBuf,

    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,

    /// A wasi:config value for the app, NAME=VALUE (repeatable); overrides the value the store
    /// options give (s3cache_bucket, s3cache_endpoint, ...: see the README).
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

/// The keyvalue component's wasi:config values for the store options: where the data goes and
/// how it is written. Culling is left off (wasi:keyvalue values are kept) unless
/// `--config s3cache_max_entries=N` asks for it; attempts and timeouts take the component's
/// defaults.
fn config_values(config: &Config) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            values.insert(format!("s3cache_{name}"), value);
        }
    };
    put("bucket", Some(config.bucket.clone()));
    put("region", Some(config.region.clone()));
    put("endpoint", config.endpoint.clone());
    put("path_style", config.path_style.map(|path| path.to_string()));
    put(
        "access_key_id",
        Some(config.credentials.access_key_id.clone()),
    );
    put(
        "secret_access_key",
        Some(config.credentials.secret_access_key.clone()),
    );
    put("session_token", config.credentials.session_token.clone());
    put("location", Some(config.location.clone()));
    put("key_prefix", Some(config.key_prefix.clone()));
    put("version", Some(config.version.to_string()));
    put("create_bucket", Some(config.create_bucket.to_string()));
    put(
        "storage_class",
        config.storage_class.clone().or_else(|| {
            config
                .reduced_redundancy
                .then(|| "REDUCED_REDUNDANCY".to_owned())
        }),
    );
    put("acl", config.acl.clone());
    put("sse", config.sse.clone());
    put("sse_kms_key_id", config.sse_kms_key_id.clone());
    put("deadline_ms", config.deadline_ms.map(|ms| ms.to_string()));
    put(
        "max_value_bytes",
        config.max_value_bytes.map(|bytes| bytes.to_string()),
    );
    put(
        "compress_above",
        config.compression.map(|compression| match compression {
            Compression::Off => "off".to_owned(),
            Compression::Above(bytes) => bytes.to_string(),
        }),
    );
    values
}

//! The `s3cache` command line: parses flags and hands each command to its file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::{Parser, Subcommand};

use crate::commands::bench::{self, BenchArgs};
use crate::commands::ops::{self, CacheCommand};
use crate::commands::plug::{self, PlugArgs};
use crate::commands::precompile::{self, PrecompileArgs};
use crate::commands::serve_app::{self, ServeAppArgs};
use crate::commands::{demo, server};
use crate::progress::Progress;
use crate::store_args::StoreArgs;
use s3cache_runtime::{EMBEDDED_COMPONENT, Runtime};

/// A key/value cache in Amazon S3 or any S3-compatible store, run as a WebAssembly component.
///
/// With no endpoint configured, entries go to an embedded S3-compatible server over a local data
/// directory, so it works with no account and no setup.
#[derive(Debug, Parser)]
#[command(name = "s3cache", version)]
pub struct Cli {
    #[command(flatten)]
    store: StoreArgs,

    /// Run this component (.wasm) instead of the one built into the binary.
    #[arg(long, value_name = "PATH", global = true)]
    component: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Cache(CacheCommand),
    /// A scripted tour of the whole API, printing each step.
    Demo,
    /// Run the embedded S3 server in the foreground, verifying signatures made with
    /// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
    Server {
        #[arg(long, default_value = "127.0.0.1:9000")]
        addr: SocketAddr,
    },
    /// Measure operation latency and HTTP requests per operation.
    Bench(BenchArgs),
    /// Serve a wasi:http app component; its wasi:keyvalue imports are kept in S3 by the
    /// s3cache keyvalue component, configured from the store options (and --config).
    ServeApp(ServeAppArgs),
    /// Compose an app with the s3cache keyvalue component (wac plug), for hosts that serve
    /// wasi:config@0.2.0-draft-2024-09-27.
    Plug(PlugArgs),
    /// Write the component compiled ahead of time for this machine (what the Python wheel
    /// ships, so its first call compiles nothing).
    Precompile(PrecompileArgs),
}

/// Runs the CLI and returns its exit code: 0 done/hit, 1 miss/false, 2 error.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&anyhow!(error).context("cannot start the async runtime")),
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => fail(&error),
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("s3cache: {error:#}");
    ExitCode::from(2)
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let Cli {
        store,
        component,
        command,
    } = cli;
    match command {
        Command::Server { addr } => server::serve(addr, &store.data_dir()?).await,
        Command::Plug(args) => plug::plug(&args),
        Command::Precompile(args) => precompile::run(&args),
        Command::ServeApp(args) => {
            let (config, _server) = store.resolve().await?;
            serve_app::serve(&args, &config).await
        }
        Command::Demo => {
            let runtime = load(component.as_deref())?;
            let (config, _server) = store.resolve().await?;
            demo::run(&runtime, config).await
        }
        Command::Bench(args) => {
            let runtime = load(component.as_deref())?;
            let (config, _server) = store.resolve().await?;
            bench::run(&runtime, config, &args).await
        }
        Command::Cache(command) => {
            let runtime = load(component.as_deref())?;
            let (config, _server) = store.resolve().await?;
            let mut store = runtime.open_store(&config).await?;
            // Clears and culls of big locations take a while: show that requests go out.
            let _progress = Progress::start(&runtime);
            let max_value_bytes = config.to_settings()?.max_value_bytes;
            ops::execute(&mut store, command, max_value_bytes).await
        }
    }
}

/// The component at `path`, or the one built into the binary; what the user should know about
/// how it was loaded goes to stderr.
fn load(path: Option<&std::path::Path>) -> Result<Runtime> {
    let runtime = match path {
        Some(path) => Runtime::from_file(path)?,
        None => Runtime::new(EMBEDDED_COMPONENT)?,
    };
    for warning in runtime.warnings() {
        eprintln!("s3cache: warning: {warning}");
    }
    Ok(runtime)
}

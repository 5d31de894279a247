//! `s3cache plug`: writes an app composed with the keyvalue component, for other hosts.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use s3cache_runtime::{EMBEDDED_KEYVALUE_COMPONENT, compose};

/// `plug`.
#[derive(Debug, Args)]
pub struct PlugArgs {
    /// The app: a component importing wasi:keyvalue@0.2.0-draft2.
    app: PathBuf,

    /// Where to write the composed component.
    #[arg(short, long)]
    output: PathBuf,
}

/// Writes the app composed with the keyvalue component.
pub fn plug(args: &PlugArgs) -> Result<ExitCode> {
    let wasm =
        std::fs::read(&args.app).with_context(|| format!("cannot read {}", args.app.display()))?;
    let composed = compose::plug_keyvalue(&wasm, EMBEDDED_KEYVALUE_COMPONENT)?
        .ok_or_else(|| anyhow!("{} imports no wasi:keyvalue interface", args.app.display()))?;
    std::fs::write(&args.output, composed)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    Ok(ExitCode::SUCCESS)
}

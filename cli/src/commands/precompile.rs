//! `s3cache precompile`: the component compiled ahead of time for this machine's engine, for
//! packages that ship it (the Python wheel), so their first call compiles nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use s3cache_runtime::{EMBEDDED_COMPONENT, precompile};

/// `precompile`.
#[derive(Debug, Args)]
pub struct PrecompileArgs {
    /// Where to write the precompiled component.
    #[arg(short, long)]
    output: PathBuf,
}

/// Writes the embedded component, precompiled.
pub fn run(args: &PrecompileArgs) -> Result<ExitCode> {
    let compiled = precompile(EMBEDDED_COMPONENT)?;
    std::fs::write(&args.output, compiled)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    Ok(ExitCode::SUCCESS)
}

//! Where the component's machine code comes from: a precompiled artifact shipped beside the host
//! (the Python wheel's), wasmtime's on-disk cache, or compiling it now; and the warning a user
//! needs when the cache cannot be written, which makes every new process compile again.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The environment variable that moves the compiled-code cache (`off` turns it off).
pub const CODE_CACHE_VARIABLE: &str = "S3CACHE_CODE_CACHE";

/// How a runtime got the component's machine code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeOrigin {
    /// Deserialized from a precompiled artifact made by the same engine.
    Precompiled,
    /// Compiled here, or loaded from the on-disk cache of an earlier compile.
    Compiled,
}

/// An engine, and a warning when its compiled code cannot be kept between processes.
pub(crate) fn engine() -> Result<(Engine, Option<String>)> {
    let mut config = wasmtime::Config::new();
    let (cache, warning) = match code_cache_directory() {
        Directory::Off => (None, None),
        Directory::Missing => (
            None,
            Some(format!(
                "no cache directory is known (no HOME): every new process compiles the \
                 component (about 0.4 s); set {CODE_CACHE_VARIABLE} to a writable directory"
            )),
        ),
        Directory::At(directory) => match writable_cache(&directory) {
            Ok(cache) => (Some(cache), None),
            Err(error) => (
                None,
                Some(format!(
                    "the compiled-code cache {} cannot be written ({error:#}): every new process \
                     compiles the component (about 0.4 s); set {CODE_CACHE_VARIABLE} to a \
                     writable directory, or to `off`",
                    directory.display()
                )),
            ),
        },
    };
    config.cache(cache);
    let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
    Ok((engine, warning))
}

/// The component from `precompiled` when it was made by an engine like `engine`, else compiled
/// from `wasm`; with a warning when a precompiled artifact was given and could not be used.
pub(crate) fn component(
    engine: &Engine,
    wasm: &[u8],
    precompiled: Option<&[u8]>,
) -> Result<(Component, CodeOrigin, Option<String>)> {
    let mut warning = None;
    if let Some(bytes) = precompiled {
        // SAFETY: the artifact comes from `precompile` of this repository's build, shipped in
        // the same package as the host that loads it (as trusted as the host's own code), and
        // wasmtime checks that it was made by a compatible engine before using it.
        match unsafe { Component::deserialize(engine, bytes) } {
            Ok(component) => return Ok((component, CodeOrigin::Precompiled, None)),
            Err(error) => {
                warning = Some(format!(
                    "the precompiled component does not fit this engine ({error}); compiling it"
                ));
            }
        }
    }
    let component = Component::new(engine, wasm)
        .map_err(anyhow::Error::from)
        .context("cannot compile the component")?;
    Ok((component, CodeOrigin::Compiled, warning))
}

/// `wasm` compiled ahead of time, for [`crate::Runtime::with_precompiled`] in a host built from
/// the same sources.
pub fn precompile(wasm: &[u8]) -> Result<Vec<u8>> {
    let (engine, _) = engine()?;
    engine
        .precompile_component(wasm)
        .map_err(anyhow::Error::from)
        .context("cannot precompile the component")
}

/// Where compiled code is to be kept.
enum Directory {
    /// Nowhere, as asked.
    Off,
    /// Nowhere, since no default is known.
    Missing,
    /// In this directory.
    At(PathBuf),
}

fn code_cache_directory() -> Directory {
    match std::env::var_os(CODE_CACHE_VARIABLE).filter(|value| !value.is_empty()) {
        Some(value) if value == "off" => Directory::Off,
        Some(value) => Directory::At(PathBuf::from(value)),
        None => match dirs::cache_dir() {
            Some(cache) => Directory::At(cache.join("s3cache").join("wasmtime")),
            None => Directory::Missing,
        },
    }
}

/// A cache in `directory`, once a file could be written there (wasmtime's own cache gives up
/// on write errors silently).
fn writable_cache(directory: &Path) -> Result<wasmtime::Cache> {
    std::fs::create_dir_all(directory).context("cannot create it")?;
    let probe = directory.join(format!(".s3cache-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").context("cannot write a file in it")?;
    let _ = std::fs::remove_file(&probe);
    let mut config = wasmtime::CacheConfig::new();
    config.with_directory(directory);
    wasmtime::Cache::new(config).map_err(anyhow::Error::from)
}

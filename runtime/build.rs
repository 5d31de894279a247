//! Builds the s3cache components (the workspace's root package) for wasm32-wasip2 with their
//! own target directories, so the host can embed them: the `component` world's as
//! S3CACHE_COMPONENT_PATH, the `keyvalue-component` world's (feature `keyvalue`) as
//! S3CACHE_KEYVALUE_COMPONENT_PATH, copied beside the first as `s3cache-keyvalue.wasm`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "component";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("runtime/ sits in the workspace root");
    for input in ["src", "wit", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(input).display());
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let target_dir = component_target_dir(&out_dir);
    ensure_target_installed();

    let base = build_component(root, &target_dir, &[]);
    println!("cargo:rustc-env=S3CACHE_COMPONENT_PATH={}", base.display());
    // The keyvalue world differs only in a feature of the same crate; its own target directory
    // keeps the two builds of s3cache.wasm from overwriting each other.
    let keyvalue = build_component(
        root,
        &target_dir.join("keyvalue"),
        &["--features", "keyvalue"],
    );
    let named = base.with_file_name("s3cache-keyvalue.wasm");
    std::fs::copy(&keyvalue, &named).expect("cannot copy the keyvalue component beside the other");
    println!(
        "cargo:rustc-env=S3CACHE_KEYVALUE_COMPONENT_PATH={}",
        named.display()
    );
}

/// Builds the component into `target_dir` with `extra` cargo arguments; the .wasm's path.
fn build_component(root: &Path, target_dir: &Path, extra: &[&str]) -> PathBuf {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--package",
            "s3cache",
            "--lib",
            "--target",
            TARGET,
            "--profile",
            PROFILE,
        ])
        .args(extra)
        .env("CARGO_TARGET_DIR", target_dir)
        // The host's flags (say, -C target-cpu=native) are not the component's.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        // Under `cargo clippy` the component is linted by its own run, not through this build.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .status()
        .expect("cannot run cargo to build the component");
    assert!(status.success(), "building the s3cache component failed");
    let wasm = target_dir.join(TARGET).join(PROFILE).join("s3cache.wasm");
    assert!(
        wasm.exists(),
        "the component build left no {}",
        wasm.display()
    );
    wasm
}

/// `<target>/component`, shared by every host profile, so the component builds once; OUT_DIR is
/// `<target>[/<triple>]/<profile>/build/<pkg>-<hash>/out`.
fn component_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "build"))
        .and_then(|build| build.parent()?.parent())
        .map(|target| target.join("component"))
        .unwrap_or_else(|| out_dir.join("component"))
}

/// rustup does not add the toolchain file's targets to a toolchain that is already installed,
/// so a fresh machine would fail here: add the target when it is missing.
fn ensure_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    if sysroot.is_some_and(|sysroot| sysroot.join("lib/rustlib").join(TARGET).exists()) {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup");
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", TARGET]);
    if let Some(toolchain) = env::var_os("RUSTUP_TOOLCHAIN") {
        rustup.arg("--toolchain").arg(toolchain);
    }
    let installed = rustup.status().is_ok_and(|status| status.success());
    assert!(
        installed,
        "the {TARGET} target is missing: run `rustup target add {TARGET}`"
    );
}

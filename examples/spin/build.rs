//! wit-bindgen reads only this crate's wit/, which holds a copy of the repository's
//! wit/cache.wit. A stale copy would compile fine and fail only when Spin composes the app
//! with s3cache.wasm, so say so at build time instead.

use std::fs;

const COPY: &str = "wit/deps/s3cache-cache/cache.wit";
const ORIGINAL: &str = "../../wit/cache.wit";

fn main() {
    println!("cargo:rerun-if-changed={COPY}");
    println!("cargo:rerun-if-changed={ORIGINAL}");
    if let (Ok(copy), Ok(original)) = (fs::read(COPY), fs::read(ORIGINAL))
        && copy != original
    {
        println!("cargo:warning={COPY} differs from {ORIGINAL}: copy it again");
    }
}

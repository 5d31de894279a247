//! The built component's shape: it exports s3cache:cache and imports only wasi:* interfaces.

mod common;

use wasmtime::Engine;
use wasmtime::component::Component;

#[test]
fn exports_the_cache_and_imports_only_wasi() {
    let engine = Engine::default();
    let component = Component::from_file(&engine, common::component_path())
        .expect("the built component compiles");
    let shape = component.component_type();
    let exports: Vec<&str> = shape.exports(&engine).map(|(name, _)| name).collect();
    assert_eq!(exports, ["s3cache:cache/cache@0.1.0"]);
    let imports: Vec<&str> = shape.imports(&engine).map(|(name, _)| name).collect();
    assert!(
        imports
            .iter()
            .any(|name| name.starts_with("wasi:http/outgoing-handler@0.2")),
        "{imports:?}"
    );
    for import in &imports {
        assert!(import.starts_with("wasi:"), "unexpected import {import}");
    }
}

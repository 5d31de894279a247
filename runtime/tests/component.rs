//! The built components' shapes: s3cache.wasm exports s3cache:cache and imports only the wasi:*
//! interfaces every host has (no wasi:config); s3cache-keyvalue.wasm exports wasi:keyvalue too
//! and imports wasi:config besides.

use wasmtime::Engine;
use wasmtime::component::Component;

#[test]
fn exports_the_cache_and_imports_only_wasi() {
    let engine = Engine::default();
    let component = Component::from_file(&engine, s3cache_runtime::COMPONENT_PATH)
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
        assert!(
            !import.starts_with("wasi:config/"),
            "jco and wasmtime-py lack {import}"
        );
    }
}

#[test]
fn the_keyvalue_component_exports_wasi_keyvalue_beside_the_cache() {
    let engine = Engine::default();
    let wasm = s3cache_runtime::EMBEDDED_KEYVALUE_COMPONENT;
    let component = Component::new(&engine, wasm).expect("the keyvalue component compiles");
    let shape = component.component_type();
    let exports: Vec<&str> = shape.exports(&engine).map(|(name, _)| name).collect();
    assert_eq!(
        exports,
        [
            "s3cache:cache/cache@0.1.0",
            "wasi:keyvalue/store@0.2.0-draft2",
            "wasi:keyvalue/atomics@0.2.0-draft2",
            "wasi:keyvalue/batch@0.2.0-draft2",
        ]
    );
    let imports: Vec<&str> = shape.imports(&engine).map(|(name, _)| name).collect();
    assert!(
        imports.contains(&"wasi:config/store@0.2.0-draft-2024-09-27"),
        "{imports:?}"
    );
    for import in &imports {
        assert!(import.starts_with("wasi:"), "unexpected import {import}");
        assert!(!import.starts_with("wasi:keyvalue/"), "imports {import}");
    }
}

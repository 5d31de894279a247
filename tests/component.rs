//! The built component's shape: it exports s3cache:cache and imports only wasi:* interfaces.

mod common;

use wit_component::DecodedWasm;

#[test]
fn exports_the_cache_and_imports_only_wasi() {
    let bytes = std::fs::read(common::component_path()).expect("the component was built");
    let DecodedWasm::Component(resolve, world) =
        wit_component::decode(&bytes).expect("a component")
    else {
        panic!("a component, not a WIT package");
    };
    let world = &resolve.worlds[world];
    let names = |items: &wit_parser::IndexMap<wit_parser::WorldKey, wit_parser::WorldItem>| {
        items
            .keys()
            .map(|key| resolve.name_world_key(key))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&world.exports), ["s3cache:cache/cache@0.1.0"]);
    let imports = names(&world.imports);
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

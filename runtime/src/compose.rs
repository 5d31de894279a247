//! Plugs the s3cache keyvalue component into an app's `wasi:keyvalue` imports (wac's `plug`):
//! the composed component imports what the keyvalue component needs (wasi:http, wasi:config)
//! in place of wasi:keyvalue.

use anyhow::{Context, Result, anyhow};
use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions};

/// The interface prefix of the imports the keyvalue component satisfies.
const KEYVALUE_IMPORTS: &str = "wasi:keyvalue/";

/// `app` with each of its imports that `plug` exports satisfied by one instance of `plug`, or
/// `None` when `app` imports no wasi:keyvalue interface.
pub fn plug_keyvalue(app: &[u8], plug: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut graph = CompositionGraph::new();
    let app = Package::from_bytes("app", None, app.to_vec(), graph.types_mut())
        .context("cannot read the app component")?;
    let app = graph.register_package(app)?;
    let imports_keyvalue = graph.types()[graph[app].ty()]
        .imports
        .keys()
        .any(|name| name.starts_with(KEYVALUE_IMPORTS));
    if !imports_keyvalue {
        return Ok(None);
    }
    let plug = Package::from_bytes("s3cache", None, plug.to_vec(), graph.types_mut())
        .context("cannot read the s3cache keyvalue component")?;
    let plug = graph.register_package(plug)?;
    wac_graph::plug(&mut graph, vec![plug], app).map_err(|error| anyhow!("{error}"))?;
    graph
        .encode(EncodeOptions::default())
        .map(Some)
        .context("cannot encode the composed component")
}

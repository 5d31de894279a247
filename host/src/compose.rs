//! Plugs the s3cache keyvalue component into an app's `wasi:keyvalue` imports (wac's `plug`):
//! the composed component imports what the keyvalue component needs (wasi:http, wasi:config)
//! in place of wasi:keyvalue.

use anyhow::{Context, Result, anyhow};
use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions};

/// `app` with each of its imports that `plug` exports satisfied by one instance of `plug`.
pub fn plug(app: &[u8], plug: &[u8]) -> Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let app = Package::from_bytes("app", None, app.to_vec(), graph.types_mut())
        .context("cannot read the app component")?;
    let app = graph.register_package(app)?;
    let plug = Package::from_bytes("s3cache", None, plug.to_vec(), graph.types_mut())
        .context("cannot read the s3cache keyvalue component")?;
    let plug = graph.register_package(plug)?;
    wac_graph::plug(&mut graph, vec![plug], app).map_err(|error| anyhow!("{error}"))?;
    graph
        .encode(EncodeOptions::default())
        .context("cannot encode the composed component")
}

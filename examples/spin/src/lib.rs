//! A Spin HTTP component that keeps values in S3 through the s3cache component.
//!
//! `GET /?key=K` answers the cached value (404 on a miss); `POST /?key=K` stores the request body
//! with the store's default ttl. Spin composes this component with s3cache.wasm when it loads
//! the app (see spin.toml), so all S3 traffic, signing included, happens inside s3cache.

use s3cache::cache::cache::{Config, Credentials, Error, Store, Ttl};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::{http_component, variables};

// The interface comes from another package (wit/deps), which wit-bindgen binds only when asked.
wit_bindgen::generate!({ world: "app", path: "wit", generate_all });

#[http_component]
fn handle(req: Request) -> Response {
    let Some(key) = form_urlencoded::parse(req.query().as_bytes())
        .find(|(name, _)| name == "key")
        .map(|(_, value)| value.into_owned())
    else {
        return text(400, "missing ?key=\n".into());
    };
    let config = match config() {
        Ok(config) => config,
        // A variable without a value is a deployment mistake, not the client's.
        Err(e) => return text(500, format!("configuration: {e}\n")),
    };
    // Opening sends no request and the store keeps no state between calls, so a store per
    // request costs nothing and picks up changed variables (rotated credentials) at once.
    let store = match Store::open(config) {
        Ok(store) => store,
        Err(e) => return failure(e),
    };
    match req.method() {
        Method::Get => match store.get(&key) {
            Ok(Some(value)) => Response::builder()
                .status(200)
                .header("content-type", "application/octet-stream")
                .body(value)
                .build(),
            Ok(None) => text(404, "not found\n".into()),
            Err(e) => failure(e),
        },
        Method::Post => match store.set(&key, req.body(), Ttl::Default) {
            Ok(()) => Response::new(204, ()),
            Err(e) => failure(e),
        },
        _ => Response::builder()
            .status(405)
            .header("allow", "GET, POST")
            .build(),
    }
}

/// The store's configuration, from the component variables spin.toml maps to application
/// variables (set with `SPIN_VARIABLE_*` or `spin up --variable`).
fn config() -> Result<Config, variables::Error> {
    // Spin variables are strings; an empty one stands for "not set".
    let optional = |name| variables::get(name).map(|value| Some(value).filter(|v| !v.is_empty()));
    Ok(Config {
        bucket: variables::get("bucket")?,
        region: variables::get("region")?,
        endpoint: optional("endpoint")?,
        path_style: None,
        // A resource: the secret stays inside s3cache, out of every Debug form.
        credentials: Credentials::new(
            &variables::get("access_key_id")?,
            &variables::get("secret_access_key")?,
            optional("session_token")?.as_deref(),
        ),
        location: variables::get("location")?,
        key_prefix: String::new(),
        version: 1,
        key_scheme: None,
        default_ttl: Ttl::Default,
        max_entries: None,
        cull_frequency: None,
        compression: None,
        max_value_bytes: None,
        acl: None,
        bucket_acl: None,
        storage_class: None,
        reduced_redundancy: false,
        sse: None,
        sse_kms_key_id: None,
        create_bucket: false,
        max_attempts: None,
        deadline_ms: None,
        connect_timeout_ms: None,
        first_byte_timeout_ms: None,
        between_bytes_timeout_ms: None,
    })
}

fn failure(error: Error) -> Response {
    let status = match &error {
        Error::InvalidConfig(_) => 500,
        Error::InvalidInput(_) | Error::NoSuchKey(_) | Error::NotAnInteger(_) => 400,
        Error::TooLarge(_) => 413,
        Error::Unavailable(_) => 503,
        // The S3 side refused: the gateway's upstream failed, not this request.
        Error::AccessDenied(_) | Error::NoSuchBucket(_) | Error::Other(_) => 502,
    };
    text(status, format!("{error:?}\n"))
}

fn text(status: u16, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(body)
        .build()
}

//! A Spin HTTP component that keeps values in S3 through the s3cache component.
//!
//! `GET /?key=K` answers the cached value (404 on a miss); `PUT` or `POST /?key=K[&ttl=T]`
//! stores the request body (T: seconds, fractions too, or `never`; the store's default
//! otherwise); `DELETE /?key=K` removes it (404 when there was none); `POST /incr?key=K[&by=N]`
//! adds N (1 by default) to an integer value. Spin composes this component with s3cache.wasm
//! when it loads the app (see spin.toml), so all S3 traffic, signing included, happens inside
//! s3cache.

use s3cache::cache::cache::{Config, Credentials, Error, Store, Ttl};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::{http_component, variables};

// The interface comes from another package (wit/deps), which wit-bindgen binds only when asked.
wit_bindgen::generate!({ world: "app", path: "wit", generate_all });

#[http_component]
fn handle(req: Request) -> Response {
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query().as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let Some(key) = param("key") else {
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
    let path = req.path();
    match (req.method(), path) {
        (Method::Get, "/") => match store.get(key) {
            Ok(Some(value)) => Response::builder()
                .status(200)
                .header("content-type", "application/octet-stream")
                .body(value)
                .build(),
            Ok(None) => text(404, "not found\n".into()),
            Err(e) => failure(e),
        },
        (Method::Put | Method::Post, "/") => {
            let ttl = match param("ttl").map(parse_ttl).transpose() {
                Ok(ttl) => ttl.unwrap_or(Ttl::Default),
                Err(why) => return text(400, why),
            };
            match store.set(key, req.body(), ttl) {
                Ok(()) => Response::new(204, ()),
                Err(e) => failure(e),
            }
        }
        (Method::Delete, "/") => match store.delete(key) {
            Ok(true) => Response::new(204, ()),
            Ok(false) => text(404, "not found\n".into()),
            Err(e) => failure(e),
        },
        (Method::Post, "/incr") => {
            let by = match param("by").map(str::parse::<i64>).transpose() {
                Ok(by) => by.unwrap_or(1),
                Err(_) => return text(400, "?by= must be a 64-bit integer\n".into()),
            };
            match store.incr(key, by) {
                Ok(value) => text(200, format!("{value}\n")),
                Err(e) => failure(e),
            }
        }
        (_, "/" | "/incr") => Response::builder()
            .status(405)
            .header("allow", "GET, PUT, POST, DELETE")
            .build(),
        _ => text(404, format!("no route {path}\n")),
    }
}

/// `?ttl=`: seconds (fractions too) or `never`.
fn parse_ttl(text: &str) -> Result<Ttl, String> {
    if text == "never" {
        return Ok(Ttl::Never);
    }
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() => {
            Ok(Ttl::Milliseconds((seconds * 1000.0).ceil() as i64))
        }
        _ => Err(format!("?ttl= must be seconds or never, not {text:?}\n")),
    }
}

/// The store's configuration, from the component variables spin.toml maps to application
/// variables (set with `SPIN_VARIABLE_*` or `spin up --variable`).
fn config() -> Result<Config, variables::Error> {
    // Spin variables are strings; an empty one stands for "not set".
    let optional = |name| variables::get(name).map(|value| Some(value).filter(|v| !v.is_empty()));
    let mut settings = vec![
        ("region".to_owned(), variables::get("region")?),
        ("location".to_owned(), variables::get("location")?),
    ];
    if let Some(endpoint) = optional("endpoint")? {
        settings.push(("endpoint".to_owned(), endpoint));
    }
    Ok(Config {
        bucket: variables::get("bucket")?,
        // A resource: the secret stays inside s3cache, out of every Debug form.
        credentials: Credentials::new(
            &variables::get("access_key_id")?,
            &variables::get("secret_access_key")?,
            optional("session_token")?.as_deref(),
        ),
        // Every other setting of s3cache's table, by name: defaults unless named here.
        settings,
    })
}

/// The response for a cache error: its case and message (which never carry a secret).
fn failure(error: Error) -> Response {
    let invalid;
    let (status, case, message) = match &error {
        Error::InvalidSetting(setting) => {
            invalid = format!("{}: {}", setting.setting, setting.reason);
            (500, "invalid-setting", &invalid)
        }
        // Mostly Spin refusing the dependency's requests: the manifest must grant them.
        Error::InvalidConfig(m) => (500, "invalid-config", m),
        Error::InvalidInput(m) => (400, "invalid-input", m),
        Error::NoSuchKey(m) => (404, "no-such-key", m),
        Error::NotAnInteger(m) => (409, "not-an-integer", m),
        Error::TooLarge(m) => (413, "too-large", m),
        // S3 failed or refused: the gateway's upstream, not this request.
        Error::Unavailable(m) => (502, "unavailable", m),
        Error::AccessDenied(m) => (502, "access-denied", m),
        Error::NoSuchBucket(m) => (502, "no-such-bucket", m),
        Error::Other(m) => (502, "other", m),
    };
    text(status, format!("s3cache {case}: {message}\n"))
}

fn text(status: u16, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(body)
        .build()
}

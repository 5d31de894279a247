//! A wasi:http app whose only storage is `wasi:keyvalue`: every function of store, atomics and
//! batch behind an HTTP route, so a test (or a curious user) can drive each one.
//!
//! Every route takes `?store=NAME` (default `default`), the identifier passed to `open`.
//! - `GET /get?key=K`: the value (404 when none); `PUT /set?key=K` stores the body;
//!   `DELETE /delete?key=K`; `GET /exists?key=K`: `true` or `false`.
//! - `GET /keys[?cursor=C]`: one page, `{"keys": [...], "cursor": "..." | null}`.
//! - `POST /increment?key=K[&delta=N]`: the new value (delta 1 by default).
//! - `POST /cas?key=K[&interfere=V]`: a compare-and-swap of the body in place of the value it
//!   reads; with `interfere`, V is set in between, so the swap must fail. Answers
//!   `{"current": ..., "swapped": bool, "latest": ...}` (`latest`: the failed handle's value).
//! - `POST /cas-increment?key=K`: adds 1 by compare-and-swap, retrying with the handle a
//!   failure returns; `{"value": n, "attempts": k}`.
//! - `POST /get-many`, `/set-many`, `/delete-many`: JSON bodies (`["k", ...]`,
//!   `[["k", "v"], ...]`); get-many answers `[["k", "v" | null], ...]`.

use serde_json::{Value, json};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

wit_bindgen::generate!({ world: "app", path: "wit", generate_all });

use wasi::keyvalue::atomics::{self, Cas, CasError};
use wasi::keyvalue::batch;
use wasi::keyvalue::store::{self, Bucket, Error};

#[http_component]
fn handle(req: Request) -> Response {
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query().as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let bucket = match store::open(&param("store").unwrap_or_else(|| "default".to_owned())) {
        Ok(bucket) => bucket,
        Err(e) => return failure(&e),
    };
    let key = param("key").unwrap_or_default();
    let body = req.body().to_vec();
    let answer = match (req.method(), req.path()) {
        (Method::Get, "/get") => bucket.get(&key).map(|value| match value {
            Some(value) => Response::new(200, value),
            None => text(404, "not found"),
        }),
        (Method::Put, "/set") => bucket.set(&key, &body).map(|()| Response::new(204, ())),
        (Method::Delete, "/delete") => bucket.delete(&key).map(|()| Response::new(204, ())),
        (Method::Get, "/exists") => bucket
            .exists(&key)
            .map(|found| text(200, &found.to_string())),
        (Method::Get, "/keys") => bucket
            .list_keys(param("cursor").as_deref())
            .map(|page| json_response(&json!({"keys": page.keys, "cursor": page.cursor}))),
        (Method::Post, "/increment") => {
            let delta = match param("delta").map(|d| d.parse::<i64>()).transpose() {
                Ok(delta) => delta.unwrap_or(1),
                Err(_) => return text(400, "delta: not an integer"),
            };
            atomics::increment(&bucket, &key, delta).map(|value| text(200, &value.to_string()))
        }
        (Method::Post, "/cas") => return cas(&bucket, &key, body, param("interfere")),
        (Method::Post, "/cas-increment") => return cas_increment(&bucket, &key),
        (Method::Post, "/get-many") => match serde_json::from_slice::<Vec<String>>(&body) {
            Ok(keys) => batch::get_many(&bucket, &keys).map(|pairs| {
                let pairs: Vec<Value> = pairs
                    .into_iter()
                    .map(|(key, value)| json!([key, value.map(utf8)]))
                    .collect();
                json_response(&Value::Array(pairs))
            }),
            Err(e) => return text(400, &format!("body: {e}")),
        },
        (Method::Post, "/set-many") => match serde_json::from_slice::<Vec<(String, String)>>(&body)
        {
            Ok(pairs) => {
                let pairs: Vec<(String, Vec<u8>)> = pairs
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes()))
                    .collect();
                batch::set_many(&bucket, &pairs).map(|()| Response::new(204, ()))
            }
            Err(e) => return text(400, &format!("body: {e}")),
        },
        (Method::Post, "/delete-many") => match serde_json::from_slice::<Vec<String>>(&body) {
            Ok(keys) => batch::delete_many(&bucket, &keys).map(|()| Response::new(204, ())),
            Err(e) => return text(400, &format!("body: {e}")),
        },
        _ => return text(404, "no such route"),
    };
    answer.unwrap_or_else(|e| failure(&e))
}

fn cas(bucket: &Bucket, key: &str, value: Vec<u8>, interfere: Option<String>) -> Response {
    let handle = match Cas::new(bucket, key) {
        Ok(handle) => handle,
        Err(e) => return failure(&e),
    };
    let current = match handle.current() {
        Ok(current) => current.map(utf8),
        Err(e) => return failure(&e),
    };
    if let Some(other) = interfere
        && let Err(e) = bucket.set(key, other.as_bytes())
    {
        return failure(&e);
    }
    match atomics::swap(handle, &value) {
        Ok(()) => json_response(&json!({"current": current, "swapped": true, "latest": null})),
        Err(CasError::CasFailed(latest)) => match latest.current() {
            Ok(latest) => json_response(
                &json!({"current": current, "swapped": false, "latest": latest.map(utf8)}),
            ),
            Err(e) => failure(&e),
        },
        Err(CasError::StoreError(e)) => failure(&e),
    }
}

fn cas_increment(bucket: &Bucket, key: &str) -> Response {
    let mut handle = match Cas::new(bucket, key) {
        Ok(handle) => handle,
        Err(e) => return failure(&e),
    };
    for attempts in 1..=1000 {
        let current = match handle.current() {
            Ok(current) => current,
            Err(e) => return failure(&e),
        };
        let number = match current
            .as_deref()
            .map(|bytes| String::from_utf8_lossy(bytes).parse::<i64>())
        {
            None => 0,
            Some(Ok(number)) => number,
            Some(Err(_)) => return text(409, "not an integer"),
        };
        let next = number + 1;
        match atomics::swap(handle, next.to_string().as_bytes()) {
            Ok(()) => return json_response(&json!({"value": next, "attempts": attempts})),
            Err(CasError::CasFailed(latest)) => handle = latest,
            Err(CasError::StoreError(e)) => return failure(&e),
        }
    }
    text(503, "gave up after 1000 attempts")
}

fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

fn json_response(value: &Value) -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(value.to_string())
        .build()
}

fn failure(error: &Error) -> Response {
    let message = match error {
        Error::NoSuchStore => "no-such-store".to_owned(),
        Error::AccessDenied => "access-denied".to_owned(),
        Error::Other(message) => format!("other: {message}"),
    };
    text(500, &message)
}

fn text(status: u16, body: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(format!("{body}\n"))
        .build()
}

//! `s3cache demo`: a scripted tour of the whole API, printing each call, its answer and the
//! HTTP requests it cost.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use s3cache_runtime::{CacheError, Config, Runtime, Ttl, describe};

/// Runs the tour under `<location>/s3cache-demo`, leaving that location empty at the end.
pub async fn run(runtime: &Runtime, config: Config) -> Result<ExitCode> {
    // Validated before anything is printed: an endpoint is shown only once it is known to
    // carry no credentials.
    let settings = config.to_settings()?;
    settings.validate()?;
    let location = match settings.location.as_str() {
        "" => "s3cache-demo".to_owned(),
        location => format!("{location}/s3cache-demo"),
    };
    println!(
        "s3cache demo: bucket {:?} at {}, location {location:?}\n",
        config.bucket,
        settings.endpoint.as_deref().unwrap_or("AWS"),
    );
    let config = config.with("location", location);
    let mut store = runtime.open_store(&config).await?;
    let mut tour = Tour {
        runtime,
        last: runtime.requests_sent(),
    };

    tour.step("clear", unit(store.clear().await?));
    tour.step(
        "set greeting \"hello from S3\"",
        unit(
            store
                .set("greeting", b"hello from S3", Ttl::Default)
                .await?,
        ),
    );
    tour.step("get greeting", value(store.get("greeting").await?));
    tour.step("has greeting", boolean(store.has_key("greeting").await?));
    tour.step(
        "add greeting \"again\"",
        boolean(store.add("greeting", b"again", Ttl::Default).await?),
    );
    tour.step(
        "add visitors 0",
        boolean(store.add("visitors", b"0", Ttl::Never).await?),
    );
    tour.step("incr visitors", number(store.incr("visitors", 1).await?));
    tour.step(
        "incr visitors --by 10",
        number(store.incr("visitors", 10).await?),
    );
    tour.step("decr visitors", number(store.decr("visitors", 1).await?));
    tour.step("incr greeting", number(store.incr("greeting", 1).await?));
    tour.step(
        "touch greeting --ttl 60",
        boolean(store.touch("greeting", Ttl::Seconds(60)).await?),
    );
    tour.step(
        "set fleeting \"gone soon\" --ttl 1",
        unit(store.set("fleeting", b"gone soon", Ttl::Seconds(1)).await?),
    );
    tour.step("get fleeting", value(store.get("fleeting").await?));
    println!("  (sleeping 1.1 s)");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    tour.step("get fleeting", value(store.get("fleeting").await?));
    tour.step(
        "touch fleeting",
        boolean(store.touch("fleeting", Ttl::Default).await?),
    );
    tour.step(
        "set stillborn x --ttl 0",
        unit(store.set("stillborn", b"x", Ttl::Seconds(0)).await?),
    );
    tour.step("get stillborn", value(store.get("stillborn").await?));
    let pairs: Vec<(String, Vec<u8>)> = ["a", "b", "c"]
        .iter()
        .zip(["1", "2", "3"])
        .map(|(key, value)| (key.to_string(), value.as_bytes().to_vec()))
        .collect();
    tour.step(
        "set-many a=1 b=2 c=3",
        keys(store.set_many(&pairs, Ttl::Default).await?),
    );
    let wanted = ["a", "b", "c", "nope"].map(str::to_owned);
    tour.step("get-many a b c nope", hits(store.get_many(&wanted).await?));
    tour.step(
        "delete-many a b",
        unit(store.delete_many(&wanted[..2]).await?),
    );
    tour.step("get-many a b c nope", hits(store.get_many(&wanted).await?));
    tour.step("delete greeting", boolean(store.delete("greeting").await?));
    tour.step("delete greeting", boolean(store.delete("greeting").await?));
    tour.step("has visitors", boolean(store.has_key("visitors").await?));
    tour.step("clear", unit(store.clear().await?));
    tour.step("has visitors", boolean(store.has_key("visitors").await?));
    Ok(ExitCode::SUCCESS)
}

struct Tour<'a> {
    runtime: &'a Runtime,
    last: u64,
}

impl Tour<'_> {
    fn step(&mut self, call: &str, answer: String) {
        let now = self.runtime.requests_sent();
        let requests = now - self.last;
        self.last = now;
        let plural = if requests == 1 { "" } else { "s" };
        println!("  {call:<38} -> {answer:<32} [{requests} request{plural}]");
    }
}

fn answer<T>(result: Result<T, CacheError>, show: impl FnOnce(T) -> String) -> String {
    match result {
        Ok(value) => show(value),
        Err(error) => format!("error: {}", describe(&error)),
    }
}

fn unit(result: Result<(), CacheError>) -> String {
    answer(result, |()| "ok".to_owned())
}

fn boolean(result: Result<bool, CacheError>) -> String {
    answer(result, |yes| yes.to_string())
}

fn number(result: Result<i64, CacheError>) -> String {
    answer(result, |n| n.to_string())
}

fn value(result: Result<Option<Vec<u8>>, CacheError>) -> String {
    answer(result, |value| match value {
        Some(bytes) => format!("{:?}", String::from_utf8_lossy(&bytes)),
        None => "miss".to_owned(),
    })
}

fn keys(result: Result<Vec<String>, CacheError>) -> String {
    answer(result, |failed| format!("failed: {failed:?}"))
}

fn hits(result: Result<Vec<(String, Vec<u8>)>, CacheError>) -> String {
    answer(result, |hits| {
        let shown: Vec<String> = hits
            .iter()
            .map(|(key, value)| format!("{key}={}", String::from_utf8_lossy(value)))
            .collect();
        format!("{{{}}}", shown.join(", "))
    })
}

//! `s3cache bench`: latency percentiles and HTTP requests per operation, through the component.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Args;

use crate::cli::open;
use crate::runtime::{CacheStore, Config, Runtime, Ttl, answer};

/// What to measure.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Operations per measured kind.
    #[arg(long, default_value_t = 500)]
    ops: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 1024)]
    value_size: usize,
    /// Keys per get-many call.
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// Fill the location with this many entries before timing, to measure the cost at scale.
    #[arg(long, default_value_t = 0)]
    entries: usize,
}

/// The measured operations, in the order they run (later ones read what earlier ones wrote).
#[derive(Debug, Clone, Copy)]
enum Op {
    Set,
    GetHit,
    GetMiss,
    HasKey,
    AddNew,
    Touch,
    Incr,
    GetMany,
    Delete,
}

const OPS: [Op; 9] = [
    Op::Set,
    Op::GetHit,
    Op::GetMiss,
    Op::HasKey,
    Op::AddNew,
    Op::Touch,
    Op::Incr,
    Op::GetMany,
    Op::Delete,
];

/// Runs the benchmark under `<location>/s3cache-bench` and prints one row per operation.
pub async fn run(runtime: &Runtime, mut config: Config, args: &BenchArgs) -> Result<ExitCode> {
    if args.ops == 0 || args.batch == 0 {
        bail!("--ops and --batch must be at least 1");
    }
    config.location = match config.location.trim_matches('/') {
        "" => "s3cache-bench".to_owned(),
        location => format!("{location}/s3cache-bench"),
    };
    // Culls are measured apart: the filled location and the measured writes stay under
    // max-entries (unlimited stays unlimited), so every row pays for counting, not culling.
    let needed = u32::try_from(args.entries + args.ops * 2 + 2).unwrap_or(u32::MAX);
    config.max_entries = match config.max_entries {
        Some(0) => Some(0),
        limit => Some(limit.unwrap_or(300).max(needed)),
    };
    let mut store = open(runtime, &config).await?;
    answer(store.clear().await?)?;
    fill(&mut store, args.entries, args.value_size).await?;
    answer(store.set("counter", b"0", Ttl::Default).await?)?;
    // Deterministic bytes that deflate poorly, so compression does not flatter the numbers.
    let value: Vec<u8> = (0..args.value_size)
        .map(|i| (i * 7919 % 251) as u8)
        .collect();
    let keys: Vec<String> = (0..args.ops).map(|i| format!("bench-{i}")).collect();

    println!(
        "s3cache bench: {} ops per row, {}-byte values, {} entries before, endpoint {}\n",
        args.ops,
        args.value_size,
        args.entries,
        config.endpoint.as_deref().unwrap_or("AWS")
    );
    println!(
        "{:<16} {:>10} {:>10} {:>10} {:>12}",
        "operation", "p50", "p90", "p99", "requests/op"
    );
    for op in OPS {
        let before = runtime.requests_sent();
        let mut times = Vec::with_capacity(keys.len());
        for key in &keys {
            let start = Instant::now();
            call(&mut store, op, key, &value, args.batch).await?;
            times.push(start.elapsed());
        }
        let requests = (runtime.requests_sent() - before) as f64 / keys.len() as f64;
        times.sort();
        let name = match op {
            Op::GetMany => format!("get-many({})", args.batch),
            other => format!("{other:?}"),
        };
        println!(
            "{name:<16} {:>10} {:>10} {:>10} {requests:>12.2}",
            show(percentile(&times, 50)),
            show(percentile(&times, 90)),
            show(percentile(&times, 99)),
        );
    }
    answer(store.clear().await?)?;
    Ok(ExitCode::SUCCESS)
}

async fn call(store: &mut CacheStore, op: Op, key: &str, value: &[u8], batch: usize) -> Result<()> {
    match op {
        Op::Set => answer(store.set(key, value, Ttl::Default).await?)?,
        Op::GetHit => expect(answer(store.get(key).await?)?.is_some(), "a hit", key)?,
        Op::GetMiss => expect(
            answer(store.get(&format!("{key}-absent")).await?)?.is_none(),
            "a miss",
            key,
        )?,
        Op::HasKey => expect(answer(store.has_key(key).await?)?, "has-key true", key)?,
        Op::AddNew => expect(
            answer(
                store
                    .add(&format!("{key}-added"), value, Ttl::Default)
                    .await?,
            )?,
            "add true",
            key,
        )?,
        Op::Touch => expect(
            answer(store.touch(key, Ttl::Default).await?)?,
            "touch true",
            key,
        )?,
        Op::Incr => drop(answer(store.incr("counter", 1).await?)?),
        Op::GetMany => {
            let wanted: Vec<String> = (0..batch).map(|i| format!("bench-{i}")).collect();
            drop(answer(store.get_many(&wanted).await?)?);
        }
        Op::Delete => expect(answer(store.delete(key).await?)?, "delete true", key)?,
    }
    Ok(())
}

fn expect(ok: bool, what: &str, key: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        bail!("expected {what} for {key}")
    }
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let index = (sorted.len() * p / 100).min(sorted.len() - 1);
    sorted[index]
}

fn show(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1000.0)
}

/// Writes `entries` entries (`fill-<n>`) in batches of 1000.
async fn fill(store: &mut CacheStore, entries: usize, value_size: usize) -> Result<()> {
    let value = vec![b'f'; value_size];
    let names: Vec<usize> = (0..entries).collect();
    for chunk in names.chunks(1000) {
        let batch: Vec<(String, Vec<u8>)> = chunk
            .iter()
            .map(|n| (format!("fill-{n}"), value.clone()))
            .collect();
        let failed = answer(store.set_many(&batch, Ttl::Never).await?)?;
        if let Some(key) = failed.first() {
            bail!("filling the location failed at {key}");
        }
    }
    Ok(())
}

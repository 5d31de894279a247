//! `s3cache bench`: latency percentiles, throughput and HTTP requests per operation, for the
//! component in this host (`wasm`) and for the same core compiled natively over reqwest
//! (`native`), interleaved row by row against the same server.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use s3cache::Cache;
use s3cache::ReqwestTransport;
use s3cache::Ttl as NativeTtl;

use s3cache_runtime::{CacheStore, Config, Runtime, Ttl, answer};

/// What to measure.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Timed calls per operation, size and mode.
    #[arg(long, default_value_t = 200)]
    ops: usize,
    /// Value sizes, e.g. 1KiB,64KiB,1MiB (or bytes).
    #[arg(long, value_delimiter = ',', default_value = "1KiB", value_parser = parse_size)]
    size: Vec<usize>,
    /// Keys per get-many call.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Which build of the cache to time.
    #[arg(long, value_enum, default_value_t = Mode::Both)]
    mode: Mode,
    /// Fill the location with this many entries before timing, to measure the cost at scale.
    #[arg(long, default_value_t = 0)]
    entries: usize,
    /// What the values look like: random bytes cross the wire whole; text deflates about 6:1.
    #[arg(long, value_enum, default_value_t = Values::Random)]
    values: Values,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

/// `--values`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Values {
    Random,
    Text,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Wasm,
    Native,
    Both,
}

/// The timed operations, in the order they run (later ones read what earlier ones wrote).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Set,
    Get,
    GetMiss,
    Has,
    Add,
    Touch,
    Incr,
    GetMany,
    Delete,
    /// Instantiate the component, open a store and get: what a Spin request pays (wasm only).
    OpenGet,
}

const OPS: [Op; 10] = [
    Op::Set,
    Op::Get,
    Op::GetMiss,
    Op::Has,
    Op::Add,
    Op::Touch,
    Op::Incr,
    Op::GetMany,
    Op::OpenGet,
    Op::Delete,
];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Set => "set",
            Op::Get => "get",
            Op::GetMiss => "get-miss",
            Op::Has => "has",
            Op::Add => "add",
            Op::Touch => "touch",
            Op::Incr => "incr",
            Op::GetMany => "get-many",
            Op::Delete => "delete",
            Op::OpenGet => "open-get",
        }
    }
}

/// One measured row.
struct Row {
    mode: &'static str,
    op: Op,
    size: usize,
    batch: usize,
    times: Vec<Duration>,
    requests: u64,
}

/// Runs the benchmark under `<location>/s3cache-bench-<mode>` and prints one row per mode,
/// size and operation.
pub async fn run(runtime: &Runtime, mut config: Config, args: &BenchArgs) -> Result<ExitCode> {
    if args.ops == 0 || args.batch == 0 || args.size.is_empty() {
        bail!("--ops, --batch and --size must be at least 1");
    }
    let base = config.location.trim_matches('/').to_owned();
    // Culls are measured apart: the filled location and the timed writes stay under
    // max-entries (unlimited stays unlimited), so every row pays for counting, not culling.
    let needed = u32::try_from(args.entries + args.ops * 2 + args.batch + 2).unwrap_or(u32::MAX);
    config.max_entries = match config.max_entries {
        Some(0) => Some(0),
        limit => Some(limit.unwrap_or(300).max(needed)),
    };
    let located = |mode: &str| match base.as_str() {
        "" => format!("s3cache-bench-{mode}"),
        base => format!("{base}/s3cache-bench-{mode}"),
    };
    let mut wasm_config = config.clone();
    wasm_config.location = located("wasm");
    let mut native_config = config.clone();
    native_config.location = located("native");
    let mut wasm = match args.mode {
        Mode::Native => None,
        _ => Some(runtime.open_store(&wasm_config).await?),
    };
    let native = match args.mode {
        Mode::Wasm => None,
        _ => Some(Arc::new(
            s3cache::Builder::from_settings(native_config.to_settings())
                .build()
                .map_err(|e| anyhow!("{e}"))?,
        )),
    };

    if !args.json {
        println!(
            "s3cache bench: {} calls per row, get-many of {}, {} entries before, endpoint {}\n",
            args.ops,
            args.batch,
            args.entries,
            config.endpoint.as_deref().unwrap_or("AWS")
        );
        println!(
            "{:<7} {:<9} {:>8} {:>7} {:>10} {:>11} {:>11} {:>12}",
            "mode", "op", "size", "batch", "ops/s", "p50", "p99", "requests/op"
        );
    }
    let rows_per_mode = OPS.len() * args.size.len();
    let modes = usize::from(wasm.is_some()) + usize::from(native.is_some());
    let progress = progress_bar((rows_per_mode * modes * args.ops) as u64, args.json);
    for &size in &args.size {
        let value = Arc::new(match args.values {
            Values::Random => incompressible(size),
            Values::Text => text(size),
        });
        if let Some(store) = wasm.as_mut() {
            wasm_fill(store, args.entries, size).await?;
        }
        if let Some(cache) = &native {
            let cache = Arc::clone(cache);
            let (entries, fill) = (args.entries, size);
            tokio::task::spawn_blocking(move || native_fill(&cache, entries, fill)).await??;
        }
        for op in OPS {
            if let Some(store) = wasm.as_mut() {
                let row = wasm_row(runtime, &wasm_config, store, op, size, &value, args).await?;
                progress.inc(args.ops as u64);
                progress.suspend(|| print_row(&row, args.json));
            }
            if let Some(cache) = &native
                && op != Op::OpenGet
            {
                let (cache, value) = (Arc::clone(cache), Arc::clone(&value));
                let (ops, batch) = (args.ops, args.batch);
                let row = tokio::task::spawn_blocking(move || {
                    native_row(&cache, op, size, &value, ops, batch)
                })
                .await??;
                progress.inc(args.ops as u64);
                progress.suspend(|| print_row(&row, args.json));
            }
        }
    }
    progress.finish_and_clear();
    if let Some(store) = wasm.as_mut() {
        answer(store.clear().await?)?;
    }
    if let Some(cache) = native {
        tokio::task::spawn_blocking(move || cache.clear())
            .await?
            .map_err(|e| anyhow!("{e}"))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_bar(total: u64, json: bool) -> ProgressBar {
    if json || !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} calls ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Deterministic bytes that do not deflate (xorshift64), so compression does not flatter the
/// numbers and every byte crosses the wire.
fn incompressible(size: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

/// Deterministic JSON-like text, which deflates about as well as rendered pages do.
fn text(size: usize) -> Vec<u8> {
    let mut text = Vec::with_capacity(size + 64);
    let mut n = 0u64;
    while text.len() < size {
        n += 1;
        let id = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 44;
        text.extend_from_slice(
            format!(r#"{{"id":{id},"name":"item {n}","tags":["a","b"]}},"#).as_bytes(),
        );
    }
    text.truncate(size);
    text
}

fn bench_key(i: usize) -> String {
    format!("bench-{i}")
}

/// The keys of a get-many batch that the timed sets (one per call) did not write, so that
/// every key of the batch is a hit whatever `--ops` is.
fn batch_extras(ops: usize, batch: usize, value: &[u8]) -> Vec<(String, Vec<u8>)> {
    (ops..batch)
        .map(|i| (bench_key(i), value.to_vec()))
        .collect()
}

async fn wasm_row(
    runtime: &Runtime,
    config: &Config,
    store: &mut CacheStore,
    op: Op,
    size: usize,
    value: &[u8],
    args: &BenchArgs,
) -> Result<Row> {
    if op == Op::GetMany {
        let failed = answer(
            store
                .set_many(&batch_extras(args.ops, args.batch, value), Ttl::Default)
                .await?,
        )?;
        expect(failed.is_empty(), "the batch's keys written", "set-many")?;
    }
    let before = runtime.requests_sent();
    let mut times = Vec::with_capacity(args.ops);
    for i in 0..args.ops {
        let key = bench_key(i);
        let start = Instant::now();
        match op {
            Op::Set => answer(store.set(&key, value, Ttl::Default).await?)?,
            Op::Get => expect(answer(store.get(&key).await?)?.is_some(), "a hit", &key)?,
            Op::GetMiss => {
                let absent = format!("{key}-absent");
                expect(answer(store.get(&absent).await?)?.is_none(), "a miss", &key)?
            }
            Op::Has => expect(answer(store.has_key(&key).await?)?, "has-key true", &key)?,
            Op::Add => {
                let added = answer(
                    store
                        .add(&format!("{key}-added"), value, Ttl::Default)
                        .await?,
                )?;
                expect(added, "add true", &key)?
            }
            Op::Touch => expect(
                answer(store.touch(&key, Ttl::Default).await?)?,
                "touch",
                &key,
            )?,
            Op::Incr => drop(answer(store.incr("counter", 1).await?)?),
            Op::GetMany => {
                let wanted: Vec<String> = (0..args.batch).map(bench_key).collect();
                let hits = answer(store.get_many(&wanted).await?)?;
                expect(hits.len() == args.batch, "every key a hit", "get-many")?
            }
            Op::Delete => expect(answer(store.delete(&key).await?)?, "delete true", &key)?,
            Op::OpenGet => {
                let mut fresh = runtime.open_store(config).await?;
                let found = answer(fresh.get(&key).await?)?;
                expect(found.is_some(), "a hit", &key)?
            }
        }
        times.push(start.elapsed());
    }
    Ok(Row {
        mode: "wasm",
        op,
        size,
        batch: batch_of(op, args.batch),
        times,
        requests: runtime.requests_sent() - before,
    })
}

fn native_row(
    cache: &Cache<ReqwestTransport>,
    op: Op,
    size: usize,
    value: &[u8],
    ops: usize,
    batch: usize,
) -> Result<Row> {
    let fail = |e: s3cache::Error| anyhow!("{e}");
    if op == Op::GetMany {
        let failed = cache
            .set_many(&batch_extras(ops, batch, value), NativeTtl::Default)
            .map_err(fail)?;
        expect(failed.is_empty(), "the batch's keys written", "set-many")?;
    }
    let before = cache.transport().requests_sent();
    let mut times = Vec::with_capacity(ops);
    for i in 0..ops {
        let key = bench_key(i);
        let start = Instant::now();
        match op {
            Op::Set => cache.set(&key, value, NativeTtl::Default).map_err(fail)?,
            Op::Get => expect(cache.get(&key).map_err(fail)?.is_some(), "a hit", &key)?,
            Op::GetMiss => {
                let absent = format!("{key}-absent");
                expect(cache.get(&absent).map_err(fail)?.is_none(), "a miss", &key)?
            }
            Op::Has => expect(cache.has_key(&key).map_err(fail)?, "has-key true", &key)?,
            Op::Add => {
                let added = cache
                    .add(&format!("{key}-added"), value, NativeTtl::Default)
                    .map_err(fail)?;
                expect(added, "add true", &key)?
            }
            Op::Touch => expect(
                cache.touch(&key, NativeTtl::Default).map_err(fail)?,
                "touch",
                &key,
            )?,
            Op::Incr => drop(cache.incr("counter", 1).map_err(fail)?),
            Op::GetMany => {
                let wanted: Vec<String> = (0..batch).map(bench_key).collect();
                let hits = cache.get_many(&wanted).map_err(fail)?;
                expect(hits.len() == batch, "every key a hit", "get-many")?
            }
            Op::Delete => expect(cache.delete(&key).map_err(fail)?, "delete true", &key)?,
            Op::OpenGet => bail!("open-get is a wasm measurement"),
        }
        times.push(start.elapsed());
    }
    Ok(Row {
        mode: "native",
        op,
        size,
        batch: batch_of(op, batch),
        times,
        requests: cache.transport().requests_sent() - before,
    })
}

fn batch_of(op: Op, batch: usize) -> usize {
    if op == Op::GetMany { batch } else { 1 }
}

fn print_row(row: &Row, json: bool) {
    let mut sorted = row.times.clone();
    sorted.sort();
    let total: Duration = sorted.iter().sum();
    let count = sorted.len();
    let ops_per_s = count as f64 / total.as_secs_f64().max(f64::MIN_POSITIVE);
    let p50 = percentile(&sorted, 50).as_secs_f64() * 1e6;
    let p99 = percentile(&sorted, 99).as_secs_f64() * 1e6;
    let requests_per_op = row.requests as f64 / count as f64;
    // A closed pipe (`| head`) ends the output, not the process.
    let mut out = std::io::stdout().lock();
    let _ = if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "mode": row.mode,
                "op": row.op.name(),
                "size": row.size,
                "batch": row.batch,
                "count": count,
                "ops_per_s": (ops_per_s * 10.0).round() / 10.0,
                "p50_us": p50.round(),
                "p99_us": p99.round(),
                "requests_per_op": (requests_per_op * 1000.0).round() / 1000.0,
            })
        )
    } else {
        writeln!(
            out,
            "{:<7} {:<9} {:>8} {:>7} {:>10.0} {:>8.3} ms {:>8.3} ms {:>12.2}",
            row.mode,
            row.op.name(),
            show_size(row.size),
            row.batch,
            ops_per_s,
            p50 / 1000.0,
            p99 / 1000.0,
            requests_per_op
        )
    };
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

/// "1KiB", "64KiB", "1MiB", or a number of bytes.
fn parse_size(text: &str) -> Result<usize, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        _ => return Err(format!("{text:?} is not a size like 1KiB, 64KiB, 1MiB")),
    };
    number
        .parse::<usize>()
        .map(|n| n * scale)
        .map_err(|_| format!("{text:?} is not a size like 1KiB, 64KiB, 1MiB"))
}

fn show_size(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{}MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{}KiB", s >> 10),
        s => format!("{s}B"),
    }
}

/// Empties the location, then writes `entries` entries (`fill-<n>`) in batches of 1000 and
/// the counter incr counts on, so each size starts from the same state.
async fn wasm_fill(store: &mut CacheStore, entries: usize, size: usize) -> Result<()> {
    answer(store.clear().await?)?;
    answer(store.set("counter", b"0", Ttl::Never).await?)?;
    for chunk in fill_batches(entries, size) {
        let failed = answer(store.set_many(&chunk, Ttl::Never).await?)?;
        if let Some(key) = failed.first() {
            bail!("filling the location failed at {key}");
        }
    }
    Ok(())
}

/// [`wasm_fill`] for the native build.
fn native_fill(cache: &Cache<ReqwestTransport>, entries: usize, size: usize) -> Result<()> {
    cache.clear().map_err(|e| anyhow!("{e}"))?;
    cache
        .set("counter", b"0", NativeTtl::Never)
        .map_err(|e| anyhow!("{e}"))?;
    for chunk in fill_batches(entries, size) {
        let failed = cache
            .set_many(&chunk, NativeTtl::Never)
            .map_err(|e| anyhow!("{e}"))?;
        if let Some(key) = failed.first() {
            bail!("filling the location failed at {key}");
        }
    }
    Ok(())
}

fn fill_batches(entries: usize, size: usize) -> Vec<Vec<(String, Vec<u8>)>> {
    let value = vec![b'f'; size];
    (0..entries)
        .collect::<Vec<_>>()
        .chunks(1000)
        .map(|chunk| {
            chunk
                .iter()
                .map(|n| (format!("fill-{n}"), value.clone()))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("300"), Ok(300));
        assert!(parse_size("lots").is_err());
        assert_eq!(show_size(1 << 20), "1MiB");
        assert_eq!(show_size(65536), "64KiB");
        assert_eq!(show_size(300), "300B");
    }
}

//! `s3cache bench`: latency percentiles, throughput and HTTP requests per operation, for the
//! component in this host (`wasm`) and for the same core compiled natively over reqwest
//! (`native`), interleaved row by row against the same server.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use s3cache::{Cache, ReqwestTransport};

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
    let settings = config.to_settings()?;
    settings.validate()?;
    let base = settings.location.clone();
    // Culls are measured apart: the filled location and the timed writes stay under
    // max-entries (unlimited stays unlimited), so every row pays for counting, not culling.
    let needed = u32::try_from(args.entries + args.ops * 2 + args.batch + 2).unwrap_or(u32::MAX);
    if let Some(limit) = settings.max_entries {
        config.set("max-entries", limit.max(needed));
    }
    let located = |mode: &str| match base.as_str() {
        "" => format!("s3cache-bench-{mode}"),
        base => format!("{base}/s3cache-bench-{mode}"),
    };
    let mut targets: Vec<Box<dyn Target + '_>> = Vec::new();
    if args.mode != Mode::Native {
        let config = config.clone().with("location", located("wasm"));
        let store = runtime.open_store(&config).await?;
        targets.push(Box::new(Component {
            runtime,
            config,
            store,
            tokio: tokio::runtime::Handle::current(),
        }));
    }
    if args.mode != Mode::Wasm {
        let settings = config
            .clone()
            .with("location", located("native"))
            .to_settings()?;
        let cache = s3cache::Builder::from_settings(settings)
            .build()
            .map_err(|e| anyhow!("{e}"))?;
        targets.push(Box::new(Native(cache)));
    }

    if !args.json {
        println!(
            "s3cache bench: {} calls per row, get-many of {}, {} entries before, endpoint {}\n",
            args.ops,
            args.batch,
            args.entries,
            settings.endpoint.as_deref().unwrap_or("AWS")
        );
        println!(
            "{:<7} {:<9} {:>8} {:>7} {:>10} {:>11} {:>11} {:>12}",
            "mode", "op", "size", "batch", "ops/s", "p50", "p99", "requests/op"
        );
    }
    // The calls block (the native core's do; the component's wait on this runtime's handle),
    // so they run on a thread of their own while the runtime's workers carry the HTTP.
    std::thread::scope(|scope| {
        scope
            .spawn(|| measure(&mut targets, args))
            .join()
            .map_err(|_| anyhow!("the benchmark thread panicked"))?
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Fills each target's location per size, then times every operation on each, row by row.
fn measure(targets: &mut [Box<dyn Target + '_>], args: &BenchArgs) -> Result<()> {
    let rows = OPS.len() * args.size.len() * targets.len();
    let progress = progress_bar((rows * args.ops) as u64, args.json);
    for &size in &args.size {
        let value = match args.values {
            Values::Random => incompressible(size),
            Values::Text => text(size),
        };
        for target in targets.iter_mut() {
            fill(target.as_mut(), args.entries, size)?;
        }
        for op in OPS {
            for target in targets.iter_mut().filter(|target| target.measures(op)) {
                let row = row(target.as_mut(), op, size, &value, args)?;
                progress.inc(args.ops as u64);
                progress.suspend(|| print_row(&row, args.json));
            }
        }
    }
    progress.finish_and_clear();
    targets.iter_mut().try_for_each(|target| target.clear())
}

/// One side of the comparison: the same calls, blocking, with the same answers.
trait Target: Send {
    /// `wasm` or `native`.
    fn mode(&self) -> &'static str;
    /// Whether this side has the measurement `op`.
    fn measures(&self, op: Op) -> bool;
    /// HTTP requests sent so far.
    fn requests_sent(&self) -> u64;
    fn set(&mut self, key: &str, value: &[u8], ttl: Ttl) -> Result<()>;
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>>;
    fn has_key(&mut self, key: &str) -> Result<bool>;
    fn add(&mut self, key: &str, value: &[u8], ttl: Ttl) -> Result<bool>;
    fn touch(&mut self, key: &str, ttl: Ttl) -> Result<bool>;
    fn incr(&mut self, key: &str, delta: i64) -> Result<i64>;
    fn get_many(&mut self, keys: &[String]) -> Result<usize>;
    fn set_many(&mut self, entries: &[(String, Vec<u8>)], ttl: Ttl) -> Result<Vec<String>>;
    fn delete(&mut self, key: &str) -> Result<bool>;
    fn clear(&mut self) -> Result<()>;
    /// A new instance and store, then a get: what a Spin request pays.
    fn open_get(&mut self, key: &str) -> Result<Option<Vec<u8>>>;
}

/// The component in this host's runtime.
struct Component<'a> {
    runtime: &'a Runtime,
    config: Config,
    store: CacheStore,
    tokio: tokio::runtime::Handle,
}

/// The same core compiled natively, over reqwest.
struct Native(Cache<ReqwestTransport>);

/// The component's answer to a call, its error made an `anyhow::Error`.
macro_rules! wasm {
    ($self:ident, $call:ident($($arg:expr),*)) => {
        answer($self.tokio.block_on($self.store.$call($($arg),*))?)
    };
}

impl Target for Component<'_> {
    fn mode(&self) -> &'static str {
        "wasm"
    }
    fn measures(&self, _: Op) -> bool {
        true
    }
    fn requests_sent(&self) -> u64 {
        self.runtime.requests_sent()
    }
    fn set(&mut self, key: &str, value: &[u8], ttl: Ttl) -> Result<()> {
        wasm!(self, set(key, value, ttl))
    }
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        wasm!(self, get(key))
    }
    fn has_key(&mut self, key: &str) -> Result<bool> {
        wasm!(self, has_key(key))
    }
    fn add(&mut self, key: &str, value: &[u8], ttl: Ttl) -> Result<bool> {
        wasm!(self, add(key, value, ttl))
    }
    fn touch(&mut self, key: &str, ttl: Ttl) -> Result<bool> {
        wasm!(self, touch(key, ttl))
    }
    fn incr(&mut self, key: &str, delta: i64) -> Result<i64> {
        wasm!(self, incr(key, delta))
    }
    fn get_many(&mut self, keys: &[String]) -> Result<usize> {
        wasm!(self, get_many(keys)).map(|hits| hits.len())
    }
    fn set_many(&mut self, entries: &[(String, Vec<u8>)], ttl: Ttl) -> Result<Vec<String>> {
        wasm!(self, set_many(entries, ttl))
    }
    fn delete(&mut self, key: &str) -> Result<bool> {
        wasm!(self, delete(key))
    }
    fn clear(&mut self) -> Result<()> {
        wasm!(self, clear())
    }
    fn open_get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        let (runtime, config) = (self.runtime, &self.config);
        self.tokio.block_on(async {
            let mut fresh = runtime.open_store(config).await?;
            answer(fresh.get(key).await?)
        })
    }
}

/// The native core's error as an `anyhow::Error`.
fn native<T>(result: s3cache::Result<T>) -> Result<T> {
    result.map_err(|e| anyhow!("{e}"))
}

/// The component's ttl in the core's terms.
fn core_ttl(ttl: Ttl) -> s3cache::Ttl {
    match ttl {
        Ttl::Default => s3cache::Ttl::Default,
        Ttl::Never => s3cache::Ttl::Never,
        Ttl::Seconds(seconds) => s3cache::Ttl::Millis(seconds.saturating_mul(1000)),
        Ttl::Milliseconds(millis) => s3cache::Ttl::Millis(millis),
    }
}

impl Target for Native {
    fn mode(&self) -> &'static str {
        "native"
    }
    fn measures(&self, op: Op) -> bool {
        op != Op::OpenGet
    }
    fn requests_sent(&self) -> u64 {
        self.0.transport().requests_sent()
    }
    fn set(&mut self, key: &str, value: &[u8], ttl: Ttl) -> Result<()> {
        native(self.0.set(key, value, core_ttl(ttl)))
    }
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        native(self.0.get(key))
    }
    fn has_key(&mut self, key: &str) -> Result<bool> {
        native(self.0.has_key(key))
    }
    fn add(&mut self, key: &str, value: &[u8], ttl: Ttl) -> Result<bool> {
        native(self.0.add(key, value, core_ttl(ttl)))
    }
    fn touch(&mut self, key: &str, ttl: Ttl) -> Result<bool> {
        native(self.0.touch(key, core_ttl(ttl)))
    }
    fn incr(&mut self, key: &str, delta: i64) -> Result<i64> {
        native(self.0.incr(key, delta))
    }
    fn get_many(&mut self, keys: &[String]) -> Result<usize> {
        native(self.0.get_many(keys)).map(|hits| hits.len())
    }
    fn set_many(&mut self, entries: &[(String, Vec<u8>)], ttl: Ttl) -> Result<Vec<String>> {
        native(self.0.set_many(entries, core_ttl(ttl)))
    }
    fn delete(&mut self, key: &str) -> Result<bool> {
        native(self.0.delete(key))
    }
    fn clear(&mut self) -> Result<()> {
        native(self.0.clear())
    }
    fn open_get(&mut self, _: &str) -> Result<Option<Vec<u8>>> {
        bail!("open-get is a wasm measurement")
    }
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

/// Times `args.ops` calls of `op` on `target`.
fn row(
    target: &mut dyn Target,
    op: Op,
    size: usize,
    value: &[u8],
    args: &BenchArgs,
) -> Result<Row> {
    if op == Op::GetMany {
        let failed = target.set_many(&batch_extras(args.ops, args.batch, value), Ttl::Default)?;
        expect(failed.is_empty(), "the batch's keys written", "set-many")?;
    }
    let before = target.requests_sent();
    let mut times = Vec::with_capacity(args.ops);
    for i in 0..args.ops {
        let key = bench_key(i);
        let start = Instant::now();
        match op {
            Op::Set => target.set(&key, value, Ttl::Default)?,
            Op::Get => expect(target.get(&key)?.is_some(), "a hit", &key)?,
            Op::GetMiss => {
                let absent = format!("{key}-absent");
                expect(target.get(&absent)?.is_none(), "a miss", &key)?
            }
            Op::Has => expect(target.has_key(&key)?, "has-key true", &key)?,
            Op::Add => {
                let added = target.add(&format!("{key}-added"), value, Ttl::Default)?;
                expect(added, "add true", &key)?
            }
            Op::Touch => expect(target.touch(&key, Ttl::Default)?, "touch", &key)?,
            Op::Incr => drop(target.incr("counter", 1)?),
            Op::GetMany => {
                let wanted: Vec<String> = (0..args.batch).map(bench_key).collect();
                let hits = target.get_many(&wanted)?;
                expect(hits == args.batch, "every key a hit", "get-many")?
            }
            Op::Delete => expect(target.delete(&key)?, "delete true", &key)?,
            Op::OpenGet => expect(target.open_get(&key)?.is_some(), "a hit", &key)?,
        }
        times.push(start.elapsed());
    }
    Ok(Row {
        mode: target.mode(),
        op,
        size,
        batch: batch_of(op, args.batch),
        times,
        requests: target.requests_sent() - before,
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
fn fill(target: &mut dyn Target, entries: usize, size: usize) -> Result<()> {
    target.clear()?;
    target.set("counter", b"0", Ttl::Never)?;
    for chunk in fill_batches(entries, size) {
        let failed = target.set_many(&chunk, Ttl::Never)?;
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

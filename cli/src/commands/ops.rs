//! The cache commands: one call of the component each, its answer on stdout and in the exit
//! code (0 done or hit, 1 miss or false, 2 error).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;

use crate::store_args::{parse_pair, parse_ttl};
use s3cache_runtime::{CacheError, CacheStore, Stats, Ttl, answer, describe};

/// A call of the cache.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Print a value (raw bytes); exit 1 on a miss.
    Get { key: String },
    /// Store a value (VALUE absent or "-": read stdin).
    Set {
        key: String,
        #[arg(allow_negative_numbers = true)]
        value: Option<OsString>,
        #[arg(long, default_value = "default", value_parser = parse_ttl, allow_negative_numbers = true)]
        ttl: Ttl,
    },
    /// Store a value only if no live entry exists; exit 1 if one does.
    Add {
        key: String,
        #[arg(allow_negative_numbers = true)]
        value: Option<OsString>,
        #[arg(long, default_value = "default", value_parser = parse_ttl, allow_negative_numbers = true)]
        ttl: Ttl,
    },
    /// Give a live entry a new expiry; exit 1 if absent or expired.
    Touch {
        key: String,
        #[arg(long, default_value = "default", value_parser = parse_ttl, allow_negative_numbers = true)]
        ttl: Ttl,
    },
    /// Delete an entry; exit 1 if there was none.
    Delete { key: String },
    /// Exit 0 if a live entry exists, 1 otherwise.
    Has { key: String },
    /// Add to an integer value and print the result.
    Incr {
        key: String,
        #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
        by: i64,
    },
    /// Subtract from an integer value and print the result.
    Decr {
        key: String,
        #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
        by: i64,
    },
    /// Print the hits among KEYS as one JSON object (values as UTF-8 strings).
    GetMany {
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Store KEY=VALUE pairs; print the keys that failed, and exit 1 if any did.
    SetMany {
        #[arg(required = true, value_parser = parse_pair)]
        pairs: Vec<(String, String)>,
        #[arg(long, default_value = "default", value_parser = parse_ttl, allow_negative_numbers = true)]
        ttl: Ttl,
    },
    /// Delete the entries of KEYS.
    DeleteMany {
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Remove every cache entry under the location (other objects stay).
    Clear,
    /// Entry count, total bytes, oldest and newest write of the location.
    Stats {
        /// Estimate from one listing page (one request) instead of counting every page.
        #[arg(long)]
        estimate: bool,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `command` on `store`; `max_value` bounds a value read from stdin.
pub async fn execute(
    store: &mut CacheStore,
    command: CacheCommand,
    max_value: u32,
) -> Result<ExitCode> {
    let code = match command {
        CacheCommand::Get { key } => match answer(store.get(&key).await?)? {
            Some(value) => {
                write_stdout(&value)?;
                ExitCode::SUCCESS
            }
            None => ExitCode::from(1),
        },
        CacheCommand::Set { key, value, ttl } => {
            let value = value_or_stdin(value, max_value)?;
            answer(store.set(&key, &value, ttl).await?)?;
            ExitCode::SUCCESS
        }
        CacheCommand::Add { key, value, ttl } => {
            let value = value_or_stdin(value, max_value)?;
            flag(answer(store.add(&key, &value, ttl).await?)?)
        }
        CacheCommand::Touch { key, ttl } => flag(answer(store.touch(&key, ttl).await?)?),
        CacheCommand::Delete { key } => flag(answer(store.delete(&key).await?)?),
        CacheCommand::Has { key } => flag(answer(store.has_key(&key).await?)?),
        CacheCommand::Incr { key, by } => {
            let value = answer(store.incr(&key, by).await?)?;
            write_stdout(format!("{value}\n").as_bytes())?;
            ExitCode::SUCCESS
        }
        CacheCommand::Decr { key, by } => {
            let value = answer(store.decr(&key, by).await?)?;
            write_stdout(format!("{value}\n").as_bytes())?;
            ExitCode::SUCCESS
        }
        CacheCommand::GetMany { keys } => {
            let hits = answer(store.get_many(&keys).await?)?;
            write_stdout(format!("{}\n", hits_to_json(hits)?).as_bytes())?;
            ExitCode::SUCCESS
        }
        CacheCommand::SetMany { pairs, ttl } => {
            let entries: Vec<(String, Vec<u8>)> = pairs
                .into_iter()
                .map(|(key, value)| (key, value.into_bytes()))
                .collect();
            let failed = answer(store.set_many(&entries, ttl).await?)?;
            let listing: String = failed.iter().map(|key| format!("{key}\n")).collect();
            write_stdout(listing.as_bytes())?;
            if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        CacheCommand::DeleteMany { keys } => {
            answer(store.delete_many(&keys).await?)?;
            ExitCode::SUCCESS
        }
        CacheCommand::Clear => {
            answer(store.clear().await?)?;
            ExitCode::SUCCESS
        }
        CacheCommand::Stats { estimate, json } => {
            let stats = answer(store.stats(estimate).await?)?;
            write_stdout(format!("{}\n", show_stats(&stats, json)).as_bytes())?;
            ExitCode::SUCCESS
        }
    };
    Ok(code)
}

/// Stats as text, or as one JSON object.
fn show_stats(stats: &Stats, json: bool) -> String {
    if json {
        return serde_json::json!({
            "entries": stats.entries,
            "bytes": stats.bytes,
            "estimated": stats.estimated,
            "oldest_ms": stats.oldest_ms,
            "newest_ms": stats.newest_ms,
        })
        .to_string();
    }
    let about = if stats.estimated { "about " } else { "" };
    let time = |ms: Option<i64>| match ms.and_then(|ms| u64::try_from(ms).ok()) {
        Some(ms) => humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms),
        )
        .to_string(),
        None => "-".to_owned(),
    };
    format!(
        "entries  {about}{}\nbytes    {about}{}\noldest   {}\nnewest   {}",
        stats.entries,
        stats.bytes,
        time(stats.oldest_ms),
        time(stats.newest_ms)
    )
}

/// The hits as one JSON object; a value that is not UTF-8 is an error naming its key.
fn hits_to_json(hits: Vec<(String, Vec<u8>)>) -> Result<String> {
    let mut object = serde_json::Map::new();
    for (key, value) in hits {
        let value = String::from_utf8(value).map_err(|_| {
            anyhow!("the value of key {key:?} is not UTF-8; use `get` for binary values")
        })?;
        object.insert(key, serde_json::Value::String(value));
    }
    Ok(serde_json::Value::Object(object).to_string())
}

fn flag(yes: bool) -> ExitCode {
    if yes {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()?;
    Ok(())
}

/// The value argument, or stdin when it is absent or "-", refusing more than `max` bytes
/// before anything reaches the component.
fn value_or_stdin(value: Option<OsString>, max: u32) -> Result<Vec<u8>> {
    match value {
        Some(value) if value != "-" => Ok(value.into_encoded_bytes()),
        _ => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .take(u64::from(max) + 1)
                .read_to_end(&mut bytes)
                .context("cannot read the value from stdin")?;
            if bytes.len() > max as usize {
                bail!(describe(&CacheError::TooLarge(format!(
                    "the value on stdin is over max-value-bytes ({max})"
                ))));
            }
            Ok(bytes)
        }
    }
}

//! Where the cache lives and how it behaves: flags and environment into a store config,
//! starting the embedded S3 server when no endpoint is configured.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;

use crate::s3_server::S3Server;
use s3cache_runtime::{Compression, Config, Credentials, CullMode, Ttl};

/// Where the cache lives and how it behaves.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// S3 endpoint URL (also AWS_ENDPOINT_URL); absent: the embedded server.
    #[arg(long, env = "AWS_ENDPOINT_URL_S3", global = true)]
    endpoint: Option<String>,

    /// The embedded server's data directory [default: <user data dir>/s3cache].
    #[arg(long, env = "S3CACHE_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,

    /// Region (also AWS_DEFAULT_REGION) [default: us-east-1].
    #[arg(long, env = "AWS_REGION", global = true)]
    region: Option<String>,

    /// Bucket holding the entries.
    #[arg(long, env = "S3CACHE_BUCKET", default_value = "s3cache", global = true)]
    bucket: String,

    /// Prefix under which entries are stored.
    #[arg(long, env = "S3CACHE_LOCATION", default_value = "", global = true)]
    location: String,

    /// Django KEY_PREFIX, hashed into entry names.
    #[arg(long, env = "S3CACHE_KEY_PREFIX", default_value = "", global = true)]
    key_prefix: String,

    /// Django VERSION, hashed into entry names.
    #[arg(
        long,
        env = "S3CACHE_VERSION",
        default_value_t = 1,
        global = true,
        allow_negative_numbers = true
    )]
    key_version: i64,

    /// Lifetime of entries written with the default ttl: seconds or "never".
    #[arg(long, env = "S3CACHE_TIMEOUT", default_value = "300", value_parser = parse_lifetime, global = true)]
    default_timeout: Ttl,

    /// Django MAX_ENTRIES: writes cull when this many entries exist; "unlimited" (or 0):
    /// never cull, never list.
    #[arg(long, env = "S3CACHE_MAX_ENTRIES", default_value = "300", value_parser = parse_max_entries, global = true)]
    max_entries: u32,

    /// How writes count the entries: exact (list before every write), sampled (one write in
    /// 25 reads one page), or auto (exact up to 1000 max-entries).
    #[arg(long, env = "S3CACHE_CULL_MODE", value_enum, default_value_t = CullModeArg::Auto, global = true)]
    cull_mode: CullModeArg,

    /// Django CULL_FREQUENCY: a cull removes 1/N of the entries (0: all).
    #[arg(
        long,
        env = "S3CACHE_CULL_FREQUENCY",
        default_value_t = 3,
        global = true
    )]
    cull_frequency: u32,

    /// Deflate values above this many bytes when it pays, or "off".
    #[arg(long, env = "S3CACHE_COMPRESS_ABOVE", default_value = "1024", value_parser = parse_compression, global = true)]
    compress_above: CompressionArg,

    /// Largest value accepted or read back, in bytes.
    #[arg(long, env = "S3CACHE_MAX_VALUE_BYTES", default_value_t = 64 << 20, global = true)]
    max_value_bytes: u32,

    /// Canned ACL of written objects, e.g. private: django-s3-cache's DEFAULT_ACL [default: none
    /// sent; objects are private].
    #[arg(long, env = "S3CACHE_ACL", global = true)]
    acl: Option<String>,

    /// Canned ACL of a bucket that --create-bucket creates: django-s3-cache's BUCKET_ACL
    /// [default: none sent; private].
    #[arg(long, env = "S3CACHE_BUCKET_ACL", global = true)]
    bucket_acl: Option<String>,

    /// Storage class of written objects, e.g. REDUCED_REDUNDANCY.
    #[arg(long, env = "S3CACHE_STORAGE_CLASS", global = true)]
    storage_class: Option<String>,

    /// Store objects as REDUCED_REDUNDANCY: django-s3-cache's REDUCED_REDUNDANCY.
    #[arg(long, env = "S3CACHE_REDUCED_REDUNDANCY", global = true)]
    reduced_redundancy: bool,

    /// Server-side encryption of written objects: AES256 or aws:kms.
    #[arg(long, env = "S3CACHE_SSE", global = true)]
    sse: Option<String>,

    /// The KMS key id (or ARN) of --sse aws:kms [default: the account's S3 key].
    #[arg(long, env = "S3CACHE_SSE_KMS_KEY_ID", global = true)]
    sse_kms_key_id: Option<String>,

    /// Path-style addressing (endpoint/bucket/key) [default for IP and localhost endpoints].
    #[arg(long, conflicts_with = "virtual_hosted", global = true)]
    path_style: bool,

    /// Virtual-hosted addressing (bucket.endpoint/key) [default for other endpoints].
    #[arg(long, global = true)]
    virtual_hosted: bool,

    /// Create the bucket if it does not exist.
    #[arg(long, global = true)]
    create_bucket: bool,

    /// Attempts per request on transient failures (5xx, 429, SlowDown, resets).
    #[arg(long, env = "S3CACHE_MAX_ATTEMPTS", default_value_t = 4, global = true)]
    max_attempts: u32,

    /// Seconds an operation may spend retrying and waiting out other writers of its key.
    #[arg(long, env = "S3CACHE_DEADLINE", default_value = "10", value_parser = parse_millis, global = true)]
    deadline: u32,

    /// Seconds to open a connection.
    #[arg(long, env = "S3CACHE_CONNECT_TIMEOUT", default_value = "5", value_parser = parse_millis, global = true)]
    connect_timeout: u32,

    /// Seconds from a request to the first byte of its reply.
    #[arg(long, env = "S3CACHE_FIRST_BYTE_TIMEOUT", default_value = "10", value_parser = parse_millis, global = true)]
    first_byte_timeout: u32,

    /// Seconds between two bytes of a reply.
    #[arg(long, env = "S3CACHE_BETWEEN_BYTES_TIMEOUT", default_value = "10", value_parser = parse_millis, global = true)]
    between_bytes_timeout: u32,
}

#[derive(Debug, Clone, Copy)]
struct CompressionArg(Option<u32>);

/// `--cull-mode`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CullModeArg {
    Auto,
    Exact,
    Sampled,
}

impl StoreArgs {
    /// The embedded server's data directory.
    pub fn data_dir(&self) -> Result<PathBuf> {
        match &self.data_dir {
            Some(dir) => Ok(dir.clone()),
            None => dirs::data_dir()
                .map(|dir| dir.join("s3cache"))
                .ok_or_else(|| {
                    anyhow!("no user data directory: pass --data-dir or set S3CACHE_DATA_DIR")
                }),
        }
    }

    /// The store config, starting the embedded server when no endpoint is configured.
    pub async fn resolve(&self) -> Result<(Config, Option<S3Server>)> {
        let endpoint = self
            .endpoint
            .clone()
            .or_else(|| non_empty_env("AWS_ENDPOINT_URL"));
        let (endpoint, credentials, server) = match endpoint {
            Some(endpoint) => {
                let (access_key_id, secret_access_key) = env_credentials().context(
                    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to use an S3 endpoint",
                )?;
                let credentials = Credentials {
                    access_key_id,
                    secret_access_key,
                    session_token: non_empty_env("AWS_SESSION_TOKEN"),
                };
                (endpoint, credentials, None)
            }
            None => {
                let credentials = Credentials {
                    access_key_id: random_token(10)?,
                    secret_access_key: random_token(20)?,
                    session_token: None,
                };
                let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
                let server = S3Server::bind(
                    loopback,
                    &self.data_dir()?,
                    &credentials.access_key_id,
                    &credentials.secret_access_key,
                )
                .await?;
                (server.endpoint(), credentials, Some(server))
            }
        };
        let embedded = server.is_some();
        let config = Config {
            bucket: self.bucket.clone(),
            region: self
                .region
                .clone()
                .or_else(|| non_empty_env("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".to_owned()),
            endpoint: Some(endpoint),
            path_style: match (self.path_style, self.virtual_hosted) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            credentials,
            location: self.location.clone(),
            key_prefix: self.key_prefix.clone(),
            version: self.key_version,
            key_scheme: None,
            default_ttl: self.default_timeout,
            max_entries: Some(self.max_entries),
            cull_frequency: Some(self.cull_frequency),
            cull_mode: Some(match self.cull_mode {
                CullModeArg::Auto => CullMode::Auto,
                CullModeArg::Exact => CullMode::Exact,
                CullModeArg::Sampled => CullMode::Sampled,
            }),
            compression: Some(match self.compress_above.0 {
                None => Compression::Off,
                Some(bytes) => Compression::Above(bytes),
            }),
            max_value_bytes: Some(self.max_value_bytes),
            acl: self.acl.clone(),
            bucket_acl: self.bucket_acl.clone(),
            storage_class: self.storage_class.clone(),
            reduced_redundancy: self.reduced_redundancy,
            sse: self.sse.clone(),
            sse_kms_key_id: self.sse_kms_key_id.clone(),
            // The embedded server is ours: its bucket appears on first write.
            create_bucket: self.create_bucket || embedded,
            max_attempts: Some(self.max_attempts),
            deadline_ms: Some(self.deadline),
            connect_timeout_ms: Some(self.connect_timeout),
            first_byte_timeout_ms: Some(self.first_byte_timeout),
            between_bytes_timeout_ms: Some(self.between_bytes_timeout),
        };
        Ok((config, server))
    }
}

pub fn env_credentials() -> Result<(String, String)> {
    match (
        non_empty_env("AWS_ACCESS_KEY_ID"),
        non_empty_env("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(id), Some(secret)) => Ok((id, secret)),
        _ => bail!("AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not set"),
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// `bytes` random bytes as hex: credentials for the embedded server, new every run.
fn random_token(bytes: usize) -> Result<String> {
    let mut buffer = vec![0; bytes];
    getrandom::fill(&mut buffer).map_err(|e| anyhow!("no randomness for credentials: {e}"))?;
    Ok(buffer.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn parse_ttl(text: &str) -> Result<Ttl, String> {
    match text {
        "default" => Ok(Ttl::Default),
        lifetime => parse_lifetime(lifetime)
            .map_err(|_| format!("{lifetime:?} is not seconds, \"never\" or \"default\"")),
    }
}

/// "never", whole seconds, or seconds with a fraction (sub-second lifetimes).
fn parse_lifetime(text: &str) -> Result<Ttl, String> {
    if text == "never" {
        return Ok(Ttl::Never);
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(Ttl::Seconds(seconds));
    }
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() => {
            Ok(Ttl::Milliseconds((seconds * 1000.0).ceil() as i64))
        }
        _ => Err(format!("{text:?} is not seconds or \"never\"")),
    }
}

/// Seconds, fractions too, as whole milliseconds (at least 1).
fn parse_millis(text: &str) -> Result<u32, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 => {
            Ok((seconds * 1000.0).ceil().min(f64::from(u32::MAX)) as u32)
        }
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

fn parse_max_entries(text: &str) -> Result<u32, String> {
    match text {
        "unlimited" => Ok(0),
        count => count
            .parse()
            .map_err(|_| format!("{count:?} is not a count or \"unlimited\"")),
    }
}

fn parse_compression(text: &str) -> Result<CompressionArg, String> {
    match text {
        "off" => Ok(CompressionArg(None)),
        bytes => bytes
            .parse()
            .map(|bytes| CompressionArg(Some(bytes)))
            .map_err(|_| format!("{bytes:?} is not a byte count or \"off\"")),
    }
}

pub fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

//! Store configuration: validation, defaults, and where requests go.

use std::time::Duration;

use crate::core::backoff::{DEFAULT_DEADLINE, DEFAULT_MAX_ATTEMPTS, RetryPolicy};
use crate::core::cull::{CullMode, Culling};
use crate::core::entry::DefaultLifetime;
use crate::core::key::{KeyScheme, Naming, normalize_location};
use crate::error::{Error, Result};
use crate::s3::{Credentials, Endpoint};

/// Django's default timeout (300 s), in milliseconds.
pub(crate) const DEFAULT_TTL_MILLIS: i64 = 300_000;
/// Django's MAX_ENTRIES default.
pub(crate) const DEFAULT_MAX_ENTRIES: u32 = 300;
/// Django's CULL_FREQUENCY default.
pub(crate) const DEFAULT_CULL_FREQUENCY: u32 = 3;
/// The storage class django-s3-cache's REDUCED_REDUNDANCY chose.
pub(crate) const REDUCED_REDUNDANCY: &str = "REDUCED_REDUNDANCY";
/// Values longer than this are deflated by default.
pub(crate) const DEFAULT_COMPRESS_ABOVE: u32 = 1024;
/// The default largest value.
pub(crate) const DEFAULT_MAX_VALUE_BYTES: u32 = 64 << 20;

/// How long a request may wait on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To open a connection.
    pub connect: Duration,
    /// From the request to the first byte of the reply.
    pub first_byte: Duration,
    /// Between two bytes of the reply.
    pub between_bytes: Duration,
}

impl Default for Timeouts {
    /// Seconds, not minutes: a cache that waits longer is worse than a miss.
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(10),
            between_bytes: Duration::from_secs(10),
        }
    }
}

/// The configuration as a caller gives it; `None` takes the default.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Bucket name.
    pub bucket: String,
    /// Signing region.
    pub region: String,
    /// `http(s)://host[:port][/base-path]`; `None` is AWS S3 in `region`.
    pub endpoint: Option<String>,
    /// Path-style addressing; `None` picks it for IP and localhost endpoints.
    pub path_style: Option<bool>,
    /// Credentials.
    pub credentials: Credentials,
    /// Prefix under which entries live.
    pub location: String,
    /// Django KEY_PREFIX.
    pub key_prefix: String,
    /// Django VERSION.
    pub version: i64,
    /// Whether keys arrive made (hashed as given) or get the prefix and version here.
    pub key_scheme: KeyScheme,
    /// Lifetime in milliseconds of `Ttl::Default` writes: `Some(None)` is forever, `None` is
    /// 300 s.
    pub default_lifetime: Option<DefaultLifetime>,
    /// Django MAX_ENTRIES; `Some(0)` is unlimited (no culling, no listing).
    pub max_entries: Option<u32>,
    /// Django CULL_FREQUENCY.
    pub cull_frequency: Option<u32>,
    /// How writes check the count.
    pub cull_mode: CullMode,
    /// `Some(None)` turns compression off; `Some(Some(n))` deflates values above n bytes.
    pub compress_above: Option<Option<u32>>,
    /// Largest value.
    pub max_value_bytes: Option<u32>,
    /// Canned ACL; `None` sends none (objects are private).
    pub acl: Option<String>,
    /// Canned ACL of a bucket this store creates; `None` sends none (private).
    pub bucket_acl: Option<String>,
    /// Storage class.
    pub storage_class: Option<String>,
    /// django-s3-cache's REDUCED_REDUNDANCY: storage class `REDUCED_REDUNDANCY`.
    pub reduced_redundancy: bool,
    /// Server-side encryption: `AES256` or `aws:kms`.
    pub sse: Option<String>,
    /// The KMS key of `aws:kms` encryption.
    pub sse_kms_key_id: Option<String>,
    /// Create the bucket when it is missing.
    pub create_bucket: bool,
    /// Attempts per request on transient failures.
    pub max_attempts: Option<u32>,
    /// Milliseconds an operation may spend retrying and waiting out contention.
    pub deadline_ms: Option<u32>,
    /// Milliseconds to connect.
    pub connect_timeout_ms: Option<u32>,
    /// Milliseconds from sending a request to the first byte of its reply.
    pub first_byte_timeout_ms: Option<u32>,
    /// Milliseconds between two bytes of a reply.
    pub between_bytes_timeout_ms: Option<u32>,
}

impl Settings {
    /// Settings for `bucket` in `region`, everything else at its default: AWS S3's endpoint,
    /// the root location, Django's naming, culling and timeout.
    pub fn new(bucket: &str, region: &str, credentials: Credentials) -> Settings {
        Settings {
            bucket: bucket.to_owned(),
            region: region.to_owned(),
            endpoint: None,
            path_style: None,
            credentials,
            location: String::new(),
            key_prefix: String::new(),
            version: 1,
            key_scheme: KeyScheme::Prefixed,
            default_lifetime: None,
            max_entries: None,
            cull_frequency: None,
            cull_mode: CullMode::Auto,
            compress_above: None,
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
        }
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bucket name.
    pub bucket: String,
    /// Where requests go.
    pub endpoint: Endpoint,
    /// Signing region.
    pub region: String,
    /// Credentials.
    pub credentials: Credentials,
    /// How keys become object names, and where they live.
    pub naming: Naming,
    /// Lifetime of `Ttl::Default` writes.
    pub default_lifetime: DefaultLifetime,
    /// Culling.
    pub cull: Culling,
    /// Deflate values longer than this.
    pub compress_above: Option<usize>,
    /// Largest value.
    pub max_value_bytes: usize,
    /// `x-amz-acl` of writes.
    pub acl: Option<String>,
    /// `x-amz-acl` of CreateBucket.
    pub bucket_acl: Option<String>,
    /// `x-amz-storage-class` of writes.
    pub storage_class: Option<String>,
    /// `x-amz-server-side-encryption` of writes.
    pub sse: Option<String>,
    /// `x-amz-server-side-encryption-aws-kms-key-id` of writes.
    pub sse_kms_key_id: Option<String>,
    /// Create the bucket when it is missing.
    pub create_bucket: bool,
    /// Retries and the operation deadline.
    pub retry: RetryPolicy,
    /// HTTP timeouts.
    pub timeouts: Timeouts,
}

impl Config {
    /// Validates `settings` and fills in defaults.
    pub fn new(settings: Settings) -> Result<Config> {
        validate_region(&settings.region)?;
        validate_bucket(&settings.bucket)?;
        for (field, value) in [
            (
                "credentials.access-key-id",
                Some(&settings.credentials.access_key_id),
            ),
            (
                "credentials.secret-access-key",
                Some(&settings.credentials.secret_access_key),
            ),
            (
                "credentials.session-token",
                settings.credentials.session_token.as_ref(),
            ),
        ] {
            // The values are secrets: the messages never show them.
            match value {
                Some(value) if value.is_empty() => {
                    return Err(invalid(field, "it is empty".to_owned()));
                }
                Some(value) if !is_header_safe(value) => {
                    return Err(invalid(
                        field,
                        "it has characters not allowed in an HTTP header".to_owned(),
                    ));
                }
                _ => {}
            }
        }
        for (field, value) in [
            ("acl", &settings.acl),
            ("bucket-acl", &settings.bucket_acl),
            ("storage-class", &settings.storage_class),
            ("sse-kms-key-id", &settings.sse_kms_key_id),
        ] {
            if let Some(value) = value
                && (value.is_empty() || !is_header_safe(value))
            {
                return Err(invalid(field, format!("{value:?} is not a valid value")));
            }
        }
        for (field, value) in [
            ("max-attempts", settings.max_attempts),
            ("deadline-ms", settings.deadline_ms),
            ("connect-timeout-ms", settings.connect_timeout_ms),
            ("first-byte-timeout-ms", settings.first_byte_timeout_ms),
            (
                "between-bytes-timeout-ms",
                settings.between_bytes_timeout_ms,
            ),
        ] {
            if value == Some(0) {
                return Err(invalid(field, "it must be at least 1".to_owned()));
            }
        }
        let millis = |value: Option<u32>, default: Duration| {
            value.map_or(default, |ms| Duration::from_millis(u64::from(ms)))
        };
        let defaults = Timeouts::default();
        let storage_class = match (settings.reduced_redundancy, settings.storage_class) {
            (true, Some(class)) if class != REDUCED_REDUNDANCY => {
                return Err(invalid(
                    "reduced-redundancy",
                    format!("it contradicts storage-class {class:?}"),
                ));
            }
            (true, _) => Some(REDUCED_REDUNDANCY.to_owned()),
            (false, class) => class,
        };
        if let Some(sse) = settings.sse.as_deref()
            && sse != "AES256"
            && sse != "aws:kms"
        {
            return Err(invalid("sse", format!("{sse:?} is not AES256 or aws:kms")));
        }
        if settings.sse_kms_key_id.is_some() && settings.sse.as_deref() != Some("aws:kms") {
            return Err(invalid(
                "sse-kms-key-id",
                "a KMS key needs sse aws:kms".to_owned(),
            ));
        }
        let max_entries = match settings.max_entries.unwrap_or(DEFAULT_MAX_ENTRIES) {
            0 => None,
            limit => Some(limit as usize),
        };
        let endpoint = Endpoint::resolve(
            settings.endpoint.as_deref(),
            &settings.region,
            &settings.bucket,
            settings.path_style,
        )?;
        Ok(Config {
            bucket: settings.bucket,
            endpoint,
            region: settings.region,
            credentials: settings.credentials,
            naming: Naming {
                location: normalize_location(&settings.location),
                key_prefix: settings.key_prefix,
                version: settings.version,
                scheme: settings.key_scheme,
            },
            default_lifetime: settings
                .default_lifetime
                .unwrap_or(Some(DEFAULT_TTL_MILLIS)),
            cull: Culling::new(
                max_entries,
                settings.cull_frequency.unwrap_or(DEFAULT_CULL_FREQUENCY),
                settings.cull_mode,
            ),
            compress_above: settings
                .compress_above
                .unwrap_or(Some(DEFAULT_COMPRESS_ABOVE))
                .map(|n| n as usize),
            max_value_bytes: settings.max_value_bytes.unwrap_or(DEFAULT_MAX_VALUE_BYTES) as usize,
            acl: settings.acl,
            bucket_acl: settings.bucket_acl,
            storage_class,
            sse: settings.sse,
            sse_kms_key_id: settings.sse_kms_key_id,
            create_bucket: settings.create_bucket,
            retry: RetryPolicy {
                max_attempts: settings.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
                deadline: millis(settings.deadline_ms, DEFAULT_DEADLINE),
                ..RetryPolicy::default()
            },
            timeouts: Timeouts {
                connect: millis(settings.connect_timeout_ms, defaults.connect),
                first_byte: millis(settings.first_byte_timeout_ms, defaults.first_byte),
                between_bytes: millis(settings.between_bytes_timeout_ms, defaults.between_bytes),
            },
        })
    }
}

/// An invalid-config error; its message starts with the WIT name of the field at fault, so a
/// caller can name its own option for it.
fn invalid(field: &str, message: String) -> Error {
    Error::InvalidConfig(format!("{field}: {message}"))
}

fn is_header_safe(value: &str) -> bool {
    value.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn validate_region(region: &str) -> Result<()> {
    let ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "region",
            format!("{region:?} must be lowercase letters, digits and hyphens, e.g. us-east-1"),
        ))
    }
}

/// S3's bucket naming rules: 3 to 63 lowercase letters, digits, dots and hyphens, starting and
/// ending with a letter or digit. They also keep bucket names safe in hosts and paths.
fn validate_bucket(bucket: &str) -> Result<()> {
    let edge_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && edge_ok(bucket.bytes().next())
        && edge_ok(bucket.bytes().last());
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "bucket",
            format!("{bucket:?} is not valid: 3-63 lowercase letters, digits, dots and hyphens"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::cull::CullPolicy;

    fn settings() -> Settings {
        let credentials = Credentials {
            access_key_id: "AKIDEXAMPLE".to_owned(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
            session_token: Some("token-secret".to_owned()),
        };
        Settings {
            endpoint: Some("http://127.0.0.1:9000".to_owned()),
            location: "/a/b/".to_owned(),
            ..Settings::new("cache", "us-east-1", credentials)
        }
    }

    #[test]
    fn defaults_follow_django() {
        let config = Config::new(settings()).unwrap();
        assert_eq!(config.naming.location, "a/b");
        assert_eq!(config.default_lifetime, Some(300_000));
        assert_eq!(
            config.cull,
            Culling::Exact(CullPolicy {
                max_entries: 300,
                cull_frequency: 3
            })
        );
        let mut unlimited = settings();
        unlimited.max_entries = Some(0);
        assert_eq!(Config::new(unlimited).unwrap().cull, Culling::Unlimited);
        let mut large = settings();
        large.max_entries = Some(5000);
        assert!(matches!(
            Config::new(large).unwrap().cull,
            Culling::Sampled(_)
        ));
        assert_eq!(config.compress_above, Some(1024));
        assert_eq!(config.acl, None);
        assert_eq!(config.storage_class, None);
        assert_eq!(config.retry.max_attempts, 4);
        assert_eq!(config.retry.deadline, Duration::from_secs(10));
        assert_eq!(config.timeouts, Timeouts::default());
    }

    #[test]
    fn the_ancestors_storage_and_encryption_options_resolve() {
        let mut s = settings();
        s.reduced_redundancy = true;
        assert_eq!(
            Config::new(s.clone()).unwrap().storage_class.as_deref(),
            Some("REDUCED_REDUNDANCY")
        );
        s.storage_class = Some("REDUCED_REDUNDANCY".to_owned());
        assert!(Config::new(s).is_ok(), "the same class twice is fine");
        let mut s = settings();
        s.sse = Some("aws:kms".to_owned());
        s.sse_kms_key_id = Some("arn:aws:kms:eu-west-1:1:key/k".to_owned());
        let config = Config::new(s).unwrap();
        assert_eq!(config.sse.as_deref(), Some("aws:kms"));
        assert_eq!(
            config.sse_kms_key_id.as_deref(),
            Some("arn:aws:kms:eu-west-1:1:key/k")
        );
    }

    #[test]
    fn retries_and_timeouts_are_configurable() {
        let mut s = settings();
        s.max_attempts = Some(2);
        s.deadline_ms = Some(1500);
        s.connect_timeout_ms = Some(100);
        s.first_byte_timeout_ms = Some(200);
        s.between_bytes_timeout_ms = Some(300);
        let config = Config::new(s).unwrap();
        assert_eq!(config.retry.max_attempts, 2);
        assert_eq!(config.retry.deadline, Duration::from_millis(1500));
        assert_eq!(
            config.timeouts,
            Timeouts {
                connect: Duration::from_millis(100),
                first_byte: Duration::from_millis(200),
                between_bytes: Duration::from_millis(300),
            }
        );
    }

    type SettingsChange = Box<dyn Fn(&mut Settings)>;

    #[test]
    fn invalid_settings_are_rejected_naming_the_field() {
        let cases: Vec<(&str, SettingsChange)> = vec![
            ("bucket", Box::new(|s| s.bucket.clear())),
            ("bucket", Box::new(|s| s.bucket = "Cache".to_owned())),
            ("bucket", Box::new(|s| s.bucket = "a/b".to_owned())),
            ("region", Box::new(|s| s.region.clear())),
            ("max-attempts", Box::new(|s| s.max_attempts = Some(0))),
            ("deadline-ms", Box::new(|s| s.deadline_ms = Some(0))),
            (
                "between-bytes-timeout-ms",
                Box::new(|s| s.between_bytes_timeout_ms = Some(0)),
            ),
            (
                "credentials.secret-access-key",
                Box::new(|s| s.credentials.secret_access_key = "a\nb".to_owned()),
            ),
            (
                "credentials.access-key-id",
                Box::new(|s| s.credentials.access_key_id.clear()),
            ),
            (
                "credentials.session-token",
                Box::new(|s| s.credentials.session_token = Some(String::new())),
            ),
            ("acl", Box::new(|s| s.acl = Some("pri\nvate".to_owned()))),
            ("acl", Box::new(|s| s.acl = Some(String::new()))),
            (
                "bucket-acl",
                Box::new(|s| s.bucket_acl = Some(String::new())),
            ),
            (
                "storage-class",
                Box::new(|s| s.storage_class = Some(String::new())),
            ),
            (
                "reduced-redundancy",
                Box::new(|s| {
                    s.reduced_redundancy = true;
                    s.storage_class = Some("GLACIER".to_owned());
                }),
            ),
            ("sse", Box::new(|s| s.sse = Some("aes256".to_owned()))),
            (
                "sse-kms-key-id",
                Box::new(|s| {
                    s.sse = Some("AES256".to_owned());
                    s.sse_kms_key_id = Some("key".to_owned());
                }),
            ),
            (
                "sse-kms-key-id",
                Box::new(|s| {
                    s.sse = Some("aws:kms".to_owned());
                    s.sse_kms_key_id = Some("bad\nkey".to_owned());
                }),
            ),
            (
                "endpoint",
                Box::new(|s| s.endpoint = Some("ftp://host".to_owned())),
            ),
            (
                "endpoint",
                Box::new(|s| s.endpoint = Some("http://user:pw@host".to_owned())),
            ),
            (
                "endpoint",
                Box::new(|s| s.endpoint = Some("http://:0.#".to_owned())),
            ),
            (
                "endpoint",
                Box::new(|s| s.endpoint = Some("http://host:99999".to_owned())),
            ),
            (
                "path-style",
                Box::new(|s| {
                    s.endpoint = Some("http://127.0.0.1:9000".to_owned());
                    s.path_style = Some(false);
                }),
            ),
        ];
        for (field, change) in cases {
            let mut s = settings();
            change(&mut s);
            match Config::new(s) {
                Err(Error::InvalidConfig(message)) => assert!(
                    message.starts_with(&format!("{field}: ")),
                    "{field}: {message}"
                ),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn errors_and_debug_never_show_secrets() {
        let mut s = settings();
        s.credentials.secret_access_key = "zzq\nqzz".to_owned();
        let error = Config::new(s).unwrap_err().to_string();
        assert!(!error.contains("zzq") && !error.contains("qzz"), "{error}");
        let mut s = settings();
        s.endpoint = Some("http://user:zzqpw@host:9000".to_owned());
        let error = Config::new(s).unwrap_err().to_string();
        assert!(!error.contains("zzqpw"), "{error}");
        let config = Config::new(settings()).unwrap();
        let debug = format!("{config:?}");
        assert!(debug.contains("AKIDEXAMPLE"));
        assert!(!debug.contains("EXAMPLEKEY"), "{debug}");
        assert!(!debug.contains("token-secret"), "{debug}");
    }
}

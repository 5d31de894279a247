//! The table of settings: every setting of a store, written once. Each row gives its name (in
//! the core, the WIT's settings list, Python keywords with `_`), its CLI flag, environment
//! variables, wasi:config name (derived), Django OPTIONS name and the Django settings it falls
//! back on, the syntax of its value, its default, its doc, and how it applies to [`Settings`].
//! Every surface reads it: the CLI builds its flags from it, the wasi:keyvalue component reads
//! wasi:config by it, the Python extension hands it to the package and the Django backend, and
//! `docs/reference/configuration.md` is generated from it.
//!
//! Values are text in every surface (`300`, `unlimited`, `2.5`, `true`), parsed here, so a
//! flag, a variable, a Spin variable and a Python keyword mean the same thing.

use super::Settings;
use crate::core::cull::CullMode;
use crate::core::key::KeyScheme;

/// One setting.
#[derive(Debug)]
pub struct Setting {
    /// The name in the core, in the WIT's settings list and (with `_` for `-`) as a Python
    /// keyword.
    pub name: &'static str,
    /// The CLI flag without its dashes; empty for secrets, which no flag takes.
    pub flag: &'static str,
    /// Environment variables the CLI reads when the flag is absent, first found wins.
    pub env: &'static [&'static str],
    /// The Django `OPTIONS` key; empty where Django sets the value itself.
    pub django: &'static str,
    /// Django settings read, in order, when `OPTIONS` lacks the key (django-storages' names).
    pub django_fallbacks: &'static [&'static str],
    /// The value's syntax, as `--help` and the docs show it.
    pub syntax: &'static str,
    /// The default, as text; `None`: unset (what that means is in `doc`).
    pub default: Option<&'static str>,
    /// What a null (Python's `None`) means, where it means something other than the default.
    pub null: Option<&'static str>,
    /// A valid value, for tests and examples.
    pub example: &'static str,
    /// One line of documentation.
    pub doc: &'static str,
    /// A credential: never a flag, never in the WIT's settings list, never printed.
    pub secret: bool,
    apply: fn(&mut Settings, &str) -> Result<(), String>,
}

impl Setting {
    /// The wasi:config name (a Spin variable name): `s3cache_` and the name with `_`.
    pub fn wasi_config_name(&self) -> String {
        format!("s3cache_{}", self.name.replace('-', "_"))
    }

    /// The Python keyword: the name with `_`.
    pub fn python_name(&self) -> String {
        self.name.replace('-', "_")
    }

    /// Parses `value` into `settings`, as given (a key prefix may hold spaces); the error says
    /// why (without the value, for secrets).
    pub(crate) fn apply(&self, settings: &mut Settings, value: &str) -> Result<(), String> {
        (self.apply)(settings, value)
    }
}

/// The setting called `name`.
pub fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|setting| setting.name == name)
}

/// Every setting. The bucket and the credentials come first: they have no default.
pub static SETTINGS: &[Setting] = &[
    Setting {
        name: "bucket",
        flag: "bucket",
        env: &["S3CACHE_BUCKET"],
        django: "STORAGE_BUCKET_NAME",
        django_fallbacks: &["AWS_STORAGE_BUCKET_NAME"],
        syntax: "name",
        default: None,
        null: None,
        example: "my-cache-bucket",
        doc: "The bucket holding the entries (required; the CLI defaults to `s3cache`).",
        secret: false,
        apply: |s, v| text(v).map(|v| s.bucket = v),
    },
    Setting {
        name: "access-key-id",
        flag: "",
        env: &["AWS_ACCESS_KEY_ID"],
        django: "ACCESS_KEY_ID",
        django_fallbacks: &["AWS_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"],
        syntax: "text",
        default: None,
        null: None,
        example: "AKIDEXAMPLE",
        doc: "The access key id of the credentials (required).",
        secret: true,
        apply: |s, v| text(v).map(|v| s.credentials.access_key_id = v),
    },
    Setting {
        name: "secret-access-key",
        flag: "",
        env: &["AWS_SECRET_ACCESS_KEY"],
        django: "SECRET_ACCESS_KEY",
        django_fallbacks: &["AWS_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"],
        syntax: "text",
        default: None,
        null: None,
        example: "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
        doc: "The secret access key of the credentials (required; never printed).",
        secret: true,
        apply: |s, v| text(v).map(|v| s.credentials.secret_access_key = v),
    },
    Setting {
        name: "session-token",
        flag: "",
        env: &["AWS_SESSION_TOKEN"],
        django: "SESSION_TOKEN",
        django_fallbacks: &["AWS_SESSION_TOKEN"],
        syntax: "text",
        default: None,
        null: None,
        example: "FwoGZXIvYXdzEXAMPLETOKEN",
        doc: "The session token of temporary credentials (STS), sent as x-amz-security-token.",
        secret: true,
        apply: |s, v| optional_text(v).map(|v| s.credentials.session_token = v),
    },
    Setting {
        name: "region",
        flag: "region",
        env: &["AWS_REGION", "AWS_DEFAULT_REGION"],
        django: "REGION_NAME",
        django_fallbacks: &["AWS_S3_REGION_NAME"],
        syntax: "region",
        default: Some("us-east-1"),
        null: None,
        example: "eu-west-1",
        doc: "The bucket's region, used for signing (and for AWS's endpoint). When S3 answers \
              that the bucket lives in another, the store moves there for its life.",
        secret: false,
        apply: |s, v| text(v).map(|v| s.region = v),
    },
    Setting {
        name: "endpoint",
        flag: "endpoint",
        env: &["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"],
        django: "ENDPOINT_URL",
        django_fallbacks: &["AWS_S3_ENDPOINT_URL"],
        syntax: "http(s)://host[:port][/path]",
        default: None,
        null: None,
        example: "http://127.0.0.1:9000",
        doc: "An S3-compatible endpoint; unset: AWS S3 in the region (the CLI: its embedded server).",
        secret: false,
        apply: |s, v| optional_text(v).map(|v| s.endpoint = v),
    },
    Setting {
        name: "addressing",
        flag: "addressing",
        env: &["S3CACHE_ADDRESSING"],
        django: "ADDRESSING_STYLE",
        django_fallbacks: &["AWS_S3_ADDRESSING_STYLE"],
        syntax: "auto | path | virtual",
        default: Some("auto"),
        null: None,
        example: "path",
        doc: "Path-style (endpoint/bucket/key) or virtual-hosted (bucket.endpoint/key) URLs; auto: \
              path-style for IP addresses and localhost, virtual-hosted otherwise.",
        secret: false,
        apply: |s, v| {
            s.path_style = match choice(v, &["auto", "path", "virtual"])? {
                "path" => Some(true),
                "virtual" => Some(false),
                _ => None,
            };
            Ok(())
        },
    },
    Setting {
        name: "location",
        flag: "location",
        env: &["S3CACHE_LOCATION"],
        django: "LOCATION",
        django_fallbacks: &[],
        syntax: "prefix",
        default: Some(""),
        null: None,
        example: "myapp/cache",
        doc: "The prefix (\"directory\") under which entries live; empty: the bucket's root. \
              Django takes it from the cache's LOCATION unless OPTIONS name one.",
        secret: false,
        apply: |s, v| location(v).map(|v| s.location = v),
    },
    Setting {
        name: "key-prefix",
        flag: "key-prefix",
        env: &["S3CACHE_KEY_PREFIX"],
        django: "",
        django_fallbacks: &[],
        syntax: "text",
        default: Some(""),
        null: None,
        example: "myapp",
        doc: "Django's KEY_PREFIX, hashed into entry names (Django applies its own).",
        secret: false,
        apply: |s, v| {
            s.key_prefix = v.to_owned();
            Ok(())
        },
    },
    Setting {
        name: "version",
        flag: "key-version",
        env: &["S3CACHE_VERSION"],
        django: "",
        django_fallbacks: &[],
        syntax: "integer",
        default: Some("1"),
        null: None,
        example: "2",
        doc: "Django's VERSION, hashed into entry names (Django applies its own).",
        secret: false,
        apply: |s, v| integer(v).map(|v| s.version = v),
    },
    Setting {
        name: "key-scheme",
        flag: "key-scheme",
        env: &["S3CACHE_KEY_SCHEME"],
        django: "",
        django_fallbacks: &[],
        syntax: "prefixed | made",
        default: Some("prefixed"),
        null: None,
        example: "made",
        doc: "prefixed: the store hashes \"{key-prefix}:{version}:{key}\"; made: keys arrive made \
              (Django's KEY_FUNCTION output) and are hashed as given.",
        secret: false,
        apply: |s, v| {
            s.key_scheme = match choice(v, &["prefixed", "made"])? {
                "made" => KeyScheme::Made,
                _ => KeyScheme::Prefixed,
            };
            Ok(())
        },
    },
    Setting {
        name: "default-timeout",
        flag: "default-timeout",
        env: &["S3CACHE_TIMEOUT"],
        django: "",
        django_fallbacks: &[],
        syntax: "seconds | never",
        default: Some("300"),
        null: Some("never"),
        example: "60",
        doc: "The lifetime of entries written with the default ttl (Django's TIMEOUT, which Django \
              passes from the cache's own TIMEOUT).",
        secret: false,
        apply: |s, v| {
            s.default_lifetime = if v.eq_ignore_ascii_case("never") {
                None
            } else {
                Some(lifetime_ms(v)?)
            };
            Ok(())
        },
    },
    Setting {
        name: "max-entries",
        flag: "max-entries",
        env: &["S3CACHE_MAX_ENTRIES"],
        django: "MAX_ENTRIES",
        django_fallbacks: &[],
        syntax: "count | unlimited",
        default: Some("300"),
        null: Some("unlimited"),
        example: "1000",
        doc: "Django's MAX_ENTRIES: writes cull when this many entries exist; unlimited (or 0): \
              writes never list or cull (bound the bucket with a lifecycle rule).",
        secret: false,
        apply: |s, v| {
            s.max_entries = match count(v) {
                _ if v.eq_ignore_ascii_case("unlimited") => None,
                Ok(0) => None,
                Ok(limit) => Some(limit),
                Err(reason) => return Err(reason),
            };
            Ok(())
        },
    },
    Setting {
        name: "cull-frequency",
        flag: "cull-frequency",
        env: &["S3CACHE_CULL_FREQUENCY"],
        django: "CULL_FREQUENCY",
        django_fallbacks: &[],
        syntax: "count",
        default: Some("3"),
        null: None,
        example: "4",
        doc: "Django's CULL_FREQUENCY: a cull removes 1/N of the entries, the oldest written \
              first; 0 removes them all.",
        secret: false,
        apply: |s, v| count(v).map(|v| s.cull_frequency = v),
    },
    Setting {
        name: "cull-mode",
        flag: "cull-mode",
        env: &["S3CACHE_CULL_MODE"],
        django: "CULL_MODE",
        django_fallbacks: &[],
        syntax: "auto | exact | sampled",
        default: Some("auto"),
        null: None,
        example: "sampled",
        doc: "How writes count the entries: exact lists before every write, sampled reads one \
              page on one write in 25; auto is exact up to 1000 max-entries.",
        secret: false,
        apply: |s, v| {
            s.cull_mode = match choice(v, &["auto", "exact", "sampled"])? {
                "exact" => CullMode::Exact,
                "sampled" => CullMode::Sampled,
                _ => CullMode::Auto,
            };
            Ok(())
        },
    },
    Setting {
        name: "compress-above",
        flag: "compress-above",
        env: &["S3CACHE_COMPRESS_ABOVE"],
        django: "COMPRESS_ABOVE",
        django_fallbacks: &[],
        syntax: "bytes | off",
        default: Some("1024"),
        null: Some("off"),
        example: "4096",
        doc: "Deflate values longer than this when that makes them smaller (django-s3-cache's \
              IS_GZIPPED, which never applied); off: store values as given.",
        secret: false,
        apply: |s, v| {
            s.compress_above = if v.eq_ignore_ascii_case("off") {
                None
            } else {
                Some(count(v)?)
            };
            Ok(())
        },
    },
    Setting {
        name: "max-value-bytes",
        flag: "max-value-bytes",
        env: &["S3CACHE_MAX_VALUE_BYTES"],
        django: "MAX_VALUE_BYTES",
        django_fallbacks: &[],
        syntax: "bytes",
        default: Some("67108864"),
        null: None,
        example: "1048576",
        doc: "The largest value written or read back (64 MiB by default, at most 512 MiB: the \
              component holds a value, its encoding and the reply at once in 4 GiB).",
        secret: false,
        apply: |s, v| match positive(v)? {
            n if n > MAX_VALUE_BYTES_LIMIT => Err(format!(
                "{n} is too large: it must be at most {MAX_VALUE_BYTES_LIMIT} (512 MiB)"
            )),
            n => {
                s.max_value_bytes = n;
                Ok(())
            }
        },
    },
    Setting {
        name: "acl",
        flag: "acl",
        env: &["S3CACHE_ACL"],
        django: "DEFAULT_ACL",
        django_fallbacks: &[],
        syntax: "canned ACL",
        default: None,
        null: None,
        example: "private",
        doc: "Canned ACL of written objects (x-amz-acl); unset sends none: objects are private, \
              the only choice on buckets with ACLs disabled (AWS's default).",
        secret: false,
        apply: |s, v| optional_text(v).map(|v| s.acl = v),
    },
    Setting {
        name: "bucket-acl",
        flag: "bucket-acl",
        env: &["S3CACHE_BUCKET_ACL"],
        django: "BUCKET_ACL",
        django_fallbacks: &["AWS_BUCKET_ACL"],
        syntax: "canned ACL",
        default: None,
        null: None,
        example: "private",
        doc: "Canned ACL of a bucket create-bucket makes; unset sends none: the bucket is private.",
        secret: false,
        apply: |s, v| optional_text(v).map(|v| s.bucket_acl = v),
    },
    Setting {
        name: "storage-class",
        flag: "storage-class",
        env: &["S3CACHE_STORAGE_CLASS"],
        django: "STORAGE_CLASS",
        django_fallbacks: &[],
        syntax: "storage class",
        default: None,
        null: None,
        example: "STANDARD_IA",
        doc: "Storage class of written objects; unset: the bucket's default.",
        secret: false,
        apply: |s, v| optional_text(v).map(|v| s.storage_class = v),
    },
    Setting {
        name: "reduced-redundancy",
        flag: "reduced-redundancy",
        env: &["S3CACHE_REDUCED_REDUNDANCY"],
        django: "REDUCED_REDUNDANCY",
        django_fallbacks: &["AWS_REDUCED_REDUNDANCY"],
        syntax: "true | false",
        default: Some("false"),
        null: None,
        example: "true",
        doc: "django-s3-cache's REDUCED_REDUNDANCY: storage class REDUCED_REDUNDANCY.",
        secret: false,
        apply: |s, v| flag(v).map(|v| s.reduced_redundancy = v),
    },
    Setting {
        name: "sse",
        flag: "sse",
        env: &["S3CACHE_SSE"],
        django: "SSE",
        django_fallbacks: &[],
        syntax: "AES256 | aws:kms",
        default: None,
        null: None,
        example: "AES256",
        doc: "Server-side encryption of written objects; unset: the bucket's default.",
        secret: false,
        apply: |s, v| optional_text(v).map(|v| s.sse = v),
    },
    Setting {
        name: "sse-kms-key-id",
        flag: "sse-kms-key-id",
        env: &["S3CACHE_SSE_KMS_KEY_ID"],
        django: "SSE_KMS_KEY_ID",
        django_fallbacks: &[],
        syntax: "key id or ARN",
        default: None,
        null: None,
        example: "arn:aws:kms:eu-west-1:111122223333:key/example",
        doc: "The KMS key of aws:kms encryption (setting it implies sse aws:kms); unset: the \
              account's S3 key.",
        secret: false,
        apply: |s, v| optional_text(v).map(|v| s.sse_kms_key_id = v),
    },
    Setting {
        name: "create-bucket",
        flag: "create-bucket",
        env: &["S3CACHE_CREATE_BUCKET"],
        django: "AUTO_CREATE_BUCKET",
        django_fallbacks: &["AWS_AUTO_CREATE_BUCKET"],
        syntax: "true | false",
        default: Some("false"),
        null: None,
        example: "true",
        doc: "Create the bucket when an operation finds it missing, in the region, with \
              bucket-acl.",
        secret: false,
        apply: |s, v| flag(v).map(|v| s.create_bucket = v),
    },
    Setting {
        name: "max-attempts",
        flag: "max-attempts",
        env: &["S3CACHE_MAX_ATTEMPTS"],
        django: "MAX_ATTEMPTS",
        django_fallbacks: &[],
        syntax: "count",
        default: Some("3"),
        null: None,
        example: "3",
        doc: "Attempts per request on transient failures (5xx, 429, SlowDown, resets, lost \
              replies of conditional writes), under a retry quota the store's operations share.",
        secret: false,
        apply: |s, v| positive(v).map(|v| s.max_attempts = v),
    },
    Setting {
        name: "deadline",
        flag: "deadline",
        env: &["S3CACHE_DEADLINE"],
        django: "DEADLINE",
        django_fallbacks: &[],
        syntax: "seconds",
        default: Some("2"),
        null: None,
        example: "2.5",
        doc: "Seconds an operation may take in all: every attempt (an attempt still in flight \
              is cancelled), every wait between retries, every wait for other writers of its \
              key.",
        secret: false,
        apply: |s, v| seconds_ms(v).map(|v| s.deadline_ms = v),
    },
    Setting {
        name: "connect-timeout",
        flag: "connect-timeout",
        env: &["S3CACHE_CONNECT_TIMEOUT"],
        django: "CONNECT_TIMEOUT",
        django_fallbacks: &[],
        syntax: "seconds",
        default: Some("1"),
        null: None,
        example: "1",
        doc: "Seconds to open a connection (within the deadline).",
        secret: false,
        apply: |s, v| seconds_ms(v).map(|v| s.connect_timeout_ms = v),
    },
    Setting {
        name: "first-byte-timeout",
        flag: "first-byte-timeout",
        env: &["S3CACHE_FIRST_BYTE_TIMEOUT"],
        django: "FIRST_BYTE_TIMEOUT",
        django_fallbacks: &[],
        syntax: "seconds",
        default: Some("2"),
        null: None,
        example: "2",
        doc: "Seconds from a request to the first byte of its reply (within the deadline).",
        secret: false,
        apply: |s, v| seconds_ms(v).map(|v| s.first_byte_timeout_ms = v),
    },
    Setting {
        name: "between-bytes-timeout",
        flag: "between-bytes-timeout",
        env: &["S3CACHE_BETWEEN_BYTES_TIMEOUT"],
        django: "BETWEEN_BYTES_TIMEOUT",
        django_fallbacks: &[],
        syntax: "seconds",
        default: Some("2"),
        null: None,
        example: "2",
        doc: "Seconds between two bytes of a reply (within the deadline).",
        secret: false,
        apply: |s, v| seconds_ms(v).map(|v| s.between_bytes_timeout_ms = v),
    },
];

fn text(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("it is empty".to_owned());
    }
    Ok(value.to_owned())
}

fn optional_text(value: &str) -> Result<Option<String>, String> {
    Ok(Some(value)
        .filter(|value| !value.is_empty())
        .map(str::to_owned))
}

/// A location as a key prefix: no leading or trailing `/`, and no segment S3 or a URL would
/// read otherwise (empty, `.`, `..`).
pub(crate) fn location(value: &str) -> Result<String, String> {
    let trimmed = value.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if let Some(bad) = trimmed
        .split('/')
        .find(|segment| matches!(*segment, "" | "." | ".."))
    {
        return Err(format!(
            "{value:?} has a segment {bad:?}; a location is names separated by single slashes"
        ));
    }
    if let Some(bad) = trimmed.chars().find(|c| c.is_control()) {
        return Err(format!("{value:?} has the control character {bad:?}"));
    }
    Ok(trimmed.to_owned())
}

fn choice<'a>(value: &str, choices: &[&'a str]) -> Result<&'a str, String> {
    choices
        .iter()
        .find(|choice| choice.eq_ignore_ascii_case(value))
        .copied()
        .ok_or_else(|| format!("{value:?} is not one of {}", choices.join(", ")))
}

fn flag(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{value:?} is not true or false")),
    }
}

fn integer(value: &str) -> Result<i64, String> {
    value
        .parse()
        .map_err(|_| format!("{value:?} is not an integer"))
}

fn count(value: &str) -> Result<u32, String> {
    value
        .parse()
        .map_err(|_| format!("{value:?} is not a whole number from 0 to {}", u32::MAX))
}

/// The largest max-value-bytes: a value, its encoded entry and the reply that brings it back
/// must fit the component's 4 GiB of memory together.
const MAX_VALUE_BYTES_LIMIT: u32 = 512 << 20;

fn positive(value: &str) -> Result<u32, String> {
    match count(value)? {
        0 => Err("it must be at least 1".to_owned()),
        n => Ok(n),
    }
}

fn seconds(value: &str) -> Result<f64, String> {
    value
        .parse()
        .ok()
        .filter(|seconds: &f64| seconds.is_finite())
        .ok_or_else(|| format!("{value:?} is not a number of seconds"))
}

/// Decimal seconds as milliseconds, more than zero; any positive duration is at least 1 ms.
fn seconds_ms(value: &str) -> Result<u32, String> {
    let millis = (seconds(value)? * 1000.0).ceil();
    if millis < 1.0 {
        return Err(format!("{value:?} must be more than 0 seconds"));
    }
    if millis > f64::from(u32::MAX) {
        return Err(format!(
            "{value:?} is more than {} seconds",
            u32::MAX / 1000
        ));
    }
    Ok(millis as u32)
}

/// A lifetime in seconds as milliseconds: zero or less is an entry expired at once, as Django
/// has it.
fn lifetime_ms(value: &str) -> Result<i64, String> {
    let millis = (seconds(value)? * 1000.0).ceil();
    Ok(millis.clamp(0.0, i64::MAX as f64) as i64)
}

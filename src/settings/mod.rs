//! Store settings: the table every surface reads ([`table`]), the settings a caller gives,
//! and their validation into the configuration the cache runs with.

#[cfg(test)]
mod reference;
mod table;

use std::time::Duration;

use crate::core::backoff::RetryPolicy;
use crate::core::cull::{CullMode, Culling};
use crate::core::entry::DefaultLifetime;
use crate::core::key::{KeyScheme, Naming};
use crate::error::{Error, Result};
use crate::s3::{Credentials, Endpoint};

pub use table::{SETTINGS, Setting, setting};

/// The storage class django-s3-cache's REDUCED_REDUNDANCY chose.
const REDUCED_REDUNDANCY: &str = "REDUCED_REDUNDANCY";

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

impl Timeouts {
    /// These timeouts, none longer than `limit` (what an operation's deadline leaves).
    pub fn within(self, limit: Duration) -> Timeouts {
        Timeouts {
            connect: self.connect.min(limit),
            first_byte: self.first_byte.min(limit),
            between_bytes: self.between_bytes.min(limit),
        }
    }
}

/// The settings as a caller gives them, each field a row of [`SETTINGS`] (where its default
/// and meaning are written). [`Settings::new`] starts from the defaults; [`Settings::set`]
/// changes one setting by name, from text, as every surface does.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `bucket`.
    pub bucket: String,
    /// `access-key-id`, `secret-access-key`, `session-token`.
    pub credentials: Credentials,
    /// `region`.
    pub region: String,
    /// `endpoint`; `None` is AWS S3 in `region`.
    pub endpoint: Option<String>,
    /// `addressing`: `Some(true)` path-style, `Some(false)` virtual-hosted, `None` auto.
    pub path_style: Option<bool>,
    /// `location`.
    pub location: String,
    /// `key-prefix`.
    pub key_prefix: String,
    /// `version`.
    pub version: i64,
    /// `key-scheme`.
    pub key_scheme: KeyScheme,
    /// `default-timeout` in milliseconds; `None` is forever.
    pub default_lifetime: DefaultLifetime,
    /// `max-entries`; `None` is unlimited.
    pub max_entries: Option<u32>,
    /// `cull-frequency`.
    pub cull_frequency: u32,
    /// `cull-mode`.
    pub cull_mode: CullMode,
    /// `compress-above`; `None` is off.
    pub compress_above: Option<u32>,
    /// `max-value-bytes`.
    pub max_value_bytes: u32,
    /// `acl`.
    pub acl: Option<String>,
    /// `bucket-acl`.
    pub bucket_acl: Option<String>,
    /// `storage-class`.
    pub storage_class: Option<String>,
    /// `reduced-redundancy`.
    pub reduced_redundancy: bool,
    /// `sse`.
    pub sse: Option<String>,
    /// `sse-kms-key-id`.
    pub sse_kms_key_id: Option<String>,
    /// `create-bucket`.
    pub create_bucket: bool,
    /// `max-attempts`.
    pub max_attempts: u32,
    /// `deadline` in milliseconds.
    pub deadline_ms: u32,
    /// `connect-timeout` in milliseconds.
    pub connect_timeout_ms: u32,
    /// `first-byte-timeout` in milliseconds.
    pub first_byte_timeout_ms: u32,
    /// `between-bytes-timeout` in milliseconds.
    pub between_bytes_timeout_ms: u32,
}

impl Settings {
    /// Settings for `bucket` with these credentials, every other setting at its default.
    pub fn new(bucket: &str, credentials: Credentials) -> Settings {
        let mut settings = Settings {
            bucket: bucket.to_owned(),
            credentials,
            region: String::new(),
            endpoint: None,
            path_style: None,
            location: String::new(),
            key_prefix: String::new(),
            version: 0,
            key_scheme: KeyScheme::Prefixed,
            default_lifetime: None,
            max_entries: None,
            cull_frequency: 0,
            cull_mode: CullMode::Auto,
            compress_above: None,
            max_value_bytes: 0,
            acl: None,
            bucket_acl: None,
            storage_class: None,
            reduced_redundancy: false,
            sse: None,
            sse_kms_key_id: None,
            create_bucket: false,
            max_attempts: 0,
            deadline_ms: 0,
            connect_timeout_ms: 0,
            first_byte_timeout_ms: 0,
            between_bytes_timeout_ms: 0,
        };
        for row in SETTINGS {
            if let Some(default) = row.default {
                row.apply(&mut settings, default)
                    .expect("every default in the table parses");
            }
        }
        settings
    }

    /// Sets the setting `name` (a row of [`SETTINGS`]) from its text form.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let row = setting(name).ok_or_else(|| Error::InvalidSetting {
            setting: name.to_owned(),
            reason: "no such setting".to_owned(),
        })?;
        row.apply(self, value)
            .map_err(|reason| Error::InvalidSetting {
                setting: row.name.to_owned(),
                reason: if row.secret {
                    // The reason may quote the value; a secret is never shown.
                    "it is not valid".to_owned()
                } else {
                    format!("{reason} (expected {})", row.syntax)
                },
            })
    }

    /// Sets each `(name, value)` of a settings list (the WIT's): every setting but the bucket
    /// and the credentials, which travel apart (so no list or record ever holds a secret).
    pub fn set_list(&mut self, pairs: &[(String, String)]) -> Result<()> {
        for (name, value) in pairs {
            let travels_apart = match setting(name) {
                Some(row) if row.secret => "credentials go in the credentials resource",
                Some(row) if row.name == "bucket" => "the bucket is the config's own field",
                _ => "",
            };
            if !travels_apart.is_empty() {
                return Err(Error::InvalidSetting {
                    setting: name.clone(),
                    reason: format!("not a setting of the list: {travels_apart}"),
                });
            }
            self.set(name, value)?;
        }
        Ok(())
    }

    /// Checks the settings as opening a store does, without opening one: a host can refuse a
    /// bad configuration at startup and open stores later.
    pub fn validate(&self) -> Result<()> {
        Config::new(self.clone()).map(drop)
    }

    /// Sets each `(name, value)` in turn.
    #[cfg(test)]
    fn set_all<'a>(&mut self, values: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<()> {
        values
            .into_iter()
            .try_for_each(|(name, value)| self.set(name, value))
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bucket name.
    pub bucket: String,
    /// Where requests go.
    pub endpoint: Endpoint,
    /// When the endpoint is AWS's own for `region`, the addressing it was resolved with (`None`:
    /// chosen by the host), so that a region S3 names can move it; `None` for an endpoint given.
    pub regional_endpoint: Option<Option<bool>>,
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
            ("access-key-id", Some(&settings.credentials.access_key_id)),
            (
                "secret-access-key",
                Some(&settings.credentials.secret_access_key),
            ),
            ("session-token", settings.credentials.session_token.as_ref()),
        ] {
            // The values are secrets: the messages never show them.
            match value {
                Some(value) if value.is_empty() => {
                    return Err(Error::invalid_setting(field, "it is empty".to_owned()));
                }
                Some(value) if !is_header_safe(value) => {
                    return Err(Error::invalid_setting(
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
                return Err(Error::invalid_setting(
                    field,
                    format!("{value:?} is not a valid value"),
                ));
            }
        }
        for (field, value) in [
            ("max-attempts", settings.max_attempts),
            ("max-value-bytes", settings.max_value_bytes),
            ("deadline", settings.deadline_ms),
            ("connect-timeout", settings.connect_timeout_ms),
            ("first-byte-timeout", settings.first_byte_timeout_ms),
            ("between-bytes-timeout", settings.between_bytes_timeout_ms),
        ] {
            if value == 0 {
                return Err(Error::invalid_setting(
                    field,
                    "it must be more than 0".to_owned(),
                ));
            }
        }
        let millis = |ms: u32| Duration::from_millis(u64::from(ms));
        let storage_class = match (settings.reduced_redundancy, settings.storage_class) {
            (true, Some(class)) if class != REDUCED_REDUNDANCY => {
                return Err(Error::invalid_setting(
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
            return Err(Error::invalid_setting(
                "sse",
                format!("{sse:?} is not AES256 or aws:kms"),
            ));
        }
        let sse = match (settings.sse, &settings.sse_kms_key_id) {
            (Some(sse), Some(_)) if sse != "aws:kms" => {
                return Err(Error::invalid_setting(
                    "sse-kms-key-id",
                    format!("a KMS key needs sse aws:kms, not {sse:?}"),
                ));
            }
            (None, Some(_)) => Some("aws:kms".to_owned()),
            (sse, _) => sse,
        };
        let max_entries = settings
            .max_entries
            .filter(|&limit| limit > 0)
            .map(|limit| limit as usize);
        // Checked here too: the fields are public, so a caller may set them without the table.
        let location = table::location(&settings.location)
            .map_err(|reason| Error::invalid_setting("location", reason))?;
        let endpoint = Endpoint::resolve(
            settings.endpoint.as_deref(),
            &settings.region,
            &settings.bucket,
            settings.path_style,
        )?;
        Ok(Config {
            regional_endpoint: settings.endpoint.is_none().then_some(settings.path_style),
            bucket: settings.bucket,
            endpoint,
            region: settings.region,
            credentials: settings.credentials,
            naming: Naming {
                location,
                key_prefix: settings.key_prefix,
                version: settings.version,
                scheme: settings.key_scheme,
            },
            default_lifetime: settings.default_lifetime,
            cull: Culling::new(max_entries, settings.cull_frequency, settings.cull_mode),
            compress_above: settings.compress_above.map(|n| n as usize),
            max_value_bytes: settings.max_value_bytes as usize,
            acl: settings.acl,
            bucket_acl: settings.bucket_acl,
            storage_class,
            sse,
            sse_kms_key_id: settings.sse_kms_key_id,
            create_bucket: settings.create_bucket,
            retry: RetryPolicy::new(settings.max_attempts, millis(settings.deadline_ms)),
            timeouts: Timeouts {
                connect: millis(settings.connect_timeout_ms),
                first_byte: millis(settings.first_byte_timeout_ms),
                between_bytes: millis(settings.between_bytes_timeout_ms),
            },
        })
    }
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
        Err(Error::invalid_setting(
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
        Err(Error::invalid_setting(
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
            location: "a/b".to_owned(),
            ..Settings::new("cache", credentials)
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
        unlimited.max_entries = None;
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
        assert_eq!(config.retry.max_attempts, 3);
        assert_eq!(config.retry.deadline, Duration::from_secs(2));
        assert_eq!(
            config.timeouts,
            Timeouts {
                connect: Duration::from_secs(1),
                first_byte: Duration::from_secs(2),
                between_bytes: Duration::from_secs(2),
            }
        );
        assert_eq!(config.region, "us-east-1");
        assert_eq!(config.max_value_bytes, 64 << 20);
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
        s.set_all([
            ("max-attempts", "2"),
            ("deadline", "1.5"),
            ("connect-timeout", "0.1"),
            ("first-byte-timeout", "0.2"),
            ("between-bytes-timeout", "0.3"),
        ])
        .unwrap();
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
            ("max-attempts", Box::new(|s| s.max_attempts = 0)),
            ("deadline", Box::new(|s| s.deadline_ms = 0)),
            (
                "between-bytes-timeout",
                Box::new(|s| s.between_bytes_timeout_ms = 0),
            ),
            (
                "secret-access-key",
                Box::new(|s| s.credentials.secret_access_key = "a\nb".to_owned()),
            ),
            (
                "access-key-id",
                Box::new(|s| s.credentials.access_key_id.clear()),
            ),
            (
                "session-token",
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
                "addressing",
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
                Err(Error::InvalidSetting { setting, .. }) => assert_eq!(setting, field),
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

    #[test]
    fn every_default_in_the_table_parses_and_the_defaults_are_django_s() {
        let config = Config::new(settings()).unwrap();
        assert_eq!(config.default_lifetime, Some(300_000));
        for row in SETTINGS {
            if let Some(default) = row.default {
                let mut s = settings();
                s.set(row.name, default).unwrap();
            }
        }
    }

    #[test]
    fn every_setting_takes_its_example_and_refuses_nonsense() {
        for row in SETTINGS {
            let mut s = settings();
            s.set(row.name, row.example)
                .unwrap_or_else(|e| panic!("{}: {e}", row.name));
            Config::new(s).unwrap_or_else(|e| panic!("{} = {}: {e}", row.name, row.example));
        }
        for (name, value) in [
            ("max-entries", "many"),
            ("deadline", "soon"),
            ("deadline", "0"),
            ("deadline", "inf"),
            ("addressing", "sideways"),
            ("reduced-redundancy", "maybe"),
            ("location", "a/../b"),
            ("location", "./x"),
            ("location", "a//b"),
            ("version", "1.5"),
            ("bucket", ""),
        ] {
            let error = settings().set(name, value).unwrap_err();
            assert!(
                matches!(&error, Error::InvalidSetting { setting, .. } if setting == name),
                "{name} = {value}: {error:?}"
            );
        }
        assert!(matches!(
            settings().set("no-such", "1"),
            Err(Error::InvalidSetting { .. })
        ));
    }

    #[test]
    fn text_values_mean_the_same_in_every_surface() {
        let mut s = settings();
        s.set_all([
            ("max-entries", "unlimited"),
            ("default-timeout", "never"),
            ("compress-above", "off"),
            ("addressing", "virtual"),
            ("create-bucket", "yes"),
            ("key-scheme", "made"),
            ("location", "/x/y/"),
        ])
        .unwrap();
        assert_eq!(
            (s.max_entries, s.default_lifetime, s.compress_above),
            (None, None, None)
        );
        assert_eq!((s.path_style, s.create_bucket), (Some(false), true));
        assert_eq!(s.key_scheme, KeyScheme::Made);
        assert_eq!(s.location, "x/y");
        s.set("default-timeout", "0.5").unwrap();
        assert_eq!(s.default_lifetime, Some(500));
        s.set("default-timeout", "-3").unwrap();
        assert_eq!(s.default_lifetime, Some(0), "Django: expired at once");
    }

    #[test]
    fn a_kms_key_implies_kms_encryption() {
        let mut s = settings();
        s.set("sse-kms-key-id", "key").unwrap();
        assert_eq!(Config::new(s).unwrap().sse.as_deref(), Some("aws:kms"));
    }

    #[test]
    fn secrets_are_never_quoted_in_setting_errors() {
        let mut s = settings();
        let error = s.set("secret-access-key", "").unwrap_err().to_string();
        assert!(
            error.starts_with("invalid config: secret-access-key: "),
            "{error}"
        );
        for row in SETTINGS.iter().filter(|row| row.secret) {
            assert!(row.flag.is_empty(), "{}: a secret takes no flag", row.name);
        }
    }

    #[test]
    fn words_ignore_case_values_keep_their_spaces_and_fields_are_checked_too() {
        let mut s = settings();
        s.set_all([
            ("default-timeout", "NEVER"),
            ("max-entries", "Unlimited"),
            ("compress-above", "OFF"),
            ("key-prefix", " spaced "),
        ])
        .unwrap();
        assert_eq!((s.default_lifetime, s.max_entries), (None, None));
        assert_eq!(s.compress_above, None);
        assert_eq!(s.key_prefix, " spaced ", "a key prefix is hashed as given");
        let mut bypass = settings();
        bypass.location = "a/../b".to_owned();
        assert!(matches!(
            Config::new(bypass),
            Err(Error::InvalidSetting { setting, .. }) if setting == "location"
        ));
    }

    #[test]
    fn the_settings_list_holds_neither_the_bucket_nor_the_credentials() {
        for name in ["bucket", "secret-access-key"] {
            let pairs = [(name.to_owned(), "x".to_owned())];
            assert!(matches!(
                settings().set_list(&pairs),
                Err(Error::InvalidSetting { setting, .. }) if setting == name
            ));
        }
    }
}

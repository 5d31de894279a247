//! The settings of a wasi:keyvalue store. wasi:keyvalue's `open` takes only an identifier, so
//! the bucket, endpoint and credentials are named configuration values (wasi:config, which
//! Spin serves from the app's variables), and the identifier names a location under them.

use crate::core::cull::CullMode;
use crate::error::{Error, Result};
use crate::s3::Credentials;
use crate::settings::{Config, Settings};

/// The configuration values read (the README says what each sets). Names are Spin variable
/// names (lowercase, underscores), so an app's `[variables]` can hold them as they are.
pub(crate) const NAMES: &[&str] = &[
    "s3cache_bucket",
    "s3cache_access_key_id",
    "s3cache_secret_access_key",
    "s3cache_session_token",
    "s3cache_region",
    "s3cache_endpoint",
    "s3cache_path_style",
    "s3cache_location",
    "s3cache_key_prefix",
    "s3cache_version",
    "s3cache_max_entries",
    "s3cache_cull_frequency",
    "s3cache_create_bucket",
    "s3cache_storage_class",
    "s3cache_acl",
    "s3cache_sse",
    "s3cache_sse_kms_key_id",
    "s3cache_deadline_ms",
    "s3cache_max_value_bytes",
    "s3cache_compress_above",
];

/// The config of the store `identifier` opens: [`settings`], validated, with a refusal naming
/// the configuration value at fault (`s3cache_region: ...`) rather than the WIT field.
pub(crate) fn config(
    identifier: &str,
    lookup: impl FnMut(&str) -> std::result::Result<Option<String>, String>,
) -> Result<Config> {
    Config::new(settings(identifier, lookup)?).map_err(|error| match error {
        Error::InvalidConfig(message) => Error::InvalidConfig(name_the_value(&message)),
        other => other,
    })
}

/// `field: why` from [`Config::new`], with the field (`credentials.secret-access-key`,
/// `deadline-ms`) as the value that sets it (`s3cache_secret_access_key`, `s3cache_deadline_ms`).
fn name_the_value(message: &str) -> String {
    let Some((field, why)) = message.split_once(": ") else {
        return message.to_owned();
    };
    let name = format!(
        "s3cache_{}",
        field
            .strip_prefix("credentials.")
            .unwrap_or(field)
            .replace('-', "_")
    );
    if NAMES.contains(&name.as_str()) {
        format!("{name}: {why}")
    } else {
        message.to_owned()
    }
}

/// The settings of the store `identifier` opens, from the values `lookup` finds (`Ok(None)`:
/// not set; `Err`: the configuration source failed, with its message). Each store lives at
/// `{s3cache_location}/{identifier}` and keeps values that never expire; it culls only when
/// `s3cache_max_entries` is set. A missing or malformed value is an error that names it.
pub(crate) fn settings(
    identifier: &str,
    mut lookup: impl FnMut(&str) -> std::result::Result<Option<String>, String>,
) -> Result<Settings> {
    check_identifier(identifier)?;
    let mut get = |name: &str| -> Result<Option<String>> {
        let value = lookup(name).map_err(|message| {
            Error::InvalidConfig(format!(
                "{name}: the configuration source failed: {message} (as a Spin dependency, \
                 s3cache needs `inherit_configuration = [\"allowed_outbound_hosts\", \
                 \"variables\"]`)"
            ))
        })?;
        // Values from files and secret stores often end in a newline.
        Ok(value
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty()))
    };
    let credentials = Credentials {
        access_key_id: required(&mut get, "s3cache_access_key_id")?,
        secret_access_key: required(&mut get, "s3cache_secret_access_key")?,
        session_token: get("s3cache_session_token")?,
    };
    let bucket = required(&mut get, "s3cache_bucket")?;
    let region = get("s3cache_region")?.unwrap_or_else(|| "us-east-1".to_owned());
    let base = get("s3cache_location")?.unwrap_or_default();
    let base = base.trim_matches('/');
    let location = if base.is_empty() {
        identifier.to_owned()
    } else {
        format!("{base}/{identifier}")
    };
    Ok(Settings {
        endpoint: get("s3cache_endpoint")?,
        path_style: parse(&mut get, "s3cache_path_style", parse_bool)?,
        location,
        key_prefix: get("s3cache_key_prefix")?.unwrap_or_default(),
        version: parse(&mut get, "s3cache_version", |v| v.parse().ok())?.unwrap_or(1),
        max_entries: Some(parse(&mut get, "s3cache_max_entries", |v| v.parse().ok())?.unwrap_or(0)),
        cull_frequency: parse(&mut get, "s3cache_cull_frequency", |v| v.parse().ok())?,
        cull_mode: CullMode::Auto,
        create_bucket: parse(&mut get, "s3cache_create_bucket", parse_bool)?.unwrap_or(false),
        storage_class: get("s3cache_storage_class")?,
        acl: get("s3cache_acl")?,
        sse: get("s3cache_sse")?,
        sse_kms_key_id: get("s3cache_sse_kms_key_id")?,
        deadline_ms: parse(&mut get, "s3cache_deadline_ms", |v| v.parse().ok())?,
        max_value_bytes: parse(&mut get, "s3cache_max_value_bytes", |v| v.parse().ok())?,
        compress_above: parse(&mut get, "s3cache_compress_above", |v| match v {
            "off" => Some(None),
            bytes => bytes.parse().ok().map(Some),
        })?,
        ..Settings::new(&bucket, &region, credentials)
    })
}

/// The value of `name`, which must be set.
fn required(get: &mut impl FnMut(&str) -> Result<Option<String>>, name: &str) -> Result<String> {
    get(name)?.ok_or_else(|| {
        Error::InvalidConfig(format!(
            "{name}: not set (give the app a value for it; with Spin, a variable and \
             `inherit_configuration = [\"allowed_outbound_hosts\", \"variables\"]` on the \
             s3cache dependency)"
        ))
    })
}

/// The value of `name` read through `parse`, which answers `None` for a malformed one.
fn parse<V>(
    get: &mut impl FnMut(&str) -> Result<Option<String>>,
    name: &str,
    parse: impl Fn(&str) -> Option<V>,
) -> Result<Option<V>> {
    match get(name)? {
        None => Ok(None),
        Some(value) => parse(value.trim())
            .map(Some)
            .ok_or_else(|| Error::InvalidConfig(format!("{name}: cannot use {:?}", value.trim()))),
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A store identifier becomes one level of the object names: 1 to 128 letters, digits, `.`,
/// `_` or `-`, and not `.` or `..`.
fn check_identifier(identifier: &str) -> Result<()> {
    let fits = (1..=128).contains(&identifier.len())
        && identifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && identifier != "."
        && identifier != "..";
    if fits {
        Ok(())
    } else {
        Err(Error::InvalidConfig(format!(
            "identifier: {identifier:?} cannot name a store (1 to 128 letters, digits, '.', '_' \
             or '-')"
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::settings::Config;

    fn values(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn minimal() -> HashMap<String, String> {
        values(&[
            ("s3cache_bucket", "kv-bucket"),
            ("s3cache_access_key_id", "AKID"),
            ("s3cache_secret_access_key", "canary-secret"),
        ])
    }

    fn settings_from(identifier: &str, values: &HashMap<String, String>) -> Result<Settings> {
        settings(identifier, |name| Ok(values.get(name).cloned()))
    }

    #[test]
    fn the_least_is_a_bucket_and_credentials_and_values_never_cull() {
        let settings = settings_from("default", &minimal()).unwrap();
        assert_eq!(settings.bucket, "kv-bucket");
        assert_eq!(settings.region, "us-east-1");
        assert_eq!(settings.location, "default");
        assert_eq!(settings.max_entries, Some(0), "unlimited unless configured");
        assert!(Config::new(settings).is_ok());
    }

    #[test]
    fn every_value_reaches_the_settings() {
        let mut all = minimal();
        all.extend(values(&[
            ("s3cache_region", "eu-west-1"),
            ("s3cache_endpoint", "http://127.0.0.1:9000"),
            ("s3cache_path_style", "true"),
            ("s3cache_location", "/apps/"),
            ("s3cache_key_prefix", "p"),
            ("s3cache_version", "3"),
            ("s3cache_max_entries", "500"),
            ("s3cache_cull_frequency", "2"),
            ("s3cache_create_bucket", "yes"),
            ("s3cache_storage_class", "STANDARD_IA"),
            ("s3cache_acl", "private"),
            ("s3cache_sse", "aws:kms"),
            ("s3cache_sse_kms_key_id", "key-1"),
            ("s3cache_deadline_ms", "2500"),
            ("s3cache_session_token", "token"),
            ("s3cache_max_value_bytes", "1000"),
            ("s3cache_compress_above", "off"),
        ]));
        assert_eq!(all.len(), NAMES.len(), "the table names every value read");
        let s = settings_from("sessions", &all).unwrap();
        assert_eq!(
            (s.region.as_str(), s.endpoint.as_deref(), s.path_style),
            ("eu-west-1", Some("http://127.0.0.1:9000"), Some(true))
        );
        assert_eq!(s.location, "apps/sessions");
        assert_eq!((s.key_prefix.as_str(), s.version), ("p", 3));
        assert_eq!((s.max_entries, s.cull_frequency), (Some(500), Some(2)));
        assert!(s.create_bucket);
        assert_eq!(s.storage_class.as_deref(), Some("STANDARD_IA"));
        assert_eq!(s.acl.as_deref(), Some("private"));
        assert_eq!(
            (s.sse.as_deref(), s.sse_kms_key_id.as_deref()),
            (Some("aws:kms"), Some("key-1"))
        );
        assert_eq!(s.deadline_ms, Some(2500));
        assert_eq!(s.credentials.session_token.as_deref(), Some("token"));
        assert_eq!(
            (s.max_value_bytes, s.compress_above),
            (Some(1000), Some(None))
        );
    }

    #[test]
    fn a_missing_or_malformed_value_is_named_and_no_secret_is_shown() {
        for missing in [
            "s3cache_bucket",
            "s3cache_access_key_id",
            "s3cache_secret_access_key",
        ] {
            let mut values = minimal();
            values.remove(missing);
            let error = settings_from("default", &values).unwrap_err().to_string();
            assert!(error.contains(&format!("{missing}: not set")), "{error}");
        }
        let mut values = minimal();
        values.insert("s3cache_version".to_owned(), "two".to_owned());
        let error = settings_from("default", &values).unwrap_err().to_string();
        assert!(
            error.contains("s3cache_version: cannot use \"two\""),
            "{error}"
        );
        let failing = settings("default", |_| Err("vault sealed".to_owned()));
        assert!(failing.unwrap_err().to_string().contains("vault sealed"));
        let debug = format!("{:?}", settings_from("default", &minimal()).unwrap());
        assert!(!debug.contains("canary-secret"), "{debug}");
    }

    #[test]
    fn refusals_name_the_configuration_value_and_values_are_trimmed() {
        let config_with = |name: &str, value: &str| {
            let mut values = minimal();
            values.insert(name.to_owned(), value.to_owned());
            config("default", |name| Ok(values.get(name).cloned()))
        };
        for (name, value) in [
            ("s3cache_region", "not a region!"),
            ("s3cache_bucket", "Not_A_Bucket"),
            ("s3cache_endpoint", "nonsense"),
            ("s3cache_secret_access_key", "with\u{7}bell"),
            ("s3cache_sse", "rot13"),
            ("s3cache_deadline_ms", "0"),
        ] {
            let error = config_with(name, value).unwrap_err().to_string();
            assert!(error.contains(&format!("{name}: ")), "{name}: {error}");
            assert!(!error.contains("bell"), "no secret in {error}");
        }
        let config = config_with("s3cache_secret_access_key", "canary-secret\n").unwrap();
        assert_eq!(config.credentials.secret_access_key, "canary-secret");
    }

    #[test]
    fn identifiers_are_one_plain_name_level() {
        for good in ["default", "a", "Sessions.v2", "x_y-z"] {
            assert!(settings_from(good, &minimal()).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "with space", &"x".repeat(129)] {
            let error = settings_from(bad, &minimal()).unwrap_err().to_string();
            assert!(error.contains("identifier:"), "{bad}: {error}");
        }
    }
}

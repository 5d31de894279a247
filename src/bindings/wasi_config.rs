//! The settings of a wasi:keyvalue store. wasi:keyvalue's `open` takes only an identifier, so
//! the bucket, endpoint and credentials are named configuration values (wasi:config, which
//! Spin serves from the app's variables): each setting of the table under its wasi:config name
//! (`s3cache_bucket`, `s3cache_max_entries`, ...), and the identifier names a location under
//! them.

use crate::error::{Error, Result};
use crate::s3::Credentials;
use crate::settings::{Config, SETTINGS, Setting, Settings};

/// The config of the store `identifier` opens: [`settings`], validated, with a refusal naming
/// the configuration value at fault (`s3cache_region: ...`) rather than the setting.
pub(crate) fn config(
    identifier: &str,
    lookup: impl FnMut(&str) -> std::result::Result<Option<String>, String>,
) -> Result<Config> {
    Config::new(settings(identifier, lookup)?).map_err(name_the_value)
}

/// A refusal of a setting, as the configuration value that sets it.
fn name_the_value(error: Error) -> Error {
    match error {
        Error::InvalidSetting { setting, reason } => {
            let name = SETTINGS
                .iter()
                .find(|row| row.name == setting)
                .map_or(setting, Setting::wasi_config_name);
            Error::InvalidConfig(format!("{name}: {reason}"))
        }
        other => other,
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
    let mut get = |row: &Setting| -> Result<Option<String>> {
        let name = row.wasi_config_name();
        let value = lookup(&name).map_err(|message| {
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
    let mut settings = Settings::new(
        "",
        Credentials {
            access_key_id: String::new(),
            secret_access_key: String::new(),
            session_token: None,
        },
    );
    // wasi:keyvalue keeps values: a store never culls unless s3cache_max_entries says so.
    settings.max_entries = None;
    for row in SETTINGS {
        match get(row)? {
            Some(value) => settings.set(row.name, &value).map_err(name_the_value)?,
            None if is_required(row) => {
                return Err(Error::InvalidConfig(format!(
                    "{}: not set (give the app a value for it; with Spin, a variable and \
                     `inherit_configuration = [\"allowed_outbound_hosts\", \"variables\"]` \
                     on the s3cache dependency)",
                    row.wasi_config_name()
                )));
            }
            None => {}
        }
    }
    settings.location = if settings.location.is_empty() {
        identifier.to_owned()
    } else {
        format!("{}/{identifier}", settings.location)
    };
    Ok(settings)
}

/// The values a store cannot open without: the bucket and the key pair.
fn is_required(row: &Setting) -> bool {
    matches!(row.name, "bucket" | "access-key-id" | "secret-access-key")
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
        assert_eq!(settings.max_entries, None, "unlimited unless configured");
        assert!(Config::new(settings).is_ok());
    }

    #[test]
    fn every_setting_of_the_table_is_read_by_its_wasi_config_name() {
        for row in SETTINGS {
            let mut values = minimal();
            values.insert(row.wasi_config_name(), row.example.to_owned());
            let read =
                settings_from("sessions", &values).unwrap_or_else(|e| panic!("{}: {e}", row.name));
            let mut expected = settings_from("sessions", &minimal()).unwrap();
            expected.set(row.name, row.example).unwrap();
            if row.name == "location" {
                expected.location = format!("{}/sessions", row.example);
            }
            assert_eq!(format!("{read:?}"), format!("{expected:?}"), "{}", row.name);
            // Debug hides the secrets: compare them apart.
            assert_eq!(read.credentials, expected.credentials, "{}", row.name);
        }
        let mut values = minimal();
        values.insert("s3cache_location".to_owned(), "/apps/".to_owned());
        assert_eq!(settings_from("s", &values).unwrap().location, "apps/s");
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
            error.contains("s3cache_version: \"two\" is not an integer"),
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
            ("s3cache_deadline", "0"),
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

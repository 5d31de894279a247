//! Where the cache lives and how it behaves: every setting of the table (`s3cache::SETTINGS`)
//! as a global flag and its environment variables, into a store config, starting the embedded
//! S3 server when no endpoint is configured.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use s3cache::{SETTINGS, Setting, setting};
use s3cache_runtime::{Config, Credentials, Ttl};

use crate::s3_server::S3Server;

/// The bucket of the embedded server, and of any store when none is named.
const DEFAULT_BUCKET: &str = "s3cache";

/// Where the cache lives and how it behaves.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The embedded server's data directory [default: <user data dir>/s3cache].
    #[arg(long, env = "S3CACHE_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,

    #[command(flatten)]
    settings: SettingArgs,
}

/// The settings given as flags, by the table's names.
#[derive(Debug, Clone, Default)]
pub struct SettingArgs {
    values: Vec<(&'static Setting, String)>,
}

impl FromArgMatches for SettingArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<SettingArgs, clap::Error> {
        let values = flagged()
            .filter_map(|row| {
                let value = matches.get_one::<String>(row.flag)?;
                Some((row, value.clone()))
            })
            .collect();
        Ok(SettingArgs { values })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = SettingArgs::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for SettingArgs {
    fn augment_args(command: Command) -> Command {
        flagged().fold(command, |command, row| command.arg(flag(row)))
    }

    fn augment_args_for_update(command: Command) -> Command {
        SettingArgs::augment_args(command)
    }
}

/// The settings a flag can set: all but the credentials.
fn flagged() -> impl Iterator<Item = &'static Setting> {
    SETTINGS.iter().filter(|row| !row.flag.is_empty())
}

/// The flag of `row`: its doc, default and variables in `--help`. Its value is checked when
/// the store is resolved, so that a refusal is one line naming the flag.
fn flag(row: &'static Setting) -> Arg {
    let mut help = format!("{} [values: {}]", row.doc, row.syntax);
    if let Some(default) = row.default.filter(|default| !default.is_empty()) {
        help.push_str(&format!(" [default: {default}]"));
    }
    if !row.env.is_empty() {
        help.push_str(&format!(" [env: {}]", row.env.join(", ")));
    }
    let arg = Arg::new(row.flag)
        .long(row.flag)
        .value_name(row.name.to_uppercase().replace('-', "_"))
        .help(help)
        .global(true)
        .action(ArgAction::Set)
        .allow_negative_numbers(true);
    if row.syntax == "true | false" {
        // `--create-bucket` alone is true; `--create-bucket=false` says otherwise.
        arg.num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
    } else {
        arg
    }
}

/// Whether the table's parser takes `value` for `row`, and if not, why.
fn check(row: &Setting, value: &str) -> Result<(), String> {
    let mut scratch = s3cache::Settings::new(
        DEFAULT_BUCKET,
        Credentials {
            access_key_id: String::new(),
            secret_access_key: String::new(),
            session_token: None,
        },
    );
    scratch.set(row.name, value).map_err(|error| match error {
        s3cache::Error::InvalidSetting { reason, .. } => reason,
        other => other.to_string(),
    })
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

    /// Every setting given, by flag or else by environment variable, in the table's order, each
    /// checked as the component will check it, so that a refusal names the flag or variable.
    fn given(&self) -> Result<Vec<(&'static Setting, String)>> {
        let mut given = Vec::new();
        for row in flagged() {
            let flagged = self
                .settings
                .values
                .iter()
                .find(|(given, _)| given.name == row.name)
                .map(|(_, value)| value.clone());
            if let Some(value) = flagged {
                check(row, &value)
                    .map_err(|reason| anyhow!("invalid config: --{}: {reason}", row.flag))?;
                given.push((row, value));
                continue;
            }
            let variable = row
                .env
                .iter()
                .find_map(|name| Some((*name, non_empty_env(name)?)));
            if let Some((name, value)) = variable {
                check(row, &value).map_err(|reason| anyhow!("invalid config: {name}: {reason}"))?;
                given.push((row, value));
            }
        }
        Ok(given)
    }

    /// The store config, starting the embedded server when no endpoint is configured.
    pub async fn resolve(&self) -> Result<(Config, Option<S3Server>)> {
        let given = self.given()?;
        let value = |name: &str| {
            given
                .iter()
                .find(|(row, _)| row.name == name)
                .map(|(_, value)| value.clone())
        };
        let bucket = value("bucket").unwrap_or_else(|| DEFAULT_BUCKET.to_owned());
        let (credentials, server) = match value("endpoint") {
            Some(_) => {
                let credentials = env_credentials().context("an S3 endpoint needs credentials")?;
                (credentials, None)
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
                (credentials, Some(server))
            }
        };
        let mut config = Config::new(&bucket, credentials);
        for (row, value) in given.into_iter().filter(|(row, _)| row.name != "bucket") {
            config.set(row.name, value);
        }
        if let Some(server) = &server {
            // The embedded server is ours: its endpoint, and its bucket appears on first write.
            config.set("endpoint", server.endpoint());
            config.set("create-bucket", true);
        }
        Ok((config, server))
    }
}

/// The credentials from the environment variables the table names for them.
pub fn env_credentials() -> Result<Credentials> {
    let variable = |name: &str| {
        let row = setting(name).expect("the table has the credentials");
        let value = row.env.iter().find_map(|variable| non_empty_env(variable));
        (row.env.join(" or "), value)
    };
    let (id_names, id) = variable("access-key-id");
    let (secret_names, secret) = variable("secret-access-key");
    match (id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Credentials {
            access_key_id,
            secret_access_key,
            session_token: variable("session-token").1,
        }),
        _ => bail!("set {id_names} and {secret_names}"),
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

/// `--ttl`: "default", "never", or seconds (fractions too).
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

/// `KEY=VALUE`.
pub fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> StoreArgs {
        let command = StoreArgs::augment_args(Command::new("s3cache"));
        let matches = command
            .try_get_matches_from(args)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        StoreArgs::from_arg_matches(&matches).expect("the flags parse")
    }

    #[test]
    fn every_setting_is_a_flag_the_cli_accepts() {
        let secrets = SETTINGS.iter().filter(|row| row.secret).count();
        assert_eq!(flagged().count(), SETTINGS.len() - secrets);
        for row in flagged() {
            let flag = format!("--{}={}", row.flag, row.example);
            let given = parse(&["s3cache", &flag])
                .given()
                .expect("the example is valid");
            assert!(
                given
                    .iter()
                    .any(|(given, value)| given.name == row.name && value == row.example),
                "{}: {given:?}",
                row.name
            );
        }
    }

    #[test]
    fn boolean_flags_alone_are_true_and_bad_values_name_the_flag() {
        let given = parse(&["s3cache", "--create-bucket", "--reduced-redundancy=false"])
            .given()
            .unwrap();
        let value = |name: &str| {
            given
                .iter()
                .find(|(row, _)| row.name == name)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(value("create-bucket"), Some("true"));
        assert_eq!(value("reduced-redundancy"), Some("false"));
        let error = parse(&["s3cache", "--max-entries", "lots"])
            .given()
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("invalid config: --max-entries: ") && error.contains("unlimited"),
            "{error}"
        );
    }
}

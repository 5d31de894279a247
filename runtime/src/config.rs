//! A store's configuration as the host hands it to the component: the bucket, the credentials
//! (made into the component's `credentials` resource at open), and every other setting by name,
//! as the table of settings (`s3cache::SETTINGS`) names and writes them.

use wasmtime::component::ResourceAny;

use crate::bindings::exports::s3cache::cache::cache::Config as WitConfig;

/// S3 credentials as the host holds them, until the runtime hands them to the component as
/// its `credentials` resource: the component's own type, whose `Debug` shows only the key id.
pub use s3cache::Credentials;

/// What a store opens with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The bucket holding the entries.
    pub bucket: String,
    /// The credentials.
    pub credentials: Credentials,
    /// `(name, value)` pairs of the table of settings, as text; a later pair wins.
    pub settings: Vec<(String, String)>,
}

impl Config {
    /// A config for `bucket` with every setting at its default: AWS S3's endpoint in
    /// us-east-1, the root location, Django's naming, timeout and culling.
    pub fn new(bucket: &str, credentials: Credentials) -> Config {
        Config {
            bucket: bucket.to_owned(),
            credentials,
            settings: Vec::new(),
        }
    }

    /// The same config with the setting `name` set to `value`.
    pub fn with(mut self, name: &str, value: impl ToString) -> Config {
        self.set(name, value);
        self
    }

    /// Sets the setting `name` to `value`.
    pub fn set(&mut self, name: &str, value: impl ToString) {
        self.settings.push((name.to_owned(), value.to_string()));
    }

    /// The same settings for the natively compiled core (the benchmark's baseline).
    pub fn to_settings(&self) -> s3cache::Result<s3cache::Settings> {
        let mut settings = s3cache::Settings::new(&self.bucket, self.credentials.clone());
        settings.set_list(&self.settings)?;
        Ok(settings)
    }

    /// The record, with `credentials` (a resource made in the store's instance).
    pub(crate) fn to_wit(&self, credentials: ResourceAny) -> WitConfig {
        WitConfig {
            bucket: self.bucket.clone(),
            credentials,
            settings: self.settings.clone(),
        }
    }
}

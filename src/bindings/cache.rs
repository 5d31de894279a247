//! The component's exports: wit-bindgen bindings mapped onto [`Cache`].

use crate::cache::Cache;
use crate::core::entry::Ttl;
use crate::error::Error;
use crate::s3::Credentials;
use crate::settings::{Config, Settings};
use crate::transports::wasi_http::WasiHttp;

#[cfg(not(feature = "keyvalue"))]
wit_bindgen::generate!({
    path: "wit",
    world: "component",
});

#[cfg(feature = "keyvalue")]
wit_bindgen::generate!({
    path: "wit",
    world: "keyvalue-component",
    generate_all,
});

use exports::s3cache::cache::cache as wit;

/// The component: the `s3cache:cache` exports here, the wasi:keyvalue ones in
/// `bindings::keyvalue` when built with the `keyvalue` feature.
pub struct Component;

impl wit::Guest for Component {
    type Credentials = SecretCredentials;
    type Store = Store;
}

/// The `credentials` resource: the secret stays inside the component, behind a handle.
pub struct SecretCredentials(Credentials);

impl wit::GuestCredentials for SecretCredentials {
    fn new(
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    ) -> SecretCredentials {
        SecretCredentials(Credentials {
            access_key_id,
            secret_access_key,
            session_token,
        })
    }
}

/// The `store` resource.
pub struct Store {
    cache: Cache<WasiHttp>,
}

impl wit::GuestStore for Store {
    fn open(config: wit::Config) -> Result<wit::Store, wit::Error> {
        let credentials = config.credentials.into_inner::<SecretCredentials>().0;
        let mut settings = Settings::new(&config.bucket, credentials);
        settings.set_list(&config.settings).map_err(to_wit)?;
        let config = Config::new(settings).map_err(to_wit)?;
        let transport = WasiHttp::new(config.timeouts);
        Ok(wit::Store::new(Store {
            cache: Cache::new(config, transport),
        }))
    }

    fn get(&self, key: String) -> Result<Option<Vec<u8>>, wit::Error> {
        self.cache.get(&key).map_err(to_wit)
    }

    fn set(&self, key: String, value: Vec<u8>, ttl: wit::Ttl) -> Result<(), wit::Error> {
        self.cache.set(&key, &value, ttl_from(ttl)).map_err(to_wit)
    }

    fn add(&self, key: String, value: Vec<u8>, ttl: wit::Ttl) -> Result<bool, wit::Error> {
        self.cache.add(&key, &value, ttl_from(ttl)).map_err(to_wit)
    }

    fn touch(&self, key: String, ttl: wit::Ttl) -> Result<bool, wit::Error> {
        self.cache.touch(&key, ttl_from(ttl)).map_err(to_wit)
    }

    fn delete(&self, key: String) -> Result<bool, wit::Error> {
        self.cache.delete(&key).map_err(to_wit)
    }

    fn has_key(&self, key: String) -> Result<bool, wit::Error> {
        self.cache.has_key(&key).map_err(to_wit)
    }

    fn incr(&self, key: String, delta: i64) -> Result<i64, wit::Error> {
        self.cache.incr(&key, delta).map_err(to_wit)
    }

    fn decr(&self, key: String, delta: i64) -> Result<i64, wit::Error> {
        self.cache.decr(&key, delta).map_err(to_wit)
    }

    fn get_many(&self, keys: Vec<String>) -> Result<Vec<(String, Vec<u8>)>, wit::Error> {
        self.cache.get_many(&keys).map_err(to_wit)
    }

    fn set_many(
        &self,
        entries: Vec<(String, Vec<u8>)>,
        ttl: wit::Ttl,
    ) -> Result<Vec<String>, wit::Error> {
        self.cache.set_many(&entries, ttl_from(ttl)).map_err(to_wit)
    }

    fn delete_many(&self, keys: Vec<String>) -> Result<(), wit::Error> {
        self.cache.delete_many(&keys).map_err(to_wit)
    }

    fn clear(&self) -> Result<(), wit::Error> {
        self.cache.clear().map_err(to_wit)
    }

    fn stats(&self, estimate: bool) -> Result<wit::Stats, wit::Error> {
        let stats = self.cache.stats(estimate).map_err(to_wit)?;
        Ok(wit::Stats {
            entries: stats.entries,
            bytes: stats.bytes,
            estimated: stats.estimated,
            oldest_ms: stats.oldest_ms,
            newest_ms: stats.newest_ms,
        })
    }
}

fn ttl_from(ttl: wit::Ttl) -> Ttl {
    match ttl {
        wit::Ttl::Default => Ttl::Default,
        wit::Ttl::Never => Ttl::Never,
        wit::Ttl::Seconds(seconds) => Ttl::Millis(seconds.saturating_mul(1000)),
        wit::Ttl::Milliseconds(millis) => Ttl::Millis(millis),
    }
}

fn to_wit(error: Error) -> wit::Error {
    match error {
        Error::InvalidSetting { setting, reason } => {
            wit::Error::InvalidSetting(wit::InvalidSetting { setting, reason })
        }
        Error::InvalidConfig(message) => wit::Error::InvalidConfig(message),
        Error::InvalidInput(message) => wit::Error::InvalidInput(message),
        Error::NoSuchKey(message) => wit::Error::NoSuchKey(message),
        Error::NotAnInteger(message) => wit::Error::NotAnInteger(message),
        Error::AccessDenied(message) => wit::Error::AccessDenied(message),
        Error::NoSuchBucket(message) => wit::Error::NoSuchBucket(message),
        Error::Unavailable(message) => wit::Error::Unavailable(message),
        Error::TooLarge(message) => wit::Error::TooLarge(message),
        Error::Other(message) => wit::Error::Other(message),
    }
}

export!(Component);

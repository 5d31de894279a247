//! The wasi:keyvalue exports of the `keyvalue-component` world: wit-bindgen bindings mapped
//! onto [`Cache`]'s keyvalue operations, with settings read through wasi:config.

use std::rc::Rc;

use crate::cache::{Cache, Swapped, Version};
use crate::error::Error;
use crate::glue::Component;
use crate::glue::exports::wasi::keyvalue::{atomics, batch, store};
use crate::glue::wasi::config::store as config;
use crate::keyvalue_settings;
use crate::wasi_http::WasiHttp;

impl store::Guest for Component {
    type Bucket = Bucket;

    fn open(identifier: String) -> Result<store::Bucket, store::Error> {
        let config = keyvalue_settings::config(&identifier, |name| {
            config::get(name).map_err(|error| match error {
                config::Error::Upstream(message) | config::Error::Io(message) => message,
            })
        })
        .map_err(to_wit)?;
        let transport = WasiHttp::new(config.timeouts);
        Ok(store::Bucket::new(Bucket {
            cache: Rc::new(Cache::new(config, transport)),
        }))
    }
}

/// The `bucket` resource: a store's cache, shared with the `cas` handles made from it.
pub struct Bucket {
    cache: Rc<Cache<WasiHttp>>,
}

impl store::GuestBucket for Bucket {
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, store::Error> {
        self.cache.get(&key).map_err(to_wit)
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), store::Error> {
        self.cache.put_value(&key, &value).map_err(to_wit)
    }

    fn delete(&self, key: String) -> Result<(), store::Error> {
        self.cache.remove(&key).map_err(to_wit)
    }

    fn exists(&self, key: String) -> Result<bool, store::Error> {
        self.cache.has_key(&key).map_err(to_wit)
    }

    fn list_keys(&self, cursor: Option<String>) -> Result<store::KeyResponse, store::Error> {
        let page = self.cache.keys_page(cursor.as_deref()).map_err(to_wit)?;
        Ok(store::KeyResponse {
            keys: page.keys,
            cursor: page.cursor,
        })
    }
}

impl atomics::Guest for Component {
    type Cas = Cas;

    fn increment(
        bucket: store::BucketBorrow<'_>,
        key: String,
        delta: i64,
    ) -> Result<i64, store::Error> {
        bucket
            .get::<Bucket>()
            .cache
            .increment(&key, delta)
            .map_err(to_wit)
    }

    fn swap(cas: atomics::Cas, value: Vec<u8>) -> Result<(), atomics::CasError> {
        let cas: Cas = cas.into_inner();
        match cas.cache.swap(&cas.version, &value) {
            Ok(Swapped::Done) => Ok(()),
            Ok(Swapped::Stale(version)) => {
                Err(atomics::CasError::CasFailed(atomics::Cas::new(Cas {
                    cache: cas.cache,
                    version,
                })))
            }
            Err(error) => Err(atomics::CasError::StoreError(to_wit(error))),
        }
    }
}

/// The `cas` resource: the version of a key one read saw, and the store to swap it in.
pub struct Cas {
    cache: Rc<Cache<WasiHttp>>,
    version: Version,
}

impl atomics::GuestCas for Cas {
    fn new(bucket: store::BucketBorrow<'_>, key: String) -> Result<atomics::Cas, store::Error> {
        let cache = Rc::clone(&bucket.get::<Bucket>().cache);
        let version = cache.version(&key).map_err(to_wit)?;
        Ok(atomics::Cas::new(Cas { cache, version }))
    }

    fn current(&self) -> Result<Option<Vec<u8>>, store::Error> {
        Ok(self.version.value().map(<[u8]>::to_vec))
    }
}

impl batch::Guest for Component {
    fn get_many(
        bucket: store::BucketBorrow<'_>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, store::Error> {
        bucket.get::<Bucket>().cache.get_each(&keys).map_err(to_wit)
    }

    fn set_many(
        bucket: store::BucketBorrow<'_>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), store::Error> {
        bucket
            .get::<Bucket>()
            .cache
            .put_values(&key_values)
            .map_err(to_wit)
    }

    fn delete_many(bucket: store::BucketBorrow<'_>, keys: Vec<String>) -> Result<(), store::Error> {
        bucket
            .get::<Bucket>()
            .cache
            .delete_many(&keys)
            .map_err(to_wit)
    }
}

/// wasi:keyvalue's errors carry no kind beyond access and store: every failure is `other`,
/// with a message that starts with its kind (`invalid config: s3cache_bucket: not set`,
/// `unavailable: ...`, `access denied: ...`).
fn to_wit(error: Error) -> store::Error {
    store::Error::Other(error.to_string())
}

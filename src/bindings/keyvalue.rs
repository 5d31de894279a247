//! The wasi:keyvalue exports of the `keyvalue-component` world: wit-bindgen bindings mapped
//! onto [`KeyValue`], with settings read through wasi:config.

use std::rc::Rc;

use crate::bindings::cache::Component;
use crate::bindings::cache::exports::wasi::keyvalue::{atomics, batch, store};
use crate::bindings::cache::wasi::config::store as config;
use crate::bindings::wasi_config;
use crate::cache::{Cache, KeyValue, Snapshot, Swapped};
use crate::error::Error;
use crate::transports::wasi_http::WasiHttp;

impl store::Guest for Component {
    type Bucket = Bucket;

    fn open(identifier: String) -> Result<store::Bucket, store::Error> {
        let config = wasi_config::config(&identifier, |name| {
            config::get(name).map_err(|error| match error {
                config::Error::Upstream(message) | config::Error::Io(message) => message,
            })
        })
        .map_err(to_wit)?;
        let transport = WasiHttp::new(config.timeouts);
        Ok(store::Bucket::new(Bucket {
            kv: Rc::new(KeyValue::new(Cache::new(config, transport))),
        }))
    }
}

/// The `bucket` resource: a store, shared with the `cas` handles made from it.
pub struct Bucket {
    kv: Rc<KeyValue<WasiHttp>>,
}

impl store::GuestBucket for Bucket {
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, store::Error> {
        self.kv.get(&key).map_err(to_wit)
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), store::Error> {
        self.kv.set(&key, &value).map_err(to_wit)
    }

    fn delete(&self, key: String) -> Result<(), store::Error> {
        self.kv.delete(&key).map_err(to_wit)
    }

    fn exists(&self, key: String) -> Result<bool, store::Error> {
        self.kv.exists(&key).map_err(to_wit)
    }

    fn list_keys(&self, cursor: Option<String>) -> Result<store::KeyResponse, store::Error> {
        let page = self.kv.list_keys(cursor.as_deref()).map_err(to_wit)?;
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
            .kv
            .increment(&key, delta)
            .map_err(to_wit)
    }

    fn swap(cas: atomics::Cas, value: Vec<u8>) -> Result<(), atomics::CasError> {
        let cas: Cas = cas.into_inner();
        match cas.kv.swap(&cas.snapshot, &value) {
            Ok(Swapped::Done) => Ok(()),
            Ok(Swapped::Stale(snapshot)) => {
                Err(atomics::CasError::CasFailed(atomics::Cas::new(Cas {
                    kv: cas.kv,
                    snapshot,
                })))
            }
            Err(error) => Err(atomics::CasError::StoreError(to_wit(error))),
        }
    }
}

/// The `cas` resource: a key as one read saw it, and the store to swap it in.
pub struct Cas {
    kv: Rc<KeyValue<WasiHttp>>,
    snapshot: Snapshot,
}

impl atomics::GuestCas for Cas {
    fn new(bucket: store::BucketBorrow<'_>, key: String) -> Result<atomics::Cas, store::Error> {
        let kv = Rc::clone(&bucket.get::<Bucket>().kv);
        let snapshot = kv.snapshot(&key).map_err(to_wit)?;
        Ok(atomics::Cas::new(Cas { kv, snapshot }))
    }

    fn current(&self) -> Result<Option<Vec<u8>>, store::Error> {
        Ok(self.snapshot.value().map(<[u8]>::to_vec))
    }
}

impl batch::Guest for Component {
    fn get_many(
        bucket: store::BucketBorrow<'_>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, store::Error> {
        bucket.get::<Bucket>().kv.get_many(&keys).map_err(to_wit)
    }

    fn set_many(
        bucket: store::BucketBorrow<'_>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), store::Error> {
        bucket
            .get::<Bucket>()
            .kv
            .set_many(&key_values)
            .map_err(to_wit)
    }

    fn delete_many(bucket: store::BucketBorrow<'_>, keys: Vec<String>) -> Result<(), store::Error> {
        bucket.get::<Bucket>().kv.delete_many(&keys).map_err(to_wit)
    }
}

/// wasi:keyvalue's errors name one kind, access denied; every other failure is `other`, with
/// a message that starts with its kind (`invalid config: s3cache_bucket: not set`,
/// `unavailable: ...`).
fn to_wit(error: Error) -> store::Error {
    match error {
        Error::AccessDenied(_) => store::Error::AccessDenied,
        error => store::Error::Other(error.to_string()),
    }
}

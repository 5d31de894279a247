//! The WIT `config` record as the host fills it in, and the same settings for the natively
//! compiled core.

use wasmtime::component::ResourceAny;

use crate::bindings::exports::s3cache::cache::cache::Config as WitConfig;
use crate::{Compression, CullMode, KeyScheme, Ttl};

/// S3 credentials as the host holds them, until the runtime hands them to the component as
/// its `credentials` resource: the component's own type, whose `Debug` shows only the key id.
pub use s3cache::Credentials;

/// The WIT `config` record as the host fills it in (each field is documented in
/// `wit/cache.wit`), with plain credentials in place of the resource.
#[derive(Debug, Clone)]
#[allow(missing_docs, reason = "the WIT documents each field")]
pub struct Config {
    pub bucket: String,
    pub region: String,
    pub endpoint: Option<String>,
    pub path_style: Option<bool>,
    pub credentials: Credentials,
    pub location: String,
    pub key_prefix: String,
    pub version: i64,
    pub key_scheme: Option<KeyScheme>,
    pub default_ttl: Ttl,
    pub max_entries: Option<u32>,
    pub cull_frequency: Option<u32>,
    pub cull_mode: Option<CullMode>,
    pub compression: Option<Compression>,
    pub max_value_bytes: Option<u32>,
    pub acl: Option<String>,
    pub bucket_acl: Option<String>,
    pub storage_class: Option<String>,
    pub reduced_redundancy: bool,
    pub sse: Option<String>,
    pub sse_kms_key_id: Option<String>,
    pub create_bucket: bool,
    pub max_attempts: Option<u32>,
    pub deadline_ms: Option<u32>,
    pub connect_timeout_ms: Option<u32>,
    pub first_byte_timeout_ms: Option<u32>,
    pub between_bytes_timeout_ms: Option<u32>,
}

impl Config {
    /// A config for `bucket` in `region` with every optional field at its default: AWS S3's
    /// endpoint, the root location, Django's naming, timeout and culling.
    pub fn new(bucket: &str, region: &str, credentials: Credentials) -> Config {
        Config {
            bucket: bucket.to_owned(),
            region: region.to_owned(),
            endpoint: None,
            path_style: None,
            credentials,
            location: String::new(),
            key_prefix: String::new(),
            version: 1,
            key_scheme: None,
            default_ttl: Ttl::Default,
            max_entries: None,
            cull_frequency: None,
            cull_mode: None,
            compression: None,
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

    /// The same settings for the natively compiled core (the benchmark's baseline).
    pub fn to_settings(&self) -> s3cache::Settings {
        let millis = |ttl: Ttl| match ttl {
            Ttl::Default => None,
            Ttl::Never => Some(None),
            Ttl::Seconds(seconds) => Some(Some(seconds.saturating_mul(1000))),
            Ttl::Milliseconds(millis) => Some(Some(millis)),
        };
        s3cache::Settings {
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            path_style: self.path_style,
            credentials: self.credentials.clone(),
            location: self.location.clone(),
            key_prefix: self.key_prefix.clone(),
            version: self.version,
            key_scheme: match self.key_scheme {
                Some(KeyScheme::Made) => s3cache::KeyScheme::Made,
                _ => s3cache::KeyScheme::Prefixed,
            },
            default_lifetime: millis(self.default_ttl),
            max_entries: self.max_entries,
            cull_frequency: self.cull_frequency,
            cull_mode: match self.cull_mode {
                Some(CullMode::Exact) => s3cache::CullMode::Exact,
                Some(CullMode::Sampled) => s3cache::CullMode::Sampled,
                _ => s3cache::CullMode::Auto,
            },
            compress_above: self.compression.map(|compression| match compression {
                Compression::Off => None,
                Compression::Above(bytes) => Some(bytes),
            }),
            max_value_bytes: self.max_value_bytes,
            acl: self.acl.clone(),
            bucket_acl: self.bucket_acl.clone(),
            storage_class: self.storage_class.clone(),
            reduced_redundancy: self.reduced_redundancy,
            sse: self.sse.clone(),
            sse_kms_key_id: self.sse_kms_key_id.clone(),
            create_bucket: self.create_bucket,
            max_attempts: self.max_attempts,
            deadline_ms: self.deadline_ms,
            connect_timeout_ms: self.connect_timeout_ms,
            first_byte_timeout_ms: self.first_byte_timeout_ms,
            between_bytes_timeout_ms: self.between_bytes_timeout_ms,
        }
    }

    /// The record, with `credentials` (a resource made in the store's instance).
    pub(crate) fn to_wit(&self, credentials: ResourceAny) -> WitConfig {
        WitConfig {
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            path_style: self.path_style,
            credentials,
            location: self.location.clone(),
            key_prefix: self.key_prefix.clone(),
            version: self.version,
            key_scheme: self.key_scheme,
            default_ttl: self.default_ttl,
            max_entries: self.max_entries,
            cull_frequency: self.cull_frequency,
            cull_mode: self.cull_mode,
            compression: self.compression,
            max_value_bytes: self.max_value_bytes,
            acl: self.acl.clone(),
            bucket_acl: self.bucket_acl.clone(),
            storage_class: self.storage_class.clone(),
            reduced_redundancy: self.reduced_redundancy,
            sse: self.sse.clone(),
            sse_kms_key_id: self.sse_kms_key_id.clone(),
            create_bucket: self.create_bucket,
            max_attempts: self.max_attempts,
            deadline_ms: self.deadline_ms,
            connect_timeout_ms: self.connect_timeout_ms,
            first_byte_timeout_ms: self.first_byte_timeout_ms,
            between_bytes_timeout_ms: self.between_bytes_timeout_ms,
        }
    }
}

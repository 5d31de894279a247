//! wasi:keyvalue's view of the cache (`wit/deps/keyvalue`): values that never expire,
//! deletes without a lookup, keys given back from their objects' metadata, increments that
//! create the key, and compare-and-swap on the object's ETag.

use std::collections::HashMap;

use bytes::Bytes;

use super::{Cache, Reading, Start, Step, Stored, show_key};
use crate::client::objects::Found;
use crate::client::transport::Transport;
use crate::core::entry::{self, Expiry, Ttl};
use crate::core::key::{self, MAX_REMEMBERED_KEY_BYTES};
use crate::error::{Error, Result};
use crate::s3::{EXPIRES_HEADER, KEY_HEADER};

/// A page of keys (wasi:keyvalue's `key-response`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    /// The live keys on the page, in the order of their object names.
    pub keys: Vec<String>,
    /// Where the next page starts; `None` on the last page.
    pub cursor: Option<String>,
}

/// A key's value as one read saw it: what a compare-and-swap compares with (wasi:keyvalue's
/// `cas`).
#[derive(Clone)]
pub struct Snapshot {
    key: String,
    value: Option<Vec<u8>>,
    /// The object read (its ETag and latest write ids), `None` when there was none.
    object: Option<Stored>,
}

impl Snapshot {
    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The value that was live when the version was read.
    pub fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("key", &self.key)
            .field("value_bytes", &self.value.as_ref().map(Vec::len))
            .field("etag", &self.object.as_ref().map(|object| &object.etag))
            .finish()
    }
}

/// What a compare-and-swap came to.
#[derive(Debug, Clone)]
pub enum Swapped {
    /// The value was replaced.
    Done,
    /// Someone wrote the key since the version was read: nothing was written; the version
    /// now stored, for another try.
    Stale(Snapshot),
}

/// A store with wasi:keyvalue's semantics over a [`Cache`]: one name per operation, as
/// wasi:keyvalue's `store`, `atomics` and `batch` interfaces name them.
pub struct KeyValue<T> {
    cache: Cache<T>,
}

impl<T: Transport> KeyValue<T> {
    /// The wasi:keyvalue view of `cache`.
    pub fn new(cache: Cache<T>) -> KeyValue<T> {
        KeyValue { cache }
    }

    /// The cache underneath, for what wasi:keyvalue does not name (expiry, stats, clear).
    pub fn cache(&self) -> &Cache<T> {
        &self.cache
    }

    /// The live value of `key`: one GET.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.cache.get(key)
    }

    /// Stores a value that never expires (wasi:keyvalue has no ttl): one PUT when culling is
    /// off, as it is for wasi:keyvalue stores unless configured.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        check_remembered(key)?;
        self.cache.set(key, value, Ttl::Never)
    }

    /// Whether `key` has a live value: one HEAD.
    pub fn exists(&self, key: &str) -> Result<bool> {
        self.cache.has_key(key)
    }

    /// Removes the entries of `keys` (absent ones are ignored), one DeleteObjects per thousand.
    pub fn delete_many(&self, keys: &[String]) -> Result<()> {
        self.cache.delete_many(keys)
    }

    /// Stores every pair, the requests concurrently; an error names a key not stored.
    pub fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<()> {
        for (key, _) in entries {
            check_remembered(key)?;
        }
        let failed = self.cache.set_each(entries, Ttl::Never)?;
        match (failed.keys.first(), failed.first_cause) {
            (Some(first), Some(cause)) => Err(cause.with_context(&format!(
                "{} of {} values were not stored, the first under key {}",
                failed.keys.len(),
                entries.len(),
                show_key(first)
            ))),
            _ => Ok(()),
        }
    }

    /// The live value of each key, in the order asked (keys repeat as asked), fetched
    /// concurrently.
    pub fn get_many(&self, keys: &[String]) -> Result<Vec<(String, Option<Vec<u8>>)>> {
        let hits: HashMap<String, Vec<u8>> = self.cache.get_many(keys)?.into_iter().collect();
        Ok(keys
            .iter()
            .map(|key| (key.clone(), hits.get(key).cloned()))
            .collect())
    }

    /// Removes an entry without asking whether it was there: one DELETE.
    pub fn delete(&self, key: &str) -> Result<()> {
        let cache = &self.cache;
        let deadline = cache.client.deadline();
        cache.objects().delete(&deadline, &cache.name(key))
    }

    /// Adds `delta` to an integer value, creating the key with `delta` when it has no live
    /// value (wasi:keyvalue's `increment`); the new value.
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        check_remembered(key)?;
        self.cache.add_to_integer(key, delta, true)
    }

    /// Reads `key` for a compare-and-swap: one GET.
    pub fn snapshot(&self, key: &str) -> Result<Snapshot> {
        let cache = &self.cache;
        let deadline = cache.client.deadline();
        let stored = cache.read(&deadline, &cache.name(key))?;
        Ok(self.snapshot_of(key, stored.as_ref()))
    }

    /// Replaces the value of `snapshot`'s key with `value` (never expiring) if the object is
    /// still the one `snapshot` read: one conditional PUT (`If-Match` its ETag, or
    /// `If-None-Match: *` when there was no object), and one GET more when it finds the key
    /// changed. The ETag covers the stored bytes, so a key rewritten with the very same bytes in
    /// between counts as unchanged. A lost reply is checked by reading the object's write ids,
    /// so a retry does not write on top of its own write.
    pub fn swap(&self, snapshot: &Snapshot, value: &[u8]) -> Result<Swapped> {
        let cache = &self.cache;
        let key = snapshot.key.as_str();
        check_remembered(key)?;
        cache.check_size(key, value)?;
        let deadline = cache.client.deadline();
        let body: Bytes = entry::encode(value, Expiry::Never, cache.config.compress_above).into();
        let expected = snapshot
            .object
            .as_ref()
            .map(|object| object.etag.as_deref());
        // The first round decides on the assumed object too; a snapshot without an ETag fails
        // in the update loop, before anything is sent, as every conditional write does.
        let start = Start::Assume(snapshot.object.clone());
        cache.update(&deadline, key, "swap", start, Reading::Whole, |stored| {
            let now = stored.map(|stored| stored.etag.as_deref());
            if now != expected {
                return Ok(Step::Answer(Swapped::Stale(self.snapshot_of(key, stored))));
            }
            Ok(Step::Write {
                body: body.clone(),
                expiry: Expiry::Never,
                then: Swapped::Done,
            })
        })
    }

    /// One page of the live keys under the location, after `cursor` (a cursor an earlier page
    /// gave): one LIST and a HEAD per listed entry, the HEADs concurrently. Keys come back in
    /// the order of their object names, which is stable. Entries whose metadata keeps no key
    /// (written by other clients, or keys over 1,024 bytes through `s3cache:cache`) or whose
    /// key is named under another prefix or version are skipped.
    pub fn list_keys(&self, cursor: Option<&str>) -> Result<KeyPage> {
        let cache = &self.cache;
        let deadline = cache.client.deadline();
        let objects = cache.objects();
        let page = objects.list_page(&deadline, cursor)?;
        let requests = page
            .entries
            .iter()
            .map(|listed| objects.head_request(&listed.name))
            .collect();
        let action = format!("head objects in s3://{}", cache.config.bucket);
        let responses = cache.client.send_all(&deadline, &action, requests);
        let now = cache.now();
        let mut keys = Vec::new();
        for (listed, response) in page.entries.iter().zip(responses) {
            let action = format!("head {}", objects.describe(&listed.name));
            let Found::Object(response) = objects.found(&action, response?)? else {
                continue;
            };
            let Some(key) = response.header(KEY_HEADER).and_then(key::recalled_key) else {
                continue;
            };
            let live = response
                .header(EXPIRES_HEADER)
                .and_then(Expiry::from_header)
                .is_some_and(|expiry| expiry.is_live(now));
            if live && cache.name(&key) == listed.name {
                keys.push(key);
            }
        }
        Ok(KeyPage {
            keys,
            cursor: page.next,
        })
    }

    fn snapshot_of(&self, key: &str, stored: Option<&Stored>) -> Snapshot {
        Snapshot {
            key: key.to_owned(),
            value: stored
                .and_then(|stored| stored.live_entry(self.cache.now()))
                .map(|entry| entry.value.clone()),
            object: stored.map(|stored| Stored {
                entry: None,
                body: Vec::new(),
                etag: stored.etag.clone(),
                writes: stored.writes.clone(),
            }),
        }
    }
}

/// wasi:keyvalue keys must come back from `list-keys`, so each must fit the object's metadata.
fn check_remembered(key: &str) -> Result<()> {
    if key::remembered_key(key).is_some() {
        return Ok(());
    }
    Err(Error::InvalidInput(format!(
        "key {} is {} bytes; wasi:keyvalue keys are at most {MAX_REMEMBERED_KEY_BYTES} bytes \
         (the object's metadata keeps the key for list-keys)",
        show_key(key),
        key.len()
    )))
}

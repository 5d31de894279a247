//! The cache operations, over any [`Transport`]: Django's semantics in S3 requests.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::cull::Listed;
use crate::entry::{self, Entry, Expiry, Ttl, Undecodable};
use crate::error::{Error, Result};
use crate::key::{is_entry_name, list_prefix};
use crate::s3::sign::{Payload, Signer};
use crate::s3::xml::{parse_delete_failures, parse_error, parse_list};
use crate::s3::{
    Bucket, Condition, DELETE_BATCH, EXPIRES_HEADER, PutOptions, Request, Response, error_for,
    is_retryable,
};
use crate::transport::{Transport, TransportError};

/// Attempts per request when the server or the network fails transiently.
const ATTEMPTS: u32 = 4;
/// First retry delay; it doubles after each attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Requests in flight at once for batch operations.
const MAX_IN_FLIGHT: usize = 32;
/// Rounds of read-then-conditional-write before giving up under contention.
const CONDITIONAL_ROUNDS: u32 = 5;

/// A cache in one bucket and location.
pub struct Cache<T> {
    config: Config,
    signer: Signer,
    payload: Payload,
    transport: T,
}

/// What a read found under an entry's name.
enum Found {
    /// An object, with its reply.
    Object(Response),
    /// No object (or no bucket, when the bucket is created on demand).
    Missing,
}

/// A decoded live entry and the ETag of the object holding it.
struct Live {
    entry: Entry,
    etag: Option<String>,
}

impl<T: Transport> Cache<T> {
    /// A cache over `transport`.
    pub fn new(config: Config, transport: T) -> Cache<T> {
        let signer = Signer::new(&config.credentials, &config.region);
        // Over HTTPS, TLS already protects the body; hashing it in wasm costs ~4 ms per MiB.
        let payload = if config.endpoint.scheme == "https" {
            Payload::Unsigned
        } else {
            Payload::Signed
        };
        Cache {
            config,
            signer,
            payload,
            transport,
        }
    }

    /// The value of a live entry.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let name = self.name(key);
        Ok(self.read_live(&name)?.map(|live| live.entry.value))
    }

    /// Stores a value, culling first when the location is full.
    pub fn set(&self, key: &str, value: &[u8], ttl: Ttl) -> Result<()> {
        let write = self.prepare(key, value, ttl)?;
        let send = self.cull_before(std::slice::from_ref(&write.name))?;
        if send.first() == Some(&true) {
            let response = self.put(&write, &Condition::None)?;
            self.expect_success(&write.action, &response)?;
        }
        Ok(())
    }

    /// Stores a value unless a live entry exists; whether it stored it.
    pub fn add(&self, key: &str, value: &[u8], ttl: Ttl) -> Result<bool> {
        let write = self.prepare(key, value, ttl)?;
        let mut condition = Condition::Absent;
        for _ in 0..CONDITIONAL_ROUNDS {
            if self.put_if(&write, &condition)? {
                self.cull_after(&write.name)?;
                return Ok(true);
            }
            // Something is there: a live entry wins; an expired or foreign object is replaced
            // only if it is still the same object when we write.
            condition = match self.fetch(&write.name)? {
                Found::Missing => Condition::Absent,
                Found::Object(response) => {
                    let found = self.decode(&write.name, &response.body)?;
                    if found.is_some_and(|entry| entry.expiry.is_live(now_ms())) {
                        return Ok(false);
                    }
                    etag_condition(&response)
                }
            };
        }
        Ok(false)
    }

    /// Gives a live entry a new expiry; false when absent or expired.
    pub fn touch(&self, key: &str, ttl: Ttl) -> Result<bool> {
        let name = self.name(key);
        for _ in 0..CONDITIONAL_ROUNDS {
            let Found::Object(response) = self.fetch(&name)? else {
                return Ok(false);
            };
            let now = now_ms();
            match self.decode(&name, &response.body)? {
                None => return Ok(false),
                Some(found) if !found.expiry.is_live(now) => {
                    self.discard(&name);
                    return Ok(false);
                }
                Some(_) => {}
            }
            let expiry = entry::expiry_for(ttl, self.config.default_lifetime, now);
            let Some(body) = entry::with_expiry(&response.body, expiry) else {
                return Ok(false);
            };
            let write = Write {
                action: format!("touch {}", self.describe(&name)),
                name: name.clone(),
                body,
                expiry,
            };
            let condition = etag_condition(&response);
            if self.put_if(&write, &condition)? {
                return Ok(true);
            }
        }
        Err(contention(&name))
    }

    /// Removes an entry; whether an object existed under its name.
    pub fn delete(&self, key: &str) -> Result<bool> {
        let name = self.name(key);
        if !self.exists(&name)? {
            return Ok(false);
        }
        let action = format!("delete {}", self.describe(&name));
        let response = self.send(&action, self.bucket().delete_object(&name))?;
        match response.status {
            200..=299 | 404 => Ok(true),
            _ => Err(error_for(&action, &response)),
        }
    }

    /// Whether a live entry exists (one HEAD request).
    pub fn has_key(&self, key: &str) -> Result<bool> {
        let name = self.name(key);
        let action = format!("head {}", self.describe(&name));
        let response = self.send(&action, self.bucket().head_object(&name))?;
        match self.classify(&action, response)? {
            Found::Missing => Ok(false),
            Found::Object(response) => {
                match response
                    .header(EXPIRES_HEADER)
                    .and_then(Expiry::from_header)
                {
                    Some(expiry) if expiry.is_live(now_ms()) => Ok(true),
                    Some(_) => {
                        self.discard(&name);
                        Ok(false)
                    }
                    None => Ok(false),
                }
            }
        }
    }

    /// Adds `delta` to an integer entry, keeping its expiry; the new value.
    pub fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let name = self.name(key);
        for _ in 0..CONDITIONAL_ROUNDS {
            let Some(live) = self.read_live(&name)? else {
                return Err(Error::NoSuchKey(format!(
                    "no entry for key {}",
                    show_key(key)
                )));
            };
            let current = std::str::from_utf8(&live.entry.value)
                .ok()
                .and_then(|text| text.trim_ascii().parse::<i64>().ok())
                .ok_or_else(|| {
                    Error::NotAnInteger(format!(
                        "the value of key {} is not a 64-bit decimal integer",
                        show_key(key)
                    ))
                })?;
            let updated = current.checked_add(delta).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{current} + {delta} overflows a 64-bit integer (key {})",
                    show_key(key)
                ))
            })?;
            let expiry = live.entry.expiry;
            let body = entry::encode(
                updated.to_string().as_bytes(),
                expiry,
                self.config.compress_above,
            );
            let write = Write {
                action: format!("incr {}", self.describe(&name)),
                name: name.clone(),
                body,
                expiry,
            };
            let condition = live.etag.map_or(Condition::None, Condition::Matches);
            if self.put_if(&write, &condition)? {
                return Ok(updated);
            }
        }
        Err(contention(&name))
    }

    /// Subtracts `delta` from an integer entry.
    pub fn decr(&self, key: &str, delta: i64) -> Result<i64> {
        let negated = delta.checked_neg().ok_or_else(|| {
            Error::InvalidInput(format!("cannot decrement by {delta}: it overflows"))
        })?;
        self.incr(key, negated)
    }

    /// The live entries among `keys`, fetched concurrently.
    pub fn get_many(&self, keys: &[String]) -> Result<Vec<(String, Vec<u8>)>> {
        let keys = unique(keys);
        let names: Vec<String> = keys.iter().map(|key| self.name(key)).collect();
        let requests = names
            .iter()
            .map(|name| self.bucket().get_object(name, self.max_object_bytes()))
            .collect();
        let responses = self.exchange(requests);
        let now = now_ms();
        let mut hits = Vec::new();
        let mut expired = Vec::new();
        for ((key, name), response) in keys.into_iter().zip(&names).zip(responses) {
            let action = format!("get {}", self.describe(name));
            let response = self.transport_result(&action, response)?;
            if let Found::Object(response) = self.classify(&action, response)? {
                match self.decode(name, &response.body)? {
                    Some(entry) if entry.expiry.is_live(now) => hits.push((key, entry.value)),
                    Some(_) => expired.push(name.as_str()),
                    None => {}
                }
            }
        }
        if !expired.is_empty() {
            // Best effort, as for a single get: the answer is a miss either way.
            let _ = self.delete_names(&expired);
        }
        Ok(hits)
    }

    /// Stores every pair with one ttl, culling as successive sets would; the keys not stored.
    pub fn set_many(&self, entries: &[(String, Vec<u8>)], ttl: Ttl) -> Result<Vec<String>> {
        let mut failed = Vec::new();
        let mut writes = Vec::new();
        for (key, value) in entries {
            match self.prepare(key, value, ttl) {
                Ok(write) => writes.push((key, write)),
                Err(_) => failed.push(key.clone()),
            }
        }
        if writes.is_empty() {
            return Ok(failed);
        }
        let names: Vec<String> = writes.iter().map(|(_, write)| write.name.clone()).collect();
        let send = self.cull_before(&names)?;
        let (keys, requests): (Vec<&String>, Vec<Request>) = writes
            .iter()
            .zip(send)
            .filter(|(_, send)| *send)
            .map(|((key, write), _)| (*key, self.put_request(write, &Condition::None)))
            .unzip();
        for (key, response) in keys.into_iter().zip(self.exchange(requests)) {
            if !matches!(response, Ok(response) if response.is_success()) {
                failed.push(key.clone());
            }
        }
        Ok(failed)
    }

    /// Removes the entries of `keys`.
    pub fn delete_many(&self, keys: &[String]) -> Result<()> {
        let names: Vec<String> = unique(keys).iter().map(|key| self.name(key)).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        self.delete_names(&names)
    }

    /// Removes every entry under the location, and nothing else.
    pub fn clear(&self) -> Result<()> {
        let entries = self.list_entries()?;
        let names: Vec<&str> = entries.iter().map(|listed| listed.name.as_str()).collect();
        self.delete_names(&names)
    }

    fn name(&self, key: &str) -> String {
        self.config.naming.object_name(key)
    }

    fn describe(&self, name: &str) -> String {
        format!("s3://{}/{name}", self.config.bucket)
    }

    fn bucket(&self) -> Bucket<'_> {
        Bucket {
            endpoint: &self.config.endpoint,
        }
    }

    /// A stored entry is never longer than the header plus the raw value.
    fn max_object_bytes(&self) -> usize {
        self.config
            .max_value_bytes
            .saturating_add(entry::HEADER_LEN)
    }

    fn prepare(&self, key: &str, value: &[u8], ttl: Ttl) -> Result<Write> {
        if value.len() > self.config.max_value_bytes {
            return Err(Error::TooLarge(format!(
                "the value of key {} is {} bytes; max-value-bytes is {}",
                show_key(key),
                value.len(),
                self.config.max_value_bytes
            )));
        }
        let name = self.name(key);
        let expiry = entry::expiry_for(ttl, self.config.default_lifetime, now_ms());
        Ok(Write {
            action: format!("put {}", self.describe(&name)),
            body: entry::encode(value, expiry, self.config.compress_above),
            name,
            expiry,
        })
    }

    fn put_request(&self, write: &Write, condition: &Condition) -> Request {
        let options = PutOptions {
            acl: self.config.acl.as_deref(),
            storage_class: self.config.storage_class.as_deref(),
        };
        self.bucket().put_object(
            &write.name,
            write.body.clone(),
            &write.expiry.to_header(),
            condition,
            options,
        )
    }

    /// One PUT; creates the bucket and tries again when it is missing and may be created.
    fn put(&self, write: &Write, condition: &Condition) -> Result<Response> {
        let response = self.send(&write.action, self.put_request(write, condition))?;
        if self.config.create_bucket && is_no_such_bucket(&response) {
            self.create_bucket()?;
            return self.send(&write.action, self.put_request(write, condition));
        }
        Ok(response)
    }

    /// A conditional PUT: true when written, false when the condition failed (someone else
    /// wrote first).
    fn put_if(&self, write: &Write, condition: &Condition) -> Result<bool> {
        let response = self.put(write, condition)?;
        if response.is_success() {
            Ok(true)
        } else if is_conflict(&response) {
            Ok(false)
        } else {
            Err(error_for(&write.action, &response))
        }
    }

    fn create_bucket(&self) -> Result<()> {
        let action = format!("create bucket {}", self.config.bucket);
        let request = self
            .bucket()
            .create_bucket(&self.config.region, self.config.bucket_acl.as_deref());
        let response = self.send(&action, request)?;
        let code = parse_error(&response.body).map(|reply| reply.code);
        if response.is_success() || code.as_deref() == Some("BucketAlreadyOwnedByYou") {
            Ok(())
        } else {
            Err(error_for(&action, &response))
        }
    }

    /// Lists every entry under the location (other names are skipped).
    fn list_entries(&self) -> Result<Vec<Listed>> {
        let prefix = list_prefix(&self.config.naming.location);
        let action = format!("list s3://{}/{prefix}", self.config.bucket);
        let mut entries = Vec::new();
        let mut continuation: Option<String> = None;
        loop {
            let request = self.bucket().list_objects(&prefix, continuation.as_deref());
            let response = self.send(&action, request)?;
            if !response.is_success() {
                if self.config.create_bucket && is_no_such_bucket(&response) {
                    return Ok(Vec::new());
                }
                return Err(error_for(&action, &response));
            }
            let page =
                parse_list(&response.body).map_err(|e| Error::Other(format!("{action}: {e}")))?;
            entries.extend(
                page.objects
                    .into_iter()
                    .filter(|listed| is_entry_name(&self.config.naming.location, &listed.name)),
            );
            match page.continuation {
                Some(token) if Some(&token) != continuation.as_ref() => continuation = Some(token),
                Some(_) => {
                    return Err(Error::Other(format!(
                        "{action}: the server repeated a continuation token"
                    )));
                }
                None => return Ok(entries),
            }
        }
    }

    /// Culls as Django would before writing `names`; which of them to send.
    fn cull_before(&self, names: &[String]) -> Result<Vec<bool>> {
        let listing = self.list_entries()?;
        let plan = self.config.cull.plan(&listing, names);
        let doomed: Vec<&str> = plan.delete.iter().map(String::as_str).collect();
        self.delete_names(&doomed)?;
        Ok(plan.send)
    }

    /// Culls after `name` was written, as if the cull had come first.
    fn cull_after(&self, name: &str) -> Result<()> {
        let mut listing = self.list_entries()?;
        listing.retain(|listed| listed.name != name);
        let plan = self.config.cull.plan(&listing, &[name.to_owned()]);
        let doomed: Vec<&str> = plan.delete.iter().map(String::as_str).collect();
        self.delete_names(&doomed)
    }

    /// Deletes objects by name, up to 1000 per request, the requests concurrently.
    fn delete_names(&self, names: &[&str]) -> Result<()> {
        let action = format!("delete objects in s3://{}", self.config.bucket);
        let requests = names
            .chunks(DELETE_BATCH)
            .map(|chunk| self.bucket().delete_objects(chunk))
            .collect();
        for response in self.exchange(requests) {
            let response = self.transport_result(&action, response)?;
            if !response.is_success() {
                if self.config.create_bucket && is_no_such_bucket(&response) {
                    continue;
                }
                return Err(error_for(&action, &response));
            }
            let failures = parse_delete_failures(&response.body)
                .map_err(|e| Error::Other(format!("{action}: {e}")))?;
            if let Some(first) = failures.first() {
                return Err(Error::Other(format!(
                    "{action}: {} objects were not deleted, the first {first}",
                    failures.len()
                )));
            }
        }
        Ok(())
    }

    /// Deletes an expired entry on the way past; a failure changes nothing for the caller.
    fn discard(&self, name: &str) {
        let action = format!("delete {}", self.describe(name));
        let _ = self.send(&action, self.bucket().delete_object(name));
    }

    fn exists(&self, name: &str) -> Result<bool> {
        let action = format!("head {}", self.describe(name));
        let response = self.send(&action, self.bucket().head_object(name))?;
        Ok(matches!(
            self.classify(&action, response)?,
            Found::Object(_)
        ))
    }

    fn fetch(&self, name: &str) -> Result<Found> {
        let action = format!("get {}", self.describe(name));
        let response = self.send(
            &action,
            self.bucket().get_object(name, self.max_object_bytes()),
        )?;
        self.classify(&action, response)
    }

    /// Reads a live entry, deleting it if it has expired.
    fn read_live(&self, name: &str) -> Result<Option<Live>> {
        let Found::Object(response) = self.fetch(name)? else {
            return Ok(None);
        };
        let Some(entry) = self.decode(name, &response.body)? else {
            return Ok(None);
        };
        if !entry.expiry.is_live(now_ms()) {
            self.discard(name);
            return Ok(None);
        }
        Ok(Some(Live {
            entry,
            etag: response.header("etag").map(str::to_owned),
        }))
    }

    /// The entry in `body`: `None` when the object is not an entry (a miss), an error when its
    /// value is over the limit.
    fn decode(&self, name: &str, body: &[u8]) -> Result<Option<Entry>> {
        match entry::decode(body, self.config.max_value_bytes) {
            Ok(entry) => Ok(Some(entry)),
            Err(Undecodable::NotAnEntry) => Ok(None),
            Err(Undecodable::TooLarge) => Err(Error::TooLarge(format!(
                "{} holds a value over max-value-bytes ({})",
                self.describe(name),
                self.config.max_value_bytes
            ))),
        }
    }

    fn classify(&self, action: &str, response: Response) -> Result<Found> {
        if response.is_success() {
            return Ok(Found::Object(response));
        }
        if response.status == 404 && (!is_no_such_bucket(&response) || self.config.create_bucket) {
            return Ok(Found::Missing);
        }
        Err(error_for(action, &response))
    }

    fn expect_success(&self, action: &str, response: &Response) -> Result<()> {
        if response.is_success() {
            Ok(())
        } else {
            Err(error_for(action, response))
        }
    }

    fn send(&self, action: &str, request: Request) -> Result<Response> {
        let response = self.exchange(vec![request]).pop();
        let response =
            response.unwrap_or_else(|| Err(TransportError::Refused("no response".to_owned())));
        self.transport_result(action, response)
    }

    fn transport_result(
        &self,
        action: &str,
        result: Result<Response, TransportError>,
    ) -> Result<Response> {
        result.map_err(|error| match error {
            TransportError::Unreachable(why) => Error::Unavailable(format!(
                "{action}: cannot reach {}://{}: {why}",
                self.config.endpoint.scheme, self.config.endpoint.authority
            )),
            TransportError::TooLarge(why) => Error::TooLarge(format!("{action}: {why}")),
            TransportError::Refused(why) => Error::Other(format!("{action}: {why}")),
        })
    }

    /// Signs and sends requests, at most [`MAX_IN_FLIGHT`] at once, retrying transient
    /// failures with exponential backoff; one result per request, in order.
    fn exchange(&self, requests: Vec<Request>) -> Vec<Result<Response, TransportError>> {
        let mut results = Vec::with_capacity(requests.len());
        for chunk in requests.chunks(MAX_IN_FLIGHT) {
            let mut chunk_results: Vec<Option<Result<Response, TransportError>>> =
                vec![None; chunk.len()];
            let mut pending: Vec<usize> = (0..chunk.len()).collect();
            let mut backoff = FIRST_BACKOFF;
            for attempt in 1..=ATTEMPTS {
                let mut signed = Vec::with_capacity(pending.len());
                for &index in &pending {
                    let mut request = chunk[index].clone();
                    match self
                        .signer
                        .sign(&mut request, SystemTime::now(), self.payload)
                    {
                        Ok(()) => signed.push((index, request)),
                        Err(error) => {
                            chunk_results[index] =
                                Some(Err(TransportError::Refused(error.to_string())));
                        }
                    }
                }
                let (indexes, batch): (Vec<usize>, Vec<Request>) = signed.into_iter().unzip();
                let mut retry = Vec::new();
                for (index, result) in indexes.into_iter().zip(self.transport.send_all(&batch)) {
                    let transient = match &result {
                        Ok(response) => is_retryable(response.status),
                        Err(error) => matches!(error, TransportError::Unreachable(_)),
                    };
                    if transient && attempt < ATTEMPTS {
                        retry.push(index);
                    }
                    chunk_results[index] = Some(result);
                }
                if retry.is_empty() {
                    break;
                }
                self.transport.sleep(backoff);
                backoff *= 4;
                pending = retry;
            }
            results.extend(chunk_results.into_iter().map(|result| {
                result.unwrap_or_else(|| Err(TransportError::Refused("not sent".to_owned())))
            }));
        }
        results
    }
}

/// An entry ready to be written.
struct Write {
    action: String,
    name: String,
    body: Vec<u8>,
    expiry: Expiry,
}

/// A conditional write lost a race (412), or S3 saw two at once (409).
fn is_conflict(response: &Response) -> bool {
    matches!(response.status, 409 | 412)
}

fn is_no_such_bucket(response: &Response) -> bool {
    response.status == 404
        && parse_error(&response.body).is_some_and(|reply| reply.code == "NoSuchBucket")
}

fn etag_condition(response: &Response) -> Condition {
    match response.header("etag") {
        Some(etag) => Condition::Matches(etag.to_owned()),
        None => Condition::None,
    }
}

fn contention(name: &str) -> Error {
    Error::Unavailable(format!(
        "{name} kept changing during {CONDITIONAL_ROUNDS} conditional writes"
    ))
}

fn unique(keys: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    keys.iter()
        .filter(|key| seen.insert(key.as_str()))
        .cloned()
        .collect()
}

/// A key short enough for an error message.
fn show_key(key: &str) -> String {
    const SHOWN: usize = 64;
    match key.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}…", &key[..cut]),
        None => format!("{key:?}"),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

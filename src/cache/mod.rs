//! The cache: Django's semantics over S3 objects. Reads decode entries and miss on anything
//! else; writes cull as Django would; `add`, `touch` and `incr` are conditional updates that
//! retry under contention until the deadline and recognise their own write after a lost reply.

use std::collections::HashSet;

use bytes::Bytes;

use crate::client::objects::{Found, Objects, Write, Written, estimated_count, is_no_such_bucket};
use crate::client::transport::Transport;
use crate::client::{Client, Deadline};
use crate::core::clock::{Clock, SystemClock};
use crate::core::cull::{self, CullPolicy, Culling, Listed, PageShares};
use crate::core::entry::{self, Entry, Expiry, Ttl, Undecodable};
use crate::core::key;
use crate::error::{Error, Result};
use crate::s3::{Condition, EXPIRES_HEADER, WRITES_HEADER, error_for};
use crate::settings::Config;

/// Write ids an object remembers: enough to find one's own write among the few that can land
/// between a lost reply and the re-read that follows it.
const WRITES_REMEMBERED: usize = 8;
/// The most entries a cull holds in memory (about a megabyte); past that it counts and culls
/// page by page.
const CULL_HELD_ENTRIES: usize = 10_000;

/// A cache in one bucket and location.
pub struct Cache<T> {
    config: Config,
    client: Client<T>,
}

/// What a location holds (see [`Cache::stats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Entries.
    pub entries: u64,
    /// Their total stored size.
    pub bytes: u64,
    /// Whether the figures are estimated from one listing page.
    pub estimated: bool,
    /// When the oldest entry was written (ms since the Unix epoch), when counted.
    pub oldest_ms: Option<i64>,
    /// When the newest entry was written, when counted.
    pub newest_ms: Option<i64>,
}

/// An object read under an entry's name.
#[derive(Clone)]
struct Stored {
    /// The entry, or `None` when the object is not one (it reads as a miss).
    entry: Option<Entry>,
    /// The object's bytes (`touch` rewrites the header and keeps the payload as stored).
    body: Vec<u8>,
    etag: Option<String>,
    /// The ids of its latest writes, newest first.
    writes: Vec<String>,
}

impl Stored {
    fn live_entry(&self, now_ms: i64) -> Option<&Entry> {
        self.entry
            .as_ref()
            .filter(|entry| entry.expiry.is_live(now_ms))
    }
}

/// How a conditional update reads the object.
#[derive(Debug, Clone, Copy)]
enum Reading {
    /// GET: the entry and its payload (`touch` and `incr` rewrite them).
    Whole,
    /// HEAD: the expiry and write ids only (`add` replaces whatever is there unless it is a
    /// live entry).
    Metadata,
}

/// What the first round of a conditional update takes the object to be.
enum Start {
    /// Whatever a read finds.
    Read,
    /// The object given (`None`: no object), without reading: the round writes at once,
    /// conditioned on it.
    Assume(Option<Stored>),
}

/// What a conditional update decides on seeing the object.
enum Step<R> {
    /// Answer without writing.
    Answer(R),
    /// Replace the object seen (only if it is still the one seen), then answer.
    Write {
        body: Bytes,
        expiry: Expiry,
        then: R,
    },
}

/// Whether a cull runs before its writes are sent or after (`add`'s conditional write).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CullWhen {
    Before,
    After,
}

/// The keys a batch write did not store, and why the first of them was not.
#[derive(Debug, Default)]
struct NotStored {
    keys: Vec<String>,
    first_cause: Option<Error>,
}

impl NotStored {
    fn push(&mut self, key: &str, cause: Error) {
        self.keys.push(key.to_owned());
        self.first_cause.get_or_insert(cause);
    }
}

impl<T: Transport> Cache<T> {
    /// A cache over `transport`, on the system clock.
    pub fn new(config: Config, transport: T) -> Cache<T> {
        Cache::with_clock(config, transport, Box::new(SystemClock::new()))
    }

    /// A cache over `transport` reading time and randomness from `clock`.
    pub fn with_clock(
        config: Config,
        transport: T,
        clock: Box<dyn Clock + Send + Sync>,
    ) -> Cache<T> {
        let client = Client::new(&config, transport, clock);
        Cache { config, client }
    }

    /// The transport the cache sends through.
    pub fn transport(&self) -> &T {
        self.client.transport()
    }

    /// The value of a live entry.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let deadline = self.client.deadline();
        let name = self.name(key);
        let Some(stored) = self.read(&deadline, &name)? else {
            return Ok(None);
        };
        match stored.entry {
            Some(entry) if entry.expiry.is_live(self.now()) => Ok(Some(entry.value)),
            Some(_) => {
                self.discard(&deadline, &name);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Stores a value, culling first when the location is full.
    pub fn set(&self, key: &str, value: &[u8], ttl: Ttl) -> Result<()> {
        let deadline = self.client.deadline();
        let write = self.prepare(key, value, ttl)?;
        let send = self.cull(
            &deadline,
            std::slice::from_ref(&write.name),
            CullWhen::Before,
        )?;
        if send.first() == Some(&true) {
            self.objects().put(&deadline, &write)?;
        }
        Ok(())
    }

    /// Stores a value unless a live entry exists; whether it stored it.
    pub fn add(&self, key: &str, value: &[u8], ttl: Ttl) -> Result<bool> {
        self.check_size(key, value)?;
        let deadline = self.client.deadline();
        // One reading of the clock: the expiry in the body and in the metadata agree. The
        // conditional-update loop gives each round its own write id.
        let expiry = self.expiry(ttl);
        let body: Bytes = entry::encode(value, expiry, self.config.compress_above).into();
        // The first round assumes the key is free: one conditional PUT for a new key.
        let start = Start::Assume(None);
        let added = self.update(&deadline, key, "add", start, Reading::Metadata, |stored| {
            Ok(match stored {
                Some(stored) if stored.live_entry(self.now()).is_some() => Step::Answer(false),
                _ => Step::Write {
                    body: body.clone(),
                    expiry,
                    then: true,
                },
            })
        })?;
        if added {
            // The value is stored: a cull that fails now changes nothing the caller asked for,
            // and the next write's check culls instead.
            let _ = self.cull(&deadline, &[self.name(key)], CullWhen::After);
        }
        Ok(added)
    }

    /// Gives a live entry a new expiry; false when absent or expired.
    pub fn touch(&self, key: &str, ttl: Ttl) -> Result<bool> {
        let deadline = self.client.deadline();
        let name = self.name(key);
        self.update(
            &deadline,
            key,
            "touch",
            Start::Read,
            Reading::Whole,
            |stored| {
                let now = self.now();
                let Some(stored) = stored.filter(|stored| stored.entry.is_some()) else {
                    return Ok(Step::Answer(false));
                };
                if stored.live_entry(now).is_none() {
                    self.discard(&deadline, &name);
                    return Ok(Step::Answer(false));
                }
                let expiry = self.expiry(ttl);
                Ok(match entry::with_expiry(&stored.body, expiry) {
                    Some(body) => Step::Write {
                        body: body.into(),
                        expiry,
                        then: true,
                    },
                    None => Step::Answer(false),
                })
            },
        )
    }

    /// Removes an entry; whether an object existed under its name.
    pub fn delete(&self, key: &str) -> Result<bool> {
        let deadline = self.client.deadline();
        let name = self.name(key);
        if let Found::Missing = self.objects().head(&deadline, &name)? {
            return Ok(false);
        }
        self.objects().delete(&deadline, &name)?;
        Ok(true)
    }

    /// Whether a live entry exists (one HEAD request: the expiry is in the metadata).
    pub fn has_key(&self, key: &str) -> Result<bool> {
        let deadline = self.client.deadline();
        let name = self.name(key);
        let Found::Object(response) = self.objects().head(&deadline, &name)? else {
            return Ok(false);
        };
        match response
            .header(EXPIRES_HEADER)
            .and_then(Expiry::from_header)
        {
            Some(expiry) if expiry.is_live(self.now()) => Ok(true),
            Some(_) => {
                self.discard(&deadline, &name);
                Ok(false)
            }
            None => Ok(false),
        }
    }

    /// Adds `delta` to an integer entry, keeping its expiry; the new value.
    pub fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        self.add_to_integer(key, delta, false)
    }

    /// The conditional update of `incr` and wasi:keyvalue's `increment`: adds `delta` to an
    /// integer entry, keeping its expiry. A missing or expired entry is `no-such-key`, or with
    /// `create` becomes an entry of `delta` that never expires.
    fn add_to_integer(&self, key: &str, delta: i64, create: bool) -> Result<i64> {
        let deadline = self.client.deadline();
        let name = self.name(key);
        self.update(
            &deadline,
            key,
            "incr",
            Start::Read,
            Reading::Whole,
            |stored| {
                let live = stored
                    .and_then(|stored| stored.entry.as_ref())
                    .filter(|entry| entry.expiry.is_live(self.now()));
                let Some(entry) = live else {
                    if !create {
                        if stored.is_some_and(|stored| stored.entry.is_some()) {
                            self.discard(&deadline, &name);
                        }
                        return Err(no_such_key(key));
                    }
                    return Ok(Step::Write {
                        body: entry::encode(
                            delta.to_string().as_bytes(),
                            Expiry::Never,
                            self.config.compress_above,
                        )
                        .into(),
                        expiry: Expiry::Never,
                        then: delta,
                    });
                };
                let current = std::str::from_utf8(&entry.value)
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
                Ok(Step::Write {
                    body: entry::encode(
                        updated.to_string().as_bytes(),
                        entry.expiry,
                        self.config.compress_above,
                    )
                    .into(),
                    expiry: entry.expiry,
                    then: updated,
                })
            },
        )
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
        let deadline = self.client.deadline();
        let keys = unique(keys);
        let names: Vec<String> = keys.iter().map(|key| self.name(key)).collect();
        let objects = self.objects();
        let requests = names.iter().map(|name| objects.get_request(name)).collect();
        let action = format!("get objects in s3://{}", self.config.bucket);
        let responses = self.client.send_all(&deadline, &action, requests);
        let now = self.now();
        let mut hits = Vec::new();
        let mut expired = Vec::new();
        for ((key, name), response) in keys.into_iter().zip(&names).zip(responses) {
            let action = format!("get {}", objects.describe(name));
            if let Found::Object(response) = objects.found(&action, response?)? {
                match self.decode(name, &response.body)? {
                    Some(entry) if entry.expiry.is_live(now) => hits.push((key, entry.value)),
                    Some(_) => expired.push(name.as_str()),
                    None => {}
                }
            }
        }
        if !expired.is_empty() {
            // Best effort, as for a single get: the answer is a miss either way.
            let _ = objects.delete_names(&deadline, &expired);
        }
        Ok(hits)
    }

    /// Stores every pair with one ttl, culling as successive sets would; the keys not stored.
    pub fn set_many(&self, entries: &[(String, Vec<u8>)], ttl: Ttl) -> Result<Vec<String>> {
        Ok(self.set_each(entries, ttl)?.keys)
    }

    /// Stores every pair as `set_many` does, and keeps why the first failed key failed.
    fn set_each(&self, entries: &[(String, Vec<u8>)], ttl: Ttl) -> Result<NotStored> {
        let deadline = self.client.deadline();
        let mut failed = NotStored::default();
        let mut writes = Vec::new();
        for (key, value) in entries {
            match self.prepare(key, value, ttl) {
                Ok(write) => writes.push((key, write)),
                Err(error) => failed.push(key, error),
            }
        }
        if writes.is_empty() {
            return Ok(failed);
        }
        let names: Vec<String> = writes.iter().map(|(_, write)| write.name.clone()).collect();
        let send = self.cull(&deadline, &names, CullWhen::Before)?;
        let writes: Vec<(&String, Write)> = writes
            .into_iter()
            .zip(send)
            .filter_map(|(write, send)| send.then_some(write))
            .collect();
        let objects = self.objects();
        let requests = writes
            .iter()
            .map(|(_, write)| objects.put_request(write, &Condition::None))
            .collect();
        let action = format!("put objects in s3://{}", self.config.bucket);
        let mut results = self.client.send_all(&deadline, &action, requests);
        let bucket_missing = self.config.create_bucket
            && results
                .iter()
                .any(|result| matches!(result, Ok(response) if is_no_such_bucket(response)));
        if bucket_missing {
            objects.create_bucket(&deadline)?;
            let requests = writes
                .iter()
                .map(|(_, write)| objects.put_request(write, &Condition::None))
                .collect();
            results = self.client.send_all(&deadline, &action, requests);
        }
        for ((key, write), result) in writes.into_iter().zip(results) {
            match result {
                Ok(response) if response.is_success() => {}
                Ok(response) => failed.push(key, error_for(&write.action, &response)),
                Err(error) => failed.push(key, error),
            }
        }
        Ok(failed)
    }

    /// Removes the entries of `keys`.
    pub fn delete_many(&self, keys: &[String]) -> Result<()> {
        let deadline = self.client.deadline();
        let names: Vec<String> = unique(keys).iter().map(|key| self.name(key)).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        self.objects().delete_names(&deadline, &names)
    }

    /// Removes every entry under the location, and nothing else: a page of names at a time,
    /// each page one DeleteObjects.
    pub fn clear(&self) -> Result<()> {
        let deadline = self.client.deadline();
        let objects = self.objects();
        let mut listing = objects.listing();
        while let Some(page) = listing.next_page(&deadline)? {
            let names: Vec<&str> = page
                .entries
                .iter()
                .map(|listed| listed.name.as_str())
                .collect();
            objects.delete_names(&deadline, &names)?;
        }
        Ok(())
    }

    /// Counts the entries under the location, page by page, or estimates them from the first
    /// listing page.
    pub fn stats(&self, estimate: bool) -> Result<Stats> {
        let deadline = self.client.deadline();
        let objects = self.objects();
        let mut listing = objects.listing();
        let mut stats = Stats {
            entries: 0,
            bytes: 0,
            estimated: false,
            oldest_ms: None,
            newest_ms: None,
        };
        while let Some(page) = listing.next_page(&deadline)? {
            let listed = page.entries.len() as u64;
            let bytes: u64 = page.entries.iter().map(|listed| listed.size).sum();
            // Only a first page with more after it stands for an estimate.
            if estimate && stats.entries == 0 && page.next.is_some() {
                let count = page.estimated_count() as u64;
                return Ok(Stats {
                    entries: count,
                    bytes: bytes.saturating_mul(count) / listed.max(1),
                    estimated: true,
                    oldest_ms: None,
                    newest_ms: None,
                });
            }
            let times = page.entries.iter().map(|listed| listed.last_modified_ms);
            stats.entries += listed;
            stats.bytes = stats.bytes.saturating_add(bytes);
            stats.oldest_ms = stats.oldest_ms.into_iter().chain(times.clone()).min();
            stats.newest_ms = stats.newest_ms.into_iter().chain(times).max();
        }
        Ok(stats)
    }

    fn objects(&self) -> Objects<'_, T> {
        Objects {
            client: &self.client,
            config: &self.config,
        }
    }

    fn name(&self, key: &str) -> String {
        self.config.naming.object_name(key)
    }

    fn now(&self) -> i64 {
        self.client.clock().now_ms()
    }

    fn expiry(&self, ttl: Ttl) -> Expiry {
        entry::expiry_for(ttl, self.config.default_lifetime, self.now())
    }

    /// A new write id: 64 random bits in hex.
    fn write_id(&self) -> String {
        format!("{:016x}", self.client.clock().random())
    }

    /// A value over max-value-bytes is refused before anything is sent.
    fn check_size(&self, key: &str, value: &[u8]) -> Result<()> {
        if value.len() > self.config.max_value_bytes {
            return Err(Error::TooLarge(format!(
                "the value of key {} is {} bytes; max-value-bytes is {}",
                show_key(key),
                value.len(),
                self.config.max_value_bytes
            )));
        }
        Ok(())
    }

    fn prepare(&self, key: &str, value: &[u8], ttl: Ttl) -> Result<Write> {
        self.check_size(key, value)?;
        let name = self.name(key);
        let expiry = self.expiry(ttl);
        Ok(Write {
            action: format!("put {}", self.objects().describe(&name)),
            body: entry::encode(value, expiry, self.config.compress_above).into(),
            name,
            expires: expiry.to_header(),
            writes: self.write_id(),
            key: key::remembered_key(key),
        })
    }

    /// Reads and decodes the object under `name`.
    fn read(&self, deadline: &Deadline, name: &str) -> Result<Option<Stored>> {
        self.read_as(deadline, name, Reading::Whole)
    }

    /// Reads the object under `name`, whole (GET) or its metadata only (HEAD: the entry then
    /// has its expiry and an empty value).
    fn read_as(&self, deadline: &Deadline, name: &str, reading: Reading) -> Result<Option<Stored>> {
        let found = match reading {
            Reading::Whole => self.objects().get(deadline, name)?,
            Reading::Metadata => self.objects().head(deadline, name)?,
        };
        let Found::Object(response) = found else {
            return Ok(None);
        };
        let entry = match reading {
            Reading::Whole => self.decode(name, &response.body)?,
            Reading::Metadata => response
                .header(EXPIRES_HEADER)
                .and_then(Expiry::from_header)
                .map(|expiry| Entry {
                    expiry,
                    value: Vec::new(),
                }),
        };
        let writes = response
            .header(WRITES_HEADER)
            .map(|ids| ids.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let etag = response.header("etag").map(str::to_owned);
        Ok(Some(Stored {
            entry,
            body: response.body,
            etag,
            writes,
        }))
    }

    /// The conditional-update loop of `add`, `touch` and `incr`: read the object, let `decide`
    /// answer or say what to write, write it only if the object is still the one read, and go
    /// round again (after a jittered wait) when someone else wrote first, until the deadline.
    ///
    /// A write whose reply was lost may have landed; its id stays pending, and a later read
    /// that finds it among the object's latest write ids answers as that write would have, so
    /// a retry never applies twice. With [`Start::Assume`] the first round writes without
    /// reading, conditioned on the object being the one assumed.
    fn update<R: Clone>(
        &self,
        deadline: &Deadline,
        key: &str,
        verb: &str,
        start: Start,
        reading: Reading,
        mut decide: impl FnMut(Option<&Stored>) -> Result<Step<R>>,
    ) -> Result<R> {
        let name = &self.name(key);
        let mut backoff = self.client.backoff(deadline);
        let mut pending: Vec<(String, R)> = Vec::new();
        let mut unknown: Option<Error> = None;
        let mut assumed = match start {
            Start::Read => None,
            Start::Assume(stored) => Some(stored),
        };
        let mut rounds = 0u32;
        loop {
            rounds += 1;
            let optimistic = assumed.is_some();
            let stored = match assumed.take() {
                Some(stored) => stored,
                None => self.read_as(deadline, name, reading)?,
            };
            if let Some(stored) = &stored
                && let Some((_, then)) = pending.iter().find(|(id, _)| stored.writes.contains(id))
            {
                return Ok(then.clone());
            }
            let (body, expiry, then) = match decide(stored.as_ref())? {
                Step::Answer(answer) => return Ok(answer),
                Step::Write { body, expiry, then } => (body, expiry, then),
            };
            let id = self.write_id();
            let earlier = stored.iter().flat_map(|stored| &stored.writes);
            let writes: Vec<&str> = std::iter::once(id.as_str())
                .chain(earlier.map(String::as_str))
                .take(WRITES_REMEMBERED)
                .collect();
            let write = Write {
                action: format!("{verb} {}", self.objects().describe(name)),
                name: name.to_owned(),
                body,
                expires: expiry.to_header(),
                writes: writes.join(" "),
                key: key::remembered_key(key),
            };
            let condition = match &stored {
                None => Condition::Absent,
                Some(stored) => match &stored.etag {
                    Some(etag) => Condition::Matches(etag.clone()),
                    // Without an ETag no write can be made conditional on the object read: an
                    // unconditional one could overwrite another writer's, so none is sent.
                    None => {
                        return Err(Error::Other(format!(
                            "cannot {verb} {}: the server gave the object no ETag, so it \
                             cannot be replaced only if unchanged",
                            self.objects().describe(name)
                        )));
                    }
                },
            };
            // A reply that may have been applied is a failed attempt: checked by reading again
            // after a backoff, within the attempts and the store's retry quota. Contention gets
            // a jittered wait until the deadline; a guess that the key was free is checked by
            // reading at once.
            let again = match self.objects().put_if(deadline, &write, &condition)? {
                Written::Stored => return Ok(then),
                Written::Unknown(error) => {
                    pending.push((id, then));
                    let again = self.client.retry_unknown(&mut backoff);
                    unknown = Some(error);
                    again
                }
                Written::Conflict if optimistic => true,
                Written::Conflict => {
                    match backoff
                        .next_round(self.client.clock().elapsed(), self.client.clock().random())
                    {
                        Some(wait) => {
                            self.client.clock().sleep(wait);
                            true
                        }
                        None => false,
                    }
                }
            };
            if !again {
                // The last write may have landed though its reply was lost: one more look
                // answers truthfully when it did.
                if !pending.is_empty()
                    && let Ok(Some(stored)) = self.read_as(deadline, name, reading)
                    && let Some((_, then)) =
                        pending.iter().find(|(id, _)| stored.writes.contains(id))
                {
                    return Ok(then.clone());
                }
                return Err(unknown.unwrap_or_else(|| {
                    Error::Unavailable(format!(
                        "{verb} {}: other writers kept changing it until the deadline \
                         ({rounds} rounds)",
                        self.objects().describe(name),
                    ))
                }));
            }
        }
    }

    /// Culls as Django would before writing `names` (in exact mode, or in sampled mode when
    /// the check draws and finds the location full); which of them to send. After is `add`'s
    /// case: its conditional write came first, so the cull leaves its own entry out of the
    /// count, as if it had run before.
    ///
    /// A cull may take half of what the deadline leaves, so the writes keep the other half; one
    /// cut short keeps what it deleted and leaves the rest to the next check.
    fn cull(&self, deadline: &Deadline, names: &[String], when: CullWhen) -> Result<Vec<bool>> {
        let share = self.client.part_of(deadline, 2);
        match self.cull_within(&share, names, when) {
            Err(Error::Unavailable(_)) if self.client.is_past(&share) => {
                Ok(cull::last_writes(names))
            }
            outcome => outcome,
        }
    }

    /// [`Cache::cull`] within `deadline`.
    fn cull_within(
        &self,
        deadline: &Deadline,
        names: &[String],
        when: CullWhen,
    ) -> Result<Vec<bool>> {
        let coming = match when {
            CullWhen::Before => names.len(),
            CullWhen::After => 0,
        };
        let Some(policy) = self.culling_needed(deadline, coming)? else {
            return Ok(cull::last_writes(names));
        };
        let objects = self.objects();
        let mut listing = objects.listing();
        // Hold the listing while it is small, so the counts are Django's exactly.
        let mut held: Vec<Listed> = Vec::new();
        let mut more = false;
        while let Some(page) = listing.next_page(deadline)? {
            held.extend(page.entries);
            more = page.next.is_some();
            if more && held.len() >= CULL_HELD_ENTRIES {
                break;
            }
        }
        // `add`'s own entry is already written: it is not counted, nor culled.
        let others = |entries: &mut Vec<Listed>| {
            if when == CullWhen::After {
                entries.retain(|listed| !names.contains(&listed.name));
            }
        };
        if !more {
            others(&mut held);
            let plan = policy.plan(&held, names);
            let doomed: Vec<&str> = plan.delete.iter().map(String::as_str).collect();
            objects.delete_names(deadline, &doomed)?;
            return Ok(plan.send);
        }
        // Too many to hold: count them from the names held (sha1 digests, so the first names
        // of the listing tell how many there are) and cull each page's share of the oldest.
        let expected = estimated_count(&held, true);
        let plan = policy.plan_counted(expected, names);
        let mut shares = PageShares::new(plan.delete, expected);
        others(&mut held);
        objects.delete_names(deadline, &shares.take(&held))?;
        drop(held);
        while let Some(mut page) = listing.next_page(deadline)? {
            others(&mut page.entries);
            objects.delete_names(deadline, &shares.take(&page.entries))?;
        }
        Ok(plan.send)
    }

    /// The rule to cull by before `writes` more entries, or `None` when no cull is due: never
    /// when unlimited, always in exact mode, and in sampled mode when this batch draws a check
    /// and one listing page estimates the location full.
    fn culling_needed(&self, deadline: &Deadline, writes: usize) -> Result<Option<CullPolicy>> {
        let policy = match self.config.cull {
            Culling::Unlimited => return Ok(None),
            Culling::Exact(policy) => return Ok(Some(policy)),
            Culling::Sampled(policy) => policy,
        };
        if !self
            .config
            .cull
            .checks(writes.max(1), self.client.clock().random())
        {
            return Ok(None);
        }
        let count = self.objects().list_page(deadline, None)?.estimated_count();
        Ok((count + writes > policy.max_entries).then_some(policy))
    }

    /// Deletes an expired entry on the way past; a failure changes nothing for the caller.
    fn discard(&self, deadline: &Deadline, name: &str) {
        let _ = self.objects().delete(deadline, name);
    }

    /// The entry in `body`: `None` when the object is not an entry (a miss), an error when its
    /// value is over the limit.
    fn decode(&self, name: &str, body: &[u8]) -> Result<Option<Entry>> {
        match entry::decode(body, self.config.max_value_bytes) {
            Ok(entry) => Ok(Some(entry)),
            Err(Undecodable::NotAnEntry) => Ok(None),
            Err(Undecodable::TooLarge) => Err(Error::TooLarge(format!(
                "{} holds a value over max-value-bytes ({})",
                self.objects().describe(name),
                self.config.max_value_bytes
            ))),
        }
    }
}

fn no_such_key(key: &str) -> Error {
    Error::NoSuchKey(format!("no entry for key {}", show_key(key)))
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

mod keyvalue;

pub use keyvalue::{KeyPage, KeyValue, Snapshot, Swapped};

#[cfg(test)]
mod tests;

//! S3 object operations on a store's bucket: reads, writes (creating the bucket on demand),
//! deletes one at a time and a thousand at a time, and listings of the entry names.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use bytes::Bytes;

use crate::client::transport::Transport;
use crate::client::{Client, Deadline, Sent};
use crate::core::cull::{self, Listed};
use crate::core::key::{is_entry_name, list_prefix};
use crate::error::{Error, Result};
use crate::s3::xml::{parse_delete_failures, parse_error, parse_list};
use crate::s3::{
    Condition, DELETE_BATCH, PutOptions, Request, RequestBuilder, Response, clean_text, error_for,
};
use crate::settings::Config;

/// The bucket of a store, through its client.
pub(crate) struct Objects<'a, T> {
    /// The client that signs and sends.
    pub client: &'a Client<T>,
    /// The store's configuration.
    pub config: &'a Config,
}

/// What a read found under a name.
#[derive(Debug)]
pub(crate) enum Found {
    /// An object, with its reply (the body is empty for HEAD).
    Object(Response),
    /// No object (or no bucket, when the bucket is created on demand).
    Missing,
}

/// An object to write: the encoded entry and its metadata.
#[derive(Debug, Clone)]
pub(crate) struct Write {
    /// What the write is, for error messages.
    pub action: String,
    /// The object name.
    pub name: String,
    /// The encoded entry.
    pub body: Bytes,
    /// The expiry metadata.
    pub expires: String,
    /// This write's id, then the ids of the writes before it, space-separated.
    pub writes: String,
    /// The entry's key as its metadata keeps it, when it is short enough to keep.
    pub key: Option<String>,
}

/// A page of a listing of entries.
#[derive(Debug)]
pub(crate) struct EntryPage {
    /// The entries on it, in name order.
    pub entries: Vec<Listed>,
    /// Where the next page starts, when there is one.
    pub next: Option<String>,
    /// The smallest and largest names on it, entries, other objects and common prefixes.
    span: Option<(String, String)>,
}

/// How many entries a location holds, from the first `entries` of its listing and whether
/// more follow (see [`cull::estimate_count`]).
pub(crate) fn estimated_count(entries: &[Listed], truncated: bool) -> usize {
    let digests: Vec<&str> = entries
        .iter()
        .filter_map(|listed| listed.name.rsplit('/').next())
        .collect();
    cull::estimate_count(&digests, truncated)
}

/// A listing walked page by page, which insists that the server makes progress: each page
/// starts after the largest name of the one before, and a page with no names brings a
/// continuation token not met since the names last advanced. Memory stays one page (and a hash
/// per empty page), whatever the number of pages; the deadline ends an endless listing.
pub(crate) struct Listing<'o, 'a, T> {
    objects: &'o Objects<'a, T>,
    /// The next page's token; `None` once the last page is read.
    next: Option<Option<String>>,
    /// The largest name listed so far.
    last: Option<String>,
    /// Hashes of the tokens of the empty pages since the names last advanced.
    tokens: HashSet<u64>,
    /// The hasher of those tokens, one for the whole listing.
    hasher: RandomState,
}

impl<T: Transport> Listing<'_, '_, T> {
    /// The next page, or `None` after the last.
    pub(crate) fn next_page(&mut self, deadline: &Deadline) -> Result<Option<EntryPage>> {
        let Some(continuation) = self.next.take() else {
            return Ok(None);
        };
        let page = self.objects.list_page(deadline, continuation.as_deref())?;
        let fault = |what: &str| {
            Error::Other(format!(
                "list s3://{}: the server's listing {what}; it is not S3-compatible here",
                self.objects.config.bucket
            ))
        };
        match &page.span {
            Some((first, last)) => {
                if self.last.as_ref().is_some_and(|previous| first <= previous) {
                    return Err(fault("went back to names it had listed"));
                }
                self.last = Some(last.clone());
                self.tokens.clear();
            }
            None => {
                if let Some(token) = &page.next
                    && !self.tokens.insert(self.hasher.hash_one(token))
                {
                    return Err(fault("repeated a continuation token"));
                }
            }
        }
        self.next = page.next.clone().map(Some);
        Ok(Some(page))
    }
}

impl EntryPage {
    /// How many entries the location holds, estimated from this page when it is the first of
    /// several (exact when it is the only one).
    pub(crate) fn estimated_count(&self) -> usize {
        estimated_count(&self.entries, self.next.is_some())
    }
}

/// What a conditional write came to.
#[derive(Debug)]
pub(crate) enum Written {
    /// It landed.
    Stored,
    /// Its condition failed: someone else changed the object (412), was changing it (409), or
    /// removed it (404 to If-Match).
    Conflict,
    /// No usable reply: it may or may not have landed.
    Unknown(Error),
}

impl<T: Transport> Objects<'_, T> {
    /// `s3://bucket/name`, for messages.
    pub(crate) fn describe(&self, name: &str) -> String {
        format!("s3://{}/{name}", self.config.bucket)
    }

    fn requests(&self) -> RequestBuilder<'_> {
        RequestBuilder {
            endpoint: &self.config.endpoint,
        }
    }

    /// The largest object a read accepts: the entry header plus the largest value.
    pub(crate) fn max_object_bytes(&self) -> usize {
        self.config
            .max_value_bytes
            .saturating_add(crate::core::entry::HEADER_LEN)
    }

    /// GETs an object.
    pub(crate) fn get(&self, deadline: &Deadline, name: &str) -> Result<Found> {
        let action = format!("get {}", self.describe(name));
        let request = self.get_request(name);
        let response = self.client.send(deadline, &action, request)?;
        self.found(&action, response)
    }

    /// The GET of an object, for batches.
    pub(crate) fn get_request(&self, name: &str) -> Request {
        self.requests().get_object(name, self.max_object_bytes())
    }

    /// HEADs an object: its metadata without its body.
    pub(crate) fn head(&self, deadline: &Deadline, name: &str) -> Result<Found> {
        let action = format!("head {}", self.describe(name));
        let response = self
            .client
            .send(deadline, &action, self.head_request(name))?;
        self.found(&action, response)
    }

    /// The HEAD of an object, for batches.
    pub(crate) fn head_request(&self, name: &str) -> Request {
        self.requests().head_object(name)
    }

    /// A reply to a read: the object, a miss, or the error it means.
    pub(crate) fn found(&self, action: &str, response: Response) -> Result<Found> {
        if response.is_success() {
            return Ok(Found::Object(response));
        }
        if response.status == 404 && (!is_no_such_bucket(&response) || self.config.create_bucket) {
            return Ok(Found::Missing);
        }
        Err(error_for(action, &response))
    }

    /// The PUT of `write`.
    pub(crate) fn put_request(&self, write: &Write, condition: &Condition) -> Request {
        let options = PutOptions {
            acl: self.config.acl.as_deref(),
            storage_class: self.config.storage_class.as_deref(),
            sse: self.config.sse.as_deref(),
            sse_kms_key_id: self.config.sse_kms_key_id.as_deref(),
            expires: &write.expires,
            writes: &write.writes,
            key: write.key.as_deref(),
        };
        self.requests()
            .put_object(&write.name, write.body.clone(), condition, options)
    }

    /// An unconditional PUT (idempotent, so retried freely).
    pub(crate) fn put(&self, deadline: &Deadline, write: &Write) -> Result<()> {
        let request = self.put_request(write, &Condition::None);
        let mut response = self.client.send(deadline, &write.action, request.clone())?;
        if self.config.create_bucket && is_no_such_bucket(&response) {
            self.create_bucket(deadline)?;
            response = self.client.send(deadline, &write.action, request)?;
        }
        if response.is_success() {
            Ok(())
        } else {
            Err(error_for(&write.action, &response))
        }
    }

    /// A conditional PUT, sent at most once unless it certainly did not land.
    pub(crate) fn put_if(
        &self,
        deadline: &Deadline,
        write: &Write,
        condition: &Condition,
    ) -> Result<Written> {
        let request = self.put_request(write, condition);
        let mut sent = self
            .client
            .send_once(deadline, &write.action, request.clone())?;
        if self.config.create_bucket
            && matches!(&sent, Sent::Answered(response) if is_no_such_bucket(response))
        {
            self.create_bucket(deadline)?;
            sent = self.client.send_once(deadline, &write.action, request)?;
        }
        match sent {
            Sent::Unknown(error) => Ok(Written::Unknown(error)),
            Sent::Answered(response) if response.is_success() => Ok(Written::Stored),
            Sent::Answered(response) if is_conflict(&response) => Ok(Written::Conflict),
            Sent::Answered(response) => Err(error_for(&write.action, &response)),
        }
    }

    /// DELETEs an object (S3 answers the same whether it existed or not).
    pub(crate) fn delete(&self, deadline: &Deadline, name: &str) -> Result<()> {
        let action = format!("delete {}", self.describe(name));
        let response = self
            .client
            .send(deadline, &action, self.requests().delete_object(name))?;
        match response.status {
            200..=299 | 404 => Ok(()),
            _ => Err(error_for(&action, &response)),
        }
    }

    /// Deletes objects by name, up to 1000 per request, the requests concurrently.
    pub(crate) fn delete_names(&self, deadline: &Deadline, names: &[&str]) -> Result<()> {
        let action = format!("delete objects in s3://{}", self.config.bucket);
        let requests = names
            .chunks(DELETE_BATCH)
            .map(|chunk| self.requests().delete_objects(chunk))
            .collect();
        for response in self.client.send_all(deadline, &action, requests) {
            let response = response?;
            if !response.is_success() {
                if self.config.create_bucket && is_no_such_bucket(&response) {
                    continue;
                }
                return Err(error_for(&action, &response));
            }
            let failures = parse_delete_failures(&response.body)
                .map_err(|e| Error::Other(format!("{action}: {}", clean_text(&e))))?;
            if let Some(first) = failures.first() {
                return Err(Error::Other(format!(
                    "{action}: {} objects were not deleted, the first {}",
                    failures.len(),
                    clean_text(first)
                )));
            }
        }
        Ok(())
    }

    /// A listing of the entries under the location, from the start.
    pub(crate) fn listing(&self) -> Listing<'_, '_, T> {
        Listing {
            objects: self,
            next: Some(None),
            last: None,
            tokens: HashSet::new(),
            hasher: RandomState::new(),
        }
    }

    /// One page of the entries under the location (up to 1000 names, other names skipped),
    /// from the start or after `continuation`; an empty last page when the bucket is missing
    /// and may be created.
    pub(crate) fn list_page(
        &self,
        deadline: &Deadline,
        continuation: Option<&str>,
    ) -> Result<EntryPage> {
        let location = &self.config.naming.location;
        let prefix = list_prefix(location);
        let action = format!("list s3://{}/{prefix}", self.config.bucket);
        let request = self.requests().list_objects(&prefix, continuation);
        let response = self.client.send(deadline, &action, request)?;
        if !response.is_success() {
            if self.config.create_bucket && is_no_such_bucket(&response) {
                return Ok(EntryPage {
                    entries: Vec::new(),
                    next: None,
                    span: None,
                });
            }
            return Err(error_for(&action, &response));
        }
        let page = parse_list(&response.body)
            .map_err(|e| Error::Other(format!("{action}: {}", clean_text(&e))))?;
        if page.continuation.is_some() && page.continuation.as_deref() == continuation {
            return Err(Error::Other(format!(
                "{action}: the server repeated a continuation token"
            )));
        }
        let names = page
            .objects
            .iter()
            .map(|listed| &listed.name)
            .chain(&page.prefixes);
        let span = names
            .clone()
            .min()
            .zip(names.max())
            .map(|(first, last)| (first.clone(), last.clone()));
        Ok(EntryPage {
            span,
            entries: page
                .objects
                .into_iter()
                .filter(|listed| is_entry_name(location, &listed.name))
                .collect(),
            next: page.continuation,
        })
    }

    /// Creates the bucket (with its ACL, in its region); one that exists already is fine.
    pub(crate) fn create_bucket(&self, deadline: &Deadline) -> Result<()> {
        let action = format!("create bucket {}", self.config.bucket);
        let request = self
            .requests()
            .create_bucket(&self.config.region, self.config.bucket_acl.as_deref());
        let response = self.client.send(deadline, &action, request)?;
        let code = parse_error(&response.body).map(|reply| reply.code);
        if response.is_success() || code.as_deref() == Some("BucketAlreadyOwnedByYou") {
            Ok(())
        } else {
            Err(error_for(&action, &response))
        }
    }
}

/// A conditional write lost a race (412), met another in flight (409), or its If-Match found
/// no object (404, as AWS answers).
fn is_conflict(response: &Response) -> bool {
    matches!(response.status, 409 | 412) || (response.status == 404 && !is_no_such_bucket(response))
}

/// Whether a reply says the bucket does not exist.
pub(crate) fn is_no_such_bucket(response: &Response) -> bool {
    response.status == 404
        && parse_error(&response.body).is_some_and(|reply| reply.code == "NoSuchBucket")
}

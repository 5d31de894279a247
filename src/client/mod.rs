//! The S3 client: signs requests, sends them (many at once for batches), and retries what is
//! safe to retry, under the store's retry policy and the operation's deadline.

pub(crate) mod objects;
pub(crate) mod transport;

use std::time::Duration;

use crate::client::transport::{Transport, TransportError};
use crate::core::backoff::{Backoff, RetryPolicy};
use crate::core::clock::Clock;
use crate::error::{Error, Result};
use crate::s3::Endpoint;
use crate::s3::retryable::may_have_applied;
use crate::s3::sign::{Payload, Signer};
use crate::s3::{Request, Response, is_transient};
use crate::settings::Config;

/// Requests in flight at once for batch operations.
const MAX_IN_FLIGHT: usize = 32;

/// Signs, sends and retries requests for one store.
pub(crate) struct Client<T> {
    transport: T,
    clock: Box<dyn Clock + Send + Sync>,
    signer: Signer,
    payload: Payload,
    policy: RetryPolicy,
    endpoint: Endpoint,
}

/// When one cache operation started: no retry starts after its deadline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    started: Duration,
}

/// What a request that must not be applied twice came to.
#[derive(Debug)]
pub(crate) enum Sent {
    /// A reply, with any status.
    Answered(Response),
    /// No usable reply, and the server may have applied the request: the caller must look.
    Unknown(Error),
}

impl<T: Transport> Client<T> {
    /// A client for `config`'s endpoint and credentials.
    pub(crate) fn new(
        config: &Config,
        transport: T,
        clock: Box<dyn Clock + Send + Sync>,
    ) -> Client<T> {
        // Over HTTPS, TLS already protects the body; hashing it in wasm costs ~4 ms per MiB.
        let payload = if config.endpoint.scheme == "https" {
            Payload::Unsigned
        } else {
            Payload::Signed
        };
        Client {
            transport,
            clock,
            signer: Signer::new(&config.credentials, &config.region),
            payload,
            policy: config.retry,
            endpoint: config.endpoint.clone(),
        }
    }

    /// The transport it sends through.
    pub(crate) fn transport(&self) -> &T {
        &self.transport
    }

    /// The clock the store reads.
    pub(crate) fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The deadline of an operation starting now.
    pub(crate) fn deadline(&self) -> Deadline {
        Deadline {
            started: self.clock.elapsed(),
        }
    }

    /// The retries of an operation: attempts per request and rounds of conditional updates.
    pub(crate) fn backoff(&self, deadline: &Deadline) -> Backoff {
        Backoff::new(self.policy, deadline.started)
    }

    /// Sends an idempotent request, retrying transient failures; the last reply, whatever its
    /// status.
    pub(crate) fn send(
        &self,
        deadline: &Deadline,
        action: &str,
        request: Request,
    ) -> Result<Response> {
        self.send_all(deadline, action, vec![request])
            .pop()
            .unwrap_or_else(|| Err(Error::Other(format!("{action}: no response"))))
    }

    /// Sends idempotent requests, `MAX_IN_FLIGHT` at once, retrying the transient failures
    /// together; one result per request, in order.
    pub(crate) fn send_all(
        &self,
        deadline: &Deadline,
        action: &str,
        requests: Vec<Request>,
    ) -> Vec<Result<Response>> {
        let mut results = Vec::with_capacity(requests.len());
        for chunk in requests.chunks(MAX_IN_FLIGHT) {
            let mut outcomes: Vec<Option<Result<Response>>> = vec![None; chunk.len()];
            let mut pending: Vec<usize> = (0..chunk.len()).collect();
            let mut backoff = self.backoff(deadline);
            loop {
                let mut retry = Vec::new();
                for (index, result) in pending.iter().copied().zip(self.attempt(chunk, &pending)) {
                    let transient = match &result {
                        Ok(response) => is_transient(&chunk[index], response),
                        Err(TransportError::NotSent(_) | TransportError::ReplyLost(_)) => true,
                        Err(TransportError::TooLarge(_) | TransportError::Refused(_)) => false,
                    };
                    if transient {
                        retry.push(index);
                    }
                    outcomes[index] = Some(result.map_err(|error| self.failure(action, error)));
                }
                if retry.is_empty() {
                    break;
                }
                match backoff.next_attempt(self.clock.elapsed(), self.clock.random()) {
                    Some(wait) => self.clock.sleep(wait),
                    None => break,
                }
                pending = retry;
            }
            results.extend(outcomes.into_iter().map(|outcome| {
                outcome.unwrap_or_else(|| Err(Error::Other(format!("{action}: not sent"))))
            }));
        }
        results
    }

    /// Sends a request that must not be applied twice (a conditional write): only failures that
    /// certainly left the server untouched (not sent, throttled) are retried.
    pub(crate) fn send_once(
        &self,
        deadline: &Deadline,
        action: &str,
        request: Request,
    ) -> Result<Sent> {
        let batch = std::slice::from_ref(&request);
        let mut backoff = self.backoff(deadline);
        loop {
            let result = self.attempt(batch, &[0]).pop().unwrap_or_else(|| {
                Err(TransportError::Refused(
                    "the transport sent nothing".to_owned(),
                ))
            });
            let retry = match &result {
                Err(TransportError::NotSent(_)) => true,
                Ok(response) => {
                    is_transient(&request, response) && !may_have_applied(response.status)
                }
                _ => false,
            };
            let wait = if retry {
                backoff.next_attempt(self.clock.elapsed(), self.clock.random())
            } else {
                None
            };
            match (result, wait) {
                (_, Some(wait)) => self.clock.sleep(wait),
                (Ok(response), None) if may_have_applied(response.status) => {
                    return Ok(Sent::Unknown(crate::s3::error_for(action, &response)));
                }
                (Ok(response), None) => return Ok(Sent::Answered(response)),
                (Err(error @ TransportError::ReplyLost(_)), None) => {
                    return Ok(Sent::Unknown(self.failure(action, error)));
                }
                (Err(error), None) => return Err(self.failure(action, error)),
            }
        }
    }

    /// Signs (with the current time) and sends `chunk[i]` for each i in `indexes`.
    fn attempt(
        &self,
        chunk: &[Request],
        indexes: &[usize],
    ) -> Vec<std::result::Result<Response, TransportError>> {
        let now = std::time::UNIX_EPOCH
            + Duration::from_millis(u64::try_from(self.clock.now_ms()).unwrap_or(0));
        let mut signed = Vec::with_capacity(indexes.len());
        let mut refused = Vec::new();
        for (position, &index) in indexes.iter().enumerate() {
            let mut request = chunk[index].clone();
            match self.signer.sign(&mut request, now, self.payload) {
                Ok(()) => signed.push(request),
                Err(error) => refused.push((position, TransportError::Refused(error.to_string()))),
            }
        }
        let mut sent = self.transport.send_all(&signed).into_iter();
        let mut refused = refused.into_iter().peekable();
        (0..indexes.len())
            .map(
                |position| match refused.next_if(|(at, _)| *at == position) {
                    Some((_, error)) => Err(error),
                    None => sent.next().unwrap_or_else(|| {
                        Err(TransportError::ReplyLost(
                            "the transport lost a reply".to_owned(),
                        ))
                    }),
                },
            )
            .collect()
    }

    /// The store error for a request that got no reply.
    fn failure(&self, action: &str, error: TransportError) -> Error {
        let endpoint = format!("{}://{}", self.endpoint.scheme, self.endpoint.authority);
        match error {
            TransportError::NotSent(why) => {
                Error::Unavailable(format!("{action}: cannot reach {endpoint}: {why}"))
            }
            TransportError::ReplyLost(why) => {
                Error::Unavailable(format!("{action}: no reply from {endpoint}: {why}"))
            }
            TransportError::TooLarge(why) => Error::TooLarge(format!("{action}: {why}")),
            TransportError::Refused(why) => Error::InvalidConfig(format!("{action}: {why}")),
        }
    }
}

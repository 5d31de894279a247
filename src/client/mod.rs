//! The S3 client: signs requests, sends them (many at once for batches), and retries what is
//! safe to retry, under the store's retry policy and the operation's deadline.

pub(crate) mod objects;
pub(crate) mod transport;

use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use crate::client::transport::{Transport, TransportError};
use crate::core::backoff::{Backoff, Failure, RetryPolicy, RetryQuota, SHORTEST_ATTEMPT};
use crate::core::clock::Clock;
use crate::error::{Error, Result};
use crate::s3::Endpoint;
use crate::s3::retryable::may_have_applied;
use crate::s3::sign::{Payload, Signer};
use crate::s3::{Credentials, Request, Response, is_transient, region_hint};
use crate::settings::Config;

/// Requests in flight at once for batch operations.
const MAX_IN_FLIGHT: usize = 32;

/// Signs, sends and retries requests for one store.
pub(crate) struct Client<T> {
    transport: T,
    clock: Box<dyn Clock + Send + Sync>,
    payload: Payload,
    policy: RetryPolicy,
    quota: RetryQuota,
    /// The region and endpoint requests go to: the configured ones until S3 names another.
    place: RwLock<Place>,
    /// `scheme://authority` of the configured endpoint, which requests are built with.
    configured: String,
    credentials: Credentials,
    bucket: String,
    regional_endpoint: Option<Option<bool>>,
}

/// Where requests go and how they are signed.
struct Place {
    region: String,
    signer: Signer,
    /// `scheme://authority` requests are sent to.
    origin: String,
}

impl Place {
    fn new(credentials: &Credentials, region: &str, endpoint: &Endpoint) -> Place {
        Place {
            region: region.to_owned(),
            signer: Signer::new(credentials, region),
            origin: origin(endpoint),
        }
    }
}

/// `scheme://authority` of an endpoint.
fn origin(endpoint: &Endpoint) -> String {
    format!("{}://{}", endpoint.scheme, endpoint.authority)
}

/// When one cache operation (or a part of one) started, and how long it may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    started: Duration,
    length: Duration,
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
            payload,
            policy: config.retry,
            quota: RetryQuota::default(),
            place: RwLock::new(Place::new(
                &config.credentials,
                &config.region,
                &config.endpoint,
            )),
            configured: origin(&config.endpoint),
            credentials: config.credentials.clone(),
            bucket: config.bucket.clone(),
            regional_endpoint: config.regional_endpoint,
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
            length: self.policy.deadline,
        }
    }

    /// A deadline starting now for a part of an operation: `1 / divisor` of what `deadline`
    /// leaves, so the rest of the operation keeps the remainder.
    pub(crate) fn part_of(&self, deadline: &Deadline, divisor: u32) -> Deadline {
        Deadline {
            started: self.clock.elapsed(),
            length: self.remaining(deadline) / divisor.max(1),
        }
    }

    /// The retries of an operation: attempts per request and rounds of conditional updates.
    pub(crate) fn backoff(&self, deadline: &Deadline) -> Backoff {
        let policy = RetryPolicy {
            deadline: deadline.length,
            ..self.policy
        };
        Backoff::new(policy, deadline.started)
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
                let results = self.attempt(deadline, chunk, &pending);
                for (index, result) in pending.iter().copied().zip(results) {
                    let failure = match &result {
                        Ok(response) if is_transient(&chunk[index], response) => {
                            Some(Failure::ServerError)
                        }
                        Ok(_) => {
                            self.quota.earn();
                            None
                        }
                        Err(TransportError::NotSent(_) | TransportError::ReplyLost(_)) => {
                            Some(Failure::Timeout)
                        }
                        Err(_) => None,
                    };
                    // A retry abandoned at the deadline says less than the reply before it.
                    if !(matches!(result, Err(TransportError::Abandoned))
                        && outcomes[index].is_some())
                    {
                        outcomes[index] = Some(result.map_err(|error| self.failure(action, error)));
                    }
                    if let Some(failure) = failure {
                        retry.push((index, failure));
                    }
                }
                let Some(wait) = self.next_wait(&mut backoff).filter(|_| !retry.is_empty()) else {
                    break;
                };
                pending = retry
                    .into_iter()
                    .filter(|&(_, failure)| self.quota.spend(failure))
                    .map(|(index, _)| index)
                    .collect();
                if pending.is_empty() {
                    break;
                }
                self.clock.sleep(wait);
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
            let result = self
                .attempt(deadline, batch, &[0])
                .pop()
                .unwrap_or_else(|| {
                    Err(TransportError::Refused(
                        "the transport sent nothing".to_owned(),
                    ))
                });
            let failure = match &result {
                Err(TransportError::NotSent(_)) => Some(Failure::Timeout),
                Ok(response)
                    if is_transient(&request, response) && !may_have_applied(response.status) =>
                {
                    Some(Failure::ServerError)
                }
                _ => None,
            };
            if let Some(failure) = failure
                && let Some(wait) = self.next_wait(&mut backoff)
                && self.quota.spend(failure)
            {
                self.clock.sleep(wait);
                continue;
            }
            if matches!(&result, Ok(response) if !is_transient(&request, response)) {
                self.quota.earn();
            }
            return match result {
                Ok(response) if may_have_applied(response.status) => {
                    Ok(Sent::Unknown(crate::s3::error_for(action, &response)))
                }
                Ok(response) => Ok(Sent::Answered(response)),
                Err(error @ (TransportError::ReplyLost(_) | TransportError::Abandoned)) => {
                    Ok(Sent::Unknown(self.failure(action, error)))
                }
                Err(error) => Err(self.failure(action, error)),
            };
        }
    }

    /// Whether an operation may try again after a failure that may have been applied (the
    /// conditional-update loop's lost replies): within its attempts, deadline and the store's
    /// retry quota, after a jittered wait.
    pub(crate) fn retry_unknown(&self, backoff: &mut Backoff) -> bool {
        match self.next_wait(backoff) {
            Some(wait) if self.quota.spend(Failure::ServerError) => {
                self.clock.sleep(wait);
                true
            }
            _ => false,
        }
    }

    /// The wait before another attempt; `None` when the attempts or the deadline are used up.
    fn next_wait(&self, backoff: &mut Backoff) -> Option<Duration> {
        backoff.next_attempt(self.clock.elapsed(), self.clock.random())
    }

    /// Whether `deadline` leaves too little time for another attempt.
    pub(crate) fn is_past(&self, deadline: &Deadline) -> bool {
        self.remaining(deadline) < SHORTEST_ATTEMPT
    }

    /// The time `deadline` leaves.
    fn remaining(&self, deadline: &Deadline) -> Duration {
        let spent = self.clock.elapsed().saturating_sub(deadline.started);
        deadline.length.saturating_sub(spent)
    }

    /// Signs (with the current time) and sends `chunk[i]` for each i in `indexes`, abandoning
    /// what is unanswered at the deadline. A reply that names another region (S3's answer to a
    /// bucket that lives elsewhere) moves the store there, and the request is sent again there
    /// at once, once.
    fn attempt(
        &self,
        deadline: &Deadline,
        chunk: &[Request],
        indexes: &[usize],
    ) -> Vec<std::result::Result<Response, TransportError>> {
        let (mut results, signed_in) = self.send_signed(deadline, chunk, indexes);
        let moved: Vec<(usize, String)> = results
            .iter()
            .enumerate()
            .filter_map(|(position, result)| {
                let region = region_hint(result.as_ref().ok()?)?;
                (region != signed_in).then_some((position, region))
            })
            .collect();
        let Some((_, region)) = moved.first() else {
            return results;
        };
        // Without time to send it again, the refusal is the answer (it applied nothing).
        if self.is_past(deadline) {
            return results;
        }
        self.move_to(region);
        let positions: Vec<usize> = moved.iter().map(|(position, _)| *position).collect();
        let again: Vec<usize> = positions
            .iter()
            .map(|&position| indexes[position])
            .collect();
        let (resent, _) = self.send_signed(deadline, chunk, &again);
        for (position, result) in positions.into_iter().zip(resent) {
            results[position] = result;
        }
        results
    }

    /// Moves the store to `region` (and, when the endpoint is AWS's own, to that region's
    /// endpoint) for the rest of its life.
    fn move_to(&self, region: &str) {
        let endpoint = match self.regional_endpoint {
            Some(path_style) => Endpoint::resolve(None, region, &self.bucket, path_style).ok(),
            None => None,
        };
        let mut place = self.place.write().unwrap_or_else(PoisonError::into_inner);
        let origin = endpoint
            .as_ref()
            .map_or_else(|| place.origin.clone(), origin);
        *place = Place {
            region: region.to_owned(),
            signer: Signer::new(&self.credentials, region),
            origin,
        };
    }

    /// Signs and sends, as [`Client::attempt`]; with the region the requests were signed for.
    fn send_signed(
        &self,
        deadline: &Deadline,
        chunk: &[Request],
        indexes: &[usize],
    ) -> (Vec<std::result::Result<Response, TransportError>>, String) {
        let place = self.place.read().unwrap_or_else(PoisonError::into_inner);
        let within = self.remaining(deadline);
        if within < SHORTEST_ATTEMPT {
            let abandoned = indexes
                .iter()
                .map(|_| Err(TransportError::Abandoned))
                .collect();
            return (abandoned, place.region.clone());
        }
        let now = std::time::UNIX_EPOCH
            + Duration::from_millis(u64::try_from(self.clock.now_ms()).unwrap_or(0));
        let mut signed = Vec::with_capacity(indexes.len());
        let mut refused = Vec::new();
        for (position, &index) in indexes.iter().enumerate() {
            let mut request = chunk[index].clone();
            if place.origin != self.configured
                && let Some(rest) = request.url.strip_prefix(&self.configured)
            {
                request.url = format!("{}{rest}", place.origin);
            }
            match place.signer.sign(&mut request, now, self.payload) {
                Ok(()) => signed.push(request),
                Err(error) => refused.push((position, TransportError::Refused(error.to_string()))),
            }
        }
        let region = place.region.clone();
        drop(place);
        let mut sent = self
            .transport
            .send_all(&signed, within)
            .into_iter()
            .map(|result| match result {
                // The attempt's timeouts were cut to what the deadline left, so a reply that
                // timed out as it ran out was the deadline's doing.
                Err(TransportError::ReplyLost(_)) if self.remaining(deadline).is_zero() => {
                    Err(TransportError::Abandoned)
                }
                other => other,
            });
        let mut refused = refused.into_iter().peekable();
        let results = (0..indexes.len())
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
            .collect();
        (results, region)
    }

    /// The store error for a request that got no reply.
    fn failure(&self, action: &str, error: TransportError) -> Error {
        let endpoint = self
            .place
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .origin
            .clone();
        match error {
            TransportError::NotSent(why) => {
                Error::Unavailable(format!("{action}: cannot reach {endpoint}: {why}"))
            }
            TransportError::ReplyLost(why) => {
                Error::Unavailable(format!("{action}: no reply from {endpoint}: {why}"))
            }
            TransportError::Abandoned => Error::Unavailable(format!(
                "{action}: no reply from {endpoint} within the deadline ({} s)",
                self.policy.deadline.as_secs_f64()
            )),
            TransportError::TooLarge(why) => Error::TooLarge(format!("{action}: {why}")),
            TransportError::Refused(why) => {
                Error::InvalidConfig(format!("{action}: {endpoint}: {why}"))
            }
        }
    }
}

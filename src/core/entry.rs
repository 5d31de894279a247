//! Entry encoding: the bytes of one cache object, and expiry arithmetic.
//!
//! Layout (all integers big-endian):
//! `b"S3CE"` magic · format version `1` (u8) · flags (u8) · expiry in ms since the Unix epoch
//! (i64, 0 when the entry never expires) · payload (the value, raw or deflated).

use miniz_oxide::deflate::compress_to_vec;
use miniz_oxide::inflate::{TINFLStatus, decompress_to_vec_with_limit};

const MAGIC: [u8; 4] = *b"S3CE";
const FORMAT_VERSION: u8 = 1;
/// The payload is raw deflate.
const FLAG_DEFLATE: u8 = 0b01;
/// The entry never expires; the expiry field is ignored.
const FLAG_NEVER: u8 = 0b10;
const KNOWN_FLAGS: u8 = FLAG_DEFLATE | FLAG_NEVER;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 14;
/// miniz level 1: measured (`cargo bench -p s3cache --bench core -- deflate`) 3 to 8 times as
/// fast as zlib's default 6 on JSON, text and random data, for output about 15% larger on JSON.
/// A cache pays for compression on every write and S3 bytes are cheap.
const DEFLATE_LEVEL: u8 = 1;
/// Bytes deflated first to tell an incompressible value (random, or compressed already: JPEG,
/// gzip) before spending a full pass on it.
const PROBE_LEN: usize = 4096;

/// When an entry stops being live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Never expires.
    Never,
    /// Expires at this instant, in milliseconds since the Unix epoch.
    At(i64),
}

impl Expiry {
    /// Whether an entry with this expiry is live at `now_ms`.
    pub fn is_live(self, now_ms: i64) -> bool {
        match self {
            Expiry::Never => true,
            Expiry::At(at) => at > now_ms,
        }
    }

    /// The value of the `x-amz-meta-s3cache-expires` header, which lets HEAD answer has-key.
    pub fn to_header(self) -> String {
        match self {
            Expiry::Never => "never".to_owned(),
            Expiry::At(at) => at.to_string(),
        }
    }

    /// Parses [`Expiry::to_header`]'s output; `None` for anything else.
    pub fn from_header(value: &str) -> Option<Expiry> {
        match value {
            "never" => Some(Expiry::Never),
            _ => value.parse().ok().map(Expiry::At),
        }
    }
}

/// How long a written entry lives, as a caller says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// The store's default lifetime.
    Default,
    /// Forever.
    Never,
    /// This many milliseconds from now; zero or negative means already expired.
    Millis(i64),
}

/// A store's default lifetime in milliseconds: `None` is forever.
pub type DefaultLifetime = Option<i64>;

/// The expiry of an entry written at `now_ms` with `ttl`.
pub fn expiry_for(ttl: Ttl, default: DefaultLifetime, now_ms: i64) -> Expiry {
    let millis = match ttl {
        Ttl::Default => default,
        Ttl::Never => None,
        Ttl::Millis(millis) => Some(millis),
    };
    match millis {
        None => Expiry::Never,
        Some(millis) => Expiry::At(now_ms.saturating_add(millis)),
    }
}

/// A decoded entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When it stops being live.
    pub expiry: Expiry,
    /// The value as the caller stored it.
    pub value: Vec<u8>,
}

/// Encodes `value`, deflating it when it is longer than `compress_above` bytes and deflate makes
/// it smaller.
pub fn encode(value: &[u8], expiry: Expiry, compress_above: Option<usize>) -> Vec<u8> {
    let deflated = compress_above
        .filter(|&threshold| value.len() > threshold && deflates(value))
        .map(|_| compress_to_vec(value, DEFLATE_LEVEL))
        .filter(|deflated| deflated.len() < value.len());
    let (deflated, payload) = match &deflated {
        Some(deflated) => (true, deflated.as_slice()),
        None => (false, value),
    };
    [header(deflated, expiry).as_slice(), payload].concat()
}

/// Whether a large value's first [`PROBE_LEN`] bytes shrink by a tenth or more when deflated;
/// small values are simply tried whole.
fn deflates(value: &[u8]) -> bool {
    value.len() <= 2 * PROBE_LEN
        || compress_to_vec(&value[..PROBE_LEN], DEFLATE_LEVEL).len() < PROBE_LEN * 9 / 10
}

/// Why an object's bytes are not a usable entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undecodable {
    /// Not an entry this code wrote: foreign, truncated, empty, an unknown format, a broken
    /// payload. Such objects read as misses.
    NotAnEntry,
    /// An entry whose value is longer than the reader's limit.
    TooLarge,
}

/// Decodes an object's bytes, refusing values longer than `max_value` bytes.
pub fn decode(bytes: &[u8], max_value: usize) -> Result<Entry, Undecodable> {
    let (expiry, flags, payload) = parse_header(bytes).ok_or(Undecodable::NotAnEntry)?;
    let value = if flags & FLAG_DEFLATE != 0 {
        decompress_to_vec_with_limit(payload, max_value).map_err(|error| {
            if error.status == TINFLStatus::HasMoreOutput {
                Undecodable::TooLarge
            } else {
                Undecodable::NotAnEntry
            }
        })?
    } else if payload.len() <= max_value {
        payload.to_vec()
    } else {
        return Err(Undecodable::TooLarge);
    };
    Ok(Entry { expiry, value })
}

/// The same entry with another expiry; the payload is kept as stored (no recompression).
pub fn with_expiry(bytes: &[u8], expiry: Expiry) -> Option<Vec<u8>> {
    let (_, flags, payload) = parse_header(bytes)?;
    Some(
        [
            header(flags & FLAG_DEFLATE != 0, expiry).as_slice(),
            payload,
        ]
        .concat(),
    )
}

fn header(deflated: bool, expiry: Expiry) -> [u8; HEADER_LEN] {
    let (never, at) = match expiry {
        Expiry::Never => (FLAG_NEVER, 0),
        Expiry::At(at) => (0, at),
    };
    let deflate = if deflated { FLAG_DEFLATE } else { 0 };
    let mut header = [0; HEADER_LEN];
    header[..4].copy_from_slice(&MAGIC);
    header[4] = FORMAT_VERSION;
    header[5] = deflate | never;
    header[6..].copy_from_slice(&at.to_be_bytes());
    header
}

fn parse_header(bytes: &[u8]) -> Option<(Expiry, u8, &[u8])> {
    let (header, payload) = bytes.split_at_checked(HEADER_LEN)?;
    let (magic, rest) = header.split_at(MAGIC.len());
    if magic != MAGIC || rest[0] != FORMAT_VERSION || rest[1] & !KNOWN_FLAGS != 0 {
        return None;
    }
    let flags = rest[1];
    let at = i64::from_be_bytes(rest[2..10].try_into().ok()?);
    let expiry = if flags & FLAG_NEVER != 0 {
        Expiry::Never
    } else {
        Expiry::At(at)
    };
    Some((expiry, flags, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1 << 20;

    #[test]
    fn pinned_bytes_of_a_small_entry() {
        let bytes = encode(b"hi", Expiry::At(0x0102_0304_0506_0708), Some(1024));
        assert_eq!(
            bytes,
            [
                b'S', b'3', b'C', b'E', 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, b'h', b'i'
            ]
        );
        let never = encode(b"", Expiry::Never, None);
        assert_eq!(
            never,
            [b'S', b'3', b'C', b'E', 1, 2, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            decode(&never, MAX),
            Ok(Entry {
                expiry: Expiry::Never,
                value: vec![]
            })
        );
    }

    #[test]
    fn compressible_values_above_the_threshold_are_deflated() {
        let value = b"abcd".repeat(1000);
        let bytes = encode(&value, Expiry::At(5), Some(1024));
        assert_eq!(bytes[5], FLAG_DEFLATE);
        assert!(bytes.len() < value.len() / 10);
        assert_eq!(decode(&bytes, MAX).unwrap().value, value);
    }

    #[test]
    fn values_are_stored_raw_when_deflate_does_not_pay_or_is_off() {
        let small = b"abcd".repeat(256);
        assert_eq!(encode(&small, Expiry::Never, Some(1024))[5], FLAG_NEVER);
        let big = b"abcd".repeat(1000);
        assert_eq!(
            encode(&big, Expiry::Never, None).len(),
            HEADER_LEN + big.len()
        );
        // Bytes of a xorshift sequence do not deflate.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let bytes = encode(&noise, Expiry::At(1), Some(1024));
        assert_eq!(bytes[5], 0);
        assert_eq!(decode(&bytes, MAX).unwrap().value, noise);
    }

    #[test]
    fn a_large_value_that_starts_incompressible_is_not_deflated_at_all() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut value: Vec<u8> = (0..PROBE_LEN)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        assert!(!deflates(&[value.as_slice(), &[0; 1 << 16]].concat()));
        value.extend(b"text that would deflate well ".repeat(10_000));
        assert_eq!(encode(&value, Expiry::Never, Some(1024))[5], FLAG_NEVER);
        let text = b"text that would deflate well ".repeat(10_000);
        assert!(deflates(&text));
        assert_eq!(
            encode(&text, Expiry::Never, Some(1024))[5],
            FLAG_DEFLATE | FLAG_NEVER
        );
    }

    #[test]
    fn garbage_decodes_to_nothing() {
        let good = encode(b"value", Expiry::At(1), None);
        assert_eq!(decode(b"", MAX), Err(Undecodable::NotAnEntry));
        assert_eq!(
            decode(&good[..HEADER_LEN - 1], MAX),
            Err(Undecodable::NotAnEntry)
        );
        assert_eq!(
            decode(b"<html>not an entry</html>", MAX),
            Err(Undecodable::NotAnEntry)
        );
        let mut other_version = good.clone();
        other_version[4] = 2;
        assert_eq!(decode(&other_version, MAX), Err(Undecodable::NotAnEntry));
        let mut unknown_flag = good.clone();
        unknown_flag[5] = 0b100;
        assert_eq!(decode(&unknown_flag, MAX), Err(Undecodable::NotAnEntry));
        let mut bad_deflate = good;
        bad_deflate[5] = FLAG_DEFLATE;
        assert_eq!(decode(&bad_deflate, MAX), Err(Undecodable::NotAnEntry));
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let good = encode(&b"payload".repeat(500), Expiry::At(1), Some(16));
        for round in 0..20_000 {
            let len = (next() % 64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if round % 2 == 0 {
                // Mostly-valid entries with a few flipped bytes reach the inflater.
                bytes = good.clone();
                for _ in 0..3 {
                    let at = (next() as usize) % bytes.len();
                    bytes[at] ^= next() as u8;
                }
                bytes.truncate((next() as usize) % (good.len() + 1));
            }
            let _ = decode(&bytes, 1 << 16);
            let _ = with_expiry(&bytes, Expiry::Never);
        }
    }

    #[test]
    fn values_over_the_limit_are_too_large_raw_or_deflated() {
        let value = vec![b'a'; 5000];
        assert_eq!(
            decode(&encode(&value, Expiry::Never, Some(1024)), 4999),
            Err(Undecodable::TooLarge)
        );
        assert_eq!(
            decode(&encode(&value, Expiry::Never, None), 4999),
            Err(Undecodable::TooLarge)
        );
        assert!(decode(&encode(&value, Expiry::Never, Some(1024)), 5000).is_ok());
    }

    #[test]
    fn expiry_changes_keep_the_payload() {
        let value = b"xyz".repeat(2000);
        let bytes = encode(&value, Expiry::At(10), Some(1024));
        let never = with_expiry(&bytes, Expiry::Never).unwrap();
        assert_eq!(decode(&never, MAX).unwrap().expiry, Expiry::Never);
        let back = with_expiry(&never, Expiry::At(99)).unwrap();
        assert_eq!(decode(&back, MAX).unwrap().expiry, Expiry::At(99));
        assert_eq!(back[HEADER_LEN..], bytes[HEADER_LEN..]);
        assert_eq!(decode(&back, MAX).unwrap().value, value);
        assert_eq!(with_expiry(b"junk", Expiry::Never), None);
    }

    #[test]
    fn ttl_arithmetic_follows_django() {
        let now = 1_000_000;
        assert_eq!(
            expiry_for(Ttl::Default, Some(300_000), now),
            Expiry::At(1_300_000)
        );
        assert_eq!(expiry_for(Ttl::Default, None, now), Expiry::Never);
        assert_eq!(expiry_for(Ttl::Never, Some(300_000), now), Expiry::Never);
        assert_eq!(
            expiry_for(Ttl::Millis(2_000), None, now),
            Expiry::At(1_002_000)
        );
        assert!(!expiry_for(Ttl::Millis(0), None, now).is_live(now));
        assert!(!expiry_for(Ttl::Millis(-5_000), None, now).is_live(now));
        // Sub-second lifetimes, as Django's float timeouts give them.
        assert!(expiry_for(Ttl::Millis(500), None, now).is_live(now + 499));
        assert!(!expiry_for(Ttl::Millis(500), None, now).is_live(now + 500));
        assert_eq!(
            expiry_for(Ttl::Millis(i64::MAX), None, now),
            Expiry::At(i64::MAX)
        );
        assert!(!expiry_for(Ttl::Millis(i64::MIN), None, now).is_live(now));
    }

    #[test]
    fn expiry_header_round_trips() {
        for expiry in [
            Expiry::Never,
            Expiry::At(0),
            Expiry::At(-3),
            Expiry::At(i64::MAX),
        ] {
            assert_eq!(Expiry::from_header(&expiry.to_header()), Some(expiry));
        }
        assert_eq!(Expiry::from_header("soon"), None);
    }
}

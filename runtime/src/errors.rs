//! The component's errors as text: the WIT case, one line for people, an `anyhow::Error`.

use std::borrow::Cow;

use anyhow::Result;

use crate::CacheError;

/// The WIT case of a cache error (`no-such-key`) and its message (an invalid setting's is
/// `setting: reason`).
pub fn case(error: &CacheError) -> (&'static str, Cow<'_, str>) {
    let (case, message) = match error {
        CacheError::InvalidSetting(invalid) => {
            let message = format!("{}: {}", invalid.setting, invalid.reason);
            return ("invalid-setting", Cow::Owned(message));
        }
        CacheError::InvalidConfig(m) => ("invalid-config", m),
        CacheError::InvalidInput(m) => ("invalid-input", m),
        CacheError::NoSuchKey(m) => ("no-such-key", m),
        CacheError::NotAnInteger(m) => ("not-an-integer", m),
        CacheError::AccessDenied(m) => ("access-denied", m),
        CacheError::NoSuchBucket(m) => ("no-such-bucket", m),
        CacheError::Unavailable(m) => ("unavailable", m),
        CacheError::TooLarge(m) => ("too-large", m),
        CacheError::Other(m) => ("other", m),
    };
    (case, Cow::Borrowed(message.as_str()))
}

/// A cache error as one line: what kind, then the component's message.
pub fn describe(error: &CacheError) -> String {
    match case(error) {
        ("other", message) => format!("error: {message}"),
        ("invalid-setting", message) => format!("invalid config: {message}"),
        (kind, message) => format!("{}: {message}", kind.replace('-', " ")),
    }
}

/// The component's answer, with its error as an [`anyhow::Error`] carrying [`describe`]'s line.
pub fn answer<T>(result: Result<T, CacheError>) -> Result<T> {
    result.map_err(|error| anyhow::anyhow!(describe(&error)))
}

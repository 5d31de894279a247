//! The crate's error: each variant is something a caller can act on.

/// Why a cache operation failed. A miss is never an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A setting is unknown, malformed, or contradicts another; `setting` is its name in the
    /// table, so a caller can name its own option for it.
    #[error("invalid config: {setting}: {reason}")]
    InvalidSetting {
        /// The setting's name in the table.
        setting: String,
        /// Why, never quoting a secret.
        reason: String,
    },
    /// The configuration cannot work as a whole.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// The arguments cannot be served (an increment that overflows, a bad key).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// `incr`/`decr` found no live entry for the key.
    #[error("no such key: {0}")]
    NoSuchKey(String),
    /// `incr`/`decr` found a value that is not a decimal 64-bit integer.
    #[error("not an integer: {0}")]
    NotAnInteger(String),
    /// The server refused the credentials, the signature, or the permission.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// The bucket does not exist.
    #[error("no such bucket: {0}")]
    NoSuchBucket(String),
    /// The endpoint could not be reached or kept failing; retrying later may work.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A value or stored object exceeds the size limit.
    #[error("too large: {0}")]
    TooLarge(String),
    /// Anything else, with the server's code and message.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The error for a setting that cannot work, naming it as data.
    pub(crate) fn invalid_setting(setting: &str, reason: String) -> Error {
        Error::InvalidSetting {
            setting: setting.to_owned(),
            reason,
        }
    }

    /// The same kind of error, its message prefixed with `context`.
    pub(crate) fn with_context(self, context: &str) -> Error {
        let prefixed = |message: String| format!("{context}: {message}");
        match self {
            Error::InvalidSetting { setting, reason } => Error::InvalidSetting {
                setting,
                reason: prefixed(reason),
            },
            Error::InvalidConfig(m) => Error::InvalidConfig(prefixed(m)),
            Error::InvalidInput(m) => Error::InvalidInput(prefixed(m)),
            Error::NoSuchKey(m) => Error::NoSuchKey(prefixed(m)),
            Error::NotAnInteger(m) => Error::NotAnInteger(prefixed(m)),
            Error::AccessDenied(m) => Error::AccessDenied(prefixed(m)),
            Error::NoSuchBucket(m) => Error::NoSuchBucket(prefixed(m)),
            Error::Unavailable(m) => Error::Unavailable(prefixed(m)),
            Error::TooLarge(m) => Error::TooLarge(prefixed(m)),
            Error::Other(m) => Error::Other(prefixed(m)),
        }
    }
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

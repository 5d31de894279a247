"""The errors of s3cache: one class per case of the component's WIT `error` variant.

A miss is never an error: `get` returns None and `add`, `touch`, `delete`, `has_key` return
False. Messages say what was attempted and what the server answered; they never carry a secret.
"""

from __future__ import annotations

__all__ = [
    "CacheError",
    "InvalidConfig",
    "InvalidSetting",
    "InvalidInput",
    "NoSuchKey",
    "NotAnInteger",
    "AccessDenied",
    "NoSuchBucket",
    "Unavailable",
    "TooLarge",
    "Other",
]


class CacheError(Exception):
    """Any s3cache failure. Raised as itself only when the component itself failed (a trap)."""

    #: The WIT error case, e.g. "no-such-key"; empty for a component failure.
    case: str = ""


class InvalidConfig(CacheError):
    """The configuration cannot work: a bad bucket name, region or endpoint, a wrong region."""

    case = "invalid-config"


class InvalidSetting(InvalidConfig):
    """A setting is unknown, malformed or contradicts another; `setting` names it (its name in
    the table of settings, e.g. "max-entries"), so a caller can name its own option for it."""

    case = "invalid-setting"

    def __init__(self, message: str, setting: str = "", reason: str = "") -> None:
        super().__init__(message)
        #: The setting's name in the table, e.g. "max-entries".
        self.setting = setting
        #: Why, never quoting a secret.
        self.reason = reason or message
        #: Where the value came from when no argument gave it, e.g. "the S3CACHE_MAX_ENTRIES
        #: environment variable"; empty otherwise.
        self.source = ""


class InvalidInput(CacheError):
    """The call cannot be served: an increment that overflows a 64-bit integer."""

    case = "invalid-input"


class NoSuchKey(CacheError):
    """`incr`/`decr` found no live entry for the key."""

    case = "no-such-key"


class NotAnInteger(CacheError):
    """`incr`/`decr` found a value that is not a decimal 64-bit integer."""

    case = "not-an-integer"


class AccessDenied(CacheError):
    """The server refused the credentials, the signature or the permission."""

    case = "access-denied"


class NoSuchBucket(CacheError):
    """The bucket does not exist (and creating it was not allowed or failed)."""

    case = "no-such-bucket"


class Unavailable(CacheError):
    """The endpoint could not be reached or kept failing; trying later may work."""

    case = "unavailable"


class TooLarge(CacheError):
    """A value or a stored object is over `max_value_bytes`."""

    case = "too-large"


class Other(CacheError):
    """Anything else, with the server's error code and message."""

    case = "other"


#: The error class of each WIT case, for the extension to raise.
BY_CASE = {cls.case: cls for cls in [*CacheError.__subclasses__(), InvalidSetting]}

"""`s3cache.django.S3Cache`: a Django cache backend whose entries live in S3.

The successor of django-s3-cache: the same OPTIONS names and object layout (each entry is
`LOCATION/sha1(made_key)`, where Django's default key function makes `KEY_PREFIX:VERSION:key`),
the whole cache API, and atomic `add`/`incr`/`decr` through S3 conditional writes::

    CACHES = {
        "default": {
            "BACKEND": "s3cache.django.S3Cache",
            "LOCATION": "cache",
            "OPTIONS": {"STORAGE_BUCKET_NAME": "my-cache-bucket", "REGION_NAME": "eu-west-1"},
        }
    }
"""

from __future__ import annotations

import logging
import math
import pickle
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.exceptions import ImproperlyConfigured

from .cache import DEFAULT_MAX_VALUE_BYTES, Cache
from .errors import InvalidConfig, InvalidInput, NoSuchKey, NotAnInteger

__all__ = ["S3Cache"]

logger = logging.getLogger(__name__)

_I64 = range(-(2**63), 2**63)
_DIGITS = b"-0123456789"


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"a string, not {type(value).__name__}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"True or False, not {value!r}")
    return value


def _count(value: Any, least: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value < 2**32:
        raise TypeError(f"a whole number from {least} to {2**32 - 1}, not {value!r}")
    return value


def _positive(value: Any) -> int:
    return _count(value, least=1)


def _limit(value: Any) -> Optional[int]:
    return None if value is None else _positive(value)


def _cull_mode(value: Any) -> str:
    if value not in ("auto", "exact", "sampled"):
        raise TypeError(f'"auto", "exact" or "sampled", not {value!r}')
    return value


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise TypeError(f"a positive number of seconds, not {value!r}")
    return value


def _addressing(value: Any) -> Optional[bool]:
    styles = {"path": True, "virtual": False, "auto": None}
    if value not in styles:
        raise TypeError(f'"path", "virtual" or "auto", not {value!r}')
    return styles[value]


# OPTIONS: name -> (parser, Django settings to fall back on, in order). The names of
# django-s3-cache first, then the rest of the component's config.
_OPTIONS: Dict[str, Tuple[Callable[[Any], Any], Tuple[str, ...]]] = {
    "ACCESS_KEY_ID": (_text, ("AWS_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID")),
    "SECRET_ACCESS_KEY": (_text, ("AWS_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY")),
    "SESSION_TOKEN": (_text, ("AWS_SESSION_TOKEN",)),
    "STORAGE_BUCKET_NAME": (_text, ("AWS_STORAGE_BUCKET_NAME",)),
    "LOCATION": (_text, ()),
    "DEFAULT_ACL": (_text, ()),
    "BUCKET_ACL": (_text, ("AWS_BUCKET_ACL",)),
    "REDUCED_REDUNDANCY": (_flag, ("AWS_REDUCED_REDUNDANCY",)),
    "IS_GZIPPED": (_flag, ("AWS_IS_GZIPPED",)),
    "MAX_ENTRIES": (_limit, ()),
    "CULL_MODE": (_cull_mode, ()),
    "CULL_FREQUENCY": (_count, ()),
    "ENDPOINT_URL": (_text, ("AWS_S3_ENDPOINT_URL",)),
    "REGION_NAME": (_text, ("AWS_S3_REGION_NAME",)),
    "STORAGE_CLASS": (_text, ()),
    "SSE": (_text, ()),
    "SSE_KMS_KEY_ID": (_text, ()),
    "ADDRESSING_STYLE": (_addressing, ("AWS_S3_ADDRESSING_STYLE",)),
    "AUTO_CREATE_BUCKET": (_flag, ("AWS_AUTO_CREATE_BUCKET",)),
    "COMPRESS_ABOVE": (_count, ()),
    "MAX_VALUE_BYTES": (_positive, ()),
    "MAX_ATTEMPTS": (_positive, ()),
    "DEADLINE": (_seconds, ()),
    "CONNECT_TIMEOUT": (_seconds, ()),
    "FIRST_BYTE_TIMEOUT": (_seconds, ()),
    "BETWEEN_BYTES_TIMEOUT": (_seconds, ()),
}

# Which option a config field the component refuses comes from (its message names the field).
_FIELD_OPTIONS = {
    "bucket": "STORAGE_BUCKET_NAME",
    "region": "REGION_NAME",
    "endpoint": "ENDPOINT_URL",
    "path-style": "ADDRESSING_STYLE",
    "credentials.access-key-id": "ACCESS_KEY_ID",
    "credentials.secret-access-key": "SECRET_ACCESS_KEY",
    "credentials.session-token": "SESSION_TOKEN",
    "acl": "DEFAULT_ACL",
    "bucket-acl": "BUCKET_ACL",
    "storage-class": "STORAGE_CLASS",
    "reduced-redundancy": "REDUCED_REDUNDANCY",
    "sse": "SSE",
    "sse-kms-key-id": "SSE_KMS_KEY_ID",
    "max-entries": "MAX_ENTRIES",
    "cull-mode": "CULL_MODE",
    "max-attempts": "MAX_ATTEMPTS",
    "deadline-ms": "DEADLINE",
    "connect-timeout-ms": "CONNECT_TIMEOUT",
    "first-byte-timeout-ms": "FIRST_BYTE_TIMEOUT",
    "between-bytes-timeout-ms": "BETWEEN_BYTES_TIMEOUT",
}


class S3Cache(BaseCache):
    """Django's cache API over the s3cache component.

    Values are pickled as Django's own backends pickle them, except plain integers, which are
    stored as decimal text so that `incr`/`decr` are atomic conditional writes in S3 (as
    Django's Redis backend keeps integers unpickled). A cache object is opened per thread by
    Django; each has its own component instance.
    """

    pickle_protocol = pickle.HIGHEST_PROTOCOL

    def __init__(self, location: str, params: Dict[str, Any]) -> None:
        super().__init__(params)
        options = dict(params.get("OPTIONS") or {})
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ImproperlyConfigured(
                f"S3Cache: unknown OPTIONS {', '.join(unknown)}; known: {', '.join(_OPTIONS)}"
            )
        option = _Options(options)
        self.default_timeout = _default_timeout(params)
        bucket = option.get("STORAGE_BUCKET_NAME")
        if bucket is None:
            raise ImproperlyConfigured(
                "S3Cache: set OPTIONS['STORAGE_BUCKET_NAME'] (or the AWS_STORAGE_BUCKET_NAME "
                "setting) to the bucket that holds the cache"
            )
        compress_above = option.get("COMPRESS_ABOVE")
        if compress_above is None and option.get("IS_GZIPPED", False):
            compress_above = 1024
        config = dict(
            bucket=bucket,
            region=option.get("REGION_NAME"),
            endpoint_url=option.get("ENDPOINT_URL"),
            path_style=option.get("ADDRESSING_STYLE"),
            access_key_id=option.get("ACCESS_KEY_ID"),
            secret_access_key=option.get("SECRET_ACCESS_KEY"),
            session_token=option.get("SESSION_TOKEN"),
            location=option.get("LOCATION", location or ""),
            made_keys=True,
            default_timeout=self.default_timeout,
            max_entries=option.get("MAX_ENTRIES", 300),
            cull_frequency=option.get("CULL_FREQUENCY", 3),
            cull_mode=option.get("CULL_MODE", "auto"),
            compress_above=compress_above,
            max_value_bytes=option.get("MAX_VALUE_BYTES", DEFAULT_MAX_VALUE_BYTES),
            acl=option.get("DEFAULT_ACL"),
            bucket_acl=option.get("BUCKET_ACL"),
            storage_class=option.get("STORAGE_CLASS"),
            reduced_redundancy=option.get("REDUCED_REDUNDANCY", False),
            sse=option.get("SSE"),
            sse_kms_key_id=option.get("SSE_KMS_KEY_ID"),
            create_bucket=option.get("AUTO_CREATE_BUCKET", False),
            max_attempts=option.get("MAX_ATTEMPTS"),
            deadline=option.get("DEADLINE"),
            connect_timeout=option.get("CONNECT_TIMEOUT"),
            first_byte_timeout=option.get("FIRST_BYTE_TIMEOUT"),
            between_bytes_timeout=option.get("BETWEEN_BYTES_TIMEOUT"),
        )
        try:
            self._cache = Cache(**config)
        except InvalidConfig as error:
            field, _, why = str(error).partition(": ")
            name = _FIELD_OPTIONS.get(field, "")
            named = f"OPTIONS['{name}']" if name else field
            raise ImproperlyConfigured(f"S3Cache: {named}: {why or error}") from None

    def __repr__(self) -> str:
        return f"S3Cache({self._cache!r})"

    def _ttl(self, timeout: Any) -> Optional[float]:
        """Django's timeout as `Cache` takes it: seconds (floats too) or None for never."""
        return self.default_timeout if timeout is DEFAULT_TIMEOUT else timeout

    def _encode(self, value: Any) -> bytes:
        if type(value) is int and value in _I64:
            return str(value).encode()
        return pickle.dumps(value, self.pickle_protocol)

    @staticmethod
    def _decode(data: bytes) -> Tuple[bool, Any]:
        """(True, value), or (False, None) for an object that holds no Django value."""
        # A pickle never starts with a digit or "-" (protocol 2+ starts with 0x80).
        if data[:1] and data[0] in _DIGITS:
            try:
                return True, int(data)
            except ValueError:
                pass
        try:
            return True, pickle.loads(data)
        except Exception:
            logger.warning("s3cache: an entry holds no pickled value; it reads as a miss")
            return False, None

    def get(self, key: Any, default: Any = None, version: Optional[int] = None) -> Any:
        data = self._cache.get(self.make_and_validate_key(key, version=version))
        if data is None:
            return default
        found, value = self._decode(data)
        return value if found else default

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Optional[int] = None
    ) -> None:
        made = self.make_and_validate_key(key, version=version)
        self._cache.set(made, self._encode(value), self._ttl(timeout))

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Optional[int] = None
    ) -> bool:
        made = self.make_and_validate_key(key, version=version)
        return self._cache.add(made, self._encode(value), self._ttl(timeout))

    def touch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Optional[int] = None
    ) -> bool:
        made = self.make_and_validate_key(key, version=version)
        return self._cache.touch(made, self._ttl(timeout))

    def delete(self, key: Any, version: Optional[int] = None) -> bool:
        return self._cache.delete(self.make_and_validate_key(key, version=version))

    def has_key(self, key: Any, version: Optional[int] = None) -> bool:
        return self._cache.has_key(self.make_and_validate_key(key, version=version))

    def incr(self, key: Any, delta: int = 1, version: Optional[int] = None) -> Any:
        made = self.make_and_validate_key(key, version=version)
        try:
            return self._cache.incr(made, delta)
        except NoSuchKey:
            raise ValueError(f"Key '{key}' not found") from None
        except (NotAnInteger, InvalidInput, OverflowError, TypeError):
            # A pickled value (None, a float, an integer beyond 64 bits) or a delta beyond 64
            # bits: Django's generic read-add-write, which raises TypeError for non-numbers.
            # It is not atomic, and like Django's it stores with the default timeout.
            pass
        value = self.get(key, _MISSING, version=version)
        if value is _MISSING:
            raise ValueError(f"Key '{key}' not found")
        new_value = value + delta
        self.set(key, new_value, version=version)
        return new_value

    def decr(self, key: Any, delta: int = 1, version: Optional[int] = None) -> Any:
        return self.incr(key, -delta, version=version)

    def get_many(self, keys: Iterable[Any], version: Optional[int] = None) -> Dict[Any, Any]:
        made = {self.make_and_validate_key(key, version=version): key for key in keys}
        if not made:
            return {}
        result = {}
        for made_key, data in self._cache.get_many(list(made)).items():
            found, value = self._decode(data)
            if found:
                result[made[made_key]] = value
        return result

    def set_many(
        self, data: Dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: Optional[int] = None
    ) -> List[Any]:
        if not data:
            return []
        made = {}
        entries = []
        for key, value in data.items():
            made_key = self.make_and_validate_key(key, version=version)
            made[made_key] = key
            entries.append((made_key, self._encode(value)))
        failed = self._cache.set_many(entries, self._ttl(timeout))
        return [made[made_key] for made_key in failed]

    def delete_many(self, keys: Iterable[Any], version: Optional[int] = None) -> None:
        made = [self.make_and_validate_key(key, version=version) for key in keys]
        if made:
            self._cache.delete_many(made)

    def clear(self) -> None:
        self._cache.clear()

    def close(self, **kwargs: Any) -> None:
        # Django calls this at the end of every request; the store stays open for the next one.
        pass


_MISSING = object()


class _Options:
    """OPTIONS, then the Django settings django-s3-cache and django-storages read."""

    def __init__(self, options: Dict[str, Any]) -> None:
        self._options = options

    def get(self, name: str, default: Any = None) -> Any:
        parse, fallbacks = _OPTIONS[name]
        if name in self._options:
            where, value = f"OPTIONS['{name}']", self._options[name]
        else:
            found = [(s, getattr(settings, s)) for s in fallbacks if hasattr(settings, s)]
            if not found:
                return default
            where, value = f"the {found[0][0]} setting", found[0][1]
        try:
            return parse(value)
        except TypeError as error:
            raise ImproperlyConfigured(f"S3Cache: {where} must be {error}") from None


def _default_timeout(params: Dict[str, Any]) -> Optional[float]:
    # BaseCache turns TIMEOUT into an int (0.5 would become 0) and hides bad values behind 300.
    timeout = params.get("timeout", params.get("TIMEOUT", 300))
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or math.isnan(timeout):
        raise ImproperlyConfigured(f"S3Cache: TIMEOUT must be seconds or None, not {timeout!r}")
    return timeout

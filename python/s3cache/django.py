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
from typing import Any, Dict, Iterable, List, Optional, Tuple

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.exceptions import ImproperlyConfigured

from .cache import SETTINGS, Cache
from .errors import InvalidConfig, InvalidInput, InvalidSetting, NoSuchKey, NotAnInteger

__all__ = ["S3Cache"]

logger = logging.getLogger(__name__)

_I64 = range(-(2**63), 2**63)
_DIGITS = b"-0123456789"


#: OPTIONS: the table's Django names (each setting's, from the extension), and the settings
#: each falls back on. Django applies KEY_PREFIX, VERSION and TIMEOUT itself.
_BY_OPTION = {row["django"]: row for row in SETTINGS if row["django"]}

#: django-s3-cache's IS_GZIPPED (or its AWS_IS_GZIPPED setting): True is compression's
#: default (COMPRESS_ABOVE 1024), False turns it off; COMPRESS_ABOVE, when given, wins.
_IS_GZIPPED = "IS_GZIPPED"
_IS_GZIPPED_ROW = {"django": _IS_GZIPPED, "django_fallbacks": ["AWS_IS_GZIPPED"]}


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
        known = [*_BY_OPTION, _IS_GZIPPED]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ImproperlyConfigured(
                f"S3Cache: unknown OPTIONS {', '.join(unknown)}; known: {', '.join(known)}"
            )
        self.default_timeout = _default_timeout(params)
        found = {name: _option(options, row) for name, row in _BY_OPTION.items()}
        given = {name: where_value for name, where_value in found.items() if where_value}
        # Where each setting came from, to name it when the component refuses it.
        self._where = {_BY_OPTION[name]["name"]: where for name, (where, _) in given.items()}
        values = {_BY_OPTION[name]["python"]: value for name, (_, value) in given.items()}
        bucket = values.pop("bucket", None)
        if bucket is None:
            raise ImproperlyConfigured(
                f"S3Cache: set {_named('bucket')} to the bucket that holds the cache"
            )
        gzipped_option = _option(options, _IS_GZIPPED_ROW)
        if gzipped_option and "compress_above" not in values:
            where, gzipped = gzipped_option
            if not isinstance(gzipped, bool):
                raise ImproperlyConfigured(
                    f"S3Cache: {where} must be True or False, not {gzipped!r}"
                )
            if not gzipped:
                values["compress_above"] = None
        if "location" not in values:
            values["location"] = location or ""
            self._where["location"] = "LOCATION"
        try:
            self._cache = Cache(
                bucket,
                key_scheme="made",
                default_timeout=self.default_timeout,
                **values,
            )
        except InvalidSetting as error:
            where = self._where.get(error.setting) or error.source or _named(error.setting)
            raise ImproperlyConfigured(f"S3Cache: {where}: {error.reason}") from None
        except InvalidConfig as error:
            raise ImproperlyConfigured(f"S3Cache: {error}") from None
        except TypeError as error:
            raise ImproperlyConfigured(f"S3Cache: {error}") from None

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

    # The async API calls the backend's own operations in a worker thread, so the event loop
    # never waits on S3 and every guarantee holds as in sync code: `aincr` is the atomic
    # conditional write (Django 5.2's BaseCache reads then writes), and batches stay one call
    # (5.2's go one key at a time).

    async def aget(self, key: Any, default: Any = None, version: Optional[int] = None) -> Any:
        return await _in_thread(self.get, key, default, version=version)

    async def aset(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Optional[int] = None
    ) -> None:
        await _in_thread(self.set, key, value, timeout, version=version)

    async def aadd(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Optional[int] = None
    ) -> bool:
        return await _in_thread(self.add, key, value, timeout, version=version)

    async def atouch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Optional[int] = None
    ) -> bool:
        return await _in_thread(self.touch, key, timeout, version=version)

    async def adelete(self, key: Any, version: Optional[int] = None) -> bool:
        return await _in_thread(self.delete, key, version=version)

    async def ahas_key(self, key: Any, version: Optional[int] = None) -> bool:
        return await _in_thread(self.has_key, key, version=version)

    async def aincr(self, key: Any, delta: int = 1, version: Optional[int] = None) -> Any:
        return await _in_thread(self.incr, key, delta, version=version)

    async def adecr(self, key: Any, delta: int = 1, version: Optional[int] = None) -> Any:
        return await _in_thread(self.decr, key, delta, version=version)

    async def aget_many(self, keys: Iterable[Any], version: Optional[int] = None) -> Dict[Any, Any]:
        return await _in_thread(self.get_many, list(keys), version=version)

    async def aset_many(
        self, data: Dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: Optional[int] = None
    ) -> List[Any]:
        return await _in_thread(self.set_many, data, timeout, version=version)

    async def adelete_many(self, keys: Iterable[Any], version: Optional[int] = None) -> None:
        await _in_thread(self.delete_many, list(keys), version=version)

    async def aclear(self) -> None:
        await _in_thread(self.clear)


async def _in_thread(call: Any, *args: Any, **kwargs: Any) -> Any:
    """`call` in a worker thread (not the one thread Django keeps for thread-sensitive code),
    so concurrent awaits proceed together."""
    return await sync_to_async(call, thread_sensitive=False)(*args, **kwargs)


_MISSING = object()


def _option(options: Dict[str, Any], row: Dict[str, Any]) -> Optional[Tuple[str, Any]]:
    """Where the setting `row` is given and its value: OPTIONS, then the Django settings
    django-s3-cache and django-storages read; None when neither gives it."""
    name = row["django"]
    if name in options:
        return f"OPTIONS['{name}']", options[name]
    for fallback in row["django_fallbacks"]:
        if getattr(settings, fallback, None) is not None:
            return f"the {fallback} setting", getattr(settings, fallback)
    return None


def _named(setting: str) -> str:
    """The OPTIONS key of a table setting and the Django settings it falls back on."""
    for name, row in _BY_OPTION.items():
        if row["name"] == setting:
            fallbacks = " or ".join(row["django_fallbacks"])
            return f"OPTIONS['{name}']" + (f" (or the {fallbacks} setting)" if fallbacks else "")
    return setting


def _default_timeout(params: Dict[str, Any]) -> Optional[float]:
    # BaseCache turns TIMEOUT into an int (0.5 would become 0) and hides bad values behind 300.
    timeout = params.get("timeout", params.get("TIMEOUT", 300))
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or math.isnan(timeout):
        raise ImproperlyConfigured(f"S3Cache: TIMEOUT must be seconds or None, not {timeout!r}")
    return timeout

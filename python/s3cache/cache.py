"""`s3cache.Cache`: the s3cache component, from Python.

Values are bytes; keys are strings. Every call is one or a few S3 requests, made by the
component (the same .wasm that Spin and the `s3cache` CLI run) through the project's own
wasmtime host with pooled keep-alive connections. The GIL is released while a call waits.
"""

from __future__ import annotations

import math
import os
import threading
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from . import _native
from .errors import InvalidConfig

__all__ = ["Cache", "DEFAULT", "Timeout"]

#: The largest value accepted by default (64 MiB), as in the component.
DEFAULT_MAX_VALUE_BYTES = 64 << 20

_I64_MAX = 2**63 - 1


class _Default:
    """The type of `DEFAULT`."""

    _instance: Optional["_Default"] = None

    def __new__(cls) -> "_Default":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DEFAULT"


#: A timeout that means "the cache's default timeout".
DEFAULT = _Default()

#: Seconds (int or float; zero or less stores an entry that has already expired), None for
#: never, or DEFAULT.
Timeout = Union[int, float, None, _Default]

Value = Union[bytes, bytearray, memoryview]


def _env(*names: str) -> Optional[str]:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _millis(timeout: Union[int, float]) -> int:
    """Seconds to the component's milliseconds; any positive timeout lives at least 1 ms."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"a timeout is seconds, None or DEFAULT, not {timeout!r}")
    if math.isnan(timeout):
        raise ValueError("a timeout cannot be NaN")
    if timeout <= 0:
        return 0
    return min(math.ceil(timeout * 1000), _I64_MAX)


def _optional_millis(seconds: Optional[float]) -> Optional[int]:
    """A duration setting in seconds as the component's milliseconds; None keeps its default."""
    return None if seconds is None else max(1, _millis(seconds))


def _bytes(value: Value) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"values are bytes, not {type(value).__name__}; encode or pickle them first")


def _key(key: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"keys are str, not {type(key).__name__}")
    return key


class Cache:
    """A cache in one S3 bucket and location.

    Credentials come from the arguments, else from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
    AWS_SESSION_TOKEN; the region from AWS_REGION or AWS_DEFAULT_REGION (else us-east-1); the
    endpoint from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (else AWS S3 in the region).

    Opening sends no request: a wrong bucket or credentials show up as errors of the first call.
    Transient failures are retried (max_attempts per request, 4 by default); `deadline` (seconds,
    10 by default) bounds the retries and the waits for other writers of the same key.
    `max_entries=None` never culls (bound the bucket with an S3 lifecycle rule); `cull_mode` is
    "auto" (exact up to 1000 entries), "exact" or "sampled".
    A Cache may be shared between threads (calls on one Cache queue; use one per thread for
    parallel calls) and survives a fork (the child reopens it).
    """

    def __init__(
        self,
        bucket: str,
        *,
        region: Optional[str] = None,
        endpoint_url: Optional[str] = None,
        path_style: Optional[bool] = None,
        access_key_id: Optional[str] = None,
        secret_access_key: Optional[str] = None,
        session_token: Optional[str] = None,
        location: str = "",
        key_prefix: str = "",
        version: int = 1,
        made_keys: bool = False,
        default_timeout: Optional[float] = 300,
        max_entries: Optional[int] = 300,
        cull_frequency: int = 3,
        cull_mode: str = "auto",
        compress_above: Optional[int] = 1024,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
        acl: Optional[str] = None,
        bucket_acl: Optional[str] = None,
        storage_class: Optional[str] = None,
        reduced_redundancy: bool = False,
        sse: Optional[str] = None,
        sse_kms_key_id: Optional[str] = None,
        create_bucket: bool = False,
        max_attempts: Optional[int] = None,
        deadline: Optional[float] = None,
        connect_timeout: Optional[float] = None,
        first_byte_timeout: Optional[float] = None,
        between_bytes_timeout: Optional[float] = None,
    ) -> None:
        access_key_id = access_key_id or _env("AWS_ACCESS_KEY_ID")
        secret_access_key = secret_access_key or _env("AWS_SECRET_ACCESS_KEY")
        if not access_key_id or not secret_access_key:
            raise InvalidConfig(
                "credentials: pass access_key_id and secret_access_key, or set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        self._config = dict(
            bucket=bucket,
            region=region or _env("AWS_REGION", "AWS_DEFAULT_REGION") or "us-east-1",
            endpoint=endpoint_url or _env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
            path_style=path_style,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            session_token=session_token or _env("AWS_SESSION_TOKEN"),
            location=location,
            key_prefix=key_prefix,
            version=version,
            made_keys=made_keys,
            default_ttl_ms=None if default_timeout is None else _millis(default_timeout),
            # The component's 0 is "unlimited".
            max_entries=0 if max_entries is None else max_entries,
            cull_frequency=cull_frequency,
            cull_mode=cull_mode,
            compress_above=compress_above,
            max_value_bytes=max_value_bytes,
            acl=acl,
            bucket_acl=bucket_acl,
            storage_class=storage_class,
            reduced_redundancy=reduced_redundancy,
            sse=sse,
            sse_kms_key_id=sse_kms_key_id,
            create_bucket=create_bucket,
            max_attempts=max_attempts,
            deadline_ms=_optional_millis(deadline),
            connect_timeout_ms=_optional_millis(connect_timeout),
            first_byte_timeout_ms=_optional_millis(first_byte_timeout),
            between_bytes_timeout_ms=_optional_millis(between_bytes_timeout),
        )
        self._default_ms = self._config["default_ttl_ms"]
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._native: Optional[_native.Store] = _native.Store.open(**self._config)

    def __repr__(self) -> str:
        config = self._config
        where = config["endpoint"] or f"AWS S3 in {config['region']}"
        return (
            f"Cache(bucket={config['bucket']!r}, location={config['location']!r}, "
            f"endpoint={where!r})"
        )

    def __enter__(self) -> "Cache":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def _store(self) -> _native.Store:
        store = self._native
        if store is not None and self._pid == os.getpid():
            return store
        with self._lock:
            if self._native is None:
                raise InvalidConfig("store: this Cache is closed")
            if self._pid != os.getpid():
                # A forked child cannot use its parent's connections or async runtime.
                self._native = _native.Store.open(**self._config)
                self._pid = os.getpid()
            return self._native

    def _ttl(self, timeout: Timeout) -> Optional[int]:
        if timeout is DEFAULT:
            return self._default_ms
        if timeout is None:
            return None
        return _millis(timeout)  # type: ignore[arg-type]

    def get(self, key: str) -> Optional[bytes]:
        """The value of a live entry, or None."""
        return self._store.get(_key(key))

    def set(self, key: str, value: Value, timeout: Timeout = DEFAULT) -> None:
        """Stores a value, replacing any entry."""
        self._store.set(_key(key), _bytes(value), self._ttl(timeout))

    def add(self, key: str, value: Value, timeout: Timeout = DEFAULT) -> bool:
        """Stores a value only if no live entry exists; whether it stored it."""
        return self._store.add(_key(key), _bytes(value), self._ttl(timeout))

    def touch(self, key: str, timeout: Timeout = DEFAULT) -> bool:
        """Gives a live entry a new expiry; False when absent or expired."""
        return self._store.touch(_key(key), self._ttl(timeout))

    def delete(self, key: str) -> bool:
        """Removes an entry; whether one existed."""
        return self._store.delete(_key(key))

    def has_key(self, key: str) -> bool:
        """Whether a live entry exists (one HEAD request)."""
        return self._store.has_key(_key(key))

    def __contains__(self, key: str) -> bool:
        return self.has_key(key)

    def incr(self, key: str, delta: int = 1) -> int:
        """Adds delta to a decimal integer value, atomically; the new value.

        Raises NoSuchKey when there is no live entry, NotAnInteger when the value is not a
        decimal 64-bit integer, InvalidInput on overflow.
        """
        return self._store.incr(_key(key), delta)

    def decr(self, key: str, delta: int = 1) -> int:
        """Subtracts delta, as `incr` adds it."""
        return self._store.decr(_key(key), delta)

    def get_many(self, keys: Iterable[str]) -> Dict[str, bytes]:
        """The live entries among keys (fetched concurrently); misses are left out."""
        return self._store.get_many([_key(key) for key in keys])

    def set_many(
        self,
        entries: Union[Mapping[str, Value], Iterable[Tuple[str, Value]]],
        timeout: Timeout = DEFAULT,
    ) -> List[str]:
        """Stores every pair (concurrently); the keys that could not be stored."""
        pairs = entries.items() if isinstance(entries, Mapping) else entries
        return self._store.set_many(
            [(_key(key), _bytes(value)) for key, value in pairs], self._ttl(timeout)
        )

    def delete_many(self, keys: Iterable[str]) -> None:
        """Removes the entries of keys (absent ones are ignored)."""
        self._store.delete_many([_key(key) for key in keys])

    def clear(self) -> None:
        """Removes every cache entry under the location, and nothing else."""
        self._store.clear()

    def stats(self, estimate: bool = False) -> Dict[str, Any]:
        """Entries, bytes, oldest_ms and newest_ms of the location; with `estimate`, entries and
        bytes estimated from one listing page (one request)."""
        return self._store.stats(estimate)

    def close(self) -> None:
        """Releases the component instance; later calls raise InvalidConfig."""
        with self._lock:
            self._native = None

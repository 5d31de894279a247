"""`s3cache.Cache`: the s3cache component, from Python.

Values are bytes; keys are strings. Every call is one or a few S3 requests, made by the
component (the same .wasm that Spin and the `s3cache` CLI run) through the project's own
wasmtime host with pooled keep-alive connections. The GIL is released while a call waits.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from . import _native
from .errors import InvalidConfig, InvalidSetting

__all__ = ["Cache", "DEFAULT", "SETTINGS", "Timeout"]

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


#: The table of settings, from the extension (the one in the Rust core): every keyword below
#: and every Django OPTIONS name comes from it.
SETTINGS: List[Dict[str, Any]] = _native.settings_table()

_log = logging.getLogger("s3cache")

# A wheel built by the project's scripts ships the component compiled for its platform, so the
# first call in a process compiles nothing; without it the component is compiled (and kept in
# the compiled-code cache, S3CACHE_CODE_CACHE).
_PRECOMPILED = Path(__file__).with_name("component.cwasm")
if _PRECOMPILED.is_file():
    _native.use_precompiled(str(_PRECOMPILED))

#: The credentials' rows: their own parameters, and their environment variables.
_SECRETS = {row["name"]: row for row in SETTINGS if row["secret"]}

#: The settings a keyword sets (the bucket and the credentials have their own parameters).
_KEYWORDS = {
    row["python"]: row for row in SETTINGS if not row["secret"] and row["name"] != "bucket"
}


def setting_text(row: Mapping[str, Any], value: Any) -> Optional[str]:
    """A Python value as the text every surface writes for the setting `row`; None where the
    setting gives None no meaning of its own (`never`, `unlimited`, `off`): not given."""
    if value is None:
        return row["null"]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise TypeError(f"{row['python']}: {value!r} is not a number, a string or a bool")


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

    Credentials come from the arguments, else from their environment variables (the table's:
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). Every other setting is a
    keyword named after the table of settings (`SETTINGS`; docs/reference/configuration.md):
    region, endpoint, location, max_entries, default_timeout, deadline, ... A keyword not
    given is read from the setting's environment variables (AWS_REGION, AWS_ENDPOINT_URL,
    S3CACHE_MAX_ENTRIES, ...), else takes its default.
    Values are what the table writes (`max_entries=1000`, `deadline=2.5`, `addressing="path"`);
    None means `never` for default_timeout, `unlimited` for max_entries, `off` for
    compress_above, and the default elsewhere.

    Opening sends no request: a wrong bucket or credentials show up as errors of the first call,
    a malformed setting as InvalidSetting naming it.
    A Cache may be shared between threads (calls on one Cache queue; use one per thread for
    parallel calls) and survives a fork (the child reopens it).
    """

    def __init__(
        self,
        bucket: str,
        *,
        access_key_id: Optional[str] = None,
        secret_access_key: Optional[str] = None,
        session_token: Optional[str] = None,
        **settings: Any,
    ) -> None:
        unknown = sorted(set(settings) - set(_KEYWORDS))
        if unknown:
            raise TypeError(
                f"Cache: unknown settings {', '.join(unknown)}; known: {', '.join(_KEYWORDS)}"
            )
        given = {"access-key-id": access_key_id, "secret-access-key": secret_access_key}
        given["session-token"] = session_token
        for name, value in given.items():
            if not value:
                given[name] = _env(*_SECRETS[name]["env"])
        for name in ("access-key-id", "secret-access-key"):
            if not given[name]:
                variables = " or ".join(_SECRETS[name]["env"])
                raise InvalidSetting(
                    f"{name}: pass {_SECRETS[name]['python']}, or set {variables}",
                    setting=name,
                    reason=f"not set, nor {variables} in the environment",
                )
        pairs: List[Tuple[str, str]] = []
        # Where each value came from when it was an environment variable, to name it.
        sources: Dict[str, str] = {}
        for keyword, row in _KEYWORDS.items():
            text = setting_text(row, settings[keyword]) if keyword in settings else None
            if text is None:
                found = [(name, os.environ[name]) for name in row["env"] if os.environ.get(name)]
                if found:
                    sources[row["name"]] = f"the {found[0][0]} environment variable"
                    text = found[0][1]
            if text is not None:
                pairs.append((row["name"], text))
        self._config = dict(
            bucket=bucket,
            access_key_id=given["access-key-id"],
            secret_access_key=given["secret-access-key"],
            session_token=given["session-token"],
            settings=pairs,
        )
        # Checked now, as opening would check it, but opened on first use: configuring a cache
        # starts no thread, so a server that forks its workers after loading the app (gunicorn
        # --preload) forks a single-threaded process.
        try:
            _native.check_settings(self._config)
        except InvalidSetting as error:
            error.source = sources.get(error.setting, "")
            raise
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        self._native: Optional[_native.Store] = None

    def __repr__(self) -> str:
        given = dict(self._config["settings"])
        region = given.get("region", _KEYWORDS["region"]["default"])
        where = given.get("endpoint") or f"AWS S3 in {region}"
        return (
            f"Cache(bucket={self._config['bucket']!r}, location={given.get('location', '')!r}, "
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
            if self._closed:
                raise InvalidConfig("store: this Cache is closed")
            if self._native is None or self._pid != os.getpid():
                # Opened on first use, and again in a forked child, which cannot use its
                # parent's connections or async runtime.
                self._native = _native.Store.open(self._config)
                self._pid = os.getpid()
                # Once per process: the host hands each warning over once.
                for warning in _native.take_warnings():
                    _log.warning("s3cache: %s", warning)
            return self._native

    def _ttl(self, timeout: Timeout) -> Union[int, str, None]:
        """The extension's ttl: milliseconds, None for never, "default" for the store's."""
        if timeout is DEFAULT:
            return "default"
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
            self._closed = True
            self._native = None

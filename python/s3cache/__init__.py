"""s3cache: a key/value cache in Amazon S3 or any S3-compatible store.

`Cache` is the Python API; `s3cache.django.S3Cache` is the Django cache backend. Both run the
s3cache WebAssembly component (the one Spin and the `s3cache` CLI run) in an embedded wasmtime.
"""

from . import errors
from .cache import DEFAULT, SETTINGS, Cache, Timeout
from .errors import *  # noqa: F403 - one class per WIT error case

__all__ = ["Cache", "DEFAULT", "SETTINGS", "Timeout", *errors.__all__]

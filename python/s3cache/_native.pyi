"""Types of the compiled extension (python/src/lib.rs)."""

from typing import Any, Dict, List, Optional, Tuple

class Store:
    @staticmethod
    def open(
        *,
        bucket: str,
        region: str,
        endpoint: Optional[str],
        path_style: Optional[bool],
        access_key_id: str,
        secret_access_key: str,
        session_token: Optional[str],
        location: str,
        key_prefix: str,
        version: int,
        made_keys: bool,
        default_ttl_ms: Optional[int],
        max_entries: int,
        cull_frequency: int,
        cull_mode: str,
        compress_above: Optional[int],
        max_value_bytes: int,
        acl: Optional[str],
        bucket_acl: Optional[str],
        storage_class: Optional[str],
        reduced_redundancy: bool,
        sse: Optional[str],
        sse_kms_key_id: Optional[str],
        create_bucket: bool,
        max_attempts: Optional[int],
        deadline_ms: Optional[int],
        connect_timeout_ms: Optional[int],
        first_byte_timeout_ms: Optional[int],
        between_bytes_timeout_ms: Optional[int],
    ) -> Store: ...
    def get(self, key: str) -> Optional[bytes]: ...
    def set(self, key: str, value: bytes, ttl_ms: Optional[int]) -> None: ...
    def add(self, key: str, value: bytes, ttl_ms: Optional[int]) -> bool: ...
    def touch(self, key: str, ttl_ms: Optional[int]) -> bool: ...
    def delete(self, key: str) -> bool: ...
    def has_key(self, key: str) -> bool: ...
    def incr(self, key: str, delta: int) -> int: ...
    def decr(self, key: str, delta: int) -> int: ...
    def get_many(self, keys: List[str]) -> Dict[str, bytes]: ...
    def set_many(self, entries: List[Tuple[str, bytes]], ttl_ms: Optional[int]) -> List[str]: ...
    def delete_many(self, keys: List[str]) -> None: ...
    def clear(self) -> None: ...
    def stats(self, estimate: bool) -> Dict[str, Any]: ...

def requests_sent() -> int: ...

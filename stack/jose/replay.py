"""A replay cache for one-time identifiers (DPoP `jti`), bounded in size AND in time.

Entries expire `ttl` seconds after they were stored; when the cache is full the oldest
entry is evicted. Time is passed in by the caller (the explorer's Clock), never read here.
The lock makes `seen` atomic for threads; it never awaits, so asyncio code can call it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class ReplayCache:
    def __init__(self, max_entries: int = 10_000, ttl: float = 300.0) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.max_entries = max_entries
        self.ttl = ttl
        self._entries: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, key: str, now: float) -> bool:
        """True if `key` was stored and has not expired (a replay); otherwise store it."""
        with self._lock:
            self._purge(now)
            expires = self._entries.get(key)
            if expires is not None and expires > now:
                return True
            self._entries.pop(key, None)
            self._entries[key] = now + self.ttl
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return False

    def _purge(self, now: float) -> None:
        # Insertion order == expiry order while time moves forward; stop at the first live one.
        while self._entries:
            key, expires = next(iter(self._entries.items()))
            if expires > now:
                break
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

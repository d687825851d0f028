"""A replay cache for one-time identifiers (DPoP `jti`) that never forgets a live one.

A key is remembered until it expires: until `expires_at` when the caller knows when the
identifier stops being acceptable anyway (`verify_proof` passes iat + max_age + leeway, the
last instant at which the proof passes its freshness check), else `ttl` seconds after it was
stored. Expired entries are purged on every call.

When `max_entries` live keys are stored, `seen` refuses a new key with `ReplayCacheFull`
rather than evicting a live one: evicting would let that proof be replayed. Callers turn it
into a 503 ("replay cache full"), never into a 401 and never into an accepted request.

Sizing rule: max_entries >= (proofs per second accepted) x (acceptance window), where the
acceptance window is the freshness window plus the clock skew allowed on both sides
(max_age + 2 x leeway for `verify_proof`: a proof dated `leeway` seconds ahead is accepted
until max_age + leeway after its iat). The embedded IdP's 50 000 entries over 10 + 2 x 15 s
hold 1 250 proofs per second.

Time is passed in by the caller (the explorer's Clock), never read here. The lock makes
`seen` atomic for threads; it never awaits, so asyncio code can call it.
"""

from __future__ import annotations

import heapq
import math
import threading

from stack.errors import ExplorerError

__all__ = ["ReplayCache", "ReplayCacheFull"]


class ReplayCacheFull(ExplorerError):
    """The cache cannot remember one more key without forgetting a live one.

    Not a DPoPError: the proof may be fine, the verifier is out of room. Answer 503 with
    `Retry-After: retry_after` (seconds until the oldest entry expires)."""

    def __init__(self, capacity: int, retry_after: float) -> None:
        super().__init__(f"replay cache full ({capacity} unexpired entries)")
        self.capacity = capacity
        self.retry_after = retry_after


class ReplayCache:
    def __init__(self, max_entries: int = 10_000, ttl: float = 300.0) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if not ttl > 0 or not math.isfinite(ttl):
            raise ValueError("ttl must be a positive number of seconds")
        self.max_entries = max_entries
        self.ttl = ttl
        self._expires: dict[str, float] = {}
        self._queue: list[tuple[float, str]] = []  # (expires, key), soonest first
        self._lock = threading.Lock()

    def seen(self, key: str, now: float, expires_at: float | None = None) -> bool:
        """True if `key` is stored and unexpired (a replay); otherwise store it until
        `expires_at` (default now + ttl) and return False. Raises ReplayCacheFull when the
        cache is full of unexpired keys."""
        with self._lock:
            self._purge(now)
            if key in self._expires:
                return True
            if len(self._expires) >= self.max_entries:
                raise ReplayCacheFull(self.max_entries, max(0.0, self._queue[0][0] - now))
            expires = now + self.ttl if expires_at is None else expires_at
            if not math.isfinite(expires):
                raise ValueError("expires_at must be a finite time")
            self._expires[key] = expires
            heapq.heappush(self._queue, (expires, key))
            return False

    def _purge(self, now: float) -> None:
        # an entry is live up to and including its expiry instant
        queue = self._queue
        while queue and queue[0][0] < now:
            expires, key = heapq.heappop(queue)
            if self._expires.get(key) == expires:
                del self._expires[key]

    def __len__(self) -> int:
        return len(self._expires)

    def clear(self) -> None:
        with self._lock:
            self._expires.clear()
            self._queue.clear()

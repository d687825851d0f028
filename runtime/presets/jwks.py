"""A JWKS cache as a real resource server keeps one: fetched once, refreshed on expiry, and
refreshed at most once per `min_refresh` seconds when an unknown `kid` shows up (so a flood
of made-up kids cannot turn the service into a JWKS-fetching amplifier).

While the IdP does not answer, the keys it last published keep verifying tokens (a blip at
the IdP does not take every service down), retried every `min_refresh` seconds, but only up
to `max_age` after the last fetch that succeeded: a key the IdP has since retired is not
trusted for ever because the IdP cannot say so. Past that, every token fails closed (503,
decided by the IdP)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import jwt

from runtime.identity import AuthError, DependencyError
from stack.clock import Clock

MAX_KID_CHARS = 128


class JwksCache:
    def __init__(
        self, url: str, http: httpx.AsyncClient, clock: Clock, *, ttl: float = 300.0,
        min_refresh: float = 10.0, max_age: float = 3600.0,
    ) -> None:
        self.url, self.http, self.clock = url, http, clock
        self.ttl, self.min_refresh, self.max_age = ttl, min_refresh, max_age
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None   # the last fetch that succeeded
        self._tried_at: float | None = None     # the last attempt, whatever came of it
        self._lock = asyncio.Lock()
        self.fetches = 0
        self._attempts = 0   # fetch attempts, successful or not (waiters compare it)

    async def key(self, kid: Any) -> jwt.PyJWK:
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_CHARS:
            raise AuthError("token header has no usable kid")
        now = self.clock.now()
        expired = self._fetched_at is None or now - self._fetched_at > self.ttl
        if (expired or kid not in self._keys) and self._may_refresh(now):
            await self._refresh(self._attempts)
        if self._fetched_at is not None and self.clock.now() - self._fetched_at > self.max_age:
            raise DependencyError(f"identity provider keys unavailable: not refreshed for "
                                  f"over {self.max_age:.0f}s (the JWKS endpoint does not "
                                  f"answer)", decided_by="IdP")
        found = self._keys.get(kid)
        if found is None:
            raise AuthError("token signed with an unknown key")
        return found

    def _may_refresh(self, now: float) -> bool:
        if self._fetched_at is None:
            return True      # no keys yet: every request tries (and fails closed without)
        return self._tried_at is None or now - self._tried_at >= self.min_refresh

    async def _refresh(self, attempts_seen: int) -> None:
        async with self._lock:
            # Concurrent requests all decide to refresh before the first one has fetched;
            # the rate limit only holds if those that waited for the lock reuse its result
            # (and fail fast when it failed) instead of fetching again.
            if self._attempts != attempts_seen:
                if not self._keys:
                    raise DependencyError("identity provider keys unavailable",
                                          decided_by="IdP")
                return
            try:
                await self._fetch()
            finally:
                self._attempts += 1

    async def _fetch(self) -> None:
        try:
            response = await self.http.get(self.url)
            response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json()).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
            self._tried_at = self.clock.now()
            if self._keys:  # keep serving the keys we have (up to max_age); unknown kids fail
                return
            raise DependencyError(f"identity provider keys unavailable: "
                                  f"{type(exc).__name__} {exc}".rstrip(),
                                  decided_by="IdP") from exc
        self._keys = {k.key_id: k for k in keys if k.key_id}
        self._fetched_at = self._tried_at = self.clock.now()
        self.fetches += 1

    def clear(self) -> None:
        self._keys.clear()
        self._fetched_at = self._tried_at = None

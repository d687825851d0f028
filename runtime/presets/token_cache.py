"""The MCP server's cache of token-endpoint answers.

An answer is reused for the same request (same form) until shortly before it expires, and
never past the expiry of a token it was made from (the `subject_token` and `actor_token` of
an exchange): a cached exchanged token must not outlive the user's own token. Callers verify
the user's token on every call *before* they look here. Bounded in size; expired answers go
first, then the oldest.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

EXPIRY_MARGIN = 30.0
MAX_ENTRIES = 1024


@dataclass(frozen=True)
class IssuedToken:
    """An access token the IdP issued, its type (Bearer or DPoP) and when it expires."""

    access_token: str
    token_type: str
    expires_at: float


class TokenCache:
    """Token-endpoint answers by form, each valid until a time the caller bounds."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[IssuedToken, float]] = OrderedDict()

    @staticmethod
    def key(form: dict[str, str], *, bound: bool) -> str:
        material = "\n".join(f"{k}={v}" for k, v in sorted(form.items()))
        return hashlib.sha256(f"{bound}\n{material}".encode()).hexdigest()

    def get(self, key: str, now: float) -> IssuedToken | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        issued, valid_until = entry
        if now >= valid_until:
            del self._entries[key]
            return None
        return issued

    def put(self, key: str, issued: IssuedToken, valid_until: float, now: float) -> None:
        valid_until = min(valid_until, issued.expires_at - EXPIRY_MARGIN)
        if valid_until <= now:
            return
        for old in [k for k, (_, until) in self._entries.items() if until <= now]:
            del self._entries[old]
        self._entries[key] = (issued, valid_until)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

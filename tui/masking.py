"""What the screen may show: demo secrets masked until revealed, and a stable mode for snapshots.

Demo tokens are shown (they are the lesson). Demo API keys, passwords and client secrets are
masked by default and shown with the reveal key. Real provider keys never reach the UI: the
runtime's tap already replaced them with `[redacted]`.

`stable=True` (snapshot tests) also hides what changes from run to run: ports, clock times,
durations, and the random parts of tokens (key ids, jti, session ids, signatures).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from runtime import API_KEY

_FORM_SECRET = re.compile(r"((?:password|client_secret)=)([^&\s\"]+)")
# the whole JSON string, escapes and all: stopping at an escaped quote showed the rest
_JSON_SECRET = re.compile(r'("(?:password|client_secret|api_key)"\s*:\s*")((?:[^"\\]|\\.)+)(")')
_PORT = re.compile(r"((?:127\.0\.0\.1|localhost):)\d{2,5}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_HEX_ID = re.compile(r"\b[0-9a-f]{16,}\b")
_HTTP_DATE = re.compile(r"\b\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT\b")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
RANDOM_CLAIMS = frozenset({"jti", "sid", "session_state", "nonce", "kid", "jkt", "x", "y", "n",
                           "e", "ath"})
DOTS = "••••••"


@dataclass(frozen=True)
class Masker:
    reveal: bool = False
    stable: bool = False

    def text(self, value: str) -> str:
        """Mask secrets (unless revealed) and, in stable mode, run-specific values."""
        if not self.reveal:
            if API_KEY.search(value):
                value = API_KEY.sub(lambda m: m.group(1) + DOTS, value)
            value = _FORM_SECRET.sub(lambda m: m.group(1) + DOTS, value)
            value = _JSON_SECRET.sub(lambda m: m.group(1) + DOTS + m.group(3), value)
        if self.stable:
            value = _PORT.sub(lambda m: m.group(1) + "PORT", value)
            value = _HTTP_DATE.sub("(date)", value)
            value = _JWT.sub("eyJ…(token)", value)
            value = _UUID.sub("(uuid)", value)
            value = _HEX_ID.sub("(id)", value)
        return value

    def claim(self, name: str, value: object) -> object:
        """A claim or header value as shown; stable mode hides random ids."""
        if self.stable and name in RANDOM_CLAIMS:
            return "(random)"
        if isinstance(value, str):
            return self.text(value)
        return value

    def port(self, url: str) -> str:
        return _PORT.sub(lambda m: m.group(1) + "PORT", url) if self.stable else url

    def clock(self, text: str) -> str:
        return "--:--:--" if self.stable else text

    def duration(self, ms: float) -> str:
        if self.stable:
            return "·ms"
        if ms >= 1000:
            return f"{ms / 1000:.1f}s"
        return f"{ms:.0f}ms" if ms >= 10 else f"{ms:.1f}ms"

"""Decoding tokens for display: the wire view shows every JWT it sees, unverified.

This is inspection, never authentication: nothing here decides access. The verifying code
lives in `runtime.presets.jwt_verify`.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

# Three base64url segments; the first decodes to a JSON header beginning with {"
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
MAX_TOKEN_CHARS = 16_384


@dataclass(frozen=True)
class DecodedToken:
    raw: str
    header: dict[str, Any]
    claims: dict[str, Any]

    @property
    def kind(self) -> str:
        typ = str(self.header.get("typ", "")).lower()
        if typ == "dpop+jwt":
            return "DPoP proof"
        claim_typ = str(self.claims.get("typ", ""))
        if claim_typ:
            return f"{claim_typ} token"
        return "JWT"

    @property
    def label(self) -> str:
        who = self.claims.get("preferred_username") or self.claims.get("sub") or ""
        aud = self.claims.get("aud")
        aud_text = ",".join(aud) if isinstance(aud, list) else (aud or "")
        parts = [self.kind]
        if who:
            parts.append(f"sub={who}")
        if aud_text:
            parts.append(f"aud={aud_text}")
        if "act" in self.claims:
            parts.append("act=" + str(self.claims["act"].get("sub", "?")))
        if "cnf" in self.claims:
            parts.append("bound")
        return " ".join(parts)


def b64url_json(segment: str) -> dict[str, Any]:
    padded = segment + "=" * (-len(segment) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    if not isinstance(value, dict):
        raise ValueError("JWT segment is not a JSON object")
    return value


def decode_unverified(raw: str) -> DecodedToken | None:
    """Header and claims of a compact JWS, or None when it is not one (never raises)."""
    if len(raw) > MAX_TOKEN_CHARS or raw.count(".") != 2:
        return None
    head, body, _sig = raw.split(".")
    try:
        return DecodedToken(raw=raw, header=b64url_json(head), claims=b64url_json(body))
    except (ValueError, UnicodeDecodeError):
        return None


def find_tokens(text: str) -> tuple[DecodedToken, ...]:
    seen: dict[str, DecodedToken] = {}
    for match in _JWT.finditer(text):
        raw = match.group(0)
        if raw not in seen:
            decoded = decode_unverified(raw)
            if decoded is not None:
                seen[raw] = decoded
    return tuple(seen.values())


def claims_diff(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """(claim, change, old, new) rows: what an exchange or delegation changed."""
    rows: list[tuple[str, str, Any, Any]] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if key not in after:
            rows.append((key, "removed", old, None))
        elif key not in before:
            rows.append((key, "added", None, new))
        elif old != new:
            rows.append((key, "changed", old, new))
    return rows

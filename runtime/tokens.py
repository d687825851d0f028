"""Decoding tokens for display: the wire view shows every JWT it sees, unverified.

This is inspection, never authentication: nothing here decides access. The verifying code
lives in `runtime.presets.jwt_verify`.

A token on the wire may be an attacker's, so its claims can be any JSON: a list where a
string belongs, `act` that is not an object, NaN or 1e999 in `exp`, nesting a thousand
deep, control characters. Decoding keeps NaN/Infinity/1e999 as their text (so anything that
re-serialises the claims writes strict JSON), and `brief` and `printable` are what displays
use to turn any claim into one safe line.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

# Three base64url segments; the first decodes to a JSON header beginning with {"
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
MAX_TOKEN_CHARS = 16_384
#: The claims whose values are NumericDates (RFC 7519 §4.1.4-6, OIDC Core's auth_time).
TIME_CLAIMS = frozenset({"exp", "nbf", "iat", "auth_time"})
# C0 and C1 controls (terminal escapes, CR, backspace, ...) and the bidirectional overrides
# that can make text read differently from what it is ("Trojan Source").
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_CONTROLS.update({c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})
_CONTROLS_BUT_LINES = {c: e for c, e in _CONTROLS.items() if chr(c) not in "\n\t"}


def printable(text: str, *, lines: bool = False) -> str:
    """`text` with control and bidi-override characters shown as escapes (\\x1b, \\u202e);
    with `lines`, newlines and tabs are kept (for multi-line views)."""
    return text.translate(_CONTROLS_BUT_LINES if lines else _CONTROLS)


def brief(value: object, limit: int = 80) -> str:
    """Any decoded JSON value as one printable line of at most `limit` characters."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=str, ensure_ascii=False)
        except (ValueError, RecursionError):  # nested too deep to print whole
            text = f"({type(value).__name__} nested too deeply to show)"
    cut = len(text) > limit
    text = printable(text[:limit])  # escapes can lengthen it again
    return text[: max(limit - 1, 0)] + "…" if cut or len(text) > limit else text


def _finite_or_text(text: str) -> float | str:
    number = float(text)
    return number if math.isfinite(number) else text


def _int_or_text(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        return text


@dataclass(frozen=True)
class DecodedToken:
    raw: str
    header: dict[str, Any]
    claims: dict[str, Any]

    @property
    def kind(self) -> str:
        typ = self.header.get("typ")
        if isinstance(typ, str) and typ.lower() == "dpop+jwt":
            return "DPoP proof"
        claim_typ = self.claims.get("typ")
        if claim_typ not in (None, ""):
            return f"{brief(claim_typ, 40)} token"
        return "JWT"

    @property
    def label(self) -> str:
        """One line for lists and headings; safe whatever the claims hold."""
        who = self.claims.get("preferred_username") or self.claims.get("sub") or ""
        aud = self.claims.get("aud")
        aud_text = ",".join(brief(a, 40) for a in aud) if isinstance(aud, list) else brief(
            aud or "")
        parts = [self.kind]
        if who:
            parts.append(f"sub={brief(who, 40)}")
        if aud_text:
            parts.append(f"aud={brief(aud_text)}")
        if "act" in self.claims:
            act = self.claims["act"]
            parts.append("act=" + brief(act.get("sub", "?") if isinstance(act, dict) else act,
                                        40))
        if "cnf" in self.claims:
            parts.append("bound")
        return " ".join(parts)


def b64url_json(segment: str) -> dict[str, Any]:
    from jwt.utils import base64url_decode  # here: pyjwt brings cryptography, which the
    # explorer's first frame does not need
    try:
        value = json.loads(base64url_decode(segment),
                           parse_constant=str, parse_float=_finite_or_text,
                           parse_int=_int_or_text)
    except RecursionError:
        raise ValueError("JWT segment is nested too deeply") from None
    if not isinstance(value, dict):
        raise ValueError("JWT segment is not a JSON object")
    return value


def decode_unverified(raw: str) -> DecodedToken | None:
    """Header and claims of a compact JWS, or None when it is not one (never raises).
    NaN, Infinity and numbers too large to hold come back as their text."""
    if len(raw) > MAX_TOKEN_CHARS or raw.count(".") != 2:
        return None
    head, body, _sig = raw.split(".")
    try:
        return DecodedToken(raw=raw, header=b64url_json(head), claims=b64url_json(body))
    except ValueError:  # base64, UTF-8, JSON, nesting and int-size errors are all ValueErrors
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


def located_tokens(headers: tuple[tuple[str, str], ...] | list[tuple[str, str]],
                   body: str) -> list[tuple[str, DecodedToken]]:
    """Every JWT in a request with where it travels: a header's name in lower case, a form
    field (`body:subject_token`), or `body`, `body#2`... Headers come first; a token seen
    twice is listed where it was first seen."""
    places = [(name.lower(), value) for name, value in headers]
    fields = parse_qsl(body, keep_blank_values=True) if "=" in body and "{" not in body[:1] \
        else []
    places += [(f"body:{name}", value) for name, value in fields] or [("body", body)]
    found: list[tuple[str, DecodedToken]] = []
    seen: set[str] = set()
    used: dict[str, int] = {}
    for where, text in places:
        for token in find_tokens(text):
            if token.raw not in seen:
                seen.add(token.raw)
                used[where] = used.get(where, 0) + 1
                found.append((where if used[where] == 1 else f"{where}#{used[where]}", token))
    return found


def claims_diff(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """(claim, change, old, new) rows: what an exchange or delegation changed."""
    rows: list[tuple[str, str, Any, Any]] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if key not in after:
            rows.append((key, "removed", old, None))
        elif key not in before:
            rows.append((key, "added", None, new))
        elif _differ(old, new):
            rows.append((key, "changed", old, new))
    return rows


def _differ(old: Any, new: Any) -> bool:
    try:
        return bool(old != new)
    except RecursionError:  # too deep to compare: show both
        return True

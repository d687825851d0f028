"""The wire tap: one event stream with every hop of every request.

Hops are captured where they happen (httpx event hooks on the clients built by
`runtime.http`, and explicit records for prompts, answers, audit entries and the scripted
attacker). Each hop carries the trace id of the prompt that caused it; the id travels between
in-process servers in a W3C `traceparent` header, so a service hop lands on the right trace.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from runtime.tokens import DecodedToken, find_tokens

HopKind = Literal[
    "prompt", "answer", "llm", "mcp", "service", "idp", "opa", "audit", "attacker", "error"
]
HOP_KINDS: tuple[HopKind, ...] = (
    "prompt", "answer", "llm", "mcp", "service", "idp", "opa", "audit", "attacker", "error",
)

_trace: contextvars.ContextVar[str] = contextvars.ContextVar("agent_auth_trace", default="")
_actor: contextvars.ContextVar[str] = contextvars.ContextVar("agent_auth_actor", default="")

REDACTED = "[redacted]"
# Real provider secrets never appear; demo tokens and keys do, because they are the lesson.
_PROVIDER_KEY = re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_\-]{16,}\b")
# A credential stands alone: not preceded or followed by a character a key or token could
# continue with (base64 '=' padding only ends one; a '.' ends a sentence unless a token
# character follows it).
_KEY_CHARS = r"A-Za-z0-9_~+/\-"
_ALONE_BEFORE = rf"(?<![{_KEY_CHARS}.])"
_ALONE_AFTER = rf"(?![{_KEY_CHARS}=]|\.[{_KEY_CHARS}])"
# Where a credential is expected: after an auth scheme or a key name ("Bearer x",
# "api_key=x", '"api_key": "x"', "Authorization: x").
_CREDENTIAL_POSITION = (
    r"(?i:\b(?:bearer|basic|dpop|token|api[-_]?key|x-api-key|authorization|password|secret"
    r"|client_secret|access_token)\b[\"']?\s*[:=]?\s*[\"']?)"
)
_WORD = re.compile(r"[A-Za-z][a-z]*")


@dataclass(frozen=True)
class Hop:
    """One captured exchange on the wire (or one event such as a prompt or audit record)."""

    seq: int
    trace_id: str
    kind: HopKind
    source: str
    target: str
    summary: str
    method: str = ""
    url: str = ""
    status: int | None = None
    request_headers: tuple[tuple[str, str], ...] = ()
    request_body: str = ""
    response_headers: tuple[tuple[str, str], ...] = ()
    response_body: str = ""
    started_at: float = 0.0
    duration_ms: float = 0.0
    tokens: tuple[DecodedToken, ...] = ()
    user: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is None or self.status < 400


# The record of hops is bounded. A lab's MCP server answers anyone on the host (refused at its
# gate or not, every request is a hop), and a hop keeps up to 64 KB of each body: without a
# bound, another local user could grow a student's session until the host runs out of memory.
# Far above what a session shows (the whole script under one pattern is ~300 hops, ~1 MB).
HOP_LOG_HOPS = 10_000
HOP_LOG_BYTES = 16 * 1024 * 1024


def hop_size(hop: Hop) -> int:
    """Roughly what a hop holds, in characters (its texts; a fixed allowance for the rest)."""
    headers = sum(len(k) + len(v) for k, v in hop.request_headers + hop.response_headers)
    return (headers + len(hop.request_body) + len(hop.response_body) + len(hop.summary)
            + len(hop.url) + 512)


class HopLog(Sequence[Hop]):
    """Hops in the order recorded; past its budget the oldest quarter is dropped at once (so
    dropping costs little per hop), and `dropped` counts what went."""

    def __init__(self, hops: Iterable[Hop] = (), *, max_hops: int | None = None,
                 max_bytes: int | None = None) -> None:
        self.max_hops = max_hops if max_hops is not None else HOP_LOG_HOPS
        self.max_bytes = max_bytes if max_bytes is not None else HOP_LOG_BYTES
        self._hops: list[Hop] = []
        self._sizes: list[int] = []
        self._bytes = 0
        self.dropped = 0
        self.extend(hops)

    def append(self, hop: Hop) -> int:
        """Add `hop`; the number of old hops this dropped (0 nearly always)."""
        size = hop_size(hop)
        self._hops.append(hop)
        self._sizes.append(size)
        self._bytes += size
        if len(self._hops) > self.max_hops or self._bytes > self.max_bytes:
            return self._trim()
        return 0

    def extend(self, hops: Iterable[Hop]) -> int:
        return sum(self.append(h) for h in hops)

    def _trim(self) -> int:
        goal_hops, goal_bytes = self.max_hops * 3 // 4, self.max_bytes * 3 // 4
        cut, kept_bytes = 0, self._bytes
        while cut < len(self._hops) - 1 and (len(self._hops) - cut > goal_hops
                                              or kept_bytes > goal_bytes):
            kept_bytes -= self._sizes[cut]
            cut += 1
        del self._hops[:cut], self._sizes[:cut]
        self._bytes, self.dropped = kept_bytes, self.dropped + cut
        return cut

    def clear(self) -> None:
        self._hops.clear()
        self._sizes.clear()
        self._bytes = 0

    @property
    def size(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._hops)

    def __iter__(self) -> Iterator[Hop]:
        return iter(self._hops)

    @overload
    def __getitem__(self, index: int) -> Hop: ...
    @overload
    def __getitem__(self, index: slice) -> list[Hop]: ...
    def __getitem__(self, index: int | slice) -> Hop | list[Hop]:
        return self._hops[index]

    def __repr__(self) -> str:
        return f"HopLog({len(self)} hops, {self._bytes} chars, {self.dropped} dropped)"


def new_trace_id() -> str:
    return secrets.token_hex(16)


def current_trace() -> str:
    return _trace.get()


@contextlib.contextmanager
def tracing(trace_id: str, user: str | None = None) -> Iterator[str]:
    """Hops recorded inside belong to `trace_id` (and `user`, when given)."""
    trace_token = _trace.set(trace_id)
    user_token = _actor.set(user) if user is not None else None
    try:
        yield trace_id
    finally:
        if user_token is not None:
            _actor.reset(user_token)
        _trace.reset(trace_token)


def current_user() -> str:
    return _actor.get()


def traceparent(trace_id: str) -> str:
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


def trace_from_traceparent(value: str | None) -> str:
    if not value:
        return ""
    parts = value.split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and all(c in "0123456789abcdef" for c in parts[1]):
        return parts[1]
    return ""


class Redactor:
    """Masks real secrets (a provider API key) wherever they would be shown or exported.

    A configured secret is replaced only as a whole credential: the whole text (a header
    value), a credential position ("Bearer <secret>", "api_key=<secret>"), or, when the
    secret looks like a key rather than a word (digits, punctuation, mixed case, 20+
    characters), any place where it stands alone. So "sk-abc" is redacted in "Bearer sk-abc"
    and in "key sk-abc." but not inside "task-abcd", and a secret that is an ordinary word
    does not mangle prose. Anything shaped like an OpenAI key is redacted regardless.
    """

    def __init__(self, secrets_to_hide: tuple[str, ...] = ()) -> None:
        self._secrets = tuple(s for s in secrets_to_hide if s and s.strip())
        self._patterns = tuple(_secret_pattern(s) for s in self._secrets)

    def __call__(self, text: str) -> str:
        # Every pattern needs its literal (the secret, "sk-"): a substring test first skips
        # the regex on nearly every header and body (it was ~2/3 of recording a hop).
        for secret, pattern in zip(self._secrets, self._patterns, strict=True):
            if secret not in text:
                continue
            if text.strip() == secret:
                return REDACTED
            text = pattern.sub(lambda m: m.group("before") + REDACTED, text)
        return _PROVIDER_KEY.sub(REDACTED, text) if "sk-" in text else text


def _secret_pattern(secret: str) -> re.Pattern[str]:
    whole = re.escape(secret) + _ALONE_AFTER
    if _WORD.fullmatch(secret) and len(secret) < 20:  # a word: only where a key is expected
        return re.compile(rf"(?P<before>{_CREDENTIAL_POSITION}){whole}")
    return re.compile(rf"(?P<before>{_CREDENTIAL_POSITION}|{_ALONE_BEFORE}){whole}")


Listener = Callable[[Hop], None]


class WireTap:
    """Collects hops in order and fans them out to listeners (the TUI, the CLI, tests)."""

    def __init__(self, redactor: Redactor | None = None, clock: Callable[[], float] = time.time):
        self.hops = HopLog()
        self.redact = redactor or Redactor()
        self._listeners: list[Listener] = []
        self._seq = itertools.count(1)
        self._trace_users: dict[str, str] = {}
        self._clock = clock

    def now(self) -> float:
        """The time hops are stamped with: the stack's clock when the runner shares it, so the
        wire's times agree with the tokens' iat and exp (a frozen clock in demos)."""
        return self._clock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def record(
        self,
        kind: HopKind,
        source: str,
        target: str,
        summary: str,
        *,
        trace_id: str | None = None,
        request_headers: tuple[tuple[str, str], ...] = (),
        request_body: str = "",
        response_headers: tuple[tuple[str, str], ...] = (),
        response_body: str = "",
        started_at: float | None = None,
        **fields: Any,
    ) -> Hop:
        redact = self.redact
        req_headers = tuple((k, redact(v)) for k, v in request_headers)
        resp_headers = tuple((k, redact(v)) for k, v in response_headers)
        req_body, resp_body = redact(request_body), redact(response_body)
        trace = trace_id if trace_id is not None else current_trace()
        # servers only receive the trace id; the user who started the trace is looked up
        user = fields.pop("user", None) or current_user() or self._trace_users.get(trace, "")
        if trace and user and trace not in self._trace_users:
            self._trace_users[trace] = user
        tokens = find_tokens(
            " ".join(v for _, v in req_headers) + " " + req_body + " " + resp_body
        )
        hop = Hop(
            seq=next(self._seq),
            trace_id=trace,
            kind=kind,
            source=source,
            target=target,
            summary=redact(summary),
            request_headers=req_headers,
            request_body=req_body,
            response_headers=resp_headers,
            response_body=resp_body,
            started_at=started_at if started_at is not None else self._clock(),
            tokens=tokens,
            user=user,
            **fields,
        )
        if self.hops.append(hop):   # old hops dropped: forget the traces none of them keeps
            kept = {h.trace_id for h in self.hops}
            self._trace_users = {t: u for t, u in self._trace_users.items() if t in kept}
        for listener in list(self._listeners):
            listener(hop)
        return hop

    def trace(self, trace_id: str) -> list[Hop]:
        return [h for h in self.hops if h.trace_id == trace_id]

    def clear(self) -> None:
        self.hops.clear()
        self._trace_users.clear()

"""Edit and replay a hop: resend a captured HTTP request, as it was or changed, and see who
decides (mitmproxy's replay, for agent auth).

    request = HttpRequest.from_hop(hop)
    edited, notes = apply_edits(request, [TokenEdit(0, {"exp": now - 60}, sign="idp")],
                                Signer(runner.idp_key()))
    result = await runner.replay(edited, notes)      # result.decided_by, result.reason

A JWT in the request (the Authorization header, a DPoP proof, the agent's actor token, a
`subject_token` in a form body) can have its claims and header changed, then be sent with
its original signature (any change breaks it), re-signed with the attacker's own key, sent
unsigned (`alg: none`), or re-signed with the IdP's own key: an oracle, as if that key had
leaked, that isolates one check (an expired token with a valid signature is refused for
`exp`, not for its signature). No pattern leaks the IdP's key; the oracle exists only on the
embedded stack, where the key is in this process.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from jwt.api_jws import get_algorithm_by_name

from runtime.errors import (
    HEADER_NAME,
    InputError,
    header_problem,
    json_object,
    not_unicode,
    strict_json,
)
from runtime.http import EndpointMap
from runtime.signing import SIGN_CHOICES, SignWith
from runtime.tokens import DecodedToken, brief, located_tokens
from runtime.wire import Hop
from stack.jose import b64url_encode, default_alg, generate_rsa_key, public_jwk

ATTACKER_KID = "attacker-key"
DPOP_TYP = "dpop+jwt"
#: Headers the client library sets itself; a replay gets fresh ones (and a fresh trace).
RESENT_BY_CLIENT = frozenset({"content-length", "host", "traceparent", "transfer-encoding",
                              "connection", "accept-encoding"})
_RELATIVE = re.compile(r"@now(?:(?P<sign>[+-])(?P<amount>\d{1,9})(?P<unit>[smhd]?))?")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_METHOD = re.compile(r"[A-Z]{3,7}")
MAX_BODY = 1_000_000


class ReplayError(InputError):
    """A request or an edit the replay cannot use; the message says why."""


@dataclass(frozen=True)
class TokenSlot:
    """One JWT in a request, and where it travels (a header name, or "body")."""

    index: int
    where: str
    token: DecodedToken

    @property
    def label(self) -> str:
        return f"{self.index}: {self.token.label} (in {self.where})"


@dataclass(frozen=True)
class HttpRequest:
    """A request to resend: what was sent, the hop it came from and the party it went to."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    of: int | None = None
    target: str = ""

    @classmethod
    def from_hop(cls, hop: Hop) -> HttpRequest:
        if not (hop.method and hop.url):
            raise ReplayError(f"hop {hop.seq} ({hop.kind}) is not an HTTP request")
        return cls(hop.method, hop.url, hop.request_headers, hop.request_body, hop.seq,
                   hop.target).checked()

    @classmethod
    def from_record(cls, record: object) -> HttpRequest:
        """A hop as exported (one line of JSONL, see `runtime.export.hop_to_dict`)."""
        if not isinstance(record, dict):
            raise ReplayError("a hop record is a JSON object")
        method, url, body = record.get("method"), record.get("url"), record.get(
            "request_body", "")
        raw_headers = record.get("request_headers", [])
        seq, target = record.get("seq"), record.get("target", "")
        if not (isinstance(method, str) and method and isinstance(url, str) and url):
            raise ReplayError(f"hop {seq} is not an HTTP request (no method and url)")
        if not isinstance(body, str) or not isinstance(target, str):
            raise ReplayError("request_body and target must be strings")
        if not isinstance(raw_headers, list) or not all(
                isinstance(h, list) and len(h) == 2 and all(isinstance(p, str) for p in h)
                for h in raw_headers):
            raise ReplayError("request_headers must be a list of [name, value] pairs")
        number = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
        return cls(method, url, tuple((k, v) for k, v in raw_headers), body, number,
                   target).checked()

    def checked(self) -> HttpRequest:
        if not _METHOD.fullmatch(self.method):
            raise ReplayError(f"method {brief(self.method, 20)!r} is not an HTTP method")
        for what, text in (("the URL", self.url), ("the body", self.body)):
            if problem := not_unicode(text):
                raise ReplayError(f"{what} cannot be sent: {problem}")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ReplayError(f"{brief(self.url, 80)} is not an http(s) URL")
        for name, value in self.headers:
            if problem := header_problem(name, value):
                raise ReplayError(problem)
        if len(self.body) > MAX_BODY:
            raise ReplayError(f"the body is {len(self.body)} characters; the limit is "
                              f"{MAX_BODY}")
        return self

    def tokens(self) -> list[TokenSlot]:
        """Every JWT in the request, in order: headers first, then the body."""
        return [TokenSlot(index, where, token) for index, (where, token)
                in enumerate(located_tokens(self.headers, self.body))]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def with_header(self, name: str, value: str | None) -> HttpRequest:
        """Set (or, with None, remove) a header; other headers keep their order."""
        kept = tuple((k, v) for k, v in self.headers if k.lower() != name.lower())
        return replace(self, headers=kept + (((name, value),) if value is not None else ())
                       ).checked()

    def replacing(self, old: str, new: str) -> HttpRequest:
        """The request with every occurrence of `old` (a token) replaced by `new`."""
        headers = tuple((k, v.replace(old, new)) for k, v in self.headers)
        return replace(self, headers=headers, body=self.body.replace(old, new))

    @property
    def sendable_headers(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.headers if k.lower() not in RESENT_BY_CLIENT]

    def describe(self) -> str:
        return f"{self.method} {self.url}"

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "url": self.url,
                "headers": [list(h) for h in self.headers], "body": self.body,
                "of": self.of, "target": self.target}


# -- edits -------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenEdit:
    """Changes to the JWT in slot `slot`: claims set (dotted paths reach into objects such
    as `act.sub`) or removed, header fields set, and how to sign the result."""

    slot: int = 0
    set_claims: Mapping[str, Any] = field(default_factory=dict)
    unset: tuple[str, ...] = ()
    set_header: Mapping[str, Any] = field(default_factory=dict)
    sign: SignWith = "keep"

    @property
    def empty(self) -> bool:
        return not (self.set_claims or self.unset or self.set_header) and self.sign == "keep"


@functools.cache
def _attacker_key() -> Any:
    return generate_rsa_key()


class Signer:
    """The keys a replay may sign with: the attacker's own, and, as oracles, the IdP's (when
    it runs in this process) and the DPoP key of the MCP server (the proofs' holder)."""

    def __init__(self, idp_key: tuple[str, Any] | None = None,
                 holder_key: Callable[[], Any] | None = None) -> None:
        self.idp_key = idp_key          # (kid, private key) of the embedded IdP, or None
        self.holder_key = holder_key    # the MCP server's DPoP key, made when first asked

    def choices(self, token: DecodedToken) -> list[SignWith]:
        """How this token may be signed: a DPoP proof by its holder, a token by the IdP."""
        oracle: SignWith = "holder" if _is_proof(token.header) else "idp"
        known = self.holder_key if oracle == "holder" else self.idp_key
        return ["keep", "attacker", "none", *([oracle] if known is not None else [])]

    def sign(self, header: dict[str, Any], claims: dict[str, Any], how: SignWith,
             original_signature: str) -> str:
        header = dict(header)
        if how == "keep":
            return f"{_segment(header)}.{_segment(claims)}.{original_signature}"
        if how == "none":
            header["alg"] = "none"
            return f"{_segment(header)}.{_segment(claims)}."
        kid, key = self._key(how)
        header["alg"] = default_alg(key)
        if _is_proof(header):   # a proof carries its own public key, not a key id
            header["jwk"] = public_jwk(key.public_key())
            header.pop("kid", None)
        else:
            header["kid"] = kid
        signing_input = f"{_segment(header)}.{_segment(claims)}"
        signature = get_algorithm_by_name(header["alg"]).sign(signing_input.encode(), key)
        return f"{signing_input}.{b64url_encode(signature)}"

    def _key(self, how: SignWith) -> tuple[str, Any]:
        if how == "idp":
            if self.idp_key is None:
                raise ReplayError("the IdP's key is only known on the embedded stack")
            return self.idp_key
        if how == "holder":
            if self.holder_key is None:
                raise ReplayError("no DPoP key is known to sign with")
            return "holder", self.holder_key()
        return ATTACKER_KID, _attacker_key()


def _is_proof(header: dict[str, Any]) -> bool:
    return str(header.get("typ", "")).lower() == DPOP_TYP


def _segment(value: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


def parse_duration(text: str) -> float:
    """`90s`, `30m`, `1h`, `2d` or plain seconds, as seconds."""
    match = re.fullmatch(r"(\d{1,9})([smhd]?)", text.strip())
    if not match:
        raise ReplayError(f"{brief(text, 20)!r} is not a duration: write 90s, 30m, 1h or 2d")
    return float(int(match[1]) * _UNIT[match[2]])


def parse_value(text: str, now: float) -> Any:
    """A claim value as typed: `@now`, `@now-1h`, `@now+90s` (seconds since the epoch by the
    runtime's clock), JSON (`42`, `true`, `["a","b"]`, `{"sub":"x"}`, `"text"`), or else
    the text itself. NaN and Infinity are not JSON: quote them to send them as text."""
    stripped = text.strip()
    relative = _RELATIVE.fullmatch(stripped)
    if relative:
        amount = int(relative["amount"] or 0) * _UNIT[relative["unit"] or ""]
        return int(now) + (-amount if relative["sign"] == "-" else amount)
    if stripped.startswith("@"):
        raise ReplayError(f"{brief(stripped, 30)!r}: write @now, @now-1h, @now+30m or @now-90s")

    try:
        return strict_json(stripped, "value", ReplayError)
    except json.JSONDecodeError:
        return text


def parse_assignment(text: str, now: float) -> tuple[str, Any]:
    """`claim=value` (see `parse_value`) as (claim path, value)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ReplayError(f"{brief(text, 40)!r}: write claim=value (exp=@now-1h, aud=other)")
    return name.strip(), parse_value(value, now)


def _set_path(claims: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = claims
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[last] = value


def _unset_path(claims: dict[str, Any], path: str) -> bool:
    *parents, last = path.split(".")
    node: Any = claims
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict) and last in node:
        del node[last]
        return True
    return False


def edit_token(token: DecodedToken, edit: TokenEdit, signer: Signer) -> tuple[str, list[str]]:
    """The token with `edit` applied, and a note per change (for the wire and the CLI)."""
    header = json.loads(json.dumps(token.header))
    claims = json.loads(json.dumps(token.claims))
    notes: list[str] = []
    for path, value in edit.set_claims.items():
        old = _lookup(token.claims, path)
        _set_path(claims, path, value)
        notes.append(f"{path}: {brief(old, 60)} -> {brief(value, 60)}")
    for path in edit.unset:
        if _unset_path(claims, path):
            notes.append(f"{path}: removed")
        else:
            notes.append(f"{path}: not present (nothing removed)")
    for name, value in edit.set_header.items():
        notes.append(f"header {name}: {brief(header.get(name), 40)} -> {brief(value, 40)}")
        header[name] = value
    if edit.empty:
        return token.raw, []
    signature = token.raw.rsplit(".", 1)[1]
    raw = signer.sign(header, claims, edit.sign, signature)
    notes.append(f"signed with {SIGN_CHOICES[edit.sign]}")
    return raw, notes


def edit_from_json(token: DecodedToken, header_text: str, claims_text: str,
                   sign: SignWith, slot: int = 0) -> TokenEdit:
    """The edit that turns `token` into the header and claims written as JSON (an editor's
    text): changed and added members are set, missing ones removed."""
    header = json_object(header_text, "header", ReplayError)
    claims = json_object(claims_text, "claims", ReplayError)
    changed = {k: v for k, v in claims.items() if token.claims.get(k, _ABSENT) != v}
    removed = tuple(k for k in token.claims if k not in claims)
    new_header = {k: v for k, v in header.items() if token.header.get(k, _ABSENT) != v}
    return TokenEdit(slot, changed, removed, new_header, sign)


_ABSENT = object()


def headers_text(headers: Sequence[tuple[str, str]]) -> str:
    """Headers as an editor shows them: `Name: value`, one per line."""
    return "\n".join(f"{name}: {value}" for name, value in headers)


def parse_headers(text: str) -> tuple[tuple[str, str], ...]:
    """`Name: value` lines (blank lines skipped) as header pairs; ReplayError names a bad
    line."""
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not HEADER_NAME.fullmatch(name.strip()):
            raise ReplayError(f"header line {number} is not `Name: value`: {brief(line, 40)}")
        pairs.append((name.strip(), value.strip()))
    return tuple(pairs)


def _lookup(claims: dict[str, Any], path: str) -> Any:
    node: Any = claims
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return "(absent)" if node is None else node


def apply_edits(request: HttpRequest, edits: Sequence[TokenEdit],
                signer: Signer) -> tuple[HttpRequest, list[str]]:
    """`request` with each token edit applied; the notes say what changed."""
    slots = request.tokens()
    notes: list[str] = []
    for edit in edits:
        if not 0 <= edit.slot < len(slots):
            where = ", ".join(s.label for s in slots) or "none"
            raise ReplayError(f"no token {edit.slot} in this request (tokens: {where})")
        slot = slots[edit.slot]
        raw, changes = edit_token(slot.token, edit, signer)
        if raw != slot.token.raw:
            request = request.replacing(slot.token.raw, raw)
            notes += [f"token {slot.index} ({slot.where}) {change}" for change in changes]
    return request, notes


# -- a hop from another run ------------------------------------------------------------

def retarget(request: HttpRequest, endpoints: EndpointMap) -> tuple[HttpRequest, list[str]]:
    """Point a request exported from another run at this run's server for the same party
    (ports differ from run to run); path and query stay."""
    current = endpoints.classify(request.url)
    if current.prefix and current.name == request.target:
        return request, []
    match = next((e for e in endpoints.endpoints if e.name == request.target), None)
    if match is None:
        names = ", ".join(sorted({e.name for e in endpoints.endpoints}))
        raise ReplayError(f"the hop went to {request.target or '(unknown)'}, which this run "
                          f"does not have ({names})")
    old, new = urlsplit(request.url), urlsplit(match.prefix)
    url = urlunsplit((new.scheme, new.netloc, old.path, old.query, ""))
    moved = replace(request, url=url)
    old_origin, new_origin = f"{old.scheme}://{old.netloc}", f"{new.scheme}://{new.netloc}"
    return moved, [f"sent to this run's {request.target} ({old_origin} -> {new_origin})"]


def send_to(request: HttpRequest, endpoints: EndpointMap, target: str | None = None,
            path: str | None = None) -> tuple[HttpRequest, list[str]]:
    """The request aimed at `target` (another party of this run: records, directory,
    mcp-server, idp, opa) and/or at another `path` (with its query, if any)."""
    notes: list[str] = []
    if target and target != request.target:
        old = request.target or "(unknown)"
        request, _ = retarget(replace(request, target=target), endpoints)
        notes.append(f"sent to {target} instead of {old}")
    if path is not None:
        if not path.startswith("/"):
            raise ReplayError(f"path {brief(path, 40)!r} must start with /")
        parts = urlsplit(request.url)
        new_path, _, query = path.partition("?")
        request = replace(request, url=urlunsplit((parts.scheme, parts.netloc, new_path,
                                                   query, ""))).checked()
        notes.append(f"path {parts.path} -> {new_path}")
    return request, notes


# -- the answer ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ReplayResult:
    request: HttpRequest
    notes: tuple[str, ...]
    status: int
    decided_by: str
    reason: str
    trace_id: str
    hops: tuple[Hop, ...]
    response_body: str = ""

    @property
    def allowed(self) -> bool:
        return 200 <= self.status < 300

    def to_json(self) -> dict[str, Any]:
        from runtime.export import hop_to_dict

        return {"replay_of": self.request.of, "request": self.request.to_json(),
                "edits": list(self.notes), "status": self.status,
                "allowed": self.allowed, "decided_by": self.decided_by, "reason": self.reason,
                "trace_id": self.trace_id, "response_body": self.response_body,
                "hops": [hop_to_dict(h) for h in self.hops]}


def verdict(hops: Sequence[Hop], status: int, target_kind: str,
            body: str) -> tuple[str, str]:
    """Who decided the request these hops answer, and why: the last audit record or MCP
    gate in its trace, else the IdP's or OPA's own answer, else the response itself."""
    for hop in reversed(hops):
        audit = hop.data.get("audit")
        if isinstance(audit, dict):
            return str(audit.get("decided_by", "service")), str(audit.get("reason", ""))
        gate = hop.data.get("gate")
        if isinstance(gate, dict):
            return str(gate.get("decided_by", "runtime")), str(gate.get("reason", ""))
    reason = response_reason(body)
    if target_kind == "idp":
        return "IdP", reason if status >= 400 else "the IdP answered"
    if target_kind == "opa":
        return "OPA", reason
    return ("nobody" if status < 400 else "service"), reason


def response_reason(body: str) -> str:
    """The reason an error response gives (`reason`, `error_description`, `error`, FastAPI's
    `detail`), or its first 200 characters."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return body[:200]
    if isinstance(value, dict):
        detail = value.get("detail", value)
        if isinstance(detail, dict):
            inner = detail.get("error")
            if isinstance(inner, dict):
                detail = inner
            return brief(detail.get("reason") or detail.get("error_description")
                         or detail.get("error") or detail, 200)
        return brief(detail, 200)
    return brief(value, 200)


"""The wire filter: `kind:opa status:4xx user:dave free text`, every term must match.

    kind:idp         hop kind (prompt, llm, mcp, service, idp, opa, audit, attacker, ...)
    status:403       exact status; 4xx / 5xx classes; `err` for >= 400, `ok` for < 400
    user:dave        the user the hop belongs to
    anything else    free text in summary, source, target, url and bodies (case-insensitive)

    a|b              alternatives within a term: `kind:opa|idp`, `status:401|403`, `alice|bob`
                     (`kind:opa,idp` works too)
    !term            the term must not match: `!kind:llm`, `!status:ok`, `!token`
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from runtime import HOP_KINDS, Hop
from stack.errors import ExplorerError

Field = Literal["kind", "status", "user", "text"]
FIELDS: dict[str, Field] = {"kind": "kind", "status": "status", "user": "user"}
SYNTAX = "kind:opa|idp status:4xx user:dave text, !term excludes"


class FilterError(ExplorerError, ValueError):
    """A filter term the wire view cannot use; the message says what is accepted."""


@dataclass(frozen=True)
class Term:
    """One term: any of `values` matches `field` (none of them when `negated`)."""

    field: Field
    values: tuple[str, ...]
    negated: bool = False

    def matches(self, hop: Hop) -> bool:
        return any(_matches(self.field, value, hop) for value in self.values) != self.negated


@dataclass(frozen=True)
class HopFilter:
    terms: tuple[Term, ...] = ()
    source: str = ""

    @property
    def active(self) -> bool:
        return bool(self.terms)

    def matches(self, hop: Hop) -> bool:
        return all(term.matches(hop) for term in self.terms)


def _matches(field: Field, value: str, hop: Hop) -> bool:
    if field == "kind":
        return hop.kind == value
    if field == "user":
        return hop.user == value
    if field == "status":
        return _status_ok(value, hop.status)
    haystack = " ".join((hop.summary, hop.source, hop.target, hop.url, hop.kind,
                         hop.request_body[:4000], hop.response_body[:4000])).lower()
    return value in haystack


def _status_ok(term: str, status: int | None) -> bool:
    if term == "ok":
        return status is None or status < 400
    if term == "err":
        return status is not None and status >= 400
    if status is None:
        return False
    if term.endswith("xx"):
        return str(status)[0] == term[0]
    return str(status) == term


def _check(field: Field, values: list[str], term: str) -> None:
    if not values or not all(values):
        raise FilterError(f"{term!r}: an empty alternative; write {SYNTAX}")
    if field == "kind":
        unknown = sorted(set(values) - set(HOP_KINDS))
        if unknown:
            raise FilterError(f"unknown hop kind {','.join(unknown)}; "
                              f"kinds are {', '.join(HOP_KINDS)}")
    elif field == "status":
        for value in values:
            valid = value in ("ok", "err") or value.isdigit() or (
                len(value) == 3 and value[0].isdigit() and value[1:] == "xx")
            if not valid:
                raise FilterError(f"status {value!r}: use a code (403), a class (4xx), ok or err")


def parse_term(term: str) -> Term:
    negated = term.startswith("!")
    body = term[1:] if negated else term
    if not body:
        raise FilterError("'!' alone: put it before a term, as in !kind:llm")
    key, sep, rest = body.partition(":")
    field = FIELDS.get(key.lower(), "text") if sep else "text"
    text = rest if field != "text" else body
    if text.startswith("!"):
        fix = f"{key}:{text.lstrip('!')}" if field != "text" else text.lstrip("!")
        raise FilterError(f"{term!r}: put one '!' before the whole term, as in !{fix}")
    # kinds and users never hold a comma, so `kind:idp,opa` (the older form) still works
    values = [v.lower() for v in re.split("[|,]" if field in ("kind", "user") else "[|]", text)]
    _check(field, values, term)
    return Term(field, tuple(values), negated)


def parse_filter(text: str) -> HopFilter:
    """Raises FilterError with a readable message when a term is not understood."""
    return HopFilter(tuple(parse_term(term) for term in text.split()), text.strip())

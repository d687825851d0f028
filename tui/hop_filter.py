"""The wire filter: `kind:opa status:4xx user:dave free text`, every term must match.

    kind:idp,opa     hop kind (any of a comma list)
    status:403       exact status; 4xx / 5xx classes; `err` for >= 400, `ok` for < 400
    user:dave        the user the hop belongs to
    anything else    free text in summary, source, target, url and bodies (case-insensitive)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime import HOP_KINDS, Hop
from stack.errors import ExplorerError


class FilterError(ExplorerError, ValueError):
    """A filter term the wire view cannot use; the message says what is accepted."""


@dataclass(frozen=True)
class HopFilter:
    kinds: frozenset[str] = frozenset()
    statuses: tuple[str, ...] = ()
    users: frozenset[str] = frozenset()
    words: tuple[str, ...] = field(default=())
    source: str = ""

    @property
    def active(self) -> bool:
        return bool(self.kinds or self.statuses or self.users or self.words)

    def matches(self, hop: Hop) -> bool:
        if self.kinds and hop.kind not in self.kinds:
            return False
        if self.users and hop.user not in self.users:
            return False
        if self.statuses and not any(_status_ok(s, hop.status) for s in self.statuses):
            return False
        if self.words:
            haystack = " ".join((hop.summary, hop.source, hop.target, hop.url, hop.kind,
                                 hop.request_body[:4000], hop.response_body[:4000])).lower()
            return all(w in haystack for w in self.words)
        return True


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


def parse_filter(text: str) -> HopFilter:
    kinds: set[str] = set()
    users: set[str] = set()
    statuses: list[str] = []
    words: list[str] = []
    for term in text.split():
        key, sep, value = term.partition(":")
        key = key.lower()
        if sep and key == "kind":
            wanted = {v for v in value.lower().split(",") if v}
            unknown = wanted - set(HOP_KINDS)
            if unknown or not wanted:
                raise FilterError(f"unknown hop kind {','.join(sorted(unknown)) or '(empty)'}; "
                                  f"kinds are {', '.join(HOP_KINDS)}")
            kinds |= wanted
        elif sep and key == "status":
            value = value.lower()
            valid = value in ("ok", "err") or value.isdigit() or (
                len(value) == 3 and value[0].isdigit() and value[1:] == "xx")
            if not valid:
                raise FilterError(f"status {value!r}: use a code (403), a class (4xx), ok or err")
            statuses.append(value)
        elif sep and key == "user":
            users |= {v for v in value.lower().split(",") if v}
        else:
            words.append(term.lower())
    return HopFilter(frozenset(kinds), tuple(statuses), frozenset(users), tuple(words),
                     text.strip())

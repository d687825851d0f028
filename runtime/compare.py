"""Compare: the same prompt or script step under two patterns, hop by hop, differences marked.

    comparison = await compare_patterns(Settings(), ("p05", "p06"), user="alice",
                               prompt="What are my expenses?")
    for row in comparison.rows:      # left hop, right hop, what differs
        ...

Hops are aligned by what they are (kind, from, to, what; an audit record by its action), the
way a diff aligns lines, so a hop present under one pattern only shows as such. A matched
pair is marked where its status, its decision (who decided, allow or deny, whom the audit
names) or the claims of its token differ. Claims that change on every run (times, ids) are
left out of the comparison.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.errors import InputError
from runtime.script import STEPS
from runtime.settings import Settings
from runtime.stack_handle import StackHandle
from runtime.tokens import brief, claims_diff, located_tokens
from runtime.wire import Hop

# the explorer imports this module before its first frame; the runner (openai, mcp, fastapi)
# loads later, on the runtime's thread
if TYPE_CHECKING:
    from runtime.runner import PatternRunner

#: Claims that differ between any two runs; comparing them would mark every token.
VOLATILE_CLAIMS = frozenset({"iat", "exp", "nbf", "auth_time", "jti", "sid", "session_state",
                             "nonce", "ath", "at_hash", "htu"})

_LOCAL_PORT = re.compile(r"(127\.0\.0\.1|localhost):\d{1,5}")


@dataclass(frozen=True)
class Side:
    pattern: str
    hops: tuple[Hop, ...]
    outcome: str          # what came of it: the agent's answer, or the step's outcome

    def to_json(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "outcome": self.outcome,
                "hops": [hop_brief(h) for h in self.hops]}


#: How a row reads in a side-by-side view.
MARKS = {"same": " ", "differs": "≠", "left": "<", "right": ">"}


@dataclass(frozen=True)
class Row:
    left: Hop | None
    right: Hop | None
    differences: tuple[str, ...] = ()

    @property
    def mark(self) -> str:
        """≠ a pair that differs, < a hop only on the left, > only on the right."""
        if self.left is None:
            return MARKS["right"]
        if self.right is None:
            return MARKS["left"]
        return MARKS["differs"] if self.differences else MARKS["same"]

    def to_json(self) -> dict[str, Any]:
        return {"left": hop_brief(self.left) if self.left else None,
                "right": hop_brief(self.right) if self.right else None,
                "differences": list(self.differences)}


@dataclass(frozen=True)
class Comparison:
    user: str
    what: str
    left: Side
    right: Side
    rows: tuple[Row, ...]

    @property
    def differing(self) -> list[Row]:
        return [r for r in self.rows if r.differences]

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user, "what": self.what,
                "patterns": [self.left.pattern, self.right.pattern],
                "left": self.left.to_json(), "right": self.right.to_json(),
                "rows": [r.to_json() for r in self.rows],
                "differences": sum(len(r.differences) for r in self.rows)}


def hop_brief(hop: Hop) -> dict[str, Any]:
    decided_by, allowed = decision_of(hop)
    return {"seq": hop.seq, "kind": hop.kind, "source": hop.source, "target": hop.target,
            "summary": hop.summary, "status": hop.status, "decided_by": decided_by,
            "allowed": allowed, "tokens": [t.label for t in hop.tokens]}


def decision_of(hop: Hop) -> tuple[str | None, bool | None]:
    """Who decided on an audit or gate hop, and whether it allowed (None elsewhere)."""
    audit = hop.data.get("audit")
    if isinstance(audit, dict):
        return str(audit.get("decided_by")), bool(audit.get("allowed"))
    gate = hop.data.get("gate")
    if isinstance(gate, dict):
        return str(gate.get("decided_by")), False
    return None, None


def _signature(hop: Hop) -> tuple[str, ...]:
    audit = hop.data.get("audit")
    if isinstance(audit, dict):
        return ("audit", hop.source, str(audit.get("action")))
    if "gate" in hop.data:
        return ("gate", hop.source)
    return (hop.kind, hop.source, hop.target, hop.summary)


def differences(left: Hop, right: Hop) -> tuple[str, ...]:
    """What differs between two hops that play the same part."""
    found: list[str] = []
    if left.status != right.status:
        found.append(f"status {left.status} -> {right.status}")
    (who_l, allow_l), (who_r, allow_r) = decision_of(left), decision_of(right)
    if who_l != who_r:
        found.append(f"decided by {who_l} -> {who_r}")
    if allow_l is not None and allow_r is not None and allow_l != allow_r:
        found.append(f"{'ALLOW' if allow_l else 'DENY'} -> {'ALLOW' if allow_r else 'DENY'}")
    names_l, names_r = _audit_names(left), _audit_names(right)
    if names_l != names_r:
        found.append(f"audit names {names_l} -> {names_r}")
    found += _token_differences(left, right)
    return tuple(found)


def _audit_names(hop: Hop) -> str | None:
    audit = hop.data.get("audit")
    if not isinstance(audit, dict):
        return None
    user, actor = audit.get("user"), audit.get("actor")
    return f"{user} (actor {actor})" if user and actor else str(user or actor or "nobody")


def _token_differences(left: Hop, right: Hop) -> list[str]:
    """Tokens compared where they travel (Authorization with Authorization, the actor
    token with the actor token); DPoP proofs differ on every request and are left out."""
    def by_place(hop: Hop) -> dict[str, Any]:
        return {where: token for where, token in located_tokens(hop.request_headers,
                                                                hop.request_body)
                if token.kind != "DPoP proof"}

    places_l, places_r = by_place(left), by_place(right)
    found: list[str] = []
    for where in [*places_l, *[w for w in places_r if w not in places_l]]:
        if where not in places_r or where not in places_l:
            side = "left" if where in places_l else "right"
            found.append(f"token in {where} only on the {side}")
            continue
        rows = claims_diff(_stable_claims(places_l[where].claims),
                           _stable_claims(places_r[where].claims))
        found += [f"{where} claim {key} {change}" + (
            f": {brief(old, 60)} -> {brief(new, 60)}" if change == "changed" else "")
            for key, change, old, new in rows]
    return found


def _stable_claims(claims: dict[str, Any]) -> dict[str, Any]:
    """The claims that mean the same from run to run (ports of local servers masked)."""
    kept = {k: v for k, v in claims.items() if k not in VOLATILE_CLAIMS}
    try:
        return dict(json.loads(_LOCAL_PORT.sub(r"\1:port", json.dumps(kept, default=str))))
    except (ValueError, RecursionError):
        return kept


def align(left: Sequence[Hop], right: Sequence[Hop]) -> tuple[Row, ...]:
    """Pair the hops that play the same part; a hop with no counterpart stands alone."""
    matcher = difflib.SequenceMatcher(a=[_signature(h) for h in left],
                                      b=[_signature(h) for h in right], autojunk=False)
    rows: list[Row] = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            rows += [Row(x, y, differences(x, y))
                     for x, y in zip(left[a0:a1], right[b0:b1], strict=True)]
            continue
        # a replaced block: pair hops of the same kind in order, the rest stand alone
        pending = list(right[b0:b1])
        for hop in left[a0:a1]:
            twin = next((h for h in pending if h.kind == hop.kind
                         and h.source == hop.source and h.target == hop.target), None)
            if twin is None:
                rows.append(Row(hop, None, ("only on the left",)))
                continue
            while pending and pending[0] is not twin:
                rows.append(Row(None, pending.pop(0), ("only on the right",)))
            pending.pop(0)
            what = (f"{brief(hop.summary, 40)} -> {brief(twin.summary, 40)}",)
            rows.append(Row(hop, twin, what + differences(hop, twin)))
        rows += [Row(None, h, ("only on the right",)) for h in pending]
    return tuple(rows)


async def run_side(runner: PatternRunner, user: str, prompt: str | None,
                   step: str | None) -> Side:
    """Run the prompt (as `user`) or the step under a started runner; its hops and outcome."""
    if step is not None:
        result = await runner.run_step(step)
        traces = set(result.trace_ids)
        outcome = f"{result.outcome} (decided by {result.decided_by})"
    else:
        turn = await runner.run_as(user, prompt or "")
        traces, outcome = {turn.trace_id}, turn.answer
    hops = tuple(h for h in runner.tap.hops if h.trace_id in traces)   # fresh trace ids
    return Side(runner.id, hops, outcome)


def check_request(patterns: Sequence[str], prompt: str | None, step: str | None) -> None:
    if len(patterns) != 2:
        raise InputError(f"compare needs two patterns (got {len(patterns)}): p05,p06")
    if (prompt is None) == (step is None):
        raise InputError("compare a prompt or a script step (--step), one of the two")
    if step is not None and step not in STEPS:
        raise InputError(f"unknown step {step!r}: choose one of {', '.join(STEPS)}")


async def compare_with(make_runner: Callable[[str], PatternRunner], patterns: Sequence[str],
                       *, user: str = "alice", prompt: str | None = None,
                       step: str | None = None) -> Comparison:
    """Run the same prompt or step under two patterns (each on the runner `make_runner`
    gives for it, started and stopped here) and align their hops."""
    check_request(patterns, prompt, step)
    sides: list[Side] = []
    for pattern in patterns:
        async with make_runner(pattern) as runner:
            sides.append(await run_side(runner, user, prompt, step))
    what = f"step {step}" if step else f"{user}: {prompt}"
    return Comparison(user, what, sides[0], sides[1], align(sides[0].hops, sides[1].hops))


async def compare_patterns(settings: Settings, patterns: Sequence[str], *, user: str = "alice",
                  prompt: str | None = None, step: str | None = None,
                  stack: StackHandle | None = None) -> Comparison:
    """`compare_with` on runners sharing one stack (started here unless given)."""
    from runtime.runner import PatternRunner

    check_request(patterns, prompt, step)
    handle = stack or StackHandle(settings)
    await handle.start()
    try:
        return await compare_with(
            lambda pattern: PatternRunner(pattern, settings=settings, stack=handle),
            patterns, user=user, prompt=prompt, step=step)
    finally:
        if stack is None:
            await handle.stop()

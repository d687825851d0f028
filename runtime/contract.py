"""The teaching contract (DESIGN.md sections 3 and 4), in one place.

For every script step and pattern: whether it should be allowed (for an attack, ALLOW means
the attack succeeded), and for every pattern what the five columns of the pattern table
should read once measured from a run. The matrix, the scoreboard, the CLI and the tests all
read these two tables; `agent-auth matrix` exits 1 when a run differs from either.
"""

from __future__ import annotations

from typing import Literal

from runtime.identity import Outcome
from runtime.script import StepId

#: What an outcome means for the step: an attack (A1..) that is allowed succeeded.
Effect = Literal["attack succeeded", "attack blocked", "work done", "refused"]

COLUMN_NAMES = ("authz lives", "tool sees real user", "crypto proof", "least privilege",
                "audit trail")

EXPECTED: dict[StepId, str] = {
    # p01..p10, A = ALLOW, D = DENY
    "L1": "AAAAAAAAAA", "L2": "AAAAAAAAAA", "L3": "AADDDDAAAA", "L4": "AAAAAAAAAA",
    "L5": "AAAAAAAAAA",
    "A1": "ADDDDDDDDD", "A2": "AADDDDDDDD", "A3": "AAADDDDDDD", "A4": "AAAADDDDDD",
    "A5": "AAAAADDDDD", "A6": "AAAAAADDDD", "A7": "AAAAAAADDD", "A8": "AAAAAAAADD",
    "A9": "AAAAAAAAAD",
}

#: The five columns per pattern, exactly as the run measures them (compared whole).
EXPECTED_COLUMNS: dict[str, tuple[str, str, str, str, str]] = {
    "p01": ("nowhere", "no", "no", "no", "no"),
    "p02": ("service", "no", "no", "no", "partial"),
    "p03": ("service", "yes (string)", "no", "no", "partial"),
    "p04": ("service", "yes (string)", "no", "no", "yes"),
    "p05": ("service", "yes (JWT)", "yes", "no", "yes"),
    "p06": ("OPA", "yes (JWT)", "yes", "yes", "yes"),
    "p07": ("IdP + OPA", "yes (delegated JWT)", "yes", "yes", "yes (user and actor)"),
    "p08": ("IdP + OPA", "yes (bound JWT)", "yes", "yes", "yes (user and actor)"),
    "p09": ("IdP + OPA", "yes (chained JWT)", "yes", "yes (per task)",
            "yes (user and the whole chain)"),
    "p10": ("IdP + OPA", "yes (chained JWT)", "yes", "yes (per document)",
            "yes (user and the whole chain)"),
}


def expected(step: StepId, pattern_number: int | None) -> Outcome | None:
    """The outcome the contract expects; None for a pattern off the staircase (your own)."""
    row = EXPECTED[step]
    if pattern_number is None or not 1 <= pattern_number <= len(row):
        return None
    return "ALLOW" if row[pattern_number - 1] == "A" else "DENY"


def effect(step: StepId, outcome: Outcome) -> Effect:
    """ALLOW on an attack step means the attack succeeded; on a legitimate step, work done."""
    if step.startswith("A"):
        return "attack succeeded" if outcome == "ALLOW" else "attack blocked"
    return "work done" if outcome == "ALLOW" else "refused"


#: Where the real Keycloak 26.7 measures differently (docs/real-stack.md, "Delegation
#: chains"): it emits no `act`, so no chain reaches a service; the scope still narrows per
#: task but nothing in the audit shows a sub-agent, and "per task" is measured on chains.
EXTERNAL_COLUMNS: dict[str, dict[str, str]] = {
    "p09": {"least privilege": "yes", "audit trail": "yes (user and actor)"},
    "p10": {"least privilege": "yes", "audit trail": "yes (user and actor)"},
}


def expected_columns(pattern: str, stack: str = "embedded") -> dict[str, str] | None:
    """The five columns the contract expects for `pattern` on `stack` (None: not a
    built-in pattern)."""
    values = EXPECTED_COLUMNS.get(pattern)
    if not values:
        return None
    columns = dict(zip(COLUMN_NAMES, values, strict=True))
    if stack == "external":
        columns |= EXTERNAL_COLUMNS.get(pattern, {})
    return columns

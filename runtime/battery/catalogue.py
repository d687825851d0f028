"""The catalogue: every attack of the battery, as data (family order: control, JWT, OAuth,
DPoP, Injection, Hardening, MCP, Delegation). The CLI and tests/security both iterate this
one tuple."""

from __future__ import annotations

from runtime.battery import (
    attacks_delegation,
    attacks_dpop,
    attacks_hardening,
    attacks_injection,
    attacks_jwt,
    attacks_mcp,
    attacks_oauth,
)
from runtime.battery.core import Attack

CATALOGUE: tuple[Attack, ...] = (
    *attacks_jwt.ATTACKS,
    *attacks_oauth.ATTACKS,
    *attacks_dpop.ATTACKS,
    *attacks_injection.ATTACKS,
    *attacks_hardening.ATTACKS,
    *attacks_mcp.ATTACKS,
    *attacks_delegation.ATTACKS,
)

_ids = [a.id for a in CATALOGUE]
assert len(_ids) == len(set(_ids)), "attack ids must be unique"


def by_id(attack_id: str) -> Attack:
    for attack in CATALOGUE:
        if attack.id == attack_id:
            return attack
    raise KeyError(attack_id)

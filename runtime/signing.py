"""How a replayed token may be signed: the choices `agent-auth replay --sign` and the
explorer's editor offer (kept apart from `runtime.replay` so the CLI can list them without
loading the JOSE and HTTP libraries)."""

from __future__ import annotations

from typing import Literal

SignWith = Literal["keep", "attacker", "none", "idp", "holder"]
SIGN_CHOICES: dict[SignWith, str] = {
    "keep": "the original signature (any change breaks it)",
    "attacker": "the attacker's own key (not in the IdP's JWKS, not the proof's holder)",
    "none": "no signature at all (alg: none)",
    "idp": "the IdP's own key: an oracle, as if it leaked (embedded stack only)",
    "holder": "the DPoP key of the proof's holder, the MCP server: an oracle, as if it "
              "leaked",
}
#: Keys no attacker holds: a replay signed with one proves a check, not an attack.
ORACLE_SIGNS: frozenset[SignWith] = frozenset({"idp", "holder"})

"""Pattern 07: verify the delegated token, then ask OPA's relationship policy (user + actor)."""

from runtime import presets

get_identity = presets.verified_jwt(issued_to="mcp-server", azp_is_actor=True)
authorize = presets.opa_policy("agentauth/rebac/decision")

"""Pattern 08: verify the bound token and its per-request proof, then ask OPA (ReBAC)."""

from runtime import presets

get_identity = presets.dpop_bound_jwt(issued_to="mcp-server", azp_is_actor=True)
authorize = presets.opa_policy("agentauth/rebac/decision")

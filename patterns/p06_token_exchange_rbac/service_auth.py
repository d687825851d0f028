"""Pattern 06: verify the narrowed token, then ask OPA's role-based policy."""

from runtime import presets

get_identity = presets.verified_jwt(issued_to="mcp-server")
authorize = presets.opa_policy("agentauth/rbac/decision")

"""Pattern 08: delegated tokens bound to the MCP server's key (DPoP), a fresh proof per call."""

from runtime import presets

handler = presets.ExchangeToken(delegate=True, dpop=True)

"""Pattern 05: the MCP server forwards the user's own (broad) token to every service."""

from runtime import presets

handler = presets.ForwardUserToken()

"""Pattern 02: the MCP server adds the agent's one shared API key to every request."""

from runtime import presets

handler = presets.SharedKey()

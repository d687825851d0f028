"""Pattern 07: exchange on behalf of the user with the agent as actor (RFC 8693 delegation)."""

from runtime import presets

handler = presets.ExchangeToken(delegate=True)

"""Pattern 06: exchange the user's token (RFC 8693) for one whose audience is one service."""

from runtime import presets

handler = presets.ExchangeToken()

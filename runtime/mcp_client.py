"""What the agent's MCP client learns once per user and reuses: the server's `server/discover`
answer and its tool listing.

MCP's 2026-07-28 revision is stateless on the wire: a client that already knows the server's
DiscoverResult adopts it instead of probing again, and the SDK's response cache serves a
`tools/list` it has seen for as long as the server's cache hint allows (`ttlMs`, scope
private). So a turn opens its MCP client in its own task (its hops stay in the
turn's trace, cancellation stays clean) and sends only its `tools/call`s; every call still
carries the user's credential and the MCP server verifies it each time, so an expired or
revoked token is refused as before.

Per user, never shared between users (the cache partition is the user). They are facts about
the server, not state of a user: a runner's reset renews logins, tokens and data and keeps
them, as a real client keeps a server's metadata across logins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mcp.client import Client, Transport
from mcp.client.caching import CacheConfig, InMemoryResponseCacheStore
from mcp_types import DiscoverResult


@dataclass
class McpClientMemory:
    discovered: dict[str, tuple[str, DiscoverResult]] = field(default_factory=dict)
    store: InMemoryResponseCacheStore = field(default_factory=InMemoryResponseCacheStore)

    def client(self, user: str, url: str, transport: Transport, *, probe: bool = False
               ) -> Client:
        """An MCP client for `user` to the server at `url`; `probe` sends `server/discover`
        even when it is known (the MCP login flow starts with that request's 401)."""
        # the server's cache hints say how long a listing stays fresh, and only for its caller
        cache = CacheConfig(store=self.store, partition=f"user:{user}", target_id=url)
        known = None if probe else self.discovered.get(user)
        if known is None:
            return Client(transport, cache=cache)
        version, result = known
        return Client(transport, cache=cache, mode=version, prior_discover=result)

    def remember(self, user: str, client: Client) -> None:
        """Keep what `client` learnt at connect time for `user`'s later turns."""
        result = client.session.discover_result
        version = client.session.protocol_version
        if result is not None and version is not None:
            self.discovered[user] = (str(version), result)

"""The plugin contract a pattern implements, as the "Exploring Agent Auth" write-up prints it.

A pattern is a folder with two code files:

* `mcp_auth.py` exports `auth_handler`, an instance of an `AuthHandler` subclass:

      async def prepare_request(self, user_context, headers) -> headers
      async def before_tool_call(self, user_context, tool_name) -> bool

* `service_auth.py` exports `get_identity(request) -> Identity`.

A plugin written exactly to that loads and runs unmodified. What this project needs beyond
it is optional, and the framework discovers it:

* either hook may also name `outgoing` (the service request being prepared: `Outgoing`)
  and `ctx` (the MCP server's `McpContext`: token endpoint, its client, keys, caches);
* `authenticate(token, ctx)` makes the MCP server an OAuth protected resource (the MCP
  authorization spec): it runs on every MCP request, and `scopes` names what it serves;
* `user_credential` says what the agent sends the MCP server for its user, and
  `actor_credential` whether it also sends its own token (the actor of a delegation);
  `model_instructions()` and `bound_arguments()` are what patterns 03 and 04 differ by;
* `service_auth.authorize(identity, action, resource, request) -> Decision`; without it
  the service does what it is asked and nobody decided.

Everything pattern-specific lives in those two files; the framework never reads a
pattern's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Protocol

import httpx
from starlette.requests import Request

from runtime.identity import AuthError, Decision, DependencyError, Filter, Identity
from runtime.presets.jwks import JwksCache
from runtime.presets.token_cache import TokenCache
from runtime.services.world import World
from stack.clock import Clock
from stack.errors import ExplorerError
from stack.jose import ReplayCache, generate_ec_key

__all__ = [
    "AuthError", "AuthHandler", "AuthorizationDenied", "ClientIdentity", "Decision",
    "Delegation", "DependencyError", "Filter", "Identity", "InsufficientScope", "McpContext",
    "Outgoing", "ServiceContext", "UserContext", "service_context",
]

ServiceName = Literal["records", "directory", "knowledge"]
AUDIENCES: dict[ServiceName, str] = {"records": "records-service",   # each service's `aud`
                                     "directory": "directory-service",
                                     "knowledge": "knowledge-service"}
#: What the agent sends the MCP server for its user: nothing, the user's API key as the
#: `api_key` tool argument, or the user's access token as `Authorization: Bearer`.
UserCredential = Literal["none", "api_key_argument", "bearer_token"]
#: What the agent sends about itself: nothing, or its own access token (got with its own
#: client credentials, which the MCP server does not hold) as `X-Actor-Token`.
ActorCredential = Literal["none", "actor_token"]
ACTOR_TOKEN_HEADER = "X-Actor-Token"


@dataclass(frozen=True)
class StackEndpoints:
    """Where the identity provider and the policy engine are (embedded or external)."""

    issuer: str
    token_url: str
    jwks_url: str
    opa_url: str


@dataclass(frozen=True)
class UserContext(Mapping[str, Any]):
    """Who the MCP server acts for on this call. Reads as the write-up's dict too:
    `user_context["user"]`, `user_context.get("jwt")`."""

    user: str | None = None          # the user the agent names (MCP `_meta`): a claim, unchecked
    jwt: str | None = None           # the access token on the MCP request (Authorization: Bearer)
    api_key: str | None = None       # the `api_key` tool argument (patterns 03 and 04)
    actor_token: str | None = None   # the agent's own token (X-Actor-Token), to name it actor

    def __getitem__(self, key: str) -> Any:
        value = getattr(self, key, None) if key in _USER_CONTEXT_KEYS else None
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return (k for k in _USER_CONTEXT_KEYS if getattr(self, k) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


_USER_CONTEXT_KEYS = tuple(f.name for f in fields(UserContext))


@dataclass(frozen=True)
class Outgoing:
    """The request the MCP server is about to send to a tool service."""

    tool: str
    service: ServiceName
    audience: str        # the service's audience at the IdP, e.g. "records-service"
    method: str
    url: str


class ClientIdentity(Protocol):
    """A party's own client at the IdP (the agent's, a sub-agent's): its id and secret, and
    what posting to the token endpoint needs (see `runtime.presets.request_token`)."""

    client_id: str
    client_secret: str
    token_url: str
    http: httpx.AsyncClient
    clock: Clock
    timeout: float
    tokens: TokenCache

    async def token(self) -> str:
        """Its own access token (client credentials)."""
        ...


@dataclass(frozen=True)
class Delegation:
    """A task the agent hands to a sub-agent (the optional `delegate` extra gets it)."""

    task: str                 # what the sub-agent is asked to do, in words
    sub_agent: str            # the sub-agent's client id at the IdP, e.g. "summarizer"
    scope: str                # what the task needs, e.g. "acme:read": a summary only reads
    agent: ClientIdentity     # the agent's own client: it hands the task on
    sub: ClientIdentity       # the sub-agent's own client: it takes the task on


@dataclass
class TokenContext:
    """What verifying an access token needs: whose tokens, for whom, the keys and the time."""

    issuer: str
    audience: str
    jwks: JwksCache
    clock: Clock
    http: httpx.AsyncClient
    timeout: float

    @property
    def audiences(self) -> list[str]:
        """Every `aud` value that means "issued for me"."""
        return [self.audience]


@dataclass
class ServiceContext(TokenContext):
    """One tool service's side of a pattern, one per service per runner.
    `service_context(request)` finds it from inside `get_identity`."""

    service: ServiceName = "records"
    opa_url: str = ""
    world: Callable[[], World] = World.seed
    replay: ReplayCache = field(default_factory=lambda: ReplayCache(ttl=120))
    base_url: str = ""      # where this service is served, for DPoP's `htu`


@dataclass
class McpContext(TokenContext):
    """The MCP server's side of a pattern, one per runner. Its own audience is its client
    id: the user's tokens it accepts must name it."""

    token_url: str = ""
    resource: str = ""      # its URL, the RFC 8707 / RFC 9728 resource identifier
    client_id: str = "mcp-server"
    client_secret: str = ""
    world: Callable[[], World] = World.seed
    tokens: TokenCache = field(default_factory=TokenCache)
    _dpop_key: Any = None

    @property
    def audiences(self) -> list[str]:
        """Its client id (Keycloak's audience scope) or its URL (an RFC 8707 `resource`)."""
        return [self.audience, *([self.resource] if self.resource else [])]

    @property
    def shared_key(self) -> str:
        """Pattern 02's one key for the whole agent."""
        return self.world().shared_key

    @property
    def dpop_key(self) -> Any:
        """The MCP server's proof-of-possession key (RFC 9449): made once, kept in memory."""
        if self._dpop_key is None:
            self._dpop_key = generate_ec_key()
        return self._dpop_key

    def forget(self) -> None:
        """Fresh state for a new run: no cached tokens, a new key."""
        self.tokens.clear()
        self._dpop_key = None


class AuthorizationDenied(ExplorerError):
    """Raised by `before_tool_call` to refuse a call, with the reason (the write-up's name).
    `status` 401 says a credential is missing or bad; 403 (default) that it is not enough."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


class InsufficientScope(AuthorizationDenied):
    """Raised by `authenticate`: a valid token without the scope the MCP server needs
    (403, `WWW-Authenticate: Bearer error="insufficient_scope"`)."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"the token lacks the scope {scope}", 403)
        self.scope = scope


class AuthHandler:
    """The MCP-side half of a pattern. The defaults add nothing and gate nothing."""

    #: What the agent sends for its user (an optional extra; see `UserCredential`).
    user_credential: UserCredential = "none"
    #: Whether the agent also sends its own token (an optional extra; `ActorCredential`).
    actor_credential: ActorCredential = "none"

    async def prepare_request(
        self, user_context: UserContext, headers: dict[str, str]
    ) -> dict[str, str]:
        """Add credentials to the headers of the outbound service request; return them."""
        return headers

    async def before_tool_call(self, user_context: UserContext, tool_name: str) -> bool:
        """Gate: True to proceed; False or `AuthorizationDenied` to refuse."""
        return True

    def model_instructions(self, user: str, api_key: str) -> str:
        """Extra system-prompt text about credentials (optional extra)."""
        return ""

    def bound_arguments(self, user: str, api_key: str) -> dict[str, Any]:
        """Tool arguments the runtime fills in after the model chose a call, outside the
        model's view (optional extra)."""
        return {}


def service_context(request: Request) -> ServiceContext:
    """The context of the service that received `request` (its audience, keys, clock)."""
    ctx = getattr(request.app.state, "service_context", None)
    if not isinstance(ctx, ServiceContext):
        raise RuntimeError("this request was not received by an explorer tool service")
    return ctx
